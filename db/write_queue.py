"""The queue of one process's SQLite writers: one at a time, first come first served, except that a
waiting command goes before waiting bulk work.

A person's text command writes a few rows (a new account, a consent, a language) and waits for the
answer; an album's record writes a row per photo and the set's verdicts, and its summary is seconds
away anyway. So a bulk writer that is waiting lets every waiting command go first; among commands,
and among bulk writers, the first to come is served first. The lock is handed straight to the next
writer on release, so nobody who arrives later can slip in between."""

from __future__ import annotations

import asyncio
from collections import deque


class WriteQueue:
    def __init__(self) -> None:
        self._held = False
        self._commands: deque[asyncio.Future[None]] = deque()
        self._bulk: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._commands) + len(self._bulk)

    async def acquire(self, *, bulk: bool = False) -> None:
        if not self._held and not self.waiting:
            self._held = True
            return
        line = self._bulk if bulk else self._commands
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():  # handed the lock as it was being cancelled: pass it on
                self.release()
            else:
                try:
                    line.remove(turn)
                except ValueError:
                    pass
            raise

    def release(self) -> None:
        for line in (self._commands, self._bulk):
            while line:
                turn = line.popleft()
                if not turn.done():
                    turn.set_result(None)  # still held: it is the next writer's now
                    return
        self._held = False
