"""Run handlers in this process, on one dedicated thread: one GPU job at a time, never on the
event loop, models kept warm across jobs by the worker's ModelCache."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from db.queue import Lease
from engine.runtime.handlers.context import JobContext
from engine.runtime.handlers.registry import execute

log = logging.getLogger(__name__)


def _import_engine() -> None:
    try:
        import engine.generate  # noqa: F401
        import engine.train  # noqa: F401
    except ImportError as error:  # a bot-only install: jobs that need the engine will say so
        log.warning("engine modules not importable: %s", error)


class LocalBackend:
    name = "local"
    slots = 1

    def __init__(self, *, preload: bool = False) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")
        if preload:  # import torch/diffusers now, on the engine thread, not in the first job
            self._executor.submit(_import_engine)

    async def execute(self, lease: Lease, context: JobContext) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, execute, lease.kind, lease.payload, context)
        except asyncio.CancelledError:  # the worker itself is being torn down: stop within a step
            context.cancel_event.set()
            raise

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
