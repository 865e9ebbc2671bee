"""One user's uploads in the order they were sent. Discord delivers each ``/upload`` (and each
upload-window submit) as its own interaction, and discord.py serves every one in its own task: two
quick uploads would otherwise be checked side by side, and the later one could keep the first copy
of a photo or report a count lower than the one before. A turn is taken the moment an interaction
arrives, before anything is awaited, so turns follow the order in which Discord delivered them;
the work that may overlap (acknowledging, downloading) runs before waiting for the turn."""

from __future__ import annotations

import asyncio
from types import TracebackType


class Turn:
    def __init__(self, turns: Turns, key: str, before: asyncio.Future[None] | None) -> None:
        self._turns = turns
        self._key = key
        self._before = before
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def __aenter__(self) -> None:
        if self._before is not None:
            await asyncio.shield(self._before)  # a later upload cancelled while waiting leaves the earlier one be

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        self.release()

    def release(self) -> None:
        """The next upload's turn, once every earlier one is over too: also when this one is dropped
        before its turn came (its photos were all refused), a later one still waits for those before it."""
        if self._before is None or self._before.done():
            self._over()
        else:
            self._before.add_done_callback(lambda _: self._over())

    def _over(self) -> None:
        if not self._done.done():
            self._done.set_result(None)
        self._turns.forget(self._key, self._done)


class Turns:
    """A queue per user: ``take`` (synchronous: call it before the first ``await``) returns the
    user's next turn; ``async with turn:`` waits until every earlier turn of theirs is over."""

    def __init__(self) -> None:
        self._last: dict[str, asyncio.Future[None]] = {}

    def take(self, key: str) -> Turn:
        turn = Turn(self, key, self._last.get(key))
        self._last[key] = turn._done
        return turn

    def forget(self, key: str, done: asyncio.Future[None]) -> None:
        if self._last.get(key) is done:
            del self._last[key]  # nobody waits after it: no entry left behind per user
