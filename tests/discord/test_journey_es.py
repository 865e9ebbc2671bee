"""A whole journey in Spanish through the Discord stand-in: a user whose client is set to Spanish
(``es-ES``, sent with every interaction) goes from /start to their portraits in their DM, buys
credits in Discord's store and deletes everything; every text the bot sent them (messages and
their edits, follow-ups, ephemeral answers, button labels, file descriptions, the upload window)
is the catalogue's Spanish, and none is the catalogue's English. Spanish shares its alphabet with
English, so "is it Spanish" is: equal to the Spanish of the sentence expected, and no English
sentence of the catalogue anywhere in it.

The worker's part is played by the test as the existing end-to-end tests do (tests/support/
worker_part.py); the bot's own job watcher shows the progress and delivers the outcomes."""

from __future__ import annotations

import copy
from typing import Any

from bot.core import texts
from db import queue
from engine.intake.reasons import MESSAGES, RejectCode
from i18n import Audience, percent
from tests.discord.helpers import attach
from tests.discord.test_payments import PACKS, SMALL_SKU
from tests.support.discord_server import FakeDiscord, Posted
from tests.support.languages import said, wrong_language
from tests.support.selfies import obama_selfies, read
from tests.support.worker_part import (album_caption, claim_training, finish_training, paint_portraits, paint_preview,
                                       progress_line, report)

ALEX = 601
LOCALE = "es-ES"
ES = Audience("es", "man")
ES_NEUTRAL = Audience("es")  # before the class word is given
MIN_PHOTOS, MAX_PHOTOS = 8, 20


def es(sentence: Any, **values: Any) -> str:
    return said(ES, sentence, **values)


# ---------------------------------------------------------------------- a Spanish client's interactions
async def slash(discord: FakeDiscord, name: str, **options: Any) -> dict[str, Any]:
    payload = discord.command_payload(ALEX, name, **options)
    payload["locale"] = LOCALE
    await discord.dispatch(payload)
    return payload


async def press(discord: FakeDiscord, message: Posted, label: str) -> dict[str, Any]:
    payload = discord.press_payload(ALEX, message, label)
    payload["locale"] = LOCALE
    await discord.dispatch(payload)
    return payload


def after(discord: FakeDiscord, text: str, since: Posted | int = 0, *, exact: bool = True,
          timeout: float = 30.0):  # type: ignore[no-untyped-def]
    """The first message (sent or edited) after message ``since`` whose content is ``text`` (or,
    not ``exact``, has it in it)."""
    since_id = since.message_id if isinstance(since, Posted) else since
    return discord.wait_for(lambda m: m.message_id > since_id and (m.content == text if exact else text in m.content),
                            timeout, repr(text))


# ---------------------------------------------------------------------- what the stand-in recorded
TEXT_KEYS = ("content", "label", "placeholder", "description", "title")


def _component_texts(node: Any, where: str) -> list[tuple[str, str]]:
    """Every text in a message's components or a window (labels, placeholders, text displays),
    recursively; never ids or URLs."""
    found: list[tuple[str, str]] = []
    if isinstance(node, list):
        for item in node:
            found += _component_texts(item, where)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in TEXT_KEYS and isinstance(value, str):
                found.append((f"{where} {key}", value))
            elif isinstance(value, dict | list):
                found += _component_texts(value, where)
    return found


def record_every_state(discord: FakeDiscord) -> list[Posted]:
    """A copy of each message as the bot sent it and as each change left it (the stand-in keeps a
    message's latest state: an answer written into "thinking…", or a progress message edited, would
    hide what it said before). Watches the stand-in's one recording step; changes nothing."""
    states: list[Posted] = []
    record = discord._record

    async def recording(message: Posted, *, edit: bool = False) -> None:
        states.append(Posted(message.via, message.channel_id, message.message_id, message.content,
                             copy.deepcopy(message.components), list(message.files), message.flags, message.token))
        await record(message, edit=edit)

    discord._record = recording  # type: ignore[method-assign]
    return states


