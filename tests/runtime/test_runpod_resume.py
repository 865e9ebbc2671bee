"""A retried RunPod job resumes the remote job of the attempt before it instead of paying for a
second one: the remote id is recorded on the job as soon as it is submitted, and the next
worker follows it (running or completed) or submits anew (failed, cancelled, timed out, gone).
On both databases, against the fake RunPod endpoint, whose jobs outlive the worker."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from db import queue
from db.job_status import CancelOutcome, request_cancel
from db.models import CreditEntry, CreditState, Job, JobState, utcnow
from db.session import Database
from db.storage import LocalStorage
from engine.runtime.backends.runpod import RunPodBackend
from engine.runtime.backends.runpod_client import RunPodClient
from engine.runtime.worker import Outcome, Worker, WorkerConfig
from tests.runtime.fake_runpod import FakeRunPod
from tests.runtime.helpers import assert_books_balance, balance, enqueue_noop, get, make_user
from tests.runtime.test_reliability import Workers, workers  # noqa: F401  (fixture)
from tests.runtime.test_runpod import client, configured_handler, fake  # noqa: F401  (fixtures)


def make_worker(database: Database, storage: LocalStorage, client: RunPodClient, name: str) -> Worker:
    config = WorkerConfig(lease_seconds=5, tick_seconds=0.1, idle_seconds=0.05, reap_seconds=1)
    return Worker(database, storage, RunPodBackend(client, slots=1, poll_seconds=0.02), config=config,
                  worker_id=name)


async def eventually(predicate: Any, timeout: float = 10, interval: float = 0.02) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(interval)


async def running_remotely(database: Database, fake: FakeRunPod, job_id: int, timeout: float = 10) -> str:
    """Wait until the job's remote job is recorded on it and IN_PROGRESS on RunPod; its id."""
    async def recorded() -> bool:
        job = await get(database, job_id)
        return job.remote_id is not None and fake.jobs[job.remote_id].status == "IN_PROGRESS"

    await eventually(recorded, timeout)
    job = await get(database, job_id)
    assert job.remote_backend == "runpod" and job.remote_id is not None
    return job.remote_id


async def expire_lease(database: Database, job_id: int, *, reap: bool = False, owner: str | None = None
                       ) -> queue.ReapReport | None:
    """Expire the job's lease (and reap it in the same transaction, so no heartbeat comes in
    between); with ``owner`` the lease also passes to a dead worker that never heartbeats."""
    values: dict[str, Any] = {"lease_expires_at": utcnow() - timedelta(seconds=1)}
    if owner is not None:
        values["lease_owner"] = owner
    async with database.transaction() as session:
        await session.execute(update(Job).where(Job.id == job_id).values(**values))
        return await queue.reap_expired(session) if reap else None


async def kill_first_worker(database: Database, fake: FakeRunPod, worker: Worker, job_id: int) -> str:
    """Run the job on ``worker`` until it runs on RunPod, then let the lease expire and the job be
    reaped, as when the worker dies: the worker notices, writes nothing and leaves the remote job
    alone. Returns the remote id."""
    task = asyncio.create_task(worker.run_next())
    remote_id = await running_remotely(database, fake, job_id)
    report = await expire_lease(database, job_id, reap=True)
    assert report is not None and report.requeued == [job_id]
    lost = await asyncio.wait_for(task, 30)
    assert lost == Outcome(job_id, "lost", written=False)
    assert fake.jobs[remote_id].status == "IN_PROGRESS" and fake.cancelled == []
    job = await get(database, job_id)
    assert job.state == JobState.queued and job.remote_id == remote_id
    return remote_id


