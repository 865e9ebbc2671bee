"""The slash commands, top level as in Midjourney's bot: ``/upload``, ``/train``, ``/styles``,
``/generate``, ``/status``, ``/credits``, ``/cancel``, ``/delete``, ``/start``, ``/help``,
``/privacy`` and the admins' ``/grant``. Each one defers (or opens the upload window) at once and
hands over to the front end, which calls the conversation core."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import discord
from discord import app_commands

from bot.core import actions
from bot.core.studio import Studio

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

    def style_choices(self, current: str) -> list[app_commands.Choice[str]]: ...

    def category_choices(self, current: str) -> list[app_commands.Choice[str]]: ...
PHOTO = "A selfie: just you, face clearly visible"

SIMPLE_COMMANDS = {
    "start": "How Portrait Studio works",
    "train": "Learn your face from your selfies (1 credit)",
    "status": "Your photos, model and jobs",
    "credits": "Your balance",
    "cancel": "Stop the job that's running",
    "delete": "Erase your photos, model, portraits and account",
    "privacy": "What I keep and for how long",
}


SELLING_COMMANDS = {"buy": "Buy credits"}
GALLERY_COMMANDS = {"gallery": "A private link to your portraits and the styles"}  # where STUDIO_WEB_URL is set


def register(tree: app_commands.CommandTree[Any], front_end: DiscordFrontEnd) -> None:
    selling = SELLING_COMMANDS if front_end.studio.selling("discord") else {}
    gallery = GALLERY_COMMANDS if front_end.studio.settings.web_url else {}
    for name, description in (SIMPLE_COMMANDS | selling | gallery).items():
        tree.add_command(app_commands.Command(name=name, description=description, callback=_core_command(front_end, name)))

    @tree.command(name="help", description="What I can do")
    async def help_(interaction: Interaction) -> None:
        await front_end.serve_help(interaction)

    @tree.command(name="upload", description="Add selfies: attach up to 10, or leave empty to open the upload window")
    @app_commands.rename(photo1="photo")
    @app_commands.describe(photo1=PHOTO, photo2=PHOTO, photo3=PHOTO, photo4=PHOTO, photo5=PHOTO, photo6=PHOTO,
                           photo7=PHOTO, photo8=PHOTO, photo9=PHOTO, photo10=PHOTO)
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

    @tree.command(name="styles", description="Browse the portrait styles")
    @app_commands.describe(category="Jump straight to one category")
    async def styles(interaction: Interaction, category: str | None = None) -> None:
        if category:
            await front_end.serve_action(interaction, actions.browse(category))
        else:
            await front_end.serve_command(interaction, "styles")

    @styles.autocomplete("category")
    async def category_choices(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return front_end.category_choices(current)

    @tree.command(name="generate", description="Paint portraits of you in a style (1 credit per batch)")
    @app_commands.describe(style="The style, e.g. LinkedIn headshot", batches="How many batches to paint (1 credit each)")
    async def generate(interaction: Interaction, style: str, batches: app_commands.Range[int, 1, 3] = 1) -> None:
        await front_end.serve_generate(interaction, style, batches)

    @generate.autocomplete("style")
    async def style_choices(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return front_end.style_choices(current)

    @tree.command(name="grant", description="Give a user credits (admins only)")
    @app_commands.describe(credits="Credits to add (negative to take away)", user="A Discord user",
                           account="Or an account on another platform, as platform:user_id")
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
