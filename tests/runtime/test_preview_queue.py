"""Previews in the queue: ahead of trainings (their own user's too), never starving them.
On SQLite and PostgreSQL (the ``database`` fixture)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from db import jobs, queue
from db.job_status import queue_position
from db.models import Job, utcnow
from db.session import Database
from engine.jobs import NoopJob
from tests.runtime.helpers import make_user


async def enqueue(database: Database, user_id: int, priority: int = 0) -> int:
    async with database.transaction() as session:
        queued = await jobs.enqueue(session, user_id=user_id, kind="noop", payload=NoopJob().to_payload(),  # type: ignore[arg-type]
                                    cost=0, priority=priority)
        return queued.job.id


async def claim_ids(database: Database, count: int) -> list[int]:
    claimed = []
    for _ in range(count):
        async with database.transaction() as session:
            lease = await queue.claim(session, "w1", lease_seconds=30)
        assert lease is not None
        claimed.append(lease.job_id)
    return claimed


async def test_a_preview_goes_ahead_of_older_jobs_and_of_its_own_training(database: Database) -> None:
    bob = await make_user(database, "2")
    alex = await make_user(database, "1")
    bobs_training = await enqueue(database, bob)
    alexs_training = await enqueue(database, alex)
    alexs_preview = await enqueue(database, alex, queue.PREVIEW_PRIORITY)
    async with database.transaction() as session:
        assert await queue_position(session, alexs_preview) == 0
    # the preview first; then round robin: Bob was never served, Alex just was
    assert await claim_ids(database, 3) == [alexs_preview, bobs_training, alexs_training]


async def test_previews_never_starve_a_training(database: Database) -> None:
    alex = await make_user(database, "1")
    alexs_training = await enqueue(database, alex)
    newcomers = [await make_user(database, str(10 + n)) for n in range(3)]
    previews = [await enqueue(database, user, queue.PREVIEW_PRIORITY) for user in newcomers]
    assert (await claim_ids(database, 1)) == [previews[0]]  # a fresh training waits for previews
    async with database.transaction() as session:  # ... but not for ever
        await session.execute(update(Job).where(Job.id == alexs_training)
                              .values(created_at=utcnow() - timedelta(seconds=queue.AGING_SECONDS + 1)))
    assert await claim_ids(database, 3) == [alexs_training, *previews[1:]]


async def test_a_training_behind_its_own_preview_is_next_in_line(database: Database) -> None:
    """Alone in the queue, a user was told "You're #2 in line": their own free preview counted as
    someone ahead of them."""
    alex, bob = await make_user(database, "1"), await make_user(database, "2")
    alexs_training = await enqueue(database, alex)
    await enqueue(database, alex, queue.PREVIEW_PRIORITY)
    async with database.transaction() as session:
        assert await queue_position(session, alexs_training) == 0
    await enqueue(database, bob, queue.PREVIEW_PRIORITY)  # someone else's preview is ahead
    async with database.transaction() as session:
        assert await queue_position(session, alexs_training) == 1
