"""Photo checks off the event loop: a pool of processes sized to the cores, so that an album being
checked neither holds the bot's GIL (another user's /start answered late) nor decodes more photos
at once than there are workers (memory: every photo allowed by the limits is one worker's peak)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from engine.intake import IntakeConfig, PhotoCheck, check_photo

log = logging.getLogger(__name__)


def _check(data: bytes, filename: str, config: IntakeConfig) -> PhotoCheck:
    return check_photo(data, filename=filename, config=config)


def _prepare_worker(niceness: int) -> None:
    """In each worker before dlib loads OpenBLAS: the pool already runs a check per core, so one more
    thread per check would only fight over the cores (OpenBLAS starts one per core by default). And a
    lower CPU priority than the bot's: when albums keep every core busy, the bot's event loop, which
    answers everyone's commands, still gets the CPU the moment it needs it."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = "1"
    if niceness > 0:
        os.nice(niceness)


_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _shared_pool(workers: int, niceness: int = 0) -> ProcessPoolExecutor:
    """One pool per process, whatever the number of front ends: the cores are shared anyway."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_prepare_worker, initargs=(niceness,))
            log.info("photo checks: %d worker process(es), niceness %d", workers, niceness)
        return _pool


def _discard_pool(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


class PhotoChecker:
    """``check`` runs in one of ``workers`` processes (one pool per process, made on first use,
    "spawn": the bot's own threads are never forked); with ``workers=0`` in a thread of this
    process instead."""

    def __init__(self, config: IntakeConfig, *, workers: int | None = None, niceness: int = 0) -> None:
        self.config = config
        self.workers = default_workers() if workers is None else workers
        self.niceness = niceness

    def _executor(self) -> ProcessPoolExecutor:
        return _shared_pool(self.workers, self.niceness)

    async def check(self, data: bytes, filename: str = "") -> PhotoCheck:
        if self.workers == 0:
            return await asyncio.to_thread(_check, data, filename, self.config)
        loop = asyncio.get_running_loop()
        pool = self._executor()
        try:
            return await loop.run_in_executor(pool, _check, data, filename, self.config)
        except BrokenProcessPool:  # a worker died (killed for memory, say): a new pool, this photo once more
            log.warning("a photo-check process died; starting new ones and checking %r again", filename)
            _discard_pool(pool)
            return await loop.run_in_executor(self._executor(), _check, data, filename, self.config)


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))
