"""What the core needs from a platform to talk first (progress edits, deliveries)."""

from __future__ import annotations

from typing import Protocol

from bot.core.replies import Reply


class Unreachable(Exception):
    """The chat can't be written to for good (the user blocked the bot or closed their DMs, the
    channel is gone or closed to the bot): trying again later will not help."""


class Messenger(Protocol):
    platform: str

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Send a reply; returns the id of the message that carries its text and buttons. Raises
        ``Unreachable`` when the chat can't be written to for good."""

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        """Replace the text and buttons of a message sent earlier."""
