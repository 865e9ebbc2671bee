"""Who a message in a server channel is for: everyone there sees the progress and results of every
member's jobs, so each names its owner (``<@id>``). Results notify the owner, and nobody else
(``allowed_mentions``); progress messages and edits name them without a notification. In the
owner's own DM nothing changes. What is only the owner's business (their balance) stays out of a
channel (``Reply.shared_text``)."""

from __future__ import annotations

import logging
from dataclasses import replace

import discord

from bot.core.replies import Reply

log = logging.getLogger(__name__)


async def is_dm_of(client: discord.Client, chat_id: str, user_id: str) -> bool:
    """Whether ``chat_id`` is the user's DM channel with the bot (discord.py caches it after the first ask)."""
    try:
        return str((await client.create_dm(discord.Object(id=int(user_id)))).id) == chat_id
    except (discord.HTTPException, ValueError):
        log.info("could not look up the DM channel of discord:%s", user_id, exc_info=True)
        return False


async def addressed(client: discord.Client, chat_id: str, reply: Reply, *,
                    edit: bool = False) -> tuple[Reply, discord.AllowedMentions | None]:
    """The reply as it goes to ``chat_id``, and the mentions it may notify (None: the client's default)."""
    owner = reply.addressee
    if not owner or not owner.isdigit() or await is_dm_of(client, chat_id, owner):
        return reply, None
    notify = not edit and reply.progress_of_job is None  # a result: the owner may have gone elsewhere
    mentions = discord.AllowedMentions(everyone=False, roles=False, replied_user=False,
                                       users=[discord.Object(id=int(owner))] if notify else False)
    return replace(reply, text=f"<@{owner}> {reply.shared_text or reply.text}".rstrip()), mentions
