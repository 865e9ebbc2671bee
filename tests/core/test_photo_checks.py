"""Photo checks run in worker processes, at most as many at once as there are workers."""

from __future__ import annotations

import os

from bot.core.photo_checks import PhotoChecker, _shared_pool, default_workers
from engine.intake import IntakeConfig, check_photo
from tests.support.selfies import obama_selfies, read

CONFIG = IntakeConfig(min_side_px=256)


async def test_a_photo_is_checked_in_another_process_with_the_same_verdict() -> None:
    checker = PhotoChecker(CONFIG)
    for data in (obama_selfies(1)[0], read("two_people.jpg"), b"not a photo"):
        pooled = await checker.check(data, "x.jpg")
        here = check_photo(data, filename="x.jpg", config=CONFIG)
        assert (pooled.ok, pooled.code, pooled.sha256) == (here.ok, here.code, here.sha256)
    pool = _shared_pool(checker.workers)
    pids = {p.pid for p in pool._processes.values()}  # noqa: SLF001 - the pool's own processes
    assert pids and os.getpid() not in pids and len(pids) <= default_workers() <= 4


async def test_threads_instead_when_asked() -> None:
    checker = PhotoChecker(CONFIG, workers=0)
    assert (await checker.check(obama_selfies(1)[0], "a.jpg")).ok


async def test_each_checking_process_runs_its_check_on_one_thread() -> None:
    """The pool runs one check per core already: dlib's OpenBLAS must not start a thread per core in each."""
    checker = PhotoChecker(CONFIG)
    await checker.check(obama_selfies(1)[0], "a.jpg")
    pool = _shared_pool(checker.workers)
    seen = pool.submit(os.getenv, "OPENBLAS_NUM_THREADS").result(timeout=60)
    assert seen == "1"


async def test_checking_processes_give_the_bot_the_cpu_first() -> None:
    """An operator may let the bot's event loop, which answers every user's commands, go before the
    checks while albums keep the cores busy: the checks then run at a lower priority (nice)."""
    from bot.core import photo_checks
    from config.settings import Settings

    if photo_checks._pool is not None:  # noqa: SLF001 - a pool another test made, with its own niceness
        photo_checks._discard_pool(photo_checks._pool)  # noqa: SLF001
    niceness = Settings(_env_file=None, photo_check_niceness=2).photo_check_niceness  # type: ignore[call-arg]
    checker = PhotoChecker(CONFIG, niceness=niceness)
    await checker.check(obama_selfies(1)[0], "a.jpg")
    seen = _shared_pool(checker.workers).submit(os.nice, 0).result(timeout=60)
    assert seen == min(19, os.nice(0) + niceness)
