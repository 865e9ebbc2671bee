"""A real worker process for the reliability tests (short leases, fast ticks, its own log file).

    python -m tests.runtime.worker_process --url URL --storage DIR --work DIR --id NAME [--drain]
        [--runpod-url BASE --runpod-endpoint ID --runpod-key KEY]   (RunPod backend, e.g. the fake)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from db.session import Database
from db.storage import LocalStorage
from engine.backends import Backend
from engine.backends.local import LocalBackend
from engine.handlers.context import EngineOptions
from engine.worker import Worker, WorkerConfig


async def main(args: argparse.Namespace) -> int:
    database = Database(args.url)
    backend: Backend = LocalBackend(preload=args.preload)
    if args.runpod_url:
        from engine.backends.runpod import RunPodBackend
        from engine.backends.runpod_client import RunPodClient

        client = RunPodClient(args.runpod_endpoint, args.runpod_key, base_url=args.runpod_url, backoff_seconds=0.05)
        backend = RunPodBackend(client, slots=1, poll_seconds=0.05)
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
    arguments = parser.parse_args()
    logging.basicConfig(filename=arguments.log, level=logging.INFO,
                        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    raise SystemExit(asyncio.run(main(arguments)))
