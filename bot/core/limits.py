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

    def warn_once(self, key: str) -> bool:
        """For a refused request: whether to tell the user. Once per burst of refusals (until a
        request is allowed again, or a whole window later), not once per message of a flood."""
        now = self.clock()
        last = self._warned.get(key)
        if last is not None and now - last < self.window:
            return False
        self._warned[key] = now
        return True

    def allow(self, key: str) -> bool:
        now = self.clock()
        events = self._events[key]
        while events and now - events[0] >= self.window:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        self._warned.pop(key, None)
        return True
