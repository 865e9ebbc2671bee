"""A whole journey in Russian through the Bot API stand-in: a user whose Telegram app is set to
Russian goes from /start to their album, buys credits and deletes everything, and every message,
caption, button, invoice field and alert the bot sent them is Russian. Then a Russian app whose
user picks German with /language while their model trains: the model-ready message is German.

The worker's part is played by the test as the existing end-to-end tests do (tests/support/
worker_part.py); the bot's own job watcher shows the progress and delivers the outcomes."""

from __future__ import annotations

from typing import Any

from bot.core import texts
from db import queue
from engine.intake.reasons import MESSAGES, RejectCode
from i18n import Audience, language_name, percent
from tests.support.languages import is_cyrillic, said, wrong_language
from tests.support.selfies import obama_selfies, read
from tests.support.telegram_server import FakeTelegram, Sent
from tests.support.worker_part import (album_caption, claim_training, finish_training, paint_portraits, paint_preview,
                                       progress_line, report, skip_preview)
from tests.telegram.test_payments import PACKS

ALEX = 501
RU = Audience("ru", "woman")
RU_NEUTRAL = Audience("ru")  # before the class word is given, sentences agree with nobody in particular
DE = Audience("de", "woman")
MIN_PHOTOS, MAX_PHOTOS = 8, 20  # TEST_INTAKE's minimum; the welcome says up to max(minimum, 20)
RUSSIAN_EXEMPT = {"📸 Instagram"}
"""The one label of the journey with no Russian in it: the Instagram category, a brand, has no
translation by design (styles/categories.toml)."""


def ru(sentence: Any, **values: Any) -> str:
    return said(RU, sentence, **values)


# ---------------------------------------------------------------------- what the stand-in recorded
def _labels(markup: Any) -> list[str]:
    if not isinstance(markup, dict):
        return []
    return [button.get("text", "") for row in markup.get("inline_keyboard", []) for button in row]


def sent_texts(telegram: FakeTelegram, chat_id: int, since_call: int = 0) -> list[tuple[str, str]]:
    """Every text the bot sent to ``chat_id`` through the Bot API (from call ``since_call`` on), as
    (where, text): messages and their edits, captions of photos, albums and files, button labels,
    invoice fields and the alerts of answered button presses (which name no chat: one user here)."""
    found: list[tuple[str, str]] = []
    for method, params in telegram.calls[since_call:]:
        if method == "answerCallbackQuery":
            if params.get("text"):
                found.append((method, params["text"]))
            continue
        if str(params.get("chat_id")) != str(chat_id):
            continue
        if method in ("sendMessage", "editMessageText"):
            found.append((method, params.get("text", "")))
        if method in ("sendPhoto", "sendDocument") and params.get("caption"):
            found.append((f"{method} caption", params["caption"]))
        if method == "sendMediaGroup":
            found += [(f"{method} caption", item.get("caption", "")) for item in params.get("media", [])]
        if method == "sendInvoice":
            found += [("invoice title", params.get("title", "")),
                      ("invoice description", params.get("description", ""))]
            found += [("invoice price label", price.get("label", "")) for price in params.get("prices", [])]
        found += [(f"{method} button", label) for label in _labels(params.get("reply_markup"))]
    return found


def after(telegram: FakeTelegram, text: str, since: Sent | int = 0, *, exact: bool = True,
          timeout: float = 30.0):  # type: ignore[no-untyped-def]
    """The first message to Alex, sent or edited after message ``since``, that is ``text`` (or, not
    ``exact``, has it in it)."""
    since_id = since.message_id if isinstance(since, Sent) else since

    def matches(m: Sent) -> bool:
        said_ = m.text or m.caption
        return m.chat_id == ALEX and m.message_id > since_id and (said_ == text if exact else text in said_)

    return telegram.wait_for(matches, timeout, repr(text))