def sent_texts(discord: FakeDiscord, states: list[Posted]) -> list[tuple[str, str]]:
    """Every text the bot sent (one user here): each message in each state it was in, its buttons
    and its files' descriptions, and every interaction response (an upload window's title and
    labels, were one opened) with any embed."""
    found: list[tuple[str, str]] = []
    for message in states:
        where = f"{message.via} message{' (ephemeral)' if message.ephemeral else ''}"
        found.append((where, message.content))
        found += _component_texts(message.components, f"{where} component")
        found += [(f"{where} file description", f["description"]) for f in message.files if f.get("description")]
    for callback in discord.callbacks:
        data = callback.data or {}
        found += _component_texts({k: v for k, v in data.items() if k != "custom_id"}, f"response type {callback.type}")
        found += _component_texts(data.get("embeds", []), f"response type {callback.type} embed")
    return found


# ---------------------------------------------------------------------- the journey
async def test_a_spanish_client_hears_spanish_from_start_to_delete(bot_factory, discord: FakeDiscord) -> None:
    states = record_every_state(discord)
    async with bot_factory(free_credits=3, credit_packs=PACKS) as bot:
        catalogue = bot.services.catalogue
        linkedin = catalogue.get("linkedin-headshot")
        title = es(lambda: linkedin.title)
        assert title == linkedin.titles["es"] != linkedin.english_title
        dm = discord.dm_channel_id(ALEX)

        # /start: the greeting, then the consent
        await slash(discord, "start")
        welcome = await after(discord, es(lambda: texts.welcome("Alex", 3, MIN_PHOTOS, MAX_PHOTOS)))
        assert welcome.button_labels == [es(texts.BUTTON_TIPS), es(texts.BUTTON_SEE_STYLES)]
        consent = await after(discord, es(texts.CONSENT), welcome)
        assert consent.button_labels == [es(texts.BUTTON_CONSENT)]
        await press(discord, consent, es(texts.BUTTON_CONSENT))
        thanks = await after(discord, es(texts.CONSENT_THANKS, min_photos=MIN_PHOTOS, max_photos=MAX_PHOTOS), consent)

        # /upload with nine attachments: eight good, one with two people in it, refused and told why
        await slash(discord, "upload", **attach(discord, obama_selfies(8) + [read("two_people.jpg")]))
        checking = await after(discord, es(texts.PHOTOS_RECEIVED, count=9), thanks)
        reason = es(MESSAGES[RejectCode.multiple_faces])
        assert reason != MESSAGES[RejectCode.multiple_faces].source
        summary_text = "\n".join([
            said(ES_NEUTRAL, lambda: texts.batch_good(9, 8)),
            es(texts.REFUSED_NAMED, name="selfie-9.jpg", reason=reason),  # an attachment is named by its file name
            said(ES_NEUTRAL, lambda: texts.SET_READY_COUNT.format(accepted=8) + texts.SET_READY.format(
                minutes=texts.TRAIN_MINUTES_ESTIMATE, cost=texts.CREDIT_COUNT(1)))])
        summary = await after(discord, summary_text, checking.message_id - 1, timeout=120)
        assert summary.button_labels == [es(texts.BUTTON_TRAIN), es(texts.BUTTON_ADD_MORE)]

        # /train, as "a man"
        await slash(discord, "train")
        who = await after(discord, es(texts.CHOOSE_CLASS), summary)
        assert who.button_labels == [es(texts.CLASS_WORDS[w]) for w in ("man", "woman", "person")]
        await press(discord, who, es(texts.CLASS_WORDS["man"]))
        first_progress = await after(discord, es(texts.TRAIN_QUEUED), who, exact=False)
        assert first_progress.channel_id == dm and first_progress.button_labels == [es(texts.BUTTON_CANCEL)]

        # the quick preview, the progress moved below it, the training's progress, the model ready
        await paint_preview(bot)
        preview = await discord.wait_for(lambda m: bool(m.files) and m.message_id > first_progress.message_id,
                                         what="the preview")
        assert [f["description"] for f in preview.files] == [es(texts.PREVIEW_CAPTION, title=title, index=1, count=1)]
        told = preview if preview.content else await after(discord, es(texts.PREVIEW_DELIVERED), preview)
        assert told.content == es(texts.PREVIEW_DELIVERED)
        progress = await discord.wait_for(lambda m: m.content.startswith(es(texts.TRAIN_QUEUED))
                                          and m.message_id > preview.message_id, what="the progress below")
        await after(discord, es(texts.PROGRESS_BELOW, title=es(texts.TRAIN_QUEUED)), first_progress.message_id - 1)
        lease = await claim_training(bot)
        running = await report(bot, lease, queue.ProgressUpdate("training", step=4, total_steps=10, eta_seconds=150))
        bar = progress_line(ES, texts.TRAIN_QUEUED, running)
        await discord.wait_for(lambda m: m.message_id == progress.message_id and m.content == bar,
                               what=f"the progress edited to {bar!r}")
        await finish_training(bot, lease, "man", likeness=87)
        ready_text = "\n".join([es(texts.MODEL_READY_AFTER_PREVIEW, title=title),
                                es(texts.MODEL_TEST_LIKENESS, likeness=es(lambda: percent(87)))])
        ready = await after(discord, ready_text, progress)
        categories = [es(lambda c=c: f"{c.emoji} {c.title}") for c in catalogue.used_categories()]
        assert ready.button_labels == [es(texts.BUTTON_PAINT_WITH_MODEL, title=title), *categories]

        # /generate LinkedIn: the progress, then the album in the DM and the buttons under it
        await slash(discord, "generate", style="linkedin-headshot")
        painting = await after(discord, es(texts.GENERATE_QUEUED, count=4, title=title), ready, exact=False)
        assert painting.button_labels == [es(texts.BUTTON_CANCEL)]
        likeness = [100, 96, 91, 88]
        payload = await paint_portraits(bot, likeness)
        delivered = es(lambda: texts.DELIVERED.format(credits_left=texts.CREDITS_LEFT.format(
            credits=texts.CREDIT_COUNT(1))) + "\n" + texts.LIKENESS_LEGEND)
        done = await after(discord, delivered, painting, timeout=60)
        assert done.button_labels == [es(texts.BUTTON_FILES), es(texts.BUTTON_MORE), es(texts.BUTTON_ANOTHER)]
        album = [f for m in discord.in_channel(dm) if painting.message_id < m.message_id <= done.message_id
                 for f in m.files]
        assert [f["description"] for f in album] == [es(lambda n=n: album_caption(title, n, 4, likeness[n - 1]))
                                                      for n in range(1, 5)]

        # ... and its files, full resolution, each described
        wanted = await press(discord, done, es(texts.BUTTON_FILES))
        await discord.wait_until(lambda: sum(len(m.files) for m in discord.answers_to(wanted)) == 8, 30,
                                 "the eight full-resolution files")
        assert [f["description"] for m in discord.answers_to(wanted) for f in m.files] == [
            es(texts.ORIGINALS_CAPTION, title=title, index=n, count=4) + f" · {aspect}"
            for n in range(1, 5) for aspect in payload["output_aspects"]]

        # /credits, /buy (the store's premium buttons: Discord shows the SKU's own name and price),
        # and the receipt of a pack bought there
        await slash(discord, "credits")
        cost = es(lambda: texts.CREDIT_COUNT(1))
        balance = await after(discord, es(texts.CREDITS, credits=cost, train_cost=cost, generate_cost=cost), done)
        assert balance.button_labels == [es(texts.BUTTON_BUY)]
        await slash(discord, "buy")
        packs = await after(discord, es(texts.BUY_PICK, train_cost=cost, generate_cost=cost), balance)
        assert [b["style"] for b in packs.buttons] == [6, 6] and not any(b.get("label") for b in packs.buttons)
        entitlement = discord.buy(ALEX, SMALL_SKU)
        await discord.dispatch(entitlement, "ENTITLEMENT_CREATE")  # no interaction: her language is the one kept
        ten = es(lambda: texts.CREDIT_COUNT(10))
        receipt = await after(discord, es(texts.RECEIPT, credits=ten, balance=es(lambda: texts.CREDIT_COUNT(11)),
                                          pack=ten, price=es(texts.PRICE_DISCORD), charge=entitlement["id"]), packs)
        assert receipt.channel_id == dm and receipt.button_labels == [es(texts.BUTTON_SEE_STYLES)]

        # /delete, confirmed
        await slash(discord, "delete")
        confirm = await after(discord, es(texts.DELETE_CONFIRM), receipt)
        assert confirm.button_labels == [es(texts.BUTTON_DELETE_YES), es(texts.BUTTON_DELETE_NO)]
        await press(discord, confirm, es(texts.BUTTON_DELETE_YES))
        await after(discord, es(texts.DELETED), confirm)

        # everything the bot sent him: none of it the catalogue's English
        sent = sent_texts(discord, states)
        assert len(sent) > 40
        problems = wrong_language(sent, "es")
        assert not problems, "\n".join(problems)