async def abandoned_remote_job(database: Database, fake: FakeRunPod, storage: LocalStorage, client: RunPodClient,
                               *, steps: int) -> tuple[int, int, str]:
    """A user's one-credit no-op job left running on RunPod by a worker that died (see
    ``kill_first_worker``), with ``fake.hold`` keeping the remote job in progress.
    Returns (user, job id, remote id)."""
    fake.hold = asyncio.Event()
    user = await make_user(database, free=1)
    job_id = await enqueue_noop(database, user, steps=steps)
    remote_id = await kill_first_worker(database, fake, make_worker(database, storage, client, "first"), job_id)
    return user, job_id, remote_id


async def polled_by(fake: FakeRunPod, remote_id: str, since: int, timeout: float = 10) -> None:
    route = f"GET /v2/{fake.endpoint_id}/status/{remote_id}"

    async def polled() -> bool:
        return route in fake.requests[since:]

    await eventually(polled, timeout)


async def assert_one_reserve_and_books(database: Database, user: int, job_id: int) -> None:
    async with database.transaction() as session:
        reasons = Counter((await session.scalars(select(CreditEntry.reason).where(CreditEntry.job_id == job_id))).all())
    assert reasons["reserve"] == 1
    await assert_books_balance(database, user)


async def test_a_retry_resumes_the_running_remote_job(
    database: Database, fake: FakeRunPod, client: RunPodClient, storage: LocalStorage
) -> None:
    fake.hold = asyncio.Event()
    user = await make_user(database, free=1)
    key = f"users/{user}/out/r.json"
    job_id = await enqueue_noop(database, user, steps=2, result_key=key)
    remote_id = await kill_first_worker(database, fake, make_worker(database, storage, client, "first"), job_id)

    since = len(fake.requests)
    second = asyncio.create_task(make_worker(database, storage, client, "second").run_next())
    await polled_by(fake, remote_id, since)
    job = await get(database, job_id)
    assert job.state == JobState.running and job.lease_owner == "second" and job.attempts == 2
    fake.hold.set()
    outcome = await asyncio.wait_for(second, 30)
    assert outcome == Outcome(job_id, JobState.succeeded)
    assert fake.submitted == [remote_id] and fake.cancelled == []  # exactly one /run in total
    job = await get(database, job_id)
    assert job.result == {"steps": 2, "attempt": 1, "result_key": key}  # the first attempt's remote job
    assert job.remote_id == remote_id and job.credit_state == CreditState.committed
    assert await storage.list(f"users/{user}/out/") == [key]
    assert json.loads(await storage.get(key))["job_id"] == job_id
    assert await balance(database, user) == 0
    await assert_one_reserve_and_books(database, user, job_id)


async def test_a_remote_job_that_completed_unwatched_is_taken_without_resubmitting(
    database: Database, fake: FakeRunPod, client: RunPodClient, storage: LocalStorage
) -> None:
    user, job_id, remote_id = await abandoned_remote_job(database, fake, storage, client, steps=3)
    fake.hold.set()

    async def completed() -> bool:
        return fake.jobs[remote_id].status == "COMPLETED"

    await eventually(completed)
    outcome = await make_worker(database, storage, client, "second").run_next()
    assert outcome == Outcome(job_id, JobState.succeeded)
    assert fake.submitted == [remote_id]
    job = await get(database, job_id)
    assert job.state == JobState.succeeded and job.attempts == 2
    assert job.result == {"steps": 3, "attempt": 1, "result_key": None}
    assert await balance(database, user) == 0
    await assert_one_reserve_and_books(database, user, job_id)


@pytest.mark.parametrize("ending", ["FAILED", "CANCELLED", "TIMED_OUT", "unknown"])
async def test_a_remote_job_that_ended_badly_unwatched_is_submitted_once_more(
    database: Database, fake: FakeRunPod, client: RunPodClient, storage: LocalStorage, ending: str
) -> None:
    user, job_id, remote_id = await abandoned_remote_job(database, fake, storage, client, steps=2)
    if ending == "unknown":
        fake.forget(remote_id)  # RunPod answers 404 (its results expire)
    else:
        fake.settle(remote_id, ending, error="worker lost" if ending == "FAILED" else None)
    fake.hold = None
    outcome = await make_worker(database, storage, client, "second").run_next()
    assert outcome == Outcome(job_id, JobState.succeeded)
    assert len(fake.submitted) == 2 and fake.submitted[0] == remote_id and fake.cancelled == []
    job = await get(database, job_id)
    assert job.remote_id == fake.submitted[1]  # the new remote job is recorded
    assert job.result == {"steps": 2, "attempt": 2, "result_key": None}
    assert await balance(database, user) == 0
    await assert_one_reserve_and_books(database, user, job_id)


