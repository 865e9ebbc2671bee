"""Run handlers in this process, on one dedicated thread: one GPU job at a time, never on the
event loop, models kept warm across jobs by the worker's ModelCache."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from db.queue import Lease
from engine.handlers.context import JobContext
from engine.handlers.registry import execute


class LocalBackend:
    name = "local"
    slots = 1

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")

    async def execute(self, lease: Lease, context: JobContext) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, execute, lease.kind, lease.payload, context)
        except asyncio.CancelledError:  # the worker itself is being torn down: stop within a step
            context.cancel_event.set()
            raise

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