# ---------------------------------------------------------------------- the journeys
async def test_a_russian_app_hears_russian_from_start_to_delete(bot_factory) -> None:
    async with bot_factory(free_credits=3, credit_packs=PACKS) as bot:
        telegram = bot.telegram
        telegram.languages[ALEX] = "ru"
        catalogue = bot.services.catalogue
        linkedin = catalogue.get("linkedin-headshot")
        title = ru(lambda: linkedin.title)
        assert title == linkedin.titles["ru"] != linkedin.english_title

        # /start: the greeting, then the consent
        await telegram.send_text(ALEX, "/start")
        welcome = await after(telegram, ru(lambda: texts.welcome("Alex", 3, MIN_PHOTOS, MAX_PHOTOS)))
        assert welcome.button_labels == [ru(texts.BUTTON_TIPS), ru(texts.BUTTON_SEE_STYLES)]
        consent = await after(telegram, ru(texts.CONSENT), welcome)
        assert consent.button_labels == [ru(texts.BUTTON_CONSENT)]
        await telegram.press(ALEX, consent, ru(texts.BUTTON_CONSENT))
        await after(telegram, ru(texts.CONSENT_THANKS, min_photos=MIN_PHOTOS, max_photos=MAX_PHOTOS), consent)

        # an album of nine: eight good, one with two people in it, refused and told why
        for data in obama_selfies(8) + [read("two_people.jpg")]:
            await telegram.send_photo(ALEX, data, media_group_id="selfies")
        checking = await after(telegram, ru(texts.PHOTOS_RECEIVED, count=9), timeout=60)
        reason = ru(MESSAGES[RejectCode.multiple_faces])
        assert reason != MESSAGES[RejectCode.multiple_faces].source
        summary_text = "\n".join([
            said(RU_NEUTRAL, lambda: texts.batch_good(9, 8)),
            ru(texts.REFUSED_NUMBERED, number=9, reason=reason),
            said(RU_NEUTRAL, lambda: texts.SET_READY_COUNT.format(accepted=8) + texts.SET_READY.format(
                minutes=texts.TRAIN_MINUTES_ESTIMATE, cost=texts.CREDIT_COUNT(1)))])
        summary = await after(telegram, summary_text, checking, timeout=60)
        assert summary.button_labels == [ru(texts.BUTTON_TRAIN), ru(texts.BUTTON_ADD_MORE)]

        # training, as "a woman": from now on her sentences agree with her
        await telegram.press(ALEX, summary, ru(texts.BUTTON_TRAIN))
        who = await after(telegram, ru(texts.CHOOSE_CLASS), summary)
        assert who.button_labels == [ru(texts.CLASS_WORDS[w]) for w in ("man", "woman", "person")]
        await telegram.press(ALEX, who, ru(texts.CLASS_WORDS["woman"]))
        first_progress = await after(telegram, ru(texts.TRAIN_QUEUED), who, exact=False)
        assert first_progress.text.startswith(ru(texts.TRAIN_QUEUED))
        assert first_progress.button_labels == [ru(texts.BUTTON_CANCEL)]

        # the free quick preview, marked as one, and the progress moved below it
        await paint_preview(bot)
        preview = await telegram.wait_for(lambda m: m.chat_id == ALEX and m.method == "sendPhoto", what="the preview")
        assert preview.caption == ru(texts.PREVIEW_CAPTION, title=title, index=1, count=1)
        told = await after(telegram, ru(texts.PREVIEW_DELIVERED), preview)
        progress = await after(telegram, ru(texts.TRAIN_QUEUED), told, exact=False)
        await after(telegram, ru(texts.PROGRESS_BELOW, title=ru(texts.TRAIN_QUEUED)), first_progress.message_id - 1)

        # the training runs: the progress message says how far, and how long is left
        lease = await claim_training(bot)
        running = await report(bot, lease, queue.ProgressUpdate("training", step=4, total_steps=10, eta_seconds=150))
        bar = progress_line(RU, texts.TRAIN_QUEUED, running)
        await telegram.wait_for(lambda m: m.message_id == progress.message_id and m.text == bar,
                                what=f"the progress edited to {bar!r}")

        # the model is ready: its likeness, and the preview's style in one tap above the categories
        await finish_training(bot, lease, "woman", likeness=87)
        ready_text = "\n".join([ru(texts.MODEL_READY_AFTER_PREVIEW, title=title),
                                ru(texts.MODEL_TEST_LIKENESS, likeness=ru(lambda: percent(87)))])
        ready = await after(telegram, ready_text, progress)
        categories = [ru(lambda c=c: f"{c.emoji} {c.title}") for c in catalogue.used_categories()]
        assert ready.button_labels == [ru(texts.BUTTON_PAINT_WITH_MODEL, title=title), *categories]
        await after(telegram, ru(lambda: f"{texts.TRAIN_QUEUED}  {texts.progress_bar(1.0)} {percent(100)} ✅"),
                    progress.message_id - 1)

        # a style: the category, then LinkedIn
        professional = catalogue.categories["professional"]
        await telegram.press(ALEX, ready, ru(lambda: f"{professional.emoji} {professional.title}"))
        category = await after(telegram, ru(texts.PICK_IN_CATEGORY, emoji=professional.emoji,
                                            title=ru(lambda: professional.title)), ready)
        assert category.button_labels == [*(ru(lambda s=s: f"{s.emoji} {s.title}") for s in
                                            catalogue.in_category("professional")), ru(texts.BUTTON_BACK)]
        await telegram.press(ALEX, category, ru(lambda: f"{linkedin.emoji} {linkedin.title}"))
        painting = await after(telegram, ru(texts.GENERATE_QUEUED, count=4, title=title), category, exact=False)
        assert painting.button_labels == [ru(texts.BUTTON_CANCEL)]

        # the album: each portrait's caption, then the buttons under it
        likeness = [100, 96, 91, 88]
        payload = await paint_portraits(bot, likeness)
        album = await telegram.wait_for(lambda m: m.chat_id == ALEX and m.method == "sendMediaGroup"
                                        and m.media[0]["type"] == "photo", what="the album")
        captions = [item["caption"] for item in album.media]
        assert captions == [ru(lambda n=n: album_caption(title, n, 4, likeness[n - 1])) for n in range(1, 5)]
        delivered = ru(lambda: "\n".join([texts.DELIVERED.format(credits_left=texts.CREDITS_LEFT.format(
            credits=texts.CREDIT_COUNT(1))), str(texts.LIKENESS_LEGEND)]))
        done = await after(telegram, delivered, album)
        assert done.button_labels == [ru(texts.BUTTON_FILES), ru(texts.BUTTON_MORE), ru(texts.BUTTON_ANOTHER)]

        # ... and its files, full resolution, each captioned
        await telegram.press(ALEX, done, ru(texts.BUTTON_FILES))
        files = await telegram.wait_for(lambda m: m.chat_id == ALEX and m.media and m.media[0]["type"] == "document",
                                        what="the full-resolution files")
        aspects = payload["output_aspects"]
        assert [item["caption"] for item in files.media] == [
            ru(texts.ORIGINALS_CAPTION, title=title, index=n, count=4) + f" · {aspect}"
            for n in range(1, 5) for aspect in aspects]

        # /credits, /buy: the packs as invoices in Russian, and the receipt of one bought
        await telegram.send_text(ALEX, "/credits")
        cost = ru(lambda: texts.CREDIT_COUNT(1))
        balance = await after(telegram, ru(texts.CREDITS, credits=cost, train_cost=cost, generate_cost=cost), files)
        assert balance.button_labels == [ru(texts.BUTTON_BUY)]
        await telegram.send_text(ALEX, "/buy")
        await after(telegram, ru(texts.BUY_PICK, train_cost=cost, generate_cost=cost), balance)
        await telegram.wait_for(lambda m: len(telegram.invoices_to(ALEX)) == 2, what="two invoices")
        ten = ru(lambda: texts.CREDIT_COUNT(10))
        small = next(m for m in telegram.invoices_to(ALEX) if m.invoice["total_amount"] == 250)
        assert small.invoice["title"] == ru(texts.INVOICE_TITLE, credits=ten) == ten
        assert small.invoice["description"] == ru(texts.INVOICE_DESCRIPTION, credits=ten, train_cost=cost,
                                                  generate_cost=cost)
        assert [p["label"] for p in small.invoice["prices"]] == [ru(texts.INVOICE_LABEL, credits=ten)]
        payment = await telegram.pay(ALEX, small)
        receipt = await after(telegram, ru(texts.RECEIPT, credits=ten, balance=ru(lambda: texts.CREDIT_COUNT(11)),
                                           pack=ten, price=ru(texts.PRICE_STARS, stars=250),
                                           charge=payment["telegram_payment_charge_id"]), small)
        assert receipt.button_labels == [ru(texts.BUTTON_SEE_STYLES)]

        # /delete, confirmed
        await telegram.send_text(ALEX, "/delete")
        confirm = await after(telegram, ru(texts.DELETE_CONFIRM), receipt)
        assert ru(texts.DELETE_CONFIRM) != said(Audience("ru", "man"), texts.DELETE_CONFIRM)  # "уверена", "уверен"
        assert confirm.button_labels == [ru(texts.BUTTON_DELETE_YES), ru(texts.BUTTON_DELETE_NO)]
        await telegram.press(ALEX, confirm, ru(texts.BUTTON_DELETE_YES))
        await after(telegram, ru(texts.DELETED), confirm)

        # everything the bot sent her: Russian, no sentence of the catalogue in English
        sent = sent_texts(telegram, ALEX)
        assert len(sent) > 40
        problems = wrong_language(sent, "ru", exempt=RUSSIAN_EXEMPT, alphabet=is_cyrillic)
        assert not problems, "\n".join(problems)
        assert {text for _, text in sent} & RUSSIAN_EXEMPT  # the exemption is of a label the journey shows