async def test_cancel_during_a_resumed_job_cancels_that_remote_job(
    database: Database, fake: FakeRunPod, client: RunPodClient, storage: LocalStorage
) -> None:
    user, job_id, remote_id = await abandoned_remote_job(database, fake, storage, client, steps=2)
    since = len(fake.requests)
    second = asyncio.create_task(make_worker(database, storage, client, "second").run_next())
    await polled_by(fake, remote_id, since)
    async with database.transaction() as session:
        assert await request_cancel(session, job_id) == CancelOutcome.requested
    outcome = await asyncio.wait_for(second, 30)
    assert outcome is not None and outcome.state == JobState.cancelled
    assert fake.cancelled == [remote_id] and fake.jobs[remote_id].status == "CANCELLED"
    assert fake.submitted == [remote_id]
    job = await get(database, job_id)
    assert job.state == JobState.cancelled and job.credit_state == CreditState.refunded
    assert await balance(database, user) == 1
    await assert_books_balance(database, user)


async def test_an_interrupted_worker_leaves_the_remote_job_for_the_next_one(
    database: Database, fake: FakeRunPod, client: RunPodClient, storage: LocalStorage
) -> None:
    fake.hold = asyncio.Event()
    user = await make_user(database, free=1)
    job_id = await enqueue_noop(database, user, steps=2)
    first = make_worker(database, storage, client, "first")
    task = asyncio.create_task(first.run_next())
    remote_id = await running_remotely(database, fake, job_id)
    first.stop(interrupt=True)
    outcome = await asyncio.wait_for(task, 30)
    assert outcome == Outcome(job_id, "requeued")
    assert fake.jobs[remote_id].status == "IN_PROGRESS" and fake.cancelled == []
    job = await get(database, job_id)
    assert job.state == JobState.queued and job.attempts == 0 and job.remote_id == remote_id
    fake.hold.set()
    outcome = await make_worker(database, storage, client, "second").run_next()
    assert outcome == Outcome(job_id, JobState.succeeded)
    assert fake.submitted == [remote_id]
    await assert_one_reserve_and_books(database, user, job_id)


async def test_a_job_the_reaper_ends_has_its_remote_job_cancelled(
    database: Database, fake: FakeRunPod, client: RunPodClient, storage: LocalStorage
) -> None:
    fake.hold = asyncio.Event()
    user = await make_user(database, free=1)
    job_id = await enqueue_noop(database, user, steps=2, max_attempts=1)
    first = make_worker(database, storage, client, "first")
    task = asyncio.create_task(first.run_next())
    remote_id = await running_remotely(database, fake, job_id)
    await expire_lease(database, job_id, owner="dead-worker")
    report = await make_worker(database, storage, client, "reaper").reap()  # the last attempt: nobody resumes it
    assert report.failed == [job_id] and report.remote_orphans == [(job_id, "runpod", remote_id)]
    assert fake.cancelled == [remote_id] and fake.jobs[remote_id].status == "CANCELLED"
    assert not (await asyncio.wait_for(task, 30)).written  # the dead worker's outcome is not written
    job = await get(database, job_id)
    assert job.state == JobState.failed and job.error_code == queue.LEASE_EXPIRED
    assert job.credit_state == CreditState.refunded and await balance(database, user) == 1
    await assert_books_balance(database, user)


