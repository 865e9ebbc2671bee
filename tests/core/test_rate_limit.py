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


def test_a_batch_fits_whole_or_not_and_the_wait_is_known() -> None:
    now = [0.0]
    limiter = RateLimiter(10, window_seconds=60, clock=lambda: now[0])
    assert limiter.allow("u", 4)
    now[0] = 20.0
    assert limiter.allow("u", 4) and not limiter.allow("u", 3)  # 8 used: 3 more do not fit, none counted
    assert limiter.retry_after("u", 3) == 40.0  # when the first 4 leave the window
    assert limiter.allow("u", 2) and limiter.retry_after("u") == 40.0
    now[0] = 60.0
    assert limiter.retry_after("u", 3) == 0.0 and limiter.allow("u", 3)
