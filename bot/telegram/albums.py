"""Albums arrive as one update per photo sharing a ``media_group_id``: collect them and answer
once per album, after a short quiet period."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.core.replies import IncomingFile, UserRef

log = logging.getLogger(__name__)

AlbumHandler = Callable[[UserRef, list[IncomingFile]], Awaitable[None]]


@dataclass
class _Pending:
    user: UserRef
    files: list[IncomingFile] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class AlbumCollector:
    def __init__(self, handler: AlbumHandler, *, quiet_seconds: float = 1.5) -> None:
        self.handler = handler
        self.quiet_seconds = quiet_seconds
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, group_id: str, user: UserRef, file: IncomingFile) -> None:
        key = (user.chat_id, group_id)
        pending = self._pending.setdefault(key, _Pending(user))
        pending.files.append(file)
        if pending.timer is not None:
            pending.timer.cancel()
        pending.timer = asyncio.get_running_loop().call_later(self.quiet_seconds, self._flush, key)

    def _flush(self, key: tuple[str, str]) -> None:
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        task = asyncio.get_running_loop().create_task(self.handler(pending.user, pending.files))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Answer every album still waiting (used at shutdown)."""
        for key in list(self._pending):
            pending = self._pending[key]
            if pending.timer is not None:
                pending.timer.cancel()
            self._flush(key)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