async def test_only_the_lease_holder_records_a_remote_id(database: Database) -> None:
    user = await make_user(database, free=1)
    job_id = await enqueue_noop(database, user)
    async with database.transaction() as session:
        lease = await queue.claim(session, "holder", lease_seconds=5)
    assert lease is not None and lease.remote_id is None
    stale = dataclasses.replace(lease, owner="someone-else")
    async with database.transaction() as session:
        assert not await queue.record_remote(session, stale, "runpod", "rp-stale")
    async with database.transaction() as session:
        assert await queue.record_remote(session, lease, "runpod", "rp-1")
    await expire_lease(database, job_id, reap=True)
    async with database.transaction() as session:
        again = await queue.claim(session, "next", lease_seconds=5)
    assert again is not None and (again.remote_backend, again.remote_id, again.attempt) == ("runpod", "rp-1", 2)
    async with database.transaction() as session:  # the old holder can no longer write
        assert not await queue.record_remote(session, lease, "runpod", "rp-late")
    assert (await get(database, job_id)).remote_id == "rp-1"


async def test_a_remote_job_submitted_after_the_lease_was_lost_is_cancelled(
    database: Database, fake: FakeRunPod, client: RunPodClient, storage: LocalStorage
) -> None:
    user = await make_user(database, free=1)
    job_id = await enqueue_noop(database, user, steps=2)
    worker = make_worker(database, storage, client, "slow")
    submit = client.submit

    async def submit_then_lose_the_lease(*args: Any, **kwargs: Any) -> str:
        remote_id = await submit(*args, **kwargs)
        await expire_lease(database, job_id, reap=True)
        return remote_id

    client.submit = submit_then_lose_the_lease  # type: ignore[method-assign]
    outcome = await worker.run_next()
    assert outcome == Outcome(job_id, "lost", written=False)
    assert len(fake.submitted) == 1 and fake.cancelled == fake.submitted  # nobody could resume it
    job = await get(database, job_id)
    assert job.state == JobState.queued and job.remote_id is None


@pytest.mark.slow
async def test_sigkill_of_a_worker_process_mid_remote_job_resumes_it_with_one_submission(
    database: Database, fake: FakeRunPod, storage: LocalStorage, workers: Workers
) -> None:
    """Real worker processes on the RunPod backend; the fake endpoint (and the remote job) lives
    in this process, so it outlives the worker killed with SIGKILL."""
    assert workers.storage.resolve() == storage.root  # the remote handler writes where the test reads
    fake.hold = asyncio.Event()
    user = await make_user(database, free=1)
    key = f"users/{user}/out/r.json"
    job_id = await enqueue_noop(database, user, steps=2, result_key=key)
    runpod = ("--runpod-url", fake.base_url, "--runpod-endpoint", fake.endpoint_id, "--runpod-key", fake.api_key)
    victim = workers.start("victim", extra=runpod)
    remote_id = await running_remotely(database, fake, job_id, timeout=60)  # the process starts (imports) first
    victim.send_signal(signal.SIGKILL)
    await asyncio.to_thread(victim.wait, 10)
    since = len(fake.requests)
    workers.start("rescuer", extra=runpod)
    # After the rescuer started and the victim's lease (2 s) expired and was reaped: resumed, not resubmitted.
    await polled_by(fake, remote_id, since, timeout=60)
    fake.hold.set()

    async def done() -> bool:
        return (await get(database, job_id)).state in (JobState.succeeded, JobState.failed)

    await eventually(done, timeout=30)
    job = await get(database, job_id)
    assert job.state == JobState.succeeded and job.attempts == 2 and job.lease_owner is None
    assert job.result == {"steps": 2, "attempt": 1, "result_key": key}
    assert fake.submitted == [remote_id] and fake.cancelled == []
    assert await storage.list(f"users/{user}/out/") == [key]
    assert await balance(database, user) == 0
    await assert_one_reserve_and_books(database, user, job_id)
    assert f"resuming RunPod job {remote_id}" in workers.log("rescuer").read_text()
