"""How updates are processed: each user's in the order they were sent, different users' at once,
and a pre-checkout query at once, whatever is still being processed.

python-telegram-bot's default processes one update at a time: one user's photo being checked held
up every other user, and a pre-checkout query (which Telegram needs answered within 10 seconds,
or the payment fails) could wait behind a burst of photos. Ordering per user keeps what the
conversation needs (a photo checked before the /train that follows it) without serialising users.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


def order_key(update: object) -> str | None:
    """Whose queue an update waits in; None: no queue (answered at once)."""
    if not isinstance(update, Update) or update.pre_checkout_query is not None:
        return None
    if update.effective_user is not None:
        return f"user:{update.effective_user.id}"
    if update.effective_chat is not None:
        return f"chat:{update.effective_chat.id}"
    return None


class PerUserOrder(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[str, asyncio.Lock] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = order_key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                await coroutine
        finally:
            if not lock.locked() and not getattr(lock, "_waiters", None):
                self._locks.pop(key, None)  # nobody waits: do not keep a lock per user ever seen

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
