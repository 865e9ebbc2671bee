"""`studio worker`: open the database and storage, then run a worker until stopped.

``once`` drains the queue (runs jobs until none is left to claim) and exits, for cron-style use
and tests. SIGTERM/SIGINT stop claiming and interrupt the running job within a step; it goes back
to the queue without counting as an attempt (training resumes from its last checkpoint), so a
supervisor's "SIGTERM, then SIGKILL after a grace period" never costs a user an attempt.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

log = logging.getLogger(__name__)


async def serve(
    settings: Any, *, once: bool = False, worker_id: str | None = None, preload: bool = True, **config: Any
) -> int:
    """Run one worker process's worker; returns the number of jobs it finished. ``preload``
    imports the engine (torch, diffusers) on the engine thread at start, not in the first job;
    ``config`` overrides WorkerConfig fields."""
    from db.session import Database
    from db.storage import storage_from_settings
    from engine.intake import IntakeConfig
    from engine.runtime.backends import backend_from_settings
    from engine.runtime.handlers.context import EngineOptions
    from engine.runtime.worker import Worker, WorkerConfig

    if str(settings.engine_backend) == "local":
        from engine.runtime.startup import chosen_model, describe_environment

        model = chosen_model(settings, settings.front_ends)  # TinyFallbackRefused: no start
        if preload:
            log.info("engine: %s", describe_environment(settings, model))
    database = Database.from_settings(settings)
    await database.migrate()
    storage = storage_from_settings(settings)
    await storage.check()
    backend = backend_from_settings(settings, preload=preload)
    worker = Worker(
        database, storage, backend, options=EngineOptions.from_settings(settings),
        config=WorkerConfig.from_settings(settings, **config), worker_id=worker_id,
        intake=IntakeConfig.from_settings(settings),
    )
    loop = asyncio.get_running_loop()
    stopping: list[bool] = []

    def on_signal() -> None:
        if stopping:  # SIGTERM to the whole group, then `studio run` terminating its worker: one stop
            return
        stopping.append(True)
        log.warning("stop requested: giving the running job (if any) back to the queue")
        worker.stop(interrupt=True)

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, on_signal)
        except (NotImplementedError, RuntimeError):  # not the main thread, or not supported here
            pass
    server = None
    if getattr(settings, "metrics_port", 0):  # /metrics, /livez, /readyz (engine/runtime/health.py)
        from engine.runtime.health import worker_server

        server = worker_server(settings, worker, database, storage)
        await server.start()
    try:
        return await worker.run(drain=once)
    finally:
        if server is not None:
            await server.stop()
        await backend.close()
        await database.dispose()


def run_worker(settings: Any, *, once: bool = False, worker_id: str | None = None) -> int:
    """Entry point for `studio worker [--once] [--id ID]`; returns the process exit code."""
    from engine.errors import DeviceUnavailable, UnknownModel, WeightsMissing
    from engine.runtime.startup import TinyFallbackRefused
    from engine.runtime.worker import ClaimsFailing

    try:
        asyncio.run(serve(settings, once=once, worker_id=worker_id))
    except ClaimsFailing as error:
        log.error("%s", error)
        return 1
    except TinyFallbackRefused as error:
        log.error("%s", error)
        return 2
    except (UnknownModel, WeightsMissing) as error:  # every job would fail: refuse, so `studio run` stops the bots
        log.error("STUDIO_BASE_MODEL=%s: %s; the worker does not start", settings.base_model, error)
        return 2
    except DeviceUnavailable as error:
        log.error("STUDIO_DEVICE=%s: %s on this machine; the worker does not start (set STUDIO_DEVICE=auto or "
                  "cpu, or run it where the GPU is)", settings.device, error)
        return 2
    return 0
