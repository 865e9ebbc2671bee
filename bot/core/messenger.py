"""What the core needs from a platform to talk first (progress edits, deliveries)."""

from __future__ import annotations

from typing import Protocol

from bot.core.replies import Reply


class Messenger(Protocol):
    platform: str

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Send a reply; returns the id of the message that carries its text and buttons."""

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        """Replace the text and buttons of a message sent earlier."""
