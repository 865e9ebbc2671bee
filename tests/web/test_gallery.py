"""The gallery's pages: who may see what, "Paint this" through the core, the portraits, the ZIP,
/delete ending access, and the headers every response carries."""

from __future__ import annotations

import io
import re
import time
import zipfile

import httpx
from sqlalchemy import func, select

from bot.core.replies import UserRef
from bot.core.studio import Studio
from db.models import Job, JobKind
from tests.core.conftest import ALEX, SAM, agreed, make_studio, studio, with_model  # noqa: F401 (fixtures)
from tests.web.conftest import BOT_TOKEN, SECRET, account_id, client, link, painted  # noqa: F401
from tests.web.test_identity import fields, telegram_init_data
from web import identity
from web.app import CONTENT_SECURITY_POLICY


def refs(page: str, kind: str) -> list[str]:
    """The image refs of a page's links (relative to the page: the long token is not repeated 500 times)."""
    return re.findall(rf'"{kind}/([0-9]+-[A-Za-z0-9_-]+)', page)


async def test_the_gallery_lists_every_style(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    page = await client.get(await link(client))
    assert page.status_code == 200
    for style in studio.catalogue:
        assert f'id="style-{style.id}"' in page.text and style.title.replace("&", "&amp;") in page.text
    assert page.text.count(">Paint this</button>") == len(studio.catalogue)
    assert "Credits: <b>3</b>" in page.text and "Model: <b>ready" in page.text


async def test_paint_this_queues_one_job_for_a_double_tap(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    home = await link(client)
    nonce = re.search(r'name="nonce" value="([0-9a-f]+)"', (await client.get(home)).text).group(1)  # type: ignore[union-attr]
    first = await client.post(f"{home}paint/dating-profile", data={"nonce": nonce})
    second = await client.post(f"{home}paint/dating-profile", data={"nonce": nonce})
    assert first.status_code == second.status_code == 303 and first.headers["location"].endswith("?n=queued")
    async with studio.database.read() as session:
        queued = (await session.scalars(select(Job).where(Job.kind == JobKind.generate))).all()
    assert len(queued) == 1 and queued[0].payload["style_id"] == "dating-profile"
    assert queued[0].reply_platform == "telegram" and queued[0].reply_chat_id == ALEX.chat_id  # arrives in the chat
    assert queued[0].credits_reserved == 1
    assert "Queued!" in (await client.get(first.headers["location"])).text
    # the next visit of the page is another tap: another job
    nonce2 = re.search(r'name="nonce" value="([0-9a-f]+)"', (await client.get(home)).text).group(1)  # type: ignore[union-attr]
    assert nonce2 != nonce
    await client.post(f"{home}paint/dating-profile", data={"nonce": nonce2})
    async with studio.database.read() as session:
        assert await session.scalar(select(func.count()).select_from(Job).where(Job.kind == JobKind.generate)) == 2


async def test_paint_this_without_a_model_says_what_the_chat_says(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await agreed(studio)
    answer = await client.post(f"{await link(client)}paint/dating-profile", data={"nonce": "abcdef0123456789"})
    assert answer.status_code == 200 and "selfies" in answer.text
    async with studio.database.read() as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == 0


async def test_my_portraits_shows_the_accounts_own_newest_first(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    await with_model(studio, SAM)
    older = await painted(studio, style_id="linkedin-headshot", likeness=88)
    newer = await painted(studio, style_id="ghibli-art", likeness=None)
    await painted(studio, SAM, style_id="gym-abs", likeness=55)
    page = (await client.get(f"{await link(client)}portraits")).text
    assert page.index("Ghibli") < page.index("LinkedIn")  # the newest style group first
    assert "likeness 88%" in page and "likeness 55%" not in page  # as English writes a percentage (i18n.percent)
    thumbs = refs(page, "thumb")
    assert len(thumbs) == 4 and len(refs(page, "image")) == 4 + 8  # 4 portraits, each open + 2 aspects to download
    assert older.id != newer.id


async def test_thumbnails_are_webp_made_once_in_the_users_folder(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    job = await painted(studio, count=1, aspects=("4:5",))
    home = await link(client)
    ref = refs((await client.get(f"{home}portraits")).text, "thumb")[0]
    thumb = await client.get(f"{home}thumb/{ref}")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp" and thumb.content[8:12] == b"WEBP"
    uid = await account_id(studio, ALEX)
    stored = [key for key in await studio.storage.list(f"users/{uid}/") if "/thumbs/" in key]
    assert stored == [f"users/{uid}/outputs/{job.id}/thumbs/0-4x5.webp"]
    assert (await client.get(f"{home}thumb/{ref}")).content == thumb.content
    full = await client.get(f"{home}image/{ref}")  # the same ref opens the portrait full size
    assert full.status_code == 200 and full.headers["content-type"] == "image/png" and full.content[:4] == b"\x89PNG"


async def test_another_users_images_are_refused(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    await with_model(studio, SAM)
    await painted(studio, count=1, aspects=("4:5",))
    await painted(studio, SAM, count=1, aspects=("4:5",))
    alex, sam = await link(client), await link(client, SAM)
    alex_ref = refs((await client.get(f"{alex}portraits")).text, "image")[0]
    sam_ref = refs((await client.get(f"{sam}portraits")).text, "image")[0]
    assert (await client.get(f"{alex}image/{alex_ref}")).status_code == 200
    assert (await client.get(f"{alex}image/{sam_ref}")).status_code == 404  # Sam's ref under Alex's link
    bare = sam_ref.split("-")[0]
    assert (await client.get(f"{alex}image/{bare}")).status_code == 404  # a bare id
    # Sam's image id with a ref made for Alex's account: the MAC fits, the row is not Alex's
    found = identity.read(SECRET.encode(), alex.split("/")[2])
    forged = identity.object_ref(SECRET.encode(), found, "image", int(bare))
    assert (await client.get(f"{alex}image/{forged}")).status_code == 404
    assert (await client.get(f"{alex}thumb/{forged}")).status_code == 404


async def test_expired_and_forged_links_are_refused(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    async with studio.database.read() as session:
        from db.users import find_user

        account = await find_user(session, "telegram", ALEX.user_id)
    expired = identity.issue(SECRET.encode(), account, ALEX.chat_id, lifetime_seconds=60, now=time.time() - 120)
    forged = identity.issue(b"not-the-servers-secret-xxxxxxxx", account, ALEX.chat_id, lifetime_seconds=3600)
    for token in (expired, forged, "garbage", "a.b"):
        for path in ("", "portraits", "portraits.zip"):
            assert (await client.get(f"/g/{token}/{path}")).status_code == 401
        assert (await client.post(f"/g/{token}/paint/dating-profile", data={"nonce": "abcdef0123456789"})).status_code == 401
    async with studio.database.read() as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == 0


async def test_the_zip_holds_the_accounts_portraits_only(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    await with_model(studio, SAM)
    await painted(studio, count=2, aspects=("4:5", "1:1"))
    await painted(studio, SAM, count=3, aspects=("4:5",))
    answer = await client.get(f"{await link(client)}portraits.zip")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(answer.content)).namelist()
    assert len(names) == 4 and all(name.startswith("linkedin-headshot/") for name in names)


async def test_delete_ends_access_at_once_and_the_thumbnails_go(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    await painted(studio, count=1, aspects=("4:5",))
    home = await link(client)
    ref = refs((await client.get(f"{home}portraits")).text, "thumb")[0]
    assert (await client.get(f"{home}thumb/{ref}")).status_code == 200
    uid = await account_id(studio, ALEX)
    assert any("/thumbs/" in key for key in await studio.storage.list(f"users/{uid}/"))
    await studio.delete_everything(ALEX)
    assert await studio.storage.list(f"users/{uid}/") == []
    for path in ("", "portraits", "portraits.zip", f"thumb/{ref}", f"image/{ref}"):
        assert (await client.get(f"{home}{path}")).status_code == 401
    # the same person starts again: the old link does not open the new account
    await with_model(studio)
    assert (await client.get(f"{home}portraits")).status_code == 401
    assert (await client.get(f"{await link(client)}portraits")).status_code == 200


async def test_the_mini_app_trades_init_data_for_a_link(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    shell = await client.get("/app")
    assert "telegram.org/js/telegram-web-app.js" in shell.text and "/static/mini_app.js" in shell.text
    answer = await client.post("/app/session", json={"init_data": telegram_init_data(fields(user_id=int(ALEX.user_id)))})
    assert answer.status_code == 200
    page = await client.get(answer.json()["url"])
    assert page.status_code == 200 and "telegram-web-app.js" in page.text  # the theme follows Telegram's
    tampered = telegram_init_data(fields(user_id=int(ALEX.user_id))).replace("Alex", "Eve")
    assert (await client.post("/app/session", json={"init_data": tampered})).status_code == 401
    stale = telegram_init_data(fields(auth_date=int(time.time()) - 3 * 86400, user_id=int(ALEX.user_id)))
    assert (await client.post("/app/session", json={"init_data": stale})).status_code == 401
    stranger = telegram_init_data(fields(user_id=999))
    assert (await client.post("/app/session", json={"init_data": stranger})).status_code == 404
    # a private link (Discord, a browser) loads no third-party script
    assert "telegram.org" not in (await client.get(await link(client))).text


async def test_every_response_carries_the_security_headers(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    await painted(studio, count=1, aspects=("4:5",))
    home = await link(client)
    ref = refs((await client.get(f"{home}portraits")).text, "thumb")[0]
    answers = [await client.get(path) for path in (
        "/", "/app", "/static/gallery.css", "/static/mini_app.js", "/nowhere", home, f"{home}portraits",
        f"{home}portraits.zip", f"{home}thumb/{ref}", f"{home}image/{ref}", "/g/forged/portraits", "/samples/none")]
    answers.append(await client.post("/app/session", json={}))
    answers.append(await client.post(f"{home}paint/dating-profile", data={"nonce": "abcdef0123456789"}))
    for answer in answers:
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, answer.url
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY and "img-src 'self' data:" in CONTENT_SECURITY_POLICY
    assert re.findall(r"https://[^ ;]+", CONTENT_SECURITY_POLICY) == ["https://telegram.org", "https://web.telegram.org"]


async def test_user_data_is_escaped(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    """A style no longer in the catalogue is shown by its stored id, escaped like everything else."""
    await with_model(studio)
    await painted(studio, style_id="<script>alert(1)</script>", count=1, aspects=("4:5",))
    page = (await client.get(f"{await link(client)}portraits")).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_the_unexpected_is_a_500_with_the_headers_and_no_token_in_the_log(
        studio: Studio, client: httpx.AsyncClient, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from web import gallery

    await with_model(studio)

    async def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(gallery, "portraits", broken)
    home = await link(client)
    answer = await client.get(f"{home}portraits")
    assert answer.status_code == 500 and answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "/g/<token>/portraits" in caplog.text and home.split("/")[2] not in caplog.text


async def test_a_stored_portrait_that_is_no_image_has_no_thumbnail(studio: Studio, client: httpx.AsyncClient) -> None:  # noqa: F811
    await with_model(studio)
    job = await painted(studio, count=1, aspects=("4:5",))
    uid = await account_id(studio, ALEX)
    await studio.storage.put(f"users/{uid}/outputs/{job.id}/0-4x5.png", b"not a png")
    home = await link(client)
    ref = refs((await client.get(f"{home}portraits")).text, "thumb")[0]
    assert (await client.get(f"{home}thumb/{ref}")).status_code == 404


async def test_a_style_painted_here_posts_its_progress_message_in_the_chat(studio: Studio,  # noqa: F811
                                                                          client: httpx.AsyncClient) -> None:
    """Before: a job queued from the gallery said nothing in the chat until its album came; the chat's
    own tap posts "🎨 Painting…" with a Cancel button, and the watcher edits it as the job goes on."""
    from bot.core.replies import Reply
    from bot.core.seams import PlatformSeam

    posted: list[tuple[str, Reply]] = []

    async def post(user: UserRef, replies: list[Reply]) -> None:
        for reply in replies:
            posted.append((user.chat_id, reply))
            await studio.remember_progress_message(reply.progress_of_job, "777")  # type: ignore[arg-type]

    studio.connect(PlatformSeam("telegram", post=post))
    await with_model(studio)
    home = await link(client)
    nonce = re.search(r'name="nonce" value="([0-9a-f]+)"', (await client.get(home)).text).group(1)  # type: ignore[union-attr]
    assert (await client.post(f"{home}paint/dating-profile", data={"nonce": nonce})).status_code == 303
    assert len(posted) == 1 and posted[0][0] == ALEX.chat_id and "Painting" in posted[0][1].text
    assert [b.action for row in posted[0][1].buttons for b in row][0].startswith("cancel:")
    async with studio.database.read() as session:
        job = await session.scalar(select(Job).where(Job.kind == JobKind.generate))
    assert job is not None and job.reply_message_id == "777"
