"""A real worker process for the reliability tests (short leases, fast ticks, its own log file).

    python -m tests.runtime.worker_process --url URL --storage DIR --work DIR --id NAME [--drain]
        [--runpod-url BASE --runpod-endpoint ID --runpod-key KEY]   (RunPod backend, e.g. the fake)
        [--pause-at-step N] [--hold-first-job-until FILE]

Two test-only controls make the tests independent of how fast this machine is:

``--pause-at-step N``: the first time a job reports progress at step N or later, the handler stops
right there (after the report, so a training checkpoint due at step N is already written) and waits
until the job is cancelled or the process dies: a test can kill the worker mid-job without racing
the job to its end.

``--hold-first-job-until FILE``: the first job this worker claims waits (leased and heartbeated)
until FILE exists before its handler starts: a test can make sure several workers have each
claimed a job before any of them gets going.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from db.session import Database
from db.storage import LocalStorage
from engine.runtime.backends import Backend
from engine.runtime.backends.local import LocalBackend
from engine.runtime.handlers.context import EngineOptions, JobContext
from engine.runtime.worker import Worker, WorkerConfig

log = logging.getLogger("tests.runtime.worker_process")


def pause_at_step(backend: Backend, step: int, until: threading.Event | None = None) -> None:
    """The first progress report at ``step`` or later blocks its handler until the job is
    cancelled (the cancel reaches the handler), or until ``until`` is set."""
    execute = backend.execute
    paused = threading.Event()

    async def execute_pausing(lease: Any, context: JobContext, *rest: Any) -> Any:
        report = context.report

        def report_then_pause(stage: str, at: int = 0, total: int = 0, eta_seconds: float | None = None) -> None:
            report(stage, at, total, eta_seconds)
            if total > 0 and at >= step and not paused.is_set():
                paused.set()
                log.info("job %s: paused at %s step %d", lease.job_id, stage, at)
                while not context.cancel_event.wait(0.02) and not (until is not None and until.is_set()):
                    pass

        context.report = report_then_pause  # type: ignore[method-assign]
        return await execute(lease, context, *rest)

    backend.execute = execute_pausing  # type: ignore[method-assign]


def hold_first_job(backend: Backend, gate: Path) -> None:
    """The first job claimed waits, leased and heartbeated, until ``gate`` exists."""
    execute = backend.execute
    held = False

    async def execute_holding(lease: Any, context: JobContext, *rest: Any) -> Any:
        nonlocal held
        if not held:
            held = True
            log.info("job %s: held until %s exists", lease.job_id, gate)
            while not gate.exists() and not context.should_cancel():
                await asyncio.sleep(0.02)
        return await execute(lease, context, *rest)

    backend.execute = execute_holding  # type: ignore[method-assign]


async def main(args: argparse.Namespace) -> int:
    database = Database(args.url)
    backend: Backend = LocalBackend(preload=args.preload)
    if args.runpod_url:
        from engine.runtime.backends.runpod import RunPodBackend
        from engine.runtime.backends.runpod_client import RunPodClient

        client = RunPodClient(args.runpod_endpoint, args.runpod_key, base_url=args.runpod_url, backoff_seconds=0.05)
        backend = RunPodBackend(client, slots=1, poll_seconds=0.05)
    if args.pause_at_step is not None:
        pause_at_step(backend, args.pause_at_step)
    if args.hold_first_job_until:
        hold_first_job(backend, Path(args.hold_first_job_until))
    worker = Worker(
        database, LocalStorage(Path(args.storage)), backend, worker_id=args.id,
        options=EngineOptions(base_model="tiny", device="cpu", work_dir=Path(args.work)),
        config=WorkerConfig(lease_seconds=args.lease, tick_seconds=args.tick, idle_seconds=0.05,
                            reap_seconds=args.lease / 2),
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.stop)
    try:
        await worker.run(drain=args.drain)
    finally:
        await backend.close()
        await database.dispose()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--tick", type=float, default=0.2)
    parser.add_argument("--drain", action="store_true")
    parser.add_argument("--preload", action="store_true", help="import the engine before claiming")
    parser.add_argument("--log", required=True)
    parser.add_argument("--runpod-url", default="", help="run jobs on this RunPod API base URL")
    parser.add_argument("--runpod-endpoint", default="ep-test")
    parser.add_argument("--runpod-key", default="rp-test-key")
    parser.add_argument("--pause-at-step", type=int, default=None,
                        help="test only: block the first job at its first progress report at this step or later")
    parser.add_argument("--hold-first-job-until", default="",
                        help="test only: the first job claimed waits until this file exists")
    arguments = parser.parse_args()
    logging.basicConfig(filename=arguments.log, level=logging.INFO,
                        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    raise SystemExit(asyncio.run(main(arguments)))
