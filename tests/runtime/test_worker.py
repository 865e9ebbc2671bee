"""The worker loop in this process on both databases: success, errors, cancel, progress, leases."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from db import delivery, queue
from db.job_status import CancelOutcome, job_status, request_cancel
from db.models import CreditState, JobState, utcnow
from db.session import Database
from db.storage import LocalStorage
from engine.runtime.backends.local import LocalBackend
from engine.runtime.handlers.context import EngineOptions
from engine.runtime.worker import ClaimsFailing, Worker, WorkerConfig
from tests.runtime.helpers import Heartbeats, assert_books_balance, balance, enqueue_noop, get, make_user

FAST = WorkerConfig(lease_seconds=5, tick_seconds=0.1, idle_seconds=0.05, reap_seconds=0.5)


@pytest.fixture
async def worker(database: Database, storage: LocalStorage, tmp_path: Path) -> AsyncIterator[Worker]:
    backend = LocalBackend()
    yield Worker(database, storage, backend, config=FAST, worker_id="test-worker",
                 options=EngineOptions(work_dir=tmp_path / "work"))
    await backend.close()


async def wait_for_state(database: Database, job_id: int, *states: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (await get(database, job_id)).state not in states:
        assert asyncio.get_running_loop().time() < deadline, f"job {job_id} never reached {states}"
        await asyncio.sleep(0.05)


async def wait_for_step(database: Database, job_id: int, step: int, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (job := await get(database, job_id)).step < step:
        assert job.state in (JobState.queued, JobState.running), f"job {job_id} ended ({job.state}) before step {step}"
        assert asyncio.get_running_loop().time() < deadline, f"job {job_id} never reached step {step}"
        await asyncio.sleep(0.02)


async def test_a_job_runs_and_its_credit_is_spent(database: Database, worker: Worker, storage: LocalStorage) -> None:
    user = await make_user(database, free=2)
    job_id = await enqueue_noop(database, user, seconds=0.2, steps=4, result_key="users/1/out/result.json")
    outcome = await worker.run_next()
    assert outcome is not None and outcome.state == JobState.succeeded
    job = await get(database, job_id)
    assert job.state == JobState.succeeded and job.stage == "done" and job.progress == 1.0
    assert job.result == {"steps": 4, "attempt": 1, "result_key": "users/1/out/result.json"}
    assert json.loads(await storage.get("users/1/out/result.json"))["job_id"] == job_id
    assert job.credit_state == CreditState.committed and await balance(database, user) == 1
    assert job.lease_owner is None and job.finished_at is not None
    await assert_books_balance(database, user)
    assert await worker.run_next() is None


async def test_drain_runs_every_job_then_returns(database: Database, worker: Worker) -> None:
    user = await make_user(database, free=10)
    ids = [await enqueue_noop(database, user) for _ in range(5)]
    assert await asyncio.wait_for(worker.run(drain=True), 20) == 5
    assert {(await get(database, i)).state for i in ids} == {JobState.succeeded}


async def test_a_draining_worker_retries_a_claim_that_failed_instead_of_stopping(
    sqlite_database: Database, storage: LocalStorage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A claim that raises (here SQLite's "database is locked": another connection holds the write
    lock longer than the worker's busy timeout and lock patience) is not an empty queue: the draining worker stays,
    tries again once the lock is released, and runs the job."""
    import sqlite3

    user = await make_user(sqlite_database, free=1)
    job_id = await enqueue_noop(sqlite_database, user)
    impatient = Database(sqlite_database.url, busy_timeout_ms=10, lock_patience_seconds=0.05)
    backend = LocalBackend()
    worker = Worker(impatient, storage, backend, config=FAST, worker_id="drainer",
                    options=EngineOptions(work_dir=tmp_path / "work"))
    path = sqlite_database.engine.url.database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)
    drain: asyncio.Task[int] | None = None
    try:
        holder.execute("BEGIN IMMEDIATE")  # the write lock, until released below
        with caplog.at_level(logging.ERROR, logger="engine.runtime.worker"):
            drain = asyncio.create_task(worker.run(drain=True))
            deadline = asyncio.get_running_loop().time() + 30
            while not any("claiming failed" in record.getMessage() for record in caplog.records):
                assert not drain.done(), f"the draining worker stopped ({drain.result()} jobs) with the job queued"
                assert asyncio.get_running_loop().time() < deadline, "the claim never failed"
                await asyncio.sleep(0.01)
            assert not drain.done(), f"the draining worker stopped ({drain.result()} jobs) with the job queued"
            holder.execute("ROLLBACK")
            assert await asyncio.wait_for(drain, 30) == 1
    finally:
        holder.close()
        if drain is not None and not drain.done():
            worker.stop()
            await asyncio.wait_for(drain, 30)
        await backend.close()
        await impatient.dispose()
    job = await get(sqlite_database, job_id)
    assert job.state == JobState.succeeded and job.attempts == 1
    await assert_books_balance(sqlite_database, user)


