"""Credits and the job state machine, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from db import credits, jobs
from db.models import CreditEntry, CreditState, Job, JobKind, JobState, OutputImage, Photo, SelfieSet, User
from db.session import Database
from db.users import delete_user, get_or_create_user


async def make_user(database: Database, free: int = 3, uid: str = "100") -> int:
    async with database.transaction() as session:
        user, created = await get_or_create_user(session, "telegram", uid, display_name="Alex", free_credits=free)
        assert created
        return user.id


async def books_balance(database: Database, user_id: int) -> None:
    async with database.transaction() as session:
        assert await credits.ledger_sum(session, user_id) == await credits.balance(session, user_id)


async def enqueue(database: Database, user_id: int, cost: int = 1, *, key: str | None = None, kind=JobKind.generate) -> jobs.Enqueued:
    async with database.transaction() as session:
        return await jobs.enqueue(session, user_id=user_id, kind=kind, payload={"style": "linkedin-headshot"}, cost=cost, idempotency_key=key)


async def test_new_user_gets_the_free_allowance_once(database: Database) -> None:
    user_id = await make_user(database, free=3)
    async with database.transaction() as session:
        again, created = await get_or_create_user(session, "telegram", "100", free_credits=3)
    assert not created and again.id == user_id
    async with database.transaction() as session:
        assert await credits.balance(session, user_id) == 3
    await books_balance(database, user_id)


async def test_concurrent_first_contact_creates_one_user(database: Database) -> None:
    async def contact() -> int:
        async with database.transaction() as session:
            user, _ = await get_or_create_user(session, "discord", "42", free_credits=3)
            return user.id

    ids = await asyncio.gather(*(contact() for _ in range(10)))
    assert len(set(ids)) == 1
    async with database.transaction() as session:
        assert await credits.balance(session, ids[0]) == 3


async def test_100_concurrent_reservations_against_10_credits_let_exactly_10_through(database: Database) -> None:
    user_id = await make_user(database, free=10)

    async def attempt() -> bool:
        try:
            await enqueue(database, user_id)
            return True
        except credits.InsufficientCredits:
            return False

    results = await asyncio.gather(*(attempt() for _ in range(100)))
    assert sum(results) == 10
    async with database.transaction() as session:
        assert await credits.balance(session, user_id) == 0
        assert await session.scalar(select(func.count()).select_from(Job)) == 10
    await books_balance(database, user_id)


async def test_failed_job_refund_applied_twice_refunds_once(database: Database) -> None:
    user_id = await make_user(database, free=3)
    job = (await enqueue(database, user_id, cost=2)).job
    async with database.transaction() as session:
        assert await credits.balance(session, user_id) == 1
        assert await jobs.transition(session, job.id, JobState.running)
        assert await jobs.finish(session, job.id, JobState.failed, error_code="engine_error")
    async with database.transaction() as session:
        assert await credits.refund(session, job.id) is None
        assert not await jobs.finish(session, job.id, JobState.failed, error_code="again")
    async with database.transaction() as session:
        assert await credits.balance(session, user_id) == 3
        refunds = await session.scalar(select(func.count()).where(CreditEntry.reason == "refund"))
        assert refunds == 1
    await books_balance(database, user_id)


async def test_concurrent_refunds_refund_once(database: Database) -> None:
    user_id = await make_user(database, free=1)
    job = (await enqueue(database, user_id)).job

    async def refund() -> credits.Refund | None:
        async with database.transaction() as session:
            return await credits.refund(session, job.id)

    outcomes = await asyncio.gather(*(refund() for _ in range(8)))
    assert sum(o is not None for o in outcomes) == 1
    async with database.transaction() as session:
        assert await credits.balance(session, user_id) == 1
    await books_balance(database, user_id)


async def test_success_spends_the_reservation(database: Database) -> None:
    user_id = await make_user(database, free=3)
    job = (await enqueue(database, user_id)).job
    async with database.transaction() as session:
        await jobs.transition(session, job.id, JobState.running)
        assert await jobs.finish(session, job.id, JobState.succeeded, result={"images": 4})
        assert await credits.refund(session, job.id) is None  # a spent reservation is never refunded
    async with database.transaction() as session:
        stored = await jobs.get_job(session, job.id)
        assert stored is not None and stored.credit_state == CreditState.committed and stored.state == JobState.succeeded
        assert await credits.balance(session, user_id) == 2
    await books_balance(database, user_id)


async def test_partial_refund_on_cancel(database: Database) -> None:
    user_id = await make_user(database, free=4)
    job = (await enqueue(database, user_id, cost=4)).job
    async with database.transaction() as session:
        await jobs.transition(session, job.id, JobState.running)
        assert await jobs.finish(session, job.id, JobState.cancelled, refund_amount=3)
    async with database.transaction() as session:
        assert await credits.balance(session, user_id) == 3
    await books_balance(database, user_id)


async def test_out_of_credits_writes_nothing(database: Database) -> None:
    user_id = await make_user(database, free=0)
    with pytest.raises(credits.InsufficientCredits) as caught:
        await enqueue(database, user_id)
    assert caught.value.balance == 0 and caught.value.needed == 1
    async with database.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == 0
    # A caller that catches the refusal to answer the user, and commits, commits no job either.
    async with database.transaction() as session:
        with pytest.raises(credits.InsufficientCredits):
            await jobs.enqueue(session, user_id=user_id, kind=JobKind.generate, payload={}, cost=1, idempotency_key="k")
    async with database.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == 0
        assert await jobs.find_by_key(session, "k") is None
    await books_balance(database, user_id)


async def test_pressing_train_twice_makes_one_job(database: Database) -> None:
    user_id = await make_user(database, free=3)
    first, second = await asyncio.gather(
        enqueue(database, user_id, key="train:100:set1", kind=JobKind.train),
        enqueue(database, user_id, key="train:100:set1", kind=JobKind.train),
    )
    assert first.job.id == second.job.id
    assert sorted([first.created, second.created]) == [False, True]
    async with database.transaction() as session:
        assert await credits.balance(session, user_id) == 2


async def test_one_active_training_per_user(database: Database) -> None:
    user_id = await make_user(database, free=3)
    await enqueue(database, user_id, kind=JobKind.train)
    with pytest.raises(jobs.TrainingAlreadyRunning):
        await enqueue(database, user_id, kind=JobKind.train)
    async with database.transaction() as session:
        assert await credits.balance(session, user_id) == 2


async def test_admin_grant_and_revoke_never_go_negative(database: Database) -> None:
    user_id = await make_user(database, free=1)
    async with database.transaction() as session:
        assert await credits.grant(session, user_id, 5, reason="admin_grant", key="grant:ticket-9") == 6
        assert await credits.grant(session, user_id, 5, reason="admin_grant", key="grant:ticket-9") == 6
        with pytest.raises(credits.InsufficientCredits):
            await credits.grant(session, user_id, -7, reason="admin_revoke")
    await books_balance(database, user_id)


async def test_state_machine_refuses_invalid_moves(database: Database) -> None:
    user_id = await make_user(database)
    job = (await enqueue(database, user_id)).job
    async with database.transaction() as session:
        assert not await jobs.transition(session, job.id, JobState.succeeded)  # queued → succeeded skips running
        with pytest.raises(jobs.InvalidTransition):
            await jobs.transition(session, job.id, JobState.succeeded, expected=(JobState.queued,))
        assert await jobs.transition(session, job.id, JobState.running)
        assert await jobs.transition(session, job.id, JobState.queued)  # lease expired: back to the queue
        assert await jobs.finish(session, job.id, JobState.cancelled)
        assert not await jobs.transition(session, job.id, JobState.running)  # final states are final


async def test_deleting_a_user_removes_every_row(database: Database) -> None:
    user_id = await make_user(database)
    other_id = await make_user(database, uid="200")
    job = (await enqueue(database, user_id)).job
    async with database.transaction() as session:
        selfies = SelfieSet(user_id=user_id)
        session.add(selfies)
        await session.flush()
        session.add(Photo(set_id=selfies.id, sha256="a" * 64, storage_key="users/1/photos/a.jpg", accepted=True))
        session.add(OutputImage(job_id=job.id, user_id=user_id, style_id="linkedin-headshot", storage_key="users/1/out/1.jpg"))
    async with database.transaction() as session:
        assert await delete_user(session, user_id)
    async with database.transaction() as session:
        for model in (Job, SelfieSet, Photo, OutputImage):
            assert await session.scalar(select(func.count()).select_from(model)) == 0, model.__name__
        assert await session.scalar(select(func.count()).select_from(CreditEntry).where(CreditEntry.user_id == user_id)) == 0
        assert await session.scalar(select(func.count()).select_from(User)) == 1
    await books_balance(database, other_id)
