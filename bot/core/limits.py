"""Per-user command rate limit (a sliding window, in memory, per front-end process)."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable


class RateLimiter:
    def __init__(self, per_minute: int, *, window_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = per_minute
        self.window = window_seconds
        self.clock = clock
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._warned: dict[str, float] = {}

    def warn_once(self, key: str, *, every: float | None = None) -> bool:
        """For a refused request: whether to tell the user. Once per burst of refusals (until a
        request is allowed again, or ``every`` seconds later: a whole window by default), not once
        per message of a flood."""
        now = self.clock()
        last = self._warned.get(key)
        if last is not None and now - last < (self.window if every is None else every):
            return False
        self._warned[key] = now
        return True

    def _current(self, key: str) -> deque[float]:
        now = self.clock()
        events = self._events[key]
        while events and now - events[0] >= self.window:
            events.popleft()
        return events

    def allow(self, key: str, count: int = 1) -> bool:
        """Whether ``count`` more events fit in the window now (all of them, or none is counted)."""
        events = self._current(key)
        if len(events) + count > self.limit:
            return False
        events.extend([self.clock()] * count)
        self._warned.pop(key, None)
        return True

    def retry_after(self, key: str, count: int = 1) -> float:
        """Seconds until ``count`` more events fit (0: now; a count above the limit never fits a
        window: the time until the window is empty)."""
        events = self._current(key)
        excess = len(events) + min(count, self.limit) - self.limit
        if excess <= 0:
            return 0.0
        return max(0.0, events[excess - 1] + self.window - self.clock())
