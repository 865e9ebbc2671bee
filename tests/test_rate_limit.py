"""The per-user command rate limit: a sliding window, and one warning per burst of refusals."""

from __future__ import annotations

from bot.core.limits import RateLimiter


def test_a_flood_is_refused_and_told_once_per_burst() -> None:
    now = [0.0]
    limiter = RateLimiter(3, window_seconds=60, clock=lambda: now[0])
    assert [limiter.allow("u") for _ in range(5)] == [True, True, True, False, False]
    assert [limiter.warn_once("u") for _ in range(3)] == [True, False, False]
    assert limiter.allow("v") and limiter.warn_once("v")  # users are apart
    now[0] = 61.0  # the window slid: allowed again, and a later flood is told again
    assert limiter.allow("u")
    assert [limiter.allow("u") for _ in range(3)] == [True, True, False]
    assert limiter.warn_once("u")
