"""Fitting into Discord messages: ≤ 10 files and ≤ the upload limit per message, ≤ 5 rows of ≤ 5 buttons."""

from __future__ import annotations

import io

from PIL import Image

from bot.core.replies import Document, Picture, Reply
from bot.discord.files import MAX_FILES_PER_MESSAGE, fit_album, fit_documents
from bot.discord.render import plan


def noisy_png(side: int, seed: int) -> bytes:
    image = Image.effect_noise((side, side), 64 + seed).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_a_big_album_is_reencoded_and_split_to_fit() -> None:
    limit = 2 * 1024 * 1024
    pictures = [Picture(noisy_png(1024, n), f"portrait-{n}.png", f"Style · {n} of 12") for n in range(12)]
    assert sum(len(p.data) for p in pictures) > 6 * limit
    chunks = fit_album(pictures, limit)
    assert [len(chunk) for chunk in chunks] == [10, 2]
    assert all(len(chunk) <= MAX_FILES_PER_MESSAGE and sum(len(u.data) for u in chunk) <= limit for chunk in chunks)
    uploads = [u for chunk in chunks for u in chunk]
    assert [u.description for u in uploads] == [p.caption for p in pictures]  # order and captions kept
    assert all(u.filename.endswith(".jpg") for u in uploads)
    with Image.open(io.BytesIO(uploads[0].data)) as first:
        assert first.format == "JPEG" and first.width >= 256


def test_small_pictures_are_sent_as_they_are() -> None:
    pictures = [Picture(noisy_png(64, n), f"p{n}.png") for n in range(4)]
    (chunk,) = fit_album(pictures, 10 * 1024 * 1024)
    assert [u.data for u in chunk] == [p.data for p in pictures]


def test_originals_are_never_altered_and_a_too_big_one_is_explained() -> None:
    small, big = noisy_png(200, 1), noisy_png(800, 2)
    limit = len(big) - 1
    chunks, too_big = fit_documents([Document(small, "a-full.png"), Document(big, "b-full.png")], limit)
    assert [[u.data for u in chunk] for chunk in chunks] == [[small]] and [u.filename for u in too_big] == ["b-full.png"]
    messages = plan(Reply("Here you go", documents=(Document(small, "a-full.png"), Document(big, "b-full.png"))), limit)
    assert [len(m.uploads) for m in messages] == [1, 0]
    assert "b-full.png" in messages[-1].content and "upload limit" in messages[-1].content


def test_the_text_and_buttons_ride_on_the_last_album_message() -> None:
    pictures = tuple(Picture(noisy_png(64, n), f"p{n}.png") for n in range(11))
    messages = plan(Reply("Here you go!", album=pictures), 10 * 1024 * 1024)
    assert [len(m.uploads) for m in messages] == [10, 1]
    assert messages[-1].content == "Here you go!" and messages[-1].with_buttons and not messages[0].content


def test_more_button_rows_than_discord_allows_are_reflowed_not_dropped() -> None:
    from bot.core.replies import Button
    from bot.discord.views import view_of

    rows = tuple((Button(f"Style {n}a", f"style:s{n}a"), Button(f"Style {n}b", f"style:s{n}b")) for n in range(8))
    reply = Reply("Pick one", (*rows, (Button("« Back", "styles"),)))
    view = view_of(reply)
    assert view is not None
    ids = [item.custom_id for item in view.children]  # type: ignore[attr-defined]
    assert ids == [f"studio:{b.action}" for row in reply.buttons for b in row]  # all 17, in order
    components = view.to_components()
    assert len(components) == 4 and all(len(row["components"]) <= 5 for row in components)
    small = view_of(Reply("Two rows", ((Button("A", "a"),), (Button("B", "b"), Button("C", "c")))))
    assert small is not None and [len(row["components"]) for row in small.to_components()] == [1, 2]  # kept as laid out


def test_a_link_button_opens_its_link_instead_of_coming_back_as_an_action() -> None:
    from bot.core.replies import Button
    from bot.discord.views import view_of

    view = view_of(Reply("Go there", ((Button("Open", "", url="https://example.com/a"), Button("Stay", "styles")),)))
    assert view is not None
    link, stay = view.children
    assert link.url == "https://example.com/a" and link.style.name == "link"  # type: ignore[attr-defined]
    assert stay.custom_id == "studio:styles"  # type: ignore[attr-defined]


def test_a_held_notice_keeps_its_buttons_links_included_and_reads_one_held_before() -> None:
    """Receipts wait in the database for a buyer whose DMs are closed: every kind of button comes back."""
    from bot.core.replies import Button
    from bot.discord.purchases import _body, _reply

    held = Reply("Payment received", ((Button("🎨 See styles", "styles"), Button("Help", "", url="https://example.com/h")),
                                      (Button("Buy", "buy", sku_id=7),)))
    back = _reply(_body(held))
    assert back.buttons == held.buttons and back.text == held.text and back.private
    older = _reply({"text": "Payment received", "buttons": [[["🎨 See styles", "styles", None]]]})
    assert older.buttons == ((Button("🎨 See styles", "styles"),),)