async def test_a_draining_worker_gives_up_when_claims_keep_failing_and_loses_nothing(
    sqlite_database: Database, storage: LocalStorage, tmp_path: Path
) -> None:
    """`studio worker --once` against a database that stays locked ends with an error after a
    few tries instead of waiting forever; the job stays queued with its credit reserved."""
    import sqlite3

    user = await make_user(sqlite_database, free=1)
    job_id = await enqueue_noop(sqlite_database, user)
    impatient = Database(sqlite_database.url, busy_timeout_ms=10, lock_patience_seconds=0.05)
    backend = LocalBackend()
    config = WorkerConfig(lease_seconds=5, tick_seconds=0.1, idle_seconds=0.01, reap_seconds=60,
                          drain_claim_failures=3)
    worker = Worker(impatient, storage, backend, config=config, worker_id="drainer",
                    options=EngineOptions(work_dir=tmp_path / "work"))
    path = sqlite_database.engine.url.database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # never released while the worker tries
        with pytest.raises(ClaimsFailing, match="3 claims in a row failed"):
            await asyncio.wait_for(worker.run(drain=True), 60)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await backend.close()
        await impatient.dispose()
    job = await get(sqlite_database, job_id)
    assert job.state == JobState.queued and job.attempts == 0 and job.credit_state == CreditState.reserved
    assert await balance(sqlite_database, user) == 0
    await assert_books_balance(sqlite_database, user)


