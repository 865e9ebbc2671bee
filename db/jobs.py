"""Jobs: enqueue with a credit reservation, and the state machine

    queued ──► running ──► succeeded
       │          │ ╲────► failed      (credits refunded)
       │          │  ╲───► cancelled   (credits refunded)
       │          └──────► queued      (lease expired, retried)
       └─► cancelled / failed

Each change is one conditional UPDATE on the current state, so two processes can never move the
same job twice, and ending a job settles its credits in the same transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db import credits
from db.models import FINAL_JOB_STATES, Job, JobKind, JobState, utcnow

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.queued: frozenset({JobState.running, JobState.cancelled, JobState.failed}),
    JobState.running: frozenset({JobState.succeeded, JobState.failed, JobState.cancelled, JobState.queued}),
    JobState.succeeded: frozenset(),
    JobState.failed: frozenset(),
    JobState.cancelled: frozenset(),
}
ACTIVE_STATES = (JobState.queued, JobState.running)


class InvalidTransition(Exception):
    pass


class QueueLimitReached(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} jobs may wait at once")
        self.limit = limit


class TrainingAlreadyRunning(Exception):
    def __init__(self, job_id: int) -> None:
        super().__init__(f"training job {job_id} is still active")
        self.job_id = job_id


@dataclass(frozen=True)
class Enqueued:
    job: Job
    created: bool  # False when the idempotency key matched an existing job


def new_correlation_id() -> str:
    """128 random bits: names the job in logs, on buttons and in its scratch folder, never twice."""
    return secrets.token_hex(16)


async def find_by_key(session: AsyncSession, key: str) -> Job | None:
    return await session.scalar(select(Job).where(Job.idempotency_key == key))


async def active_jobs(session: AsyncSession, user_id: int, kind: JobKind | None = None) -> list[Job]:
    statement = select(Job).where(Job.user_id == user_id, Job.state.in_(ACTIVE_STATES)).order_by(Job.id)
    if kind is not None:
        statement = statement.where(Job.kind == kind)
    return list(await session.scalars(statement))


async def enqueue(
    session: AsyncSession,
    *,
    user_id: int,
    kind: JobKind,
    payload: dict[str, Any],
    cost: int,
    idempotency_key: str | None = None,
    max_attempts: int = 3,
    max_active_per_user: int | None = None,
    reply_platform: str = "",
    reply_chat_id: str = "",
    priority: int = 0,
) -> Enqueued:
    """Queue a job and reserve its credits in the caller's transaction.

    Raises InsufficientCredits, QueueLimitReached or TrainingAlreadyRunning, having written
    nothing: the job and its reservation share a savepoint, so a caller that catches the error
    and commits (to answer the user) commits no job. A higher ``priority`` is claimed first
    (``db.queue``); ``max_active_per_user=None`` queues it whatever the user has waiting.
    """
    if idempotency_key is not None and (existing := await find_by_key(session, idempotency_key)) is not None:
        return Enqueued(existing, created=False)
    active = await active_jobs(session, user_id)
    for job in active:
        if idempotency_key is not None and job.idempotency_key == idempotency_key:
            return Enqueued(job, created=False)  # committed by a racing twin since we looked it up
        if kind == JobKind.train and job.kind == JobKind.train:
            raise TrainingAlreadyRunning(job.id)
    if max_active_per_user is not None and len(active) >= max_active_per_user:
        raise QueueLimitReached(max_active_per_user)
    job = Job(
        user_id=user_id, kind=kind, payload=payload, idempotency_key=idempotency_key, max_attempts=max_attempts,
        correlation_id=new_correlation_id(), reply_platform=reply_platform, reply_chat_id=str(reply_chat_id),
        priority=priority,
    )
    try:
        async with session.begin_nested():  # the job and its reservation stand or fall together
            session.add(job)
            await session.flush()
            await credits.reserve(session, job, cost)
    except IntegrityError:
        if idempotency_key is not None and (existing := await find_by_key(session, idempotency_key)) is not None:
            return Enqueued(existing, created=False)
        training = await active_jobs(session, user_id, JobKind.train)
        if kind == JobKind.train and training:
            raise TrainingAlreadyRunning(training[0].id) from None
        raise
    return Enqueued(job, created=True)


async def transition(
    session: AsyncSession, job_id: int, to_state: JobState, *, expected: tuple[JobState, ...] | None = None, **fields: Any
) -> bool:
    """Move a job to ``to_state`` if it is in one of the states allowed to get there.

    Returns False (and changes nothing) when another process moved it first.
    """
    sources = tuple(s for s in JobState if to_state in TRANSITIONS[s])
    if expected is not None:
        bad = [s for s in expected if s not in sources]
        if bad:
            raise InvalidTransition(f"{bad[0]} → {to_state} is not a valid job transition")
        sources = expected
    statement = (
        update(Job).where(Job.id == job_id, Job.state.in_(sources)).values(state=to_state, **fields).returning(Job.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def finish(
    session: AsyncSession,
    job_id: int,
    state: JobState,
    *,
    result: dict[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    refund_amount: int | None = None,
) -> bool:
    """End a job and settle its credits in one transaction: spent on success, refunded otherwise."""
    if state not in FINAL_JOB_STATES:
        raise InvalidTransition(f"{state} is not a final state")
    fields: dict[str, Any] = {"finished_at": utcnow(), "lease_owner": None, "lease_expires_at": None}
    if state == JobState.succeeded:
        fields |= {"result": result or {}, "progress": 1.0, "stage": "done", "eta_seconds": 0.0}
    else:
        fields |= {"error_code": error_code, "error_message": error_message, "stage": str(state)}
    if not await transition(session, job_id, state, **fields):
        return False
    await credits.settle(session, job_id, succeeded=state == JobState.succeeded, refund_amount=refund_amount)
    return True


async def get_job(session: AsyncSession, job_id: int) -> Job | None:
    return await session.get(Job, job_id, populate_existing=True)


async def count_by_state(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Job.state, func.count()).group_by(Job.state))
    return {str(state): count for state, count in rows}