async def test_german_picked_while_the_model_trains_is_what_the_model_ready_message_speaks(bot_factory) -> None:
    async with bot_factory(free_credits=3) as bot:
        telegram = bot.telegram
        telegram.languages[ALEX] = "ru"
        await telegram.send_text(ALEX, "/start")
        consent = await after(telegram, ru(texts.CONSENT))
        await telegram.press(ALEX, consent, ru(texts.BUTTON_CONSENT))
        thanks = await after(telegram, ru(texts.CONSENT_THANKS, min_photos=MIN_PHOTOS, max_photos=MAX_PHOTOS), consent)
        for data in obama_selfies(8):
            await telegram.send_photo(ALEX, data, media_group_id="selfies")
        summary = await telegram.wait_for(lambda m: m.chat_id == ALEX and m.message_id > thanks.message_id
                                          and ru(texts.BUTTON_TRAIN) in m.button_labels,
                                          timeout=60, what="the summary with its Train button")
        await telegram.press(ALEX, summary, ru(texts.BUTTON_TRAIN))
        who = await after(telegram, ru(texts.CHOOSE_CLASS), summary)
        await telegram.press(ALEX, who, ru(texts.CLASS_WORDS["woman"]))
        progress = await after(telegram, ru(texts.TRAIN_QUEUED), who, exact=False)
        lease = await claim_training(bot)  # the model is training

        # /language while it trains: asked in Russian, Deutsch picked, answered in German
        await telegram.send_text(ALEX, "/language")
        picker = await after(telegram, ru(texts.LANGUAGE_PICK, language=language_name("ru")), progress)
        assert "Deutsch" in picker.button_labels and "Русский" in picker.button_labels
        await telegram.press(ALEX, picker, "Deutsch")
        chosen = await after(telegram, said(DE, texts.LANGUAGE_CHOSEN), picker)
        switched = len(telegram.calls)

        # the training finishes: the progress, the model-ready message and its style picker in German
        await skip_preview(bot)
        await finish_training(bot, lease, "woman")
        ready = await after(telegram, said(DE, texts.MODEL_READY), chosen)
        assert ready.text != ru(texts.MODEL_READY)
        used = bot.services.catalogue.used_categories()
        german_categories = [said(DE, lambda c=c: f"{c.emoji} {c.title}") for c in used]
        assert ready.button_labels == german_categories
        assert german_categories != [ru(lambda c=c: f"{c.emoji} {c.title}") for c in used]
        await telegram.wait_for(lambda m: m.message_id == progress.message_id and m.text == said(
            DE, lambda: f"{texts.TRAIN_QUEUED}  {texts.progress_bar(1.0)} {percent(100)} ✅"),
            what="the progress message's last edit, in German")

        after_pick = sent_texts(telegram, ALEX, since_call=switched)
        assert after_pick
        russian = [f"{where}: {text!r}" for where, text in after_pick if is_cyrillic(text)]
        assert not russian, "said in Russian after German was picked:\n" + "\n".join(russian)
        problems = wrong_language(after_pick, "de")
        assert not problems, "\n".join(problems)
