"""The Telegram front end in each user's language: its menus and profile texts per language, and
what it says by itself (an alert, a "checking…" note, a refused checkout) in the language of the
user's app, or the one they picked with /language."""

from __future__ import annotations

from bot.core import texts
from bot.telegram.app import COMMANDS, GROUP_COMMANDS
from i18n import Audience, languages, speaking
from tests.support.selfies import obama_selfies
from tests.support.telegram_server import Sent
from tests.telegram.test_payments import PACKS, open_invoice

ALEX, SAM = 501, 502
FRIENDS = -1001234567890
TELEGRAM_CODES = {"en": "", "de": "de", "es": "es", "fr": "fr", "pt_BR": "pt", "ru": "ru"}


def said(language: str, sentence, **values) -> str:
    with speaking(Audience(language)):
        return sentence.format(**values) if values else str(sentence)


async def test_start_up_sets_menus_and_descriptions_in_every_language(bot_factory) -> None:
    async with bot_factory() as bot:
        telegram = bot.telegram
        assert set(languages()) == set(TELEGRAM_CODES)
        for language, code in TELEGRAM_CODES.items():
            private = telegram.menus[("default", code)]
            assert [c["command"] for c in private] == [name for name, _ in COMMANDS]  # names stay English
            assert [c["description"] for c in private] == [said(language, d) for _, d in COMMANDS]
            group = telegram.menus[("all_group_chats", code)]
            assert [(c["command"], c["description"]) for c in group] == [(n, said(language, d)) for n, d in GROUP_COMMANDS]
            assert telegram.descriptions[code] == said(language, texts.BOT_DESCRIPTION)
            assert telegram.short_descriptions[code] == said(language, texts.BOT_SHORT_DESCRIPTION)
        russian = {c["command"]: c["description"] for c in telegram.menus[("default", "ru")]}
        english = {c["command"]: c["description"] for c in telegram.menus[("default", "")]}
        assert russian["language"] != english["language"] == "Change the language I speak"
        assert telegram.descriptions["ru"] != telegram.descriptions[""]
        assert telegram.commands == telegram.menus[("default", "")]  # the default menu is the English one


async def test_unchanged_descriptions_are_not_set_again_at_the_next_start(bot_factory, telegram) -> None:
    """Telegram allows few description changes a day: a restart with the same texts sets none."""
    async with bot_factory():
        pass
    first = [method for method, _ in telegram.calls if method in {"setMyDescription", "setMyShortDescription"}]
    assert len(first) == 2 * len(TELEGRAM_CODES)
    async with bot_factory():
        pass
    again = [method for method, _ in telegram.calls if method in {"setMyDescription", "setMyShortDescription"}]
    assert again == first
    assert [m for m, _ in telegram.calls].count("setMyCommands") == 2 * 2 * len(TELEGRAM_CODES)


async def test_a_russian_app_gets_the_private_chat_alert_in_russian(bot_factory) -> None:
    async with bot_factory() as bot:
        telegram = bot.telegram
        telegram.languages[SAM] = "ru"
        old = Sent("sendMessage", FRIENDS, 999_001, text="Erase everything?",
                   buttons=[[{"text": "Yes, delete", "callback_data": "delete:1"}]])
        telegram.messages[old.message_id] = old
        await telegram.press(SAM, old, "Yes, delete")
        telegram.languages[SAM] = "en"  # settled() waits for an English /help, after the press (in order)
        await bot.settled(SAM)
        expected = said("ru", texts.PRIVATE_CHAT_ONLY_ALERT)
        assert expected != said("en", texts.PRIVATE_CHAT_ONLY_ALERT)
        answer = telegram.callback_answers[-1]
        assert answer.get("show_alert") and answer["text"] == expected


async def test_a_russian_app_gets_the_checking_note_in_russian(bot_factory) -> None:
    async with bot_factory() as bot:
        telegram = bot.telegram
        telegram.languages[ALEX] = "ru"
        for data in obama_selfies(4):
            await telegram.send_photo(ALEX, data, media_group_id="album-1")
        expected = said("ru", texts.PHOTOS_RECEIVED, count=4)
        assert expected != said("en", texts.PHOTOS_RECEIVED, count=4)
        await telegram.wait_for_text(ALEX, expected, timeout=60)


async def test_the_language_picked_with_the_language_command_beats_the_apps(bot_factory) -> None:
    """/language is a command of the menu and routed to the core; the pick is kept, and what the
    front end says by itself follows it, whatever language the app is set to."""
    async with bot_factory() as bot:
        telegram = bot.telegram
        await telegram.send_text(ALEX, "/language")
        picker = await telegram.wait_for_text(ALEX, "Which language should I speak?")
        await telegram.press(ALEX, picker, "Русский")
        await telegram.wait_for_text(ALEX, said("ru", texts.LANGUAGE_CHOSEN))
        for data in obama_selfies(4):
            await telegram.send_photo(ALEX, data, media_group_id="album-1")
        await telegram.wait_for_text(ALEX, said("ru", texts.PHOTOS_RECEIVED, count=4), timeout=60)


async def test_a_refused_checkout_is_explained_in_the_buyers_language(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS) as bot:
        small = await open_invoice(bot.telegram, "10 credits")
    async with bot_factory(credit_packs="big:50:1200") as bot:  # small withdrawn
        telegram = bot.telegram
        telegram.languages[ALEX] = "ru"
        answer = await telegram.checkout_answer(await telegram.pre_checkout(ALEX, small))
        expected = said("ru", texts.CHECKOUT_REFUSED["unknown_pack"])
        assert expected != said("en", texts.CHECKOUT_REFUSED["unknown_pack"])
        assert not answer["ok"] and answer["error_message"] == expected