async def test_a_raising_handler_fails_the_job_refunds_and_logs_the_correlation_id(
    database: Database, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    user = await make_user(database, free=2)
    job_id = await enqueue_noop(database, user, fail="the GPU caught fire")
    with caplog.at_level(logging.ERROR, logger="engine.runtime.worker"):
        outcome = await worker.run_next()
    assert outcome is not None and outcome.state == JobState.failed and outcome.error_code == "internal_error"
    job = await get(database, job_id)
    assert job.state == JobState.failed and job.error_code == "internal_error"
    assert "the GPU caught fire" in (job.error_message or "")
    assert job.credit_state == CreditState.refunded and await balance(database, user) == 2
    await assert_books_balance(database, user)
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(job.correlation_id in r.getMessage() and getattr(r, "error_id", None) == job.correlation_id
               and r.exc_info is not None for r in records)
    # The apology is owed: the front end finds the failed job with its correlation id.
    async with database.transaction() as session:
        owed = await delivery.undelivered_jobs(session)
    assert [(j.id, j.correlation_id) for j in owed] == [(job_id, job.correlation_id)]


async def test_an_invalid_payload_fails_with_invalid_request(database: Database, worker: Worker) -> None:
    user = await make_user(database, free=1)
    job_id = await enqueue_noop(database, user)
    from sqlalchemy import update

    from db.models import Job

    async with database.transaction() as session:
        await session.execute(update(Job).where(Job.id == job_id).values(payload={"seconds": "soon"}))
    outcome = await worker.run_next()
    assert outcome is not None and outcome.error_code == "invalid_request"
    assert (await get(database, job_id)).state == JobState.failed
    assert await balance(database, user) == 1


async def test_cancel_stops_a_running_job_within_a_step_and_refunds(database: Database, worker: Worker) -> None:
    user = await make_user(database, free=2)
    job_id = await enqueue_noop(database, user, seconds=150, steps=300)  # 0.5 s steps, 0.1 s ticks
    with Heartbeats(database) as beats:
        task = asyncio.create_task(worker.run_next())
        await wait_for_step(database, job_id, 1)
        async with database.transaction() as session:
            assert await request_cancel(session, job_id) == CancelOutcome.requested
        requested_after = len(beats.steps)
        outcome = await asyncio.wait_for(task, 30)
    assert outcome is not None and outcome.state == JobState.cancelled
    # The first heartbeat after the request (or, on PostgreSQL, one that waited for its row lock)
    # returned it, and the handler stopped at its next step: counted in heartbeats and steps, not seconds.
    assert beats.cancel_seen_after is not None and beats.cancel_seen_after <= requested_after + 1
    seen_at = beats.step_when_cancel_was_seen()
    assert beats.stopped_at is not None and 0 < beats.stopped_at <= seen_at + 2, (beats.stopped_at, seen_at)
    job = await get(database, job_id)
    assert job.state == JobState.cancelled and job.error_code == "cancelled" and 0 < job.step < 300
    assert job.credit_state == CreditState.refunded and await balance(database, user) == 2
    await assert_books_balance(database, user)


async def test_progress_is_written_throttled_and_readable(database: Database, worker: Worker) -> None:
    user = await make_user(database)
    steps = 600
    job_id = await enqueue_noop(database, user, seconds=1.5, steps=steps)  # a step every 2.5 ms
    loop = asyncio.get_running_loop()
    with Heartbeats(database) as beats:
        started = loop.time()
        task = asyncio.create_task(worker.run_next())
        await wait_for_state(database, job_id, JobState.running)
        seen = []
        while not task.done():
            async with database.transaction() as session:
                status = await job_status(session, job_id)
            assert status is not None
            if status.state == "running" and status.stage == "generating":
                seen.append((status.step, status.total_steps, status.eta_seconds))
            await asyncio.sleep(0.1)
        await task
        elapsed = loop.time() - started  # however long it really took on this machine
    assert seen and all(total == steps for _, total, _ in seen)
    assert [step for step, _, _ in seen] == sorted(step for step, _, _ in seen)
    assert any(eta is not None and 0 < eta < 2 for _, _, eta in seen)
    # 601 progress reports became at most one heartbeat (with its progress write) per 0.1 s tick
    # of the time the job really ran (+ stage changes), and far fewer writes than reports.
    reports = steps + 1
    assert 3 <= len(beats.steps) <= elapsed / FAST.tick_seconds + 4, (len(beats.steps), elapsed)
    assert len(beats.steps) <= reports / 4


async def test_a_worker_that_lost_its_lease_writes_nothing(database: Database, worker: Worker) -> None:
    user = await make_user(database, free=2)
    job_id = await enqueue_noop(database, user, seconds=20, steps=200)
    task = asyncio.create_task(worker.run_next())
    await wait_for_state(database, job_id, JobState.running)
    async with database.transaction() as session:  # as if the worker had stalled past its lease
        report = await queue.reap_expired(session, now=utcnow() + timedelta(hours=1))
    assert report.requeued == [job_id]
    outcome = await asyncio.wait_for(task, 30)
    assert outcome is not None and outcome.state == "lost" and not outcome.written
    job = await get(database, job_id)
    assert job.state == JobState.queued and job.attempts == 1 and job.credit_state == CreditState.reserved
    assert await balance(database, user) == 1


async def test_interrupted_shutdown_gives_the_job_back_without_counting_it(database: Database, worker: Worker) -> None:
    user = await make_user(database, free=2)
    job_id = await enqueue_noop(database, user, seconds=20, steps=200)
    task = asyncio.create_task(worker.run())
    await wait_for_state(database, job_id, JobState.running)
    worker.stop(interrupt=True)
    assert await asyncio.wait_for(task, 30) == 1
    job = await get(database, job_id)
    assert job.state == JobState.queued and job.attempts == 0 and job.credit_state == CreditState.reserved


async def test_studio_worker_once_drains_the_queue(database: Database, tmp_path: Path) -> None:
    from engine.runtime.worker_cli import serve
    from config.settings import Settings

    settings = Settings(_env_file=None, data_dir=tmp_path / "data", database_url=database.url)  # type: ignore[call-arg]
    user = await make_user(database, free=3)
    ids = [await enqueue_noop(database, user) for _ in range(3)]
    assert await asyncio.wait_for(serve(settings, once=True, worker_id="cli", preload=False, idle_seconds=0.05), 30) == 3
    assert {(await get(database, i)).state for i in ids} == {JobState.succeeded}


@pytest.mark.slow
async def test_sigterm_gives_the_running_job_back(database: Database, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    user = await make_user(database, free=1)
    job_id = await enqueue_noop(database, user, seconds=60, steps=600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env |= {"STUDIO_DATABASE_URL": database.url, "STUDIO_DATA_DIR": str(tmp_path / "data"),
            "STUDIO_JOB_LEASE_SECONDS": "10"}
    process = subprocess.Popen([sys.executable, "-m", "studio.cli", "worker", "--id", "sigterm"], env=env,
                               cwd=Path(__file__).resolve().parents[2], stderr=subprocess.PIPE)
    try:
        deadline = asyncio.get_running_loop().time() + 60  # the worker imports the engine first
        while (await get(database, job_id)).step < 1:  # the handler is running
            assert asyncio.get_running_loop().time() < deadline and process.poll() is None
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, process.stderr.read().decode() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
    job = await get(database, job_id)
    assert job.state == JobState.queued and job.attempts == 0 and job.lease_owner is None
    assert job.credit_state == CreditState.reserved and await balance(database, user) == 0
