"""The slash commands' descriptions in each Discord user's language: Discord shows a command's
``description_localizations`` for the language the user's client is set to. discord.py asks a
``Translator`` for each text marked with ``locale_str`` and each of Discord's locales while it
syncs the commands; the answer is the catalogue's sentence (``i18n.Msg``) said in that locale's
language. Command and option names stay English everywhere: the help and the bot's answers name
them (``/upload``, ``/styles``), in every language."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation, TranslationContextTypes, locale_str

from i18n import DEFAULT, Audience, Msg, pick, speaking

DESCRIPTION_LIMIT = 100  # a command's or an option's description
NAMES = (TranslationContextLocation.command_name, TranslationContextLocation.group_name,
         TranslationContextLocation.parameter_name)


def described(said: Msg) -> locale_str:
    """A description for discord.py: its English (what Discord shows where no language of its own
    is set), carrying the sentence to say in the others."""
    return locale_str(said.source, msg=said)


def language_of(locale: discord.Locale) -> str | None:
    """The bot's language for a Discord locale (``es-ES`` and ``es-419``: ``es``; ``pt-BR``:
    ``pt_BR``); None for English (the default text) and for a language the bot does not speak."""
    language = pick(locale.value)
    return None if language in (None, DEFAULT) else language


class CatalogueTranslator(app_commands.Translator):
    async def translate(self, string: locale_str, locale: discord.Locale,
                        context: TranslationContextTypes) -> str | None:
        said = string.extras.get("msg")
        if context.location in NAMES or not isinstance(said, Msg):
            return None
        language = language_of(locale)
        if language is None:
            return None
        with speaking(Audience(language)):
            text = str(said).strip()
        if not text or text == said.source:  # not translated yet: Discord shows the English
            return None
        return text[:DESCRIPTION_LIMIT]
