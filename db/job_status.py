"""What the front ends ask about a job: its progress, its place in the queue, and cancel.

The front end edits one progress message per job from ``job_status`` (it throttles its own edits
to the chat's rate limits); workers write progress at most every half second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import false, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import credits, jobs
from db.models import FINAL_JOB_STATES, Job, JobKind, JobState, utcnow

#: a job cancelled before any worker had it (this time round): the user was answered "Stopped" at once
CANCELLED_WHILE_WAITING = "cancelled by the user while it waited"


@dataclass(frozen=True)
class JobStatus:
    job_id: int
    user_id: int
    kind: str
    state: str
    stage: str
    step: int
    total_steps: int
    progress: float
    eta_seconds: float | None
    queue_position: int | None  # 0: next to run; None unless queued
    attempts: int
    cancel_requested: bool
    error_code: str | None
    error_message: str | None
    correlation_id: str
    result: dict[str, Any] | None

    @property
    def finished(self) -> bool:
        return self.state in FINAL_JOB_STATES


async def job_status(session: AsyncSession, job_id: int) -> JobStatus | None:
    job = await jobs.get_job(session, job_id)
    if job is None:
        return None
    position = await queue_position(session, job_id) if job.state == JobState.queued else None
    return JobStatus(
        job_id=job.id, user_id=job.user_id, kind=str(job.kind), state=str(job.state), stage=job.stage, step=job.step,
        total_steps=job.total_steps, progress=job.progress, eta_seconds=job.eta_seconds, queue_position=position,
        attempts=job.attempts, cancel_requested=job.cancel_requested, error_code=job.error_code,
        error_message=job.error_message, correlation_id=job.correlation_id, result=job.result,
    )


async def queue_position(session: AsyncSession, job_id: int) -> int | None:
    """How many queued jobs will be claimed before this one (0: next), following the claim
    order of ``db.queue`` (priority, then round robin by user, then age). None if not queued.

    Exact for the current queue; jobs that arrive later from users served less recently can
    still overtake, which is the point of round robin.
    """
    row = (await session.execute(
        select(Job.user_id, Job.priority).where(Job.id == job_id, Job.state == JobState.queued)
    )).one_or_none()
    if row is None:
        return None
    user_id, priority = row
    waiting = (Job.state == JobState.queued) & (Job.cancel_requested == false())
    # the user's own jobs of a higher priority (their quick preview) are not others ahead of them:
    # alone in the queue, a training behind its own preview is "next", not "#2 in line"
    ahead_by_priority = await session.scalar(select(func.count()).where(
        waiting, Job.priority > priority, Job.user_id != user_id)) or 0
    same = waiting & (Job.priority == priority)
    per_user = {
        uid: (count, first_id)
        for uid, count, first_id in (await session.execute(
            select(Job.user_id, func.count(), func.min(Job.id)).where(same).group_by(Job.user_id)
        )).all()
    }
    own_ahead = await session.scalar(select(func.count()).where(same, Job.user_id == user_id, Job.id < job_id)) or 0
    served: dict[int, datetime | None] = dict(
        (await session.execute(
            select(Job.user_id, func.max(Job.started_at)).where(Job.user_id.in_(list(per_user))).group_by(Job.user_id)
        )).all()
    )

    def turn(uid: int) -> tuple[bool, Any, int]:
        last = served.get(uid)
        return (last is not None, last if last is not None else 0, per_user[uid][1])

    mine = turn(user_id)
    position = ahead_by_priority + own_ahead
    for uid, (count, _first) in per_user.items():
        if uid != user_id:
            position += min(count, own_ahead + (1 if turn(uid) < mine else 0))
    return position


class CancelOutcome(StrEnum):
    cancelled = "cancelled"  # it was waiting: cancelled now and refunded
    requested = "requested"  # it is running: the worker stops within a step and refunds
    finished = "finished"  # it had already ended: nothing to do
    missing = "missing"


async def request_cancel(session: AsyncSession, job_id: int, *, user_id: int | None = None) -> CancelOutcome:
    """Cancel a job for the user. A queued job is cancelled (and refunded) in this transaction;
    a running one is flagged and its worker stops within a step. Pass ``user_id`` to refuse
    other users' jobs (reported as missing). A training's preview is cancelled with it."""
    flag = (
        update(Job)
        .where(Job.id == job_id, Job.state.in_((JobState.queued, JobState.running)))
        .values(cancel_requested=True)
        .returning(Job.state, Job.kind, Job.user_id)
        .execution_options(synchronize_session=False)
    )
    if user_id is not None:
        flag = flag.where(Job.user_id == user_id)
    row = (await session.execute(flag)).one_or_none()
    state = row[0] if row is not None else None
    if row is not None and row[1] == JobKind.train:  # a training's preview goes with it
        for preview in await jobs.active_jobs(session, row[2], JobKind.preview):
            if (preview.payload or {}).get("training_job_id") == job_id:
                await request_cancel(session, preview.id)
    if state is None:
        exists = select(Job.id).where(Job.id == job_id)
        if user_id is not None:
            exists = exists.where(Job.user_id == user_id)
        return CancelOutcome.finished if await session.scalar(exists) is not None else CancelOutcome.missing
    if state == JobState.running:
        return CancelOutcome.requested
    # Queued: the flag row-locks it (PostgreSQL) or we hold the database (SQLite), so no worker
    # can claim it between these statements; claims also skip flagged jobs.
    moved = await jobs.transition(
        session, job_id, JobState.cancelled, expected=(JobState.queued,), finished_at=utcnow(),
        stage="cancelled", error_code="cancelled", error_message=CANCELLED_WHILE_WAITING,
    )
    if not moved:
        return CancelOutcome.requested
    await credits.refund(session, job_id)
    return CancelOutcome.cancelled
