"""Render platform-neutral replies as Discord messages, and the ``Messenger`` the job watcher uses:
it posts and edits by channel id (a server channel or the user's DM channel) through the bot's
REST API, never through an interaction token, so deliveries work long after the 15 minutes a
token lives."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.core.messenger import Unreachable
from bot.core.replies import Reply
from bot.discord import texts
from bot.discord.files import DEFAULT_UPLOAD_LIMIT, Upload, fit_album, fit_documents
from bot.discord.mentions import addressed
from bot.discord.views import view_of

log = logging.getLogger(__name__)

TEXT_LIMIT = 2000


@dataclass(slots=True)
class Outgoing:
    """One Discord message: text, attachments and whether the reply's buttons go under it."""

    content: str = ""
    uploads: list[Upload] = field(default_factory=list)
    with_buttons: bool = False
    decorative: bool = False
    """The uploads are the reply's illustration: the message goes without them where they fail."""


def plan(reply: Reply, limit: int) -> list[Outgoing]:
    """The messages a reply becomes (CPU work when pictures need re-encoding: run in a thread).
    The album comes first with the text and buttons under its last part, as in Midjourney."""
    messages = [Outgoing(uploads=chunk) for chunk in fit_album(reply.album, limit)]
    chunks, too_big = fit_documents(reply.documents, limit)
    document_messages = [Outgoing(uploads=chunk) for chunk in chunks]
    notes = [texts.TOO_BIG_TO_UPLOAD.format(filename=u.filename, size_mb=len(u.data) / 2**20, limit_mb=limit / 2**20)
             for u in too_big]
    text = "\n".join(part for part in [reply.text, *notes] if part)[:TEXT_LIMIT]
    if messages and text:
        messages[-1].content, messages[-1].with_buttons = text, True
        text = ""
    messages += document_messages
    if text or (reply.buttons and not any(m.with_buttons for m in messages)):
        messages.append(Outgoing(content=text or "…", with_buttons=True))
    if reply.illustration is not None:
        [illustration] = fit_album((reply.illustration,), limit)[0]
        if messages and not messages[0].uploads:  # above its text, in the same message
            messages[0].uploads, messages[0].decorative = [illustration], True
        else:
            messages.insert(0, Outgoing(uploads=[illustration], decorative=True))
    return messages


async def without_illustration_if_refused(message: Outgoing, post: Callable[[list[discord.File]], Awaitable[Any]]
                                         ) -> Any:
    """``post(files)``; where Discord refuses a message's illustration, the message again without it
    (nothing at all where the illustration was all there was)."""
    try:
        return await post(files_of(message))
    except (discord.Forbidden, discord.NotFound):
        raise
    except discord.HTTPException as error:
        if not message.decorative:
            raise
        log.warning("an illustration was refused (%s); the message goes without it", error)
        if not message.content and not message.with_buttons:
            return None
        return await post([])


def files_of(message: Outgoing) -> list[discord.File]:
    return [discord.File(io.BytesIO(u.data), filename=u.filename, description=u.description or None)
            for u in message.uploads]


class UploadLimits:
    """The upload limit seen per channel (servers with boosts allow more); 10 MiB until seen."""

    def __init__(self) -> None:
        self._by_channel: dict[str, int] = {}

    def remember(self, channel_id: str, limit: int | None) -> None:
        if limit:
            self._by_channel[channel_id] = int(limit)

    def get(self, channel_id: str) -> int:
        return self._by_channel.get(channel_id, DEFAULT_UPLOAD_LIMIT)


class DiscordMessenger:
    platform = "discord"

    def __init__(self, client: discord.Client, limits: UploadLimits) -> None:
        self.client = client
        self.limits = limits

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        return (await self.send_tracked(chat_id, reply))[0]

    async def send_tracked(self, chat_id: str, reply: Reply) -> tuple[str | None, list[str]]:
        """``send``, also returning the ids of every message posted with files (portraits): the bot
        deletes them when their owner deletes everything (``retract``)."""
        try:
            return await self._send(chat_id, reply)
        except (discord.Forbidden, discord.NotFound) as error:  # DMs closed, channel gone or closed to the bot
            raise Unreachable(f"discord channel {chat_id}: {error}") from error

    async def direct_chat(self, user_id: str) -> str:
        """The user's DM channel: what concerns them alone is not posted in a server channel."""
        return str((await self.client.create_dm(discord.Object(id=int(user_id)))).id)

    async def retract(self, chat_id: str, message_id: str) -> None:
        """Delete a message the bot posted (its own: always allowed); one already gone is fine."""
        try:
            await self.client.get_partial_messageable(int(chat_id)).get_partial_message(int(message_id)).delete()
        except discord.NotFound:
            pass

    async def _send(self, chat_id: str, reply: Reply) -> tuple[str | None, list[str]]:
        channel = self.client.get_partial_messageable(int(chat_id))
        reply, mentions = await addressed(self.client, chat_id, reply)
        carrier: str | None = None
        with_files: list[str] = []
        for message in await asyncio.to_thread(plan, reply, self.limits.get(chat_id)):
            view = view_of(reply) if message.with_buttons else None

            async def post(files: list[discord.File]) -> Any:
                return await channel.send(content=message.content or None, files=files or discord.utils.MISSING,
                                          view=view or discord.utils.MISSING, allowed_mentions=mentions)

            sent = await without_illustration_if_refused(message, post)
            if sent is None:
                continue
            if message.with_buttons:
                carrier = str(sent.id)
            if message.uploads and not message.decorative:
                with_files.append(str(sent.id))
        if reply.typing:  # after the message: a message arriving ends the channel's "typing…"
            try:
                await channel.typing()
            except discord.HTTPException:
                log.debug("could not show typing in %s", chat_id)
        return carrier, with_files

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        channel = self.client.get_partial_messageable(int(chat_id))
        reply, mentions = await addressed(self.client, chat_id, reply, edit=True)
        await channel.get_partial_message(int(message_id)).edit(content=reply.text[:TEXT_LIMIT] or "…", view=view_of(reply),
                                                                allowed_mentions=mentions)
