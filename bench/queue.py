"""Job queue benchmark on SQLite: what the queue costs per job, so the GPU never waits on it.

    .venv/bin/python -m bench.queue [--jobs 2000] [--users 50] [--workers 1,2,4] [--backlog 5000]

Measures, with no-op jobs (the handler does nothing, so every millisecond is queue overhead):
1. claim→complete overhead per job in one worker (claim transaction, hand-off to the engine
   thread and back, result + state + credit settlement transaction), and the claim and complete
   statements alone (p50/p95);
2. jobs per second with 1, 2 and 4 worker processes sharing one SQLite file (DB timestamps:
   first claim to last finish; processes are started and connected before the clock starts);
3. claim latency with a deep backlog (round-robin fairness looks at each user's oldest job);
4. the time from "job done" (finished_at) to "delivery started" (delivery_started_at) for a
   front end that polls ``undelivered_jobs`` every 100 ms and claims each with ``claim_delivery``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from db import delivery, queue
from db.models import CreditState, Job, JobState
from db.session import Database
from db.storage import LocalStorage
from db.users import get_or_create_user
from engine.runtime.backends.local import LocalBackend
from engine.runtime.worker import Worker, WorkerConfig

log = logging.getLogger("bench.queue")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def fresh_database(folder: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
    await database.migrate()
    return database


async def fill(database: Database, jobs: int, users: int, payload: dict[str, Any] | None = None) -> None:
    """Queue ``jobs`` no-op jobs round the users, in bulk (enqueue itself is not measured here)."""
    async with database.transaction() as session:
        ids = []
        for i in range(users):
            user, _ = await get_or_create_user(session, "console", f"bench-{i}")
            ids.append(user.id)
        rows = [{"user_id": ids[i % users], "kind": "noop", "payload": payload or {}, "correlation_id": f"b{i}",
                 "credit_state": CreditState.none} for i in range(jobs)]
        await session.execute(insert(Job), rows)


def make_worker(database: Database, folder: Path, name: str) -> Worker:
    return Worker(database, LocalStorage(folder / "storage"), LocalBackend(), worker_id=name,
                  config=WorkerConfig(lease_seconds=60, tick_seconds=0.5, idle_seconds=0.01, reap_seconds=5))


async def overhead(folder: Path, jobs: int, users: int) -> dict[str, float]:
    database = await fresh_database(folder)
    await fill(database, jobs, users)
    worker = make_worker(database, folder, "solo")
    started = time.perf_counter()
    done = await worker.run(drain=True)
    elapsed = time.perf_counter() - started
    assert done == jobs
    # The two statements alone.
    await fill(database, 400, users)
    claims, completes = [], []
    for _ in range(400):
        t0 = time.perf_counter()
        async with database.transaction() as session:
            lease = await queue.claim(session, "probe", lease_seconds=60)
        t1 = time.perf_counter()
        assert lease is not None
        async with database.transaction() as session:
            assert await queue.complete(session, lease, JobState.succeeded, result={})
        claims.append(t1 - t0)
        completes.append(time.perf_counter() - t1)
    await worker.backend.close()
    await database.dispose()
    return {
        "per_job_ms": elapsed / jobs * 1000, "jobs_per_s": jobs / elapsed,
        "claim_p50_ms": percentile(claims, 0.5) * 1000, "claim_p95_ms": percentile(claims, 0.95) * 1000,
        "complete_p50_ms": percentile(completes, 0.5) * 1000, "complete_p95_ms": percentile(completes, 0.95) * 1000,
    }


def _process_worker(url: str, folder: str, name: str, ready: Any, go: Any) -> None:
    async def main() -> None:
        database = Database(url)
        async with database.transaction() as session:  # connect before the clock starts
            await session.execute(select(1))
        worker = make_worker(database, Path(folder), name)
        ready.release()
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        await worker.run(drain=True)
        await worker.backend.close()
        await database.dispose()

    asyncio.run(main())


async def throughput(folder: Path, jobs: int, users: int, processes: int) -> dict[str, float]:
    database = await fresh_database(folder)
    await fill(database, jobs, users)
    context = multiprocessing.get_context("spawn")
    ready, go = context.Semaphore(0), context.Event()
    children = [context.Process(target=_process_worker, args=(database.url, str(folder), f"w{i}", ready, go))
                for i in range(processes)]
    for child in children:
        child.start()
    for _ in children:
        ready.acquire()
    go.set()
    for child in children:
        child.join()
        assert child.exitcode == 0
    async with database.transaction() as session:
        first, last, finished, runs = (await session.execute(
            select(func.min(Job.started_at), func.max(Job.finished_at), func.count(Job.finished_at),
                   func.sum(Job.attempts))
        )).one()
    await database.dispose()
    assert finished == jobs and runs == jobs, (finished, runs)
    seconds = (last - first).total_seconds()
    return {"jobs_per_s": jobs / seconds, "per_job_ms": seconds / jobs * 1000}


async def backlog_claims(folder: Path, backlog: int, users: int) -> dict[str, float]:
    database = await fresh_database(folder)
    await fill(database, backlog, users)
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        async with database.transaction() as session:
            lease = await queue.claim(session, "probe", lease_seconds=60)
        times.append(time.perf_counter() - t0)
        assert lease is not None
    await database.dispose()
    return {"claim_p50_ms": percentile(times, 0.5) * 1000, "claim_p95_ms": percentile(times, 0.95) * 1000}


async def delivery_latency(folder: Path, jobs: int, users: int, poll_seconds: float = 0.1) -> dict[str, float]:
    """One worker runs 20 ms jobs; a front end polls for finished jobs and claims their delivery."""
    database = await fresh_database(folder)
    await fill(database, jobs, users, payload={"seconds": 0.02, "steps": 1})
    worker = make_worker(database, folder, "solo")
    run = asyncio.create_task(worker.run(drain=True))
    delivered = 0
    while delivered < jobs:
        async with database.transaction() as session:
            for job in await delivery.undelivered_jobs(session, limit=500):
                if await delivery.claim_delivery(session, job.id):
                    delivered += 1
        if delivered < jobs:
            await asyncio.sleep(poll_seconds)
    await run
    async with database.transaction() as session:
        rows = (await session.execute(select(Job.finished_at, Job.delivery_started_at))).all()
    await worker.backend.close()
    await database.dispose()
    latencies = [(started - finished).total_seconds() * 1000 for finished, started in rows]
    return {"p50_ms": percentile(latencies, 0.5), "p95_ms": percentile(latencies, 0.95), "max_ms": max(latencies),
            "mean_ms": statistics.fmean(latencies), "poll_ms": poll_seconds * 1000}


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        root = Path(tmp)

        def folder(name: str) -> Path:
            path = root / name
            path.mkdir()
            return path

        one = await overhead(folder("overhead"), args.jobs, args.users)
        print(f"1 worker in-process, {args.jobs} no-op jobs from {args.users} users: "
              f"{one['per_job_ms']:.2f} ms/job claim→complete, {one['jobs_per_s']:.0f} jobs/s")
        print(f"  claim statement p50 {one['claim_p50_ms']:.2f} ms, p95 {one['claim_p95_ms']:.2f} ms; "
              f"complete p50 {one['complete_p50_ms']:.2f} ms, p95 {one['complete_p95_ms']:.2f} ms")
        for n in args.workers:
            result = await throughput(folder(f"procs{n}"), args.jobs, args.users, n)
            print(f"{n} worker process(es): {result['jobs_per_s']:.0f} jobs/s ({result['per_job_ms']:.2f} ms/job)")
        deep = await backlog_claims(folder("backlog"), args.backlog, args.backlog // 25)
        print(f"claim with {args.backlog} queued from {args.backlog // 25} users: p50 {deep['claim_p50_ms']:.2f} ms, "
              f"p95 {deep['claim_p95_ms']:.2f} ms")
        lat = await delivery_latency(folder("delivery"), 200, 20)
        print(f"job done → delivery started (front end polling every {lat['poll_ms']:.0f} ms, 200 jobs of 20 ms): "
              f"p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms, max {lat['max_ms']:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    parser.add_argument("--backlog", type=int, default=5000)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(parser.parse_args()))
