"""Messages with a user's pictures that were sent through an interaction token (e.g. the ephemeral
"Full-resolution files" answer in a server): no database row records them and the bot can't delete
them through the channel (Discord keeps ephemeral messages out of it), only through their token,
which lives 15 minutes. They are remembered here, in memory, so that ``/delete`` takes back those
whose token still lives. Later (or after a restart) they stay; an ephemeral one is seen by its user
alone and goes when they dismiss it or reload Discord."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import discord

log = logging.getLogger(__name__)

TOKEN_LIFETIME_SECONDS = 15 * 60
MARGIN_SECONDS = 30  # the token's clock started when the user pressed, a moment before it was sent


class Deletable(Protocol):
    id: int

    async def delete(self, *, delay: float | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class _Sent:
    message: Deletable
    until: float


class TokenMessages:
    def __init__(self, *, lifetime_seconds: float = TOKEN_LIFETIME_SECONDS - MARGIN_SECONDS) -> None:
        self.lifetime = lifetime_seconds
        self._by_user: dict[str, list[_Sent]] = {}

    def remember(self, user_id: str, message: Any) -> None:
        """``message``: what ``followup.send(wait=True)`` or ``edit_original_response`` returned."""
        now = time.monotonic()
        live = [sent for sent in self._by_user.get(user_id, []) if sent.until > now]
        self._by_user[user_id] = [*live, _Sent(message, now + self.lifetime)]

    async def take_back(self, user_id: str) -> None:
        """Delete the user's remembered messages whose token still lives (one already gone is fine)."""
        now = time.monotonic()
        for sent in self._by_user.pop(user_id, []):
            if sent.until <= now:
                log.info("message %s of discord:%s stays: its interaction token has expired", sent.message.id, user_id)
                continue
            try:
                await sent.message.delete()
            except discord.NotFound:
                pass
            except discord.HTTPException:
                log.warning("could not take back message %s of discord:%s", sent.message.id, user_id, exc_info=True)
