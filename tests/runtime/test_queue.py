"""The queue in the database: claims, leases, fairness, position, cancel, reaping, delivery.

Every test runs on SQLite and on a real PostgreSQL (the ``database`` fixture), same assertions.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from db import credits, delivery, queue
from db.job_status import CancelOutcome, job_status, queue_position, request_cancel
from db.models import CreditState, JobState, utcnow
from db.session import Database
from tests.runtime.helpers import assert_books_balance, balance, enqueue_noop, get, make_user


async def claim(database: Database, owner: str = "w1", lease: float = 30, now=None) -> queue.Lease | None:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        return await queue.claim(session, owner, lease_seconds=lease, now=now)


async def test_claim_takes_a_job_once_with_a_lease(database: Database) -> None:
    user = await make_user(database)
    job_id = await enqueue_noop(database, user, seconds=0)
    lease = await claim(database)
    assert lease is not None and lease.job_id == job_id and lease.attempt == 1 and lease.kind == "noop"
    assert await claim(database, "w2") is None
    job = await get(database, job_id)
    assert job.state == JobState.running and job.lease_owner == "w1" and job.stage == "preparing"
    assert job.started_at is not None and job.lease_expires_at is not None


async def test_concurrent_claimers_never_share_a_job(database: Database) -> None:
    user = await make_user(database, free=40)
    ids = {await enqueue_noop(database, user) for _ in range(30)}

    async def claimer(name: str) -> list[int]:
        got = []
        while (lease := await claim(database, name)) is not None:
            got.append(lease.job_id)
        return got

    results = await asyncio.gather(*(claimer(f"w{i}") for i in range(6)))
    claimed = [job for result in results for job in result]
    assert sorted(claimed) == sorted(ids)


async def test_round_robin_by_user(database: Database) -> None:
    alice = await make_user(database, "1", free=20)
    bob = await make_user(database, "2", free=20)
    carol = await make_user(database, "3", free=20)
    owners = {}
    for _ in range(10):
        owners[await enqueue_noop(database, alice)] = "alice"
    owners[await enqueue_noop(database, bob)] = "bob"
    for _ in range(2):
        owners[await enqueue_noop(database, carol)] = "carol"
    start = utcnow()
    order = []
    for i in range(13):
        lease = await claim(database, now=start + timedelta(seconds=i))
        assert lease is not None
        order.append(owners[lease.job_id])
    # Bob's only job waits behind one of Alice's, not behind all ten.
    assert order[:3] == ["alice", "bob", "carol"]
    assert order[3:6] == ["alice", "carol", "alice"]
    assert order[6:] == ["alice"] * 7


async def test_a_claimer_that_waited_for_the_write_lock_dates_its_claim_after_the_wait(
    sqlite_database: Database,
) -> None:
    """A claim stamped with a time read before the wait would look older than the claims made
    meanwhile, and round robin would hand that user a second turn early."""
    database = sqlite_database
    for uid in ("1", "2"):
        await enqueue_noop(database, await make_user(database, uid))
    async with database.transaction() as holder:
        await holder.connection()  # BEGIN IMMEDIATE: this transaction holds the write lock
        waiting = asyncio.create_task(claim(database, "w2"))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        first = await queue.claim(holder, "w1", lease_seconds=30)
    second = await waiting
    assert first is not None and second is not None
    first_started, second_started = (await get(database, first.job_id)).started_at, (
        await get(database, second.job_id)).started_at
    assert first_started is not None and second_started is not None and second_started > first_started


async def test_queue_position_predicts_the_claim_order(database: Database) -> None:
    users = [await make_user(database, str(i), free=20) for i in range(3)]
    pattern = [0, 0, 0, 1, 2, 2, 0, 1, 1, 2, 0]
    ids = [await enqueue_noop(database, users[u]) for u in pattern]
    # One job of user 1 ran before: user 1 was served most recently.
    first = await claim(database, now=utcnow() - timedelta(hours=1))
    assert first is not None and first.job_id == ids[0]
    async with database.transaction() as session:
        positions = {job_id: await queue_position(session, job_id) for job_id in ids[1:]}
        assert await queue_position(session, ids[0]) is None  # running, not waiting
    start = utcnow()
    claimed = []
    for i in range(len(ids) - 1):
        lease = await claim(database, now=start + timedelta(seconds=i))
        assert lease is not None
        claimed.append(lease.job_id)
    assert sorted(positions.values()) == list(range(len(ids) - 1))
    assert claimed == sorted(positions, key=lambda job_id: positions[job_id])


async def test_heartbeat_extends_the_lease_and_reports_progress(database: Database) -> None:
    user = await make_user(database)
    job_id = await enqueue_noop(database, user)
    lease = await claim(database, lease=5)
    assert lease is not None
    async with database.transaction() as session:
        flag = await queue.heartbeat(session, lease, lease_seconds=60,
                                     progress=queue.ProgressUpdate("training", 3, 12, 9.0))
    assert flag is False
    async with database.transaction() as session:
        status = await job_status(session, job_id)
    assert status is not None
    assert (status.state, status.stage, status.step, status.total_steps, status.eta_seconds) == (
        "running", "training", 3, 12, 9.0)
    assert status.progress == pytest.approx(0.9 * 3 / 12) and status.queue_position is None  # training: 0–90 %
    job = await get(database, job_id)
    assert job.lease_expires_at is not None and job.heartbeat_at is not None
    assert (job.lease_expires_at - job.heartbeat_at).total_seconds() == 60


async def test_expired_lease_goes_back_to_the_queue_then_fails_and_refunds(database: Database) -> None:
    user = await make_user(database, free=3)
    job_id = await enqueue_noop(database, user, cost=2, max_attempts=2)
    assert await balance(database, user) == 1
    now = utcnow()
    for attempt in (1, 2):
        lease = await claim(database, f"w{attempt}", lease=1, now=now)
        assert lease is not None and lease.job_id == job_id and lease.attempt == attempt
        now += timedelta(seconds=2)
        async with database.transaction() as session:
            report = await queue.reap_expired(session, now=now)
        if attempt == 1:
            assert report.requeued == [job_id] and not report.failed
            assert (await get(database, job_id)).state == JobState.queued
            # The old owner's late heartbeat and result are refused.
            async with database.transaction() as session:
                assert await queue.heartbeat(session, lease, lease_seconds=30) is None
                assert not await queue.complete(session, lease, JobState.succeeded, result={})
        else:
            assert report.failed == [job_id] and not report.requeued
    job = await get(database, job_id)
    assert job.state == JobState.failed and job.error_code == queue.LEASE_EXPIRED
    assert job.credit_state == CreditState.refunded and job.attempts == 2
    assert await balance(database, user) == 3
    await assert_books_balance(database, user)
    # The user is told: a failed, undelivered job is on the front end's list.
    async with database.transaction() as session:
        owed = await delivery.undelivered_jobs(session)
    assert [j.id for j in owed] == [job_id]


async def test_a_live_lease_is_not_reaped(database: Database) -> None:
    user = await make_user(database)
    job_id = await enqueue_noop(database, user)
    assert await claim(database, lease=30) is not None
    async with database.transaction() as session:
        assert not await queue.reap_expired(session)
    assert (await get(database, job_id)).state == JobState.running


async def test_cancel_a_queued_job_refunds_at_once(database: Database) -> None:
    user = await make_user(database, free=3)
    job_id = await enqueue_noop(database, user)
    other = await make_user(database, "200")
    async with database.transaction() as session:
        assert await request_cancel(session, job_id, user_id=other) == CancelOutcome.missing
        assert await request_cancel(session, job_id, user_id=user) == CancelOutcome.cancelled
    async with database.transaction() as session:
        assert await request_cancel(session, job_id) == CancelOutcome.finished
        assert await request_cancel(session, 999_999) == CancelOutcome.missing
    job = await get(database, job_id)
    assert job.state == JobState.cancelled and job.credit_state == CreditState.refunded
    assert await balance(database, user) == 3
    assert await claim(database) is None
    await assert_books_balance(database, user)


async def test_cancel_a_running_job_flags_it_for_the_worker(database: Database) -> None:
    user = await make_user(database, free=3)
    job_id = await enqueue_noop(database, user)
    lease = await claim(database)
    assert lease is not None
    async with database.transaction() as session:
        assert await request_cancel(session, job_id) == CancelOutcome.requested
    async with database.transaction() as session:
        assert await queue.heartbeat(session, lease, lease_seconds=30) is True
        assert await queue.complete(session, lease, JobState.cancelled, error_code="cancelled")
    assert await balance(database, user) == 3
    await assert_books_balance(database, user)


async def test_cancel_requested_job_whose_worker_died_is_cancelled_not_retried(database: Database) -> None:
    user = await make_user(database, free=3)
    job_id = await enqueue_noop(database, user)
    assert await claim(database, lease=1) is not None
    async with database.transaction() as session:
        assert await request_cancel(session, job_id) == CancelOutcome.requested
    async with database.transaction() as session:
        report = await queue.reap_expired(session, now=utcnow() + timedelta(seconds=5))
    assert report.cancelled == [job_id]
    assert (await get(database, job_id)).state == JobState.cancelled
    assert await balance(database, user) == 3


async def test_give_back_does_not_count_the_attempt(database: Database) -> None:
    user = await make_user(database)
    job_id = await enqueue_noop(database, user, max_attempts=1)
    lease = await claim(database)
    assert lease is not None
    async with database.transaction() as session:
        assert await queue.give_back(session, lease)
    job = await get(database, job_id)
    assert job.state == JobState.queued and job.attempts == 0
    again = await claim(database)
    assert again is not None and again.attempt == 1


async def test_delivery_is_claimed_once_and_retried_after_a_crash(database: Database) -> None:
    user = await make_user(database)
    job_id = await enqueue_noop(database, user)
    async with database.transaction() as session:
        assert not await delivery.claim_delivery(session, job_id)  # not finished yet
    lease = await claim(database)
    assert lease is not None
    async with database.transaction() as session:
        assert await queue.complete(session, lease, JobState.succeeded, result={"ok": True})
    outcomes = []
    for _ in range(5):
        async with database.transaction() as session:
            outcomes.append(await delivery.claim_delivery(session, job_id, retry_after_seconds=60))
    assert outcomes == [True, False, False, False, False]
    async with database.transaction() as session:
        assert await delivery.undelivered_jobs(session, retry_after_seconds=60) == []
        # The deliverer died: after the timeout, the job is owed again and claimable once more.
        later = utcnow() + timedelta(seconds=61)
        assert [j.id for j in await delivery.undelivered_jobs(session, retry_after_seconds=60, now=later)] == [job_id]
        assert await delivery.claim_delivery(session, job_id, retry_after_seconds=60, now=later)
        assert await delivery.mark_delivered(session, job_id)
        assert not await delivery.mark_delivered(session, job_id)
        assert not await delivery.claim_delivery(session, job_id, now=later + timedelta(days=1))
        assert await delivery.undelivered_jobs(session, now=later + timedelta(days=1)) == []


async def test_concurrent_deliverers_one_wins(database: Database) -> None:
    user = await make_user(database)
    job_id = await enqueue_noop(database, user)
    lease = await claim(database)
    assert lease is not None
    async with database.transaction() as session:
        await queue.complete(session, lease, JobState.succeeded, result={})

    async def deliver() -> bool:
        async with database.transaction() as session:
            return await delivery.claim_delivery(session, job_id)

    assert sorted(await asyncio.gather(*(deliver() for _ in range(8)))) == [False] * 7 + [True]


async def test_undelivered_jobs_filters_by_platform(database: Database) -> None:
    user = await make_user(database)
    job_id = await enqueue_noop(database, user)
    lease = await claim(database)
    assert lease is not None
    async with database.transaction() as session:
        await queue.complete(session, lease, JobState.failed, error_code="internal_error")
    async with database.transaction() as session:
        assert [j.id for j in await delivery.undelivered_jobs(session, platforms=["telegram"])] == [job_id]
        assert await delivery.undelivered_jobs(session, platforms=["discord"]) == []


async def test_credit_of_a_succeeded_job_is_spent(database: Database) -> None:
    user = await make_user(database, free=2)
    await enqueue_noop(database, user)
    lease = await claim(database)
    assert lease is not None
    async with database.transaction() as session:
        assert await queue.complete(session, lease, JobState.succeeded, result={})
        assert await credits.balance(session, user) == 1
    await assert_books_balance(database, user)


async def test_per_user_queue_depth_is_enforced_at_enqueue(database: Database) -> None:
    import pytest

    from db import jobs
    from engine.jobs import NoopJob

    user = await make_user(database, free=10)

    async def enqueue() -> None:
        async with database.transaction() as session:
            await jobs.enqueue(session, user_id=user, kind="noop", payload=NoopJob().to_payload(),  # type: ignore[arg-type]
                               cost=1, max_active_per_user=3)

    for _ in range(3):
        await enqueue()
    with pytest.raises(jobs.QueueLimitReached):
        await enqueue()
    assert await balance(database, user) == 7  # the refused job reserved nothing
    lease = await claim(database)
    assert lease is not None
    async with database.transaction() as session:
        assert await queue.complete(session, lease, JobState.succeeded, result={})
    await enqueue()  # a slot freed up
