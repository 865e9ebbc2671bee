"""Albums arrive as one update per photo sharing a ``media_group_id``: collect them and answer
once per album, after a short quiet period with no photo of the album still downloading."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.core.replies import IncomingFile, UserRef

log = logging.getLogger(__name__)

AlbumHandler = Callable[[UserRef, list[IncomingFile]], Awaitable[None]]
Key = tuple[str, str]


@dataclass
class _Pending:
    user: UserRef
    files: list[IncomingFile] = field(default_factory=list)
    downloading: int = 0
    timer: asyncio.TimerHandle | None = None


class AlbumCollector:
    def __init__(self, handler: AlbumHandler, *, quiet_seconds: float = 1.5) -> None:
        self.handler = handler
        self.quiet_seconds = quiet_seconds
        self._pending: dict[Key, _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def expect(self, group_id: str, user: UserRef) -> Key:
        """A photo of the album arrived and is being downloaded: hold the answer back."""
        key = (user.chat_id, group_id)
        pending = self._pending.setdefault(key, _Pending(user))
        pending.downloading += 1
        self._restart_timer(key, pending)
        return key

    def add(self, key: Key, file: IncomingFile | None) -> None:
        """The download finished (``None``: it failed and was answered on its own)."""
        pending = self._pending[key]
        pending.downloading -= 1
        if file is not None:
            pending.files.append(file)
        self._restart_timer(key, pending)

    def _restart_timer(self, key: Key, pending: _Pending) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
        pending.timer = asyncio.get_running_loop().call_later(self.quiet_seconds, self._flush, key)

    def _flush(self, key: Key, *, force: bool = False) -> None:
        pending = self._pending.get(key)
        if pending is None:
            return
        if pending.downloading and not force:
            self._restart_timer(key, pending)
            return
        del self._pending[key]
        if not pending.files:
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
            self._flush(key, force=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
