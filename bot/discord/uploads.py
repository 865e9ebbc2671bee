"""Selfies arriving as Discord attachments (slash-command options or the upload modal):
downloaded concurrently from the CDN, never on the event loop's time for image work (the core
checks photos in threads)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import discord

from bot.core import texts as core_texts
from bot.core.replies import IncomingFile
from bot.discord import texts
from engine.intake.config import MB

log = logging.getLogger(__name__)

MAX_FILES = 10
WINDOW_ID = "studio:upload"  # the upload window's custom_id: the same for every window ever opened
FILE_UPLOAD = 19  # the file-upload component's type in a submit's payload
DOWNLOADS_AT_ONCE = 4
TITLE_LIMIT = 45  # a modal's title, and a label's text
DESCRIPTION_LIMIT = 100  # a label's description

PhotoHandler = Callable[[discord.Interaction[Any], Sequence[discord.Attachment]], Awaitable[None]]


def unsupported_kind(attachment: discord.Attachment, max_bytes: int) -> str | None:
    """Why an attachment is not worth downloading, as the core's ``unsupported`` kind."""
    content_type = (attachment.content_type or "").split(";")[0]
    if attachment.size > max_bytes:
        return "file_too_big"
    if content_type.startswith("video/"):
        return "video"
    if content_type.startswith("audio/"):
        return "audio"
    if content_type == "image/gif":
        return "animation"
    return None


async def download(attachments: Sequence[discord.Attachment]) -> list[IncomingFile]:
    gate = asyncio.Semaphore(DOWNLOADS_AT_ONCE)

    async def one(attachment: discord.Attachment) -> IncomingFile:
        async with gate:
            data = await attachment.read()
        return IncomingFile(data, attachment.filename, sent_as_document=True)  # attachments keep the original bytes

    return list(await asyncio.gather(*(one(a) for a in attachments)))


def too_big_text(max_bytes: int) -> str:
    return core_texts.FILE_TOO_BIG.format(limit_mb=f"{max_bytes / MB:g}")  # in the photo check's unit


class UploadModal(discord.ui.Modal):
    """A window with a file picker for 1–10 selfies (``discord.ui.FileUpload``, discord.py 2.7).
    It must be an interaction's first response: nothing may defer before it.

    Every window is the same window, like the buttons: its ``custom_id`` is fixed (``studio:upload``),
    it has no timeout, the client registers one when it starts (``add_view``) and a submit does not
    end it. So a window is answered however long the user took to pick their photos and whether or
    not the bot restarted meanwhile: nothing about it is kept in memory between opening and
    submitting. Each user is shown one made for them, in their language (made inside
    ``speaking``); discord.py keeps the last one shown under that ``custom_id``, and whichever it
    keeps serves every submit alike: its words are only what the window showed."""

    def __init__(self, on_photos: PhotoHandler) -> None:
        super().__init__(title=str(texts.UPLOAD_TITLE)[:TITLE_LIMIT], timeout=None, custom_id=WINDOW_ID)
        self.on_photos = on_photos
        self.files: discord.ui.FileUpload[Any] = discord.ui.FileUpload(
            custom_id="selfies", min_values=1, max_values=MAX_FILES, required=True
        )
        self.add_item(discord.ui.Label(text=str(texts.UPLOAD_LABEL)[:TITLE_LIMIT],
                                       description=str(texts.UPLOAD_HINT)[:DESCRIPTION_LIMIT], component=self.files))

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:  # type: ignore[override]
        # discord.py fills ``files`` from this submit just before calling here; read it before the
        # first await, since the next submit (anyone's) fills the same window, and keep only the
        # files this very submit carried: never another user's
        sent = set(files_in_submit(interaction.data))
        attachments = [attachment for attachment in self.files.values if str(attachment.id) in sent]
        await self.on_photos(interaction, attachments)

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception) -> None:  # type: ignore[override]
        handler = getattr(interaction.client, "front_end", None)
        if handler is not None:
            await handler.apologise(interaction, error)

    def stop(self) -> None:
        """Keep listening: discord.py stops a modal after its first submit, and this one window
        serves every submit of every user."""


def files_in_submit(data: Mapping[str, Any] | None) -> list[str]:
    """The ids of the files a window's submit carried, read from its raw payload."""
    def ids(components: Any) -> list[str]:
        found: list[str] = []
        for component in components or []:
            if component.get("type") == FILE_UPLOAD:
                found += [str(value) for value in component.get("values") or []]
            found += ids(component.get("components")) + ids([component["component"]] if "component" in component else [])
        return found

    return ids((data or {}).get("components"))
