"""Delivery bookkeeping: a finished job is delivered to the user once, even across restarts.

The front end calls ``claim_delivery`` before sending (only one deliverer wins), sends, then
``mark_delivered``. A delivery that started but was never marked done (the bot died while
sending) becomes claimable again after ``retry_after_seconds``, so the user gets it rather than
nothing. After a restart, ``undelivered_jobs`` lists what is still owed, results and apologies
alike (failed and cancelled jobs carry ``error_code`` and ``correlation_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import FINAL_JOB_STATES, Job, utcnow

DELIVERY_RETRY_SECONDS = 300.0


def _claimable(now: datetime, retry_after_seconds: float) -> object:
    stale = now - timedelta(seconds=retry_after_seconds)
    return (
        Job.state.in_(list(FINAL_JOB_STATES))
        & Job.delivered_at.is_(None)
        & or_(Job.delivery_started_at.is_(None), Job.delivery_started_at < stale)
    )


async def claim_delivery(
    session: AsyncSession, job_id: int, *, retry_after_seconds: float = DELIVERY_RETRY_SECONDS,
    now: datetime | None = None,
) -> bool:
    """Start delivering a finished job. True for exactly one caller (until the retry timeout)."""
    now = now or utcnow()
    statement = (
        update(Job).where(Job.id == job_id, _claimable(now, retry_after_seconds))
        .values(delivery_started_at=now).returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def mark_delivered(session: AsyncSession, job_id: int, *, now: datetime | None = None) -> bool:
    """Record that the user has the result (or the apology), or that their chat can't be reached
    for good (nothing more to try). True the first time only."""
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.delivered_at.is_(None), Job.delivery_started_at.is_not(None))
        .values(delivered_at=now or utcnow()).returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def undelivered_jobs(
    session: AsyncSession,
    *,
    platforms: Sequence[str] | None = None,
    retry_after_seconds: float = DELIVERY_RETRY_SECONDS,
    limit: int = 100,
    now: datetime | None = None,
) -> list[Job]:
    """Finished jobs still owed to their users, oldest first: never claimed, or claimed so long
    ago that the deliverer must have died. Claim each with ``claim_delivery`` before sending."""
    statement = (
        select(Job).where(_claimable(now or utcnow(), retry_after_seconds))
        .order_by(Job.finished_at, Job.id).limit(limit)
    )
    if platforms:
        statement = statement.where(Job.reply_platform.in_(list(platforms)))
    return list(await session.scalars(statement))
