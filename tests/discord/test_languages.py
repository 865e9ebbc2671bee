"""The Discord front end in each user's language: the slash commands' descriptions localised for
Discord's locales (names stay English), and what the front end says by itself (its help, the
upload window) in the language of the user's client."""

from __future__ import annotations

from typing import Any

import discord as discord_py
import pytest
from discord.app_commands import TranslationContext, TranslationContextLocation

from bot.discord import commands
from bot.discord import texts as discord_texts
from bot.discord.translator import CatalogueTranslator, described, language_of
from i18n import Audience, speaking
from tests.discord.helpers import agree
from tests.support.discord_server import FakeDiscord
from tests.support.selfies import obama_selfies

ALEX = 501
DESCRIPTION = TranslationContext(TranslationContextLocation.command_description, None)


def said(language: str, sentence: Any) -> str:
    with speaking(Audience(language)):
        return str(sentence)


@pytest.mark.parametrize(("locale", "language"), [
    (discord_py.Locale.spain_spanish, "es"), (discord_py.Locale.latin_american_spanish, "es"),
    (discord_py.Locale.brazil_portuguese, "pt_BR"), (discord_py.Locale.russian, "ru"), (discord_py.Locale.german, "de"),
    (discord_py.Locale.french, "fr"), (discord_py.Locale.american_english, None), (discord_py.Locale.british_english, None),
    (discord_py.Locale.japanese, None),
])
def test_discord_locales_map_to_the_bots_languages(locale: discord_py.Locale, language: str | None) -> None:
    assert language_of(locale) == language


async def test_the_translator_says_descriptions_in_spanish_for_spain_and_latin_america() -> None:
    translator = CatalogueTranslator()
    spanish = said("es", commands.UPLOAD)
    assert spanish != commands.UPLOAD.source
    for locale in (discord_py.Locale.spain_spanish, discord_py.Locale.latin_american_spanish):
        assert await translator.translate(described(commands.UPLOAD), locale, DESCRIPTION) == spanish
    assert await translator.translate(described(commands.UPLOAD), discord_py.Locale.american_english, DESCRIPTION) is None
    assert await translator.translate(described(commands.UPLOAD), discord_py.Locale.japanese, DESCRIPTION) is None
    name = TranslationContext(TranslationContextLocation.command_name, None)
    assert await translator.translate(described(commands.UPLOAD), discord_py.Locale.spain_spanish, name) is None
    plain = discord_py.app_commands.locale_str("not a sentence of the catalogue")
    assert await translator.translate(plain, discord_py.Locale.spain_spanish, DESCRIPTION) is None


async def test_the_synced_commands_carry_their_descriptions_in_every_language(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory():
        synced = {c["name"]: c for c in discord.commands["global"]}
    credits = synced["credits"]
    assert credits["description"] == "Your balance"
    localised = credits["description_localizations"]
    assert localised["es-ES"] == localised["es-419"] == said("es", commands.SIMPLE_COMMANDS["credits"]) != "Your balance"
    assert localised["pt-BR"] == said("pt_BR", commands.SIMPLE_COMMANDS["credits"])
    assert localised["ru"] == said("ru", commands.SIMPLE_COMMANDS["credits"])
    assert "en-US" not in localised and "ja" not in localised
    language = synced["language"]["description_localizations"]
    assert language["de"] == said("de", commands.SIMPLE_COMMANDS["language"])
    photo = synced["upload"]["options"][0]
    assert photo["name"] == "photo" and photo["description_localizations"]["es-ES"] == said("es", commands.PHOTO)
    for command in synced.values():  # names stay English: the help and the answers name /upload, /styles…
        assert not command.get("name_localizations")
        assert all(not o.get("name_localizations") for o in command.get("options", []))
        assert all(len(text) <= 100 for text in (command.get("description_localizations") or {}).values())


async def test_a_spanish_client_opens_a_spanish_upload_window_that_is_served(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory():
        await agree(discord, ALEX)
        command = discord.command_payload(ALEX, "upload")
        command["locale"] = "es-ES"
        await discord.dispatch(command)
        window = await discord.wait_for_callback(command)
        assert window.type == 9
        expected = said("es", discord_texts.UPLOAD_TITLE)
        assert expected != discord_texts.UPLOAD_TITLE.source and window.data["title"] == expected
        label = window.data["components"][0]
        assert label["label"] == said("es", discord_texts.UPLOAD_LABEL)
        assert label["description"] == said("es", discord_texts.UPLOAD_HINT)
        # the window a user is shown is one of many alike: its submit is served as any other
        photos = [discord.add_attachment(data, f"s{n}.jpg") for n, data in enumerate(obama_selfies(2), 1)]
        submit = discord.modal_submit_payload(ALEX, window, photos)
        submit["locale"] = "es-ES"
        await discord.dispatch(submit)
        await discord.wait_until(lambda: any(m.content for m in discord.answers_to(submit) if not m.flags & 128), 60,
                                 "the verdicts on the photos")
        english = discord.command_payload(ALEX, "upload")  # another client, in English: an English window
        await discord.dispatch(english)
        assert (await discord.wait_for_callback(english)).data["title"] == discord_texts.UPLOAD_TITLE.source


async def test_a_spanish_client_gets_the_help_in_spanish(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory():
        command = discord.command_payload(ALEX, "help")
        command["locale"] = "es-419"
        await discord.dispatch(command)
        head = said("es", discord_texts.HELP).partition("\n")[0]
        assert head != "Here's what I can do:"
        answer = await discord.wait_for(lambda m: m.token == command["token"] and head in m.content, what="the help")
        assert "/language" in answer.content
