"""A job whose user asked to cancel it ends cancelled, refunded once, whatever the attempt ended
with: a retryable error (CUDA out of memory, a RunPod outage) or a worker shutdown landing in the
same moment never puts it back in the queue, where claims skip it (it would wait for ever with
its credits reserved, and a training would block every new training). A job an older worker
left queued with its cancel requested is ended by the reaper."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.core import texts
from bot.core.delivery import failure_reply
from db import jobs, queue
from db.job_status import request_cancel
from db.models import CreditEntry, CreditState, Job, JobKind, JobState, utcnow
from db.session import Database
from engine.runtime.backends.local import LocalBackend
from engine.runtime.handlers import registry
from engine.runtime.handlers.context import EngineOptions
from engine.runtime.worker import Worker, WorkerConfig
from tests.runtime import gated
from tests.runtime.engine_jobs import enqueue_spec, train_spec
from tests.runtime.helpers import assert_books_balance, balance, enqueue_noop, get, make_user

#: the monitor's first poll comes long after the handler has ended: the cancel is never seen by it
UNSEEN = WorkerConfig(lease_seconds=120, tick_seconds=30, idle_seconds=0.05, reap_seconds=0.0)
#: the monitor polls at once: the cancel is seen while the handler still runs
SEEN = WorkerConfig(lease_seconds=30, tick_seconds=0.05, idle_seconds=0.05, reap_seconds=0.0)


async def refunds(database: Database, job_id: int) -> int:
    async with database.transaction() as session:
        return int(await session.scalar(
            select(func.count()).select_from(CreditEntry).where(CreditEntry.job_id == job_id,
                                                                CreditEntry.reason == "refund")) or 0)


async def enqueue_training(database: Database, user: int) -> int:
    spec = train_spec(user, [f"users/{user}/photos/{i}.png" for i in range(4)])
    return await enqueue_spec(database, spec, cost=3)


async def wait_until(condition, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


@pytest.mark.parametrize("how", ["out_of_memory_before_the_poll", "out_of_memory_after_the_poll", "shutdown"])
async def test_a_cancelled_training_ends_cancelled_and_refunded_whatever_its_attempt_ended_with(
        database, storage, tmp_path, monkeypatch, how):
    monkeypatch.setitem(registry.HANDLERS, "train", gated.HANDLER)
    gate = gated.reset(ending="step" if how == "shutdown" else "out_of_memory")
    worker = Worker(database, storage, LocalBackend(), config=SEEN if how.endswith("after_the_poll") else UNSEEN,
                    worker_id="w", options=EngineOptions(work_dir=tmp_path / "work"))
    user = await make_user(database, free=10)
    job_id = await enqueue_training(database, user)
    assert await balance(database, user) == 7
    running = asyncio.create_task(worker.run_next())
    await asyncio.to_thread(gate.started.wait, 10)
    async with database.transaction() as session:  # the user taps Cancel: "Stopped, 3 credits back"
        assert await request_cancel(session, job_id, user_id=user) == "requested"
    if how.endswith("after_the_poll"):  # the monitor saw it; the handler then runs out of memory
        await wait_until(lambda: any(run.user_cancelled for run in worker._runs))
    if how == "shutdown":
        worker.stop(interrupt=True)  # SIGTERM (a deploy) in the same moment
    gate.open.set()
    outcome = await running

    assert outcome is not None and outcome.state == JobState.cancelled and outcome.written
    job = await get(database, job_id)
    assert (job.state, job.error_code, job.credit_state) == (JobState.cancelled, "cancelled", CreditState.refunded)
    assert failure_reply(job).text == texts.CANCELLED.format(refund="Your 3 credits went back to your balance.").strip()
    assert await balance(database, user) == 10 and await refunds(database, job_id) == 1
    # later reaps and claims change nothing: the refund happened once, and the user can train again
    async with database.transaction() as session:
        await queue.reap_expired(session, now=utcnow() + timedelta(hours=1))
    async with database.transaction() as session:
        assert await queue.claim(session, "w2", lease_seconds=30) is None
    assert await balance(database, user) == 10 and await refunds(database, job_id) == 1
    await assert_books_balance(database, user)
    assert await enqueue_training(database, user) != job_id


async def test_a_retryable_error_without_a_cancel_still_goes_back_to_the_queue(database, storage, tmp_path,
                                                                                monkeypatch):
    monkeypatch.setitem(registry.HANDLERS, "noop", gated.HANDLER)
    gate = gated.reset(ending="out_of_memory")
    gate.open.set()
    worker = Worker(database, storage, LocalBackend(), config=UNSEEN, worker_id="w",
                    options=EngineOptions(work_dir=tmp_path / "work"))
    user = await make_user(database, free=10)
    job_id = await enqueue_noop(database, user, cost=3, max_attempts=2)
    assert (await worker.run_next()).state == "requeued"
    job = await get(database, job_id)
    assert (job.state, job.credit_state) == (JobState.queued, CreditState.reserved)
    outcome = await worker.run_next()
    assert outcome is not None and (outcome.state, outcome.error_code) == (JobState.failed, "out_of_memory")
    assert await balance(database, user) == 10 and await refunds(database, job_id) == 1


async def test_a_job_left_queued_with_its_cancel_requested_is_ended_by_the_reaper(database, storage, tmp_path):
    user = await make_user(database, free=10)
    stuck = await enqueue_training(database, user)
    other = await make_user(database, uid="200", free=10)
    waiting = await enqueue_noop(database, other, cost=1)
    async with database.transaction() as session:  # what an older worker's give_back left behind
        await session.execute(update(Job).where(Job.id == stuck).values(
            cancel_requested=True, attempts=1, remote_backend="runpod", remote_id="rp-7"))
    async with database.transaction() as session:
        assert await queue.claim(session, "w", lease_seconds=30, now=utcnow()) is not None  # the other job
    assert (await get(database, waiting)).state == JobState.running

    async with database.transaction() as session:
        report = await queue.reap_expired(session)
    assert report.cancelled == [stuck] and report.remote_orphans == [(stuck, "runpod", "rp-7")]
    job = await get(database, stuck)
    assert (job.state, job.error_code, job.credit_state) == (JobState.cancelled, "cancelled", CreditState.refunded)
    assert failure_reply(job).text == texts.CANCELLED.format(refund="Your 3 credits went back to your balance.").strip()
    assert await balance(database, user) == 10 and await refunds(database, stuck) == 1
    async with database.transaction() as session:  # once only
        assert not await queue.reap_expired(session)
    assert await balance(database, user) == 10 and await refunds(database, stuck) == 1
    await assert_books_balance(database, user)
    assert (await get(database, waiting)).state == JobState.running  # nothing else was touched
    async with database.transaction() as session:  # and a new training is accepted
        queued = await jobs.enqueue(session, user_id=user, kind=JobKind.train,
                                    payload=train_spec(user, [f"users/{user}/photos/{i}.png" for i in range(4)])
                                    .to_payload(), cost=3)
        assert queued.created


async def test_the_worker_reaps_a_stuck_cancelled_job_and_cancels_its_remote_job(database, storage, tmp_path):
    cancelled: list[str] = []

    class Remote(LocalBackend):
        name = "runpod"

        async def cancel_remote(self, remote_id: str) -> None:
            cancelled.append(remote_id)

    worker = Worker(database, storage, Remote(), config=UNSEEN, worker_id="w",
                    options=EngineOptions(work_dir=tmp_path / "work"))
    user = await make_user(database, free=10)
    stuck = await enqueue_noop(database, user, cost=2)
    async with database.transaction() as session:
        await session.execute(update(Job).where(Job.id == stuck).values(
            cancel_requested=True, remote_backend="runpod", remote_id="rp-9"))
    assert await worker.run_next() is None  # the reap ended it; nothing to claim
    job = await get(database, stuck)
    assert (job.state, job.credit_state) == (JobState.cancelled, CreditState.refunded)
    assert await balance(database, user) == 10 and cancelled == ["rp-9"]
