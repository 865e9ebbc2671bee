"""The slash commands, top level as in Midjourney's bot: ``/upload``, ``/train``, ``/styles``,
``/generate``, ``/status``, ``/credits``, ``/cancel``, ``/delete``, ``/start``, ``/help``,
``/privacy``, ``/language`` and the admins' ``/grant``. Each one defers (or opens the upload window) at once and
hands over to the front end, which calls the conversation core."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import discord
from discord import app_commands

from bot.core import actions
from bot.core.studio import Studio
from bot.discord.translator import described
from i18n import Msg

Interaction = discord.Interaction[Any]


class DiscordFrontEnd(Protocol):
    """What the commands hand over to (``bot.discord.app.DiscordFrontEnd``)."""

    studio: Studio

    async def serve_command(self, interaction: Interaction, name: str, args: list[str] | None = None) -> None: ...

    async def serve_action(self, interaction: Interaction, action: str, *, source: str = "") -> None: ...

    async def serve_help(self, interaction: Interaction) -> None: ...

    async def serve_photos(self, interaction: Interaction, attachments: Sequence[discord.Attachment]) -> None: ...

    async def open_upload(self, interaction: Interaction) -> None: ...

    async def serve_generate(self, interaction: Interaction, style_id: str, batches: int) -> None: ...

    async def style_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]: ...

    async def category_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]: ...


# Descriptions are said in each user's language (bot/discord/translator.py); names stay English.
PHOTO = Msg("A selfie: just you, face clearly visible")

SIMPLE_COMMANDS = {
    "start": Msg("How Portrait Studio works"),
    "train": Msg("Learn your face from your selfies (1 credit)"),
    "status": Msg("Your photos, model and jobs"),
    "credits": Msg("Your balance"),
    "cancel": Msg("Stop the job that's running"),
    "delete": Msg("Erase your photos, model, portraits and account"),
    "privacy": Msg("What I keep and for how long"),
    "language": Msg("Change the language I speak"),
}


SELLING_COMMANDS = {"buy": Msg("Buy credits")}
GALLERY_COMMANDS = {"gallery": Msg("A private link to your portraits and the styles")}  # where STUDIO_WEB_URL is set
HELP = Msg("What I can do")
UPLOAD = Msg("Add selfies: attach up to 10, or leave empty to open the upload window")
STYLES = Msg("Browse the portrait styles")
STYLES_CATEGORY = Msg("Jump straight to one category")
GENERATE = Msg("Paint portraits of you in a style (1 credit per batch)")
GENERATE_STYLE = Msg("The style, e.g. LinkedIn headshot")
GENERATE_BATCHES = Msg("How many batches to paint (1 credit each)")
GRANT = Msg("Give a user credits (admins only)")
GRANT_CREDITS = Msg("Credits to add (negative to take away)")
GRANT_USER = Msg("A Discord user")
GRANT_ACCOUNT = Msg("Or an account on another platform, as platform:user_id")


def register(tree: app_commands.CommandTree[Any], front_end: DiscordFrontEnd) -> None:
    selling = SELLING_COMMANDS if front_end.studio.selling("discord") else {}
    gallery = GALLERY_COMMANDS if front_end.studio.settings.web_url else {}
    for name, description in (SIMPLE_COMMANDS | selling | gallery).items():
        tree.add_command(app_commands.Command(name=name, description=described(description),
                                              callback=_core_command(front_end, name)))

    @tree.command(name="help", description=described(HELP))
    async def help_(interaction: Interaction) -> None:
        await front_end.serve_help(interaction)

    @tree.command(name="upload", description=described(UPLOAD))
    @app_commands.rename(photo1="photo")
    @app_commands.describe(**{f"photo{n}": described(PHOTO) for n in range(1, 11)})
    async def upload(interaction: Interaction, photo1: discord.Attachment | None = None,
                     photo2: discord.Attachment | None = None, photo3: discord.Attachment | None = None,
                     photo4: discord.Attachment | None = None, photo5: discord.Attachment | None = None,
                     photo6: discord.Attachment | None = None, photo7: discord.Attachment | None = None,
                     photo8: discord.Attachment | None = None, photo9: discord.Attachment | None = None,
                     photo10: discord.Attachment | None = None) -> None:
        attached = [a for a in (photo1, photo2, photo3, photo4, photo5, photo6, photo7, photo8, photo9, photo10) if a]
        if attached:
            await front_end.serve_photos(interaction, attached)
        else:
            await front_end.open_upload(interaction)

    @tree.command(name="styles", description=described(STYLES))
    @app_commands.describe(category=described(STYLES_CATEGORY))
    async def styles(interaction: Interaction, category: str | None = None) -> None:
        if category:
            await front_end.serve_action(interaction, actions.browse(category))
        else:
            await front_end.serve_command(interaction, "styles")

    @styles.autocomplete("category")
    async def category_choices(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await front_end.category_choices(interaction, current)

    @tree.command(name="generate", description=described(GENERATE))
    @app_commands.describe(style=described(GENERATE_STYLE), batches=described(GENERATE_BATCHES))
    async def generate(interaction: Interaction, style: str, batches: app_commands.Range[int, 1, 3] = 1) -> None:
        await front_end.serve_generate(interaction, style, batches)

    @generate.autocomplete("style")
    async def style_choices(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await front_end.style_choices(interaction, current)

    @tree.command(name="grant", description=described(GRANT))
    @app_commands.describe(credits=described(GRANT_CREDITS), user=described(GRANT_USER),
                           account=described(GRANT_ACCOUNT))
    @app_commands.default_permissions(administrator=True)
    async def grant(interaction: Interaction, credits: int, user: discord.User | None = None,
                    account: str | None = None) -> None:
        target = f"discord:{user.id}" if user is not None else (account or "")
        await front_end.serve_command(interaction, "grant", [target, str(credits)] if target else [])


def _core_command(front_end: DiscordFrontEnd, name: str) -> Any:
    async def callback(interaction: Interaction) -> None:
        await front_end.serve_command(interaction, name)

    callback.__name__ = name
    return callback
