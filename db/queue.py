"""The jobs table as a queue: claim with a lease, heartbeat, complete, give back, reap.

Claiming is one ``UPDATE jobs SET … WHERE id = (SELECT … LIMIT 1) RETURNING …`` statement,
committed by the caller before any GPU work starts. On PostgreSQL the inner SELECT takes the row
with ``FOR UPDATE SKIP LOCKED`` so concurrent claimers get different rows without waiting; on
SQLite every transaction is ``BEGIN IMMEDIATE`` (see db.session), which serialises claimers.

Fairness is round robin by user: among queued jobs the next one belongs to the user who was
served least recently (never-served users first), and within a user jobs run in order. "Served"
is the newest ``started_at`` of any of the user's jobs, so ten queued generations of one user
alternate with another user's first one. One active training per user is enforced by the
``uq_jobs_one_active_training`` index at enqueue time; per-user queue depth by
``db.jobs.enqueue(max_active_per_user=…)``.

Priority goes before round robin: a job with a higher ``priority`` (a preview, ``PREVIEW_PRIORITY``)
is taken first, also ahead of its own user's older jobs (the preview overtakes the training it
keeps company). It never starves the rest: a job that has waited ``AGING_SECONDS`` ranks above
every priority, so with previews arriving without pause a training waits at most that long plus
the jobs already running.

Every change made by a worker is guarded by its lease (owner and attempt number): a worker whose
lease expired and whose job was handed to someone else can no longer touch the job.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, false, func, literal, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import credits, jobs
from db.models import FINAL_JOB_STATES, CreditState, Job, JobState, utcnow

JOBS = Job.__table__

log = logging.getLogger(__name__)

LEASE_EXPIRED = "lease_expired"
CANCELLED_MESSAGE = "cancelled by the user"
PREVIEW_PRIORITY = 1
AGED_PRIORITY = 100  # ranks above every priority a job is given
AGING_SECONDS = 600.0  # a job waiting this long goes ahead of previews


@dataclass(frozen=True)
class Lease:
    """What a worker holds while it runs a job; every write it makes is conditional on it."""

    job_id: int
    owner: str
    attempt: int
    user_id: int
    kind: str
    payload: dict[str, Any]
    correlation_id: str
    max_attempts: int
    credits_reserved: int
    expires_at: datetime
    #: the remote job an earlier attempt submitted (see ``record_remote``), to be resumed
    remote_backend: str | None = None
    remote_id: str | None = None


#: each stage's share of a job's progress bar (preparing is quick: it shows 0 %; the likeness check after
#: training and a likeness round after generating hold the bar where painting ended)
STAGE_SHARES = {"preparing": (0.0, 0.0), "training": (0.0, 0.9), "generating": (0.0, 0.9), "validating": (0.9, 0.9),
                "likeness": (0.9, 0.9), "finishing": (0.9, 1.0)}


@dataclass(frozen=True)
class ProgressUpdate:
    stage: str
    step: int = 0
    total_steps: int = 0
    eta_seconds: float | None = None

    @property
    def fraction(self) -> float:
        """The whole job's progress: the stage's steps within the stage's share of the bar, so the
        bar never falls back when training or generating hands over to finishing."""
        start, end = STAGE_SHARES.get(self.stage, (0.0, 1.0))
        done = min(1.0, self.step / self.total_steps) if self.total_steps > 0 else 0.0
        return start + (end - start) * done


@dataclass
class ReapReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    #: (job id, backend, remote id) of jobs ended here whose remote job may still be running
    remote_orphans: list[tuple[int, str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.requeued or self.failed or self.cancelled)


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _owned(lease: Lease) -> Any:
    return and_(
        Job.id == lease.job_id, Job.state == JobState.running, Job.lease_owner == lease.owner,
        Job.attempts == lease.attempt,
    )


def next_job_query(*, postgres: bool, kinds: Sequence[str] | None = None) -> Any:
    """The SELECT that picks the next job: among each user's oldest waiting job, the one of the
    user served least recently (never served first); ``priority`` ranks those heads first."""
    candidate = JOBS.alias("candidate")
    served = JOBS.alias("served")
    waiting = JOBS.alias("waiting")
    last_served = select(func.max(served.c.started_at)).where(served.c.user_id == candidate.c.user_id).scalar_subquery()
    # Only each user's oldest waiting job is a candidate: concurrent claimers (SKIP LOCKED on
    # PostgreSQL) then take different users' jobs instead of one user's first and second. The
    # heads come from one grouped scan of the ix_jobs_queue_heads index; "last served" is then
    # looked up once per waiting user, not once per waiting job.
    def heads_of(*conditions: Any) -> Any:
        query = (
            select(func.min(waiting.c.id))
            .where(waiting.c.state == JobState.queued, waiting.c.cancel_requested == false(), *conditions)
            .group_by(waiting.c.user_id)
        )
        return query.where(waiting.c.kind.in_(list(kinds))) if kinds else query

    # each user's oldest waiting job, and their oldest prioritised one (a preview goes ahead of
    # the training it was queued with)
    heads = heads_of().union(heads_of(waiting.c.priority > 0))
    rank = case((candidate.c.created_at < bindparam("aged_before"), literal(AGED_PRIORITY)), else_=candidate.c.priority)
    query = (
        select(candidate.c.id)
        .where(candidate.c.id.in_(heads), candidate.c.state == JobState.queued)
        .order_by(rank.desc(), last_served.asc().nulls_first(), candidate.c.id)
        .limit(1)
    )
    if postgres:
        query = query.with_for_update(skip_locked=True, of=candidate)
    return query


@functools.cache
def _claim_statement(postgres: bool, kinds: tuple[str, ...] | None, database_clock: bool) -> Any:
    """The claim UPDATE, built once per (dialect, kinds, clock): building the aliased subqueries
    costs more than running them. Values arrive as bind parameters."""
    pick = next_job_query(postgres=postgres, kinds=kinds).scalar_subquery()
    return update(JOBS).where(JOBS.c.id == pick, JOBS.c.state == JobState.queued).values(
        **_running(database_clock)).returning(*_lease_columns())


def _running(database_clock: bool) -> dict[str, Any]:
    """What a claim writes: running under the caller's lease, one more attempt, progress reset.

    ``started_at`` orders users for round robin, so it must be the time the row is really taken.
    On PostgreSQL that is ``clock_timestamp()`` read by the UPDATE after it locked the row (one
    clock for every worker machine, and no stale time from a claimer that stalled before its
    statement ran); on SQLite the caller reads the clock inside its ``BEGIN IMMEDIATE``."""
    c = JOBS.c
    return {
        "state": JobState.running, "lease_owner": bindparam("owner"), "lease_expires_at": bindparam("expires"),
        "heartbeat_at": bindparam("now"), "started_at": func.clock_timestamp() if database_clock else bindparam("now"),
        "attempts": c.attempts + 1, "stage": "preparing", "step": 0, "total_steps": 0, "progress": 0.0,
        "eta_seconds": None,
    }


def _lease_columns() -> tuple[Any, ...]:
    c = JOBS.c
    return (c.id, c.attempts, c.user_id, c.kind, c.payload, c.correlation_id, c.max_attempts, c.credits_reserved,
            c.remote_backend, c.remote_id)


def _lease(row: Any, owner: str, expires: datetime) -> Lease:
    job_id, attempt, user_id, kind, payload, correlation_id, max_attempts, reserved, remote_backend, remote_id = row
    return Lease(
        job_id=job_id, owner=owner, attempt=attempt, user_id=user_id, kind=str(kind), payload=dict(payload or {}),
        correlation_id=correlation_id, max_attempts=max_attempts, credits_reserved=reserved, expires_at=expires,
        remote_backend=remote_backend, remote_id=remote_id,
    )


async def claim(
    session: AsyncSession,
    owner: str,
    *,
    lease_seconds: float,
    kinds: Sequence[str] | None = None,
    now: datetime | None = None,
    aging_seconds: float = AGING_SECONDS,
) -> Lease | None:
    """Take the next job with a lease, or None when nothing is waiting. Commit before working.
    A job that has waited ``aging_seconds`` goes ahead of higher priorities."""
    postgres = _is_postgres(session)
    database_clock = postgres and now is None  # a given ``now`` (tests) is written as given
    if now is None:
        # Begin first (on SQLite, BEGIN IMMEDIATE waits for the write lock), then read the clock:
        # a time read while waiting for another claimer would be older than that claimer's, and
        # "least recently served" would then hand this user a second turn.
        await session.connection()
        now = utcnow()
    expires = now + timedelta(seconds=lease_seconds)
    statement = _claim_statement(postgres, tuple(sorted(kinds)) if kinds else None, database_clock)
    aged_before = (now or utcnow()) - timedelta(seconds=aging_seconds)
    row = (await session.execute(statement, {"owner": owner, "expires": expires, "now": now,
                                             "aged_before": aged_before})).one_or_none()
    return None if row is None else _lease(row, owner, expires)


@functools.cache
def _claim_one_statement(database_clock: bool) -> Any:
    """Claim one given job, only while it is still queued and not being cancelled."""
    c = JOBS.c
    return (
        update(JOBS).where(c.id == bindparam("job_id"), c.state == JobState.queued, c.cancel_requested == false())
        .values(**_running(database_clock)).returning(*_lease_columns())
    )


async def claim_companions(
    session: AsyncSession,
    lead: Lease,
    *,
    key: Callable[[dict[str, Any]], Hashable | None],
    size: Callable[[dict[str, Any]], int],
    room: int,
    lease_seconds: float,
    kinds: Sequence[str] | None = None,
    now: datetime | None = None,
    scan: int = 200,
) -> list[Lease]:
    """Also claim, each with its own lease and in the caller's (claim) transaction, queued jobs
    that can share the lead's work: same kind and the same ``key`` of their payload, ``size``
    units each (images), at most ``room`` units in all. Only jobs already queued are taken; none
    is waited for, so a job that cannot share the call is never delayed by batching.

    Fairness and per-user order hold: each user contributes a prefix of their own queue (a job
    of theirs that cannot share the call, or does not fit, ends their contribution, so no job
    overtakes an older one of the same user), and users are taken round robin, least recently
    served first, as ``claim`` would serve them. Jobs another claimer holds are skipped
    (``SKIP LOCKED`` on PostgreSQL), together with their user's later jobs."""
    target = key(lead.payload)
    if target is None or room <= 0:
        return []
    database_clock = _is_postgres(session) and now is None
    now = now or utcnow()
    waiting = (
        select(Job.id, Job.user_id, Job.kind, Job.payload)
        .where(Job.state == JobState.queued, Job.cancel_requested == false())
        .order_by(Job.id).limit(scan)
    )
    if kinds:
        waiting = waiting.where(Job.kind.in_(list(kinds)))
    per_user: dict[int, list[tuple[int, int]]] = {}
    ended: set[int] = set()
    for job_id, user_id, kind, payload in (await session.execute(waiting)).all():
        if user_id in ended:
            continue
        payload = dict(payload or {})
        if str(kind) != lead.kind or key(payload) != target:
            ended.add(user_id)
            continue
        per_user.setdefault(user_id, []).append((job_id, max(1, size(payload))))
    if not per_user:
        return []
    served = dict((await session.execute(
        select(Job.user_id, func.max(Job.started_at)).where(Job.user_id.in_(list(per_user))).group_by(Job.user_id)
    )).all())

    def fair(user_id: int) -> tuple[Any, ...]:  # never served first, then least recently served
        last = served.get(user_id)
        return (last is not None, last or datetime.min, per_user[user_id][0][0])

    users = sorted(per_user, key=fair)
    chosen: list[tuple[int, int]] = []  # (user, job) in the order they are served
    left = room
    while left > 0 and any(per_user[u] for u in users):
        for user_id in users:
            pending = per_user[user_id]
            if not pending:
                continue
            job_id, units = pending[0]
            if units > left:  # does not fit: the user's later jobs wait behind it
                pending.clear()
                continue
            pending.pop(0)
            chosen.append((user_id, job_id))
            left -= units
    if not chosen:
        return []
    if _is_postgres(session):
        lock = (
            select(Job.id).where(Job.id.in_([job_id for _, job_id in chosen]), Job.state == JobState.queued)
            .with_for_update(skip_locked=True)
        )
        available = set((await session.scalars(lock)).all())
    else:  # BEGIN IMMEDIATE: nobody else is claiming
        available = {job_id for _, job_id in chosen}
    expires = now + timedelta(seconds=lease_seconds)
    leases: list[Lease] = []
    skipped: set[int] = set()
    for user_id, job_id in chosen:
        if user_id in skipped:
            continue
        row = None
        if job_id in available:
            row = (await session.execute(
                _claim_one_statement(database_clock), {"job_id": job_id, "owner": lead.owner, "expires": expires, "now": now}
            )).one_or_none()
        if row is None:
            skipped.add(user_id)
            continue
        leases.append(_lease(row, lead.owner, expires))
    return leases


async def heartbeat(
    session: AsyncSession,
    lease: Lease,
    *,
    lease_seconds: float,
    progress: ProgressUpdate | None = None,
    now: datetime | None = None,
) -> bool | None:
    """Extend the lease (and write progress). Returns whether cancel was requested, or None when
    the lease is lost (the job was reaped or finished by someone else)."""
    now = now or utcnow()
    values: dict[str, Any] = {"heartbeat_at": now, "lease_expires_at": now + timedelta(seconds=lease_seconds)}
    if progress is not None:
        values |= {
            "stage": progress.stage, "step": progress.step, "total_steps": progress.total_steps,
            "progress": progress.fraction, "eta_seconds": progress.eta_seconds,
        }
    statement = (
        update(Job).where(_owned(lease)).values(**values).returning(Job.cancel_requested)
        .execution_options(synchronize_session=False)
    )
    row = (await session.execute(statement)).one_or_none()
    return None if row is None else bool(row[0])


async def record_remote(session: AsyncSession, lease: Lease, backend: str, remote_id: str) -> bool:
    """Remember the remote job just submitted for this job (its own short transaction, right
    after the submission), so a retry resumes it. False, with nothing written, when the lease is
    no longer ours."""
    statement = (
        update(Job).where(_owned(lease)).values(remote_backend=backend, remote_id=remote_id).returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def _hold(session: AsyncSession, lease: Lease) -> bool | None:
    """Check (and, on PostgreSQL, row-lock) that the lease is still ours, inside the caller's
    transaction. Returns whether the job's cancel was requested, or None when the lease is lost."""
    statement = (
        update(Job).where(_owned(lease)).values(heartbeat_at=utcnow()).returning(Job.cancel_requested)
        .execution_options(synchronize_session=False)
    )
    row = (await session.execute(statement)).one_or_none()
    return None if row is None else bool(row[0])


@functools.cache
def _finish_statement(success: bool) -> Any:
    """End a job only while the lease is ours: the fields ``db.jobs.finish`` writes, plus the
    lease guard, in one statement built once."""
    c = JOBS.c
    values: dict[str, Any] = {
        "state": bindparam("state"), "finished_at": bindparam("now"), "lease_owner": None, "lease_expires_at": None,
    }
    if success:
        # the reservation is spent in the same statement (``credits.commit`` folded in: one write less)
        spent = case((c.credit_state == CreditState.reserved, literal(CreditState.committed, c.credit_state.type)),
                     else_=c.credit_state)
        values |= {"result": bindparam("result", type_=c.result.type), "progress": 1.0, "stage": "done",
                   "eta_seconds": 0.0, "credit_state": spent}
    else:
        values |= {"error_code": bindparam("error_code"), "error_message": bindparam("error_message"),
                   "stage": bindparam("stage")}
    owned = and_(c.id == bindparam("job_id"), c.state == JobState.running, c.lease_owner == bindparam("owner"),
                 c.attempts == bindparam("attempt"))
    return update(JOBS).where(owned).values(**values).returning(c.id)


async def complete(
    session: AsyncSession,
    lease: Lease,
    state: JobState,
    *,
    result: dict[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    refund_amount: int | None = None,
) -> bool:
    """Finish a leased job and settle its credits (spent on success, refunded otherwise) in the
    caller's transaction. False, with nothing written, when the lease is no longer ours."""
    if state not in FINAL_JOB_STATES:
        raise jobs.InvalidTransition(f"{state} is not a final state")
    success = state == JobState.succeeded
    params: dict[str, Any] = {
        "job_id": lease.job_id, "owner": lease.owner, "attempt": lease.attempt, "state": state, "now": utcnow(),
    }
    if success:
        params["result"] = result or {}
    else:
        params |= {"error_code": error_code, "error_message": error_message, "stage": str(state)}
    if (await session.execute(_finish_statement(success), params)).scalar_one_or_none() is None:
        return False
    if not success:  # on success the finish statement itself spent the reservation
        await credits.settle(session, lease.job_id, succeeded=False, refund_amount=refund_amount)
    return True


async def give_back(
    session: AsyncSession,
    lease: Lease,
    *,
    count_attempt: bool = False,
    error_code: str = "attempts_exhausted",
    error_message: str = "",
) -> JobState | None:
    """Return a leased job to the queue (worker shutting down, or a retryable error). Returns the
    state the job is left in, or None (nothing written) when the lease is no longer ours.

    With ``count_attempt`` False the try does not count against ``max_attempts``. A job that has
    no attempts left fails instead with ``error_code``, and its credits are refunded. A job whose
    user asked to cancel it never goes back: claims skip flagged jobs, so it would wait for ever
    with its credits reserved. It ends cancelled and refunded, as the user was told.
    """
    flagged = await _hold(session, lease)  # the row lock orders this against a concurrent cancel
    if flagged is None:
        return None
    if flagged:
        if not await complete(session, lease, JobState.cancelled, error_code="cancelled",
                              error_message=CANCELLED_MESSAGE):
            return None
        return JobState.cancelled
    attempts = lease.attempt if count_attempt else lease.attempt - 1
    if attempts >= lease.max_attempts:
        ended = await jobs.finish(
            session, lease.job_id, JobState.failed, error_code=error_code,
            error_message=f"{error_message} (gave up after {attempts} attempts)".lstrip(),
        )
        return JobState.failed if ended else None
    moved = await jobs.transition(
        session, lease.job_id, JobState.queued, expected=(JobState.running,), attempts=attempts,
        lease_owner=None, lease_expires_at=None, stage="queued", step=0, total_steps=0, progress=0.0, eta_seconds=None,
    )
    return JobState.queued if moved else None


async def reap_expired(session: AsyncSession, *, now: datetime | None = None) -> ReapReport:
    """Handle running jobs whose lease expired: back to the queue while attempts remain, else
    failed with ``lease_expired`` and refunded; cancelled (refunded) if the user asked to cancel.
    Queued jobs whose cancel was requested (which no claim takes) end cancelled and refunded too."""
    now = now or utcnow()
    report = ReapReport()
    expired = and_(Job.state == JobState.running, Job.lease_expires_at < now)
    requeue = (
        update(Job)
        .where(expired, Job.attempts < Job.max_attempts, Job.cancel_requested == false())
        .values(
            state=JobState.queued, lease_owner=None, lease_expires_at=None, stage="queued", step=0, total_steps=0,
            progress=0.0, eta_seconds=None,
        )
        .returning(Job.id, Job.correlation_id, Job.attempts)
        .execution_options(synchronize_session=False)
    )
    for job_id, correlation_id, attempts in (await session.execute(requeue)).all():
        log.warning("job %s [%s]: lease expired after attempt %s, back in the queue", job_id, correlation_id, attempts,
                    extra={"job_id": job_id, "error_id": correlation_id})
        report.requeued.append(job_id)
    # The rest: take them (clearing the lease makes any late heartbeat of the old owner fail),
    # then end them in the same transaction.
    take = (
        update(Job).where(expired).values(lease_owner=None)
        .returning(Job.id, Job.correlation_id, Job.cancel_requested, Job.attempts, Job.remote_backend, Job.remote_id)
        .execution_options(synchronize_session=False)
    )
    for job_id, correlation_id, cancel_requested, attempts, remote_backend, remote_id in (
        await session.execute(take)
    ).all():
        if remote_backend and remote_id:  # nobody will resume it: the caller cancels it there
            report.remote_orphans.append((job_id, remote_backend, remote_id))
        if cancel_requested:
            if await jobs.finish(session, job_id, JobState.cancelled, error_code="cancelled",
                                 error_message=CANCELLED_MESSAGE):
                report.cancelled.append(job_id)
            continue
        message = f"the worker stopped responding {attempts} time(s); credits refunded"
        if await jobs.finish(session, job_id, JobState.failed, error_code=LEASE_EXPIRED, error_message=message):
            log.error("job %s [%s]: lease expired on the last attempt (%s), failed and refunded", job_id,
                      correlation_id, attempts, extra={"job_id": job_id, "error_id": correlation_id})
            report.failed.append(job_id)
    await _end_cancelled_in_queue(session, report)
    return report


async def _end_cancelled_in_queue(session: AsyncSession, report: ReapReport) -> None:
    """Queued jobs whose cancel was requested: claims skip them, so nothing else would ever end
    them (an older worker gave such a job back instead of ending it). Cancelled and refunded.

    A cancel of a queued job ends it in the same transaction that flags it, so committed rows in
    this state are always strays; the state guard of ``jobs.finish`` skips any a concurrent
    cancel ended first, and the refund happens at most once (``credits.refund``)."""
    stray = (
        select(Job.id, Job.correlation_id, Job.remote_backend, Job.remote_id)
        .where(Job.state == JobState.queued, Job.cancel_requested == true())
        .order_by(Job.id)
    )
    if _is_postgres(session):
        stray = stray.with_for_update(skip_locked=True)
    for job_id, correlation_id, remote_backend, remote_id in (await session.execute(stray)).all():
        if not await jobs.finish(session, job_id, JobState.cancelled, error_code="cancelled",
                                 error_message=CANCELLED_MESSAGE):
            continue
        log.warning("job %s [%s]: was waiting in the queue with its cancel requested; cancelled and refunded",
                    job_id, correlation_id, extra={"job_id": job_id, "error_id": correlation_id})
        report.cancelled.append(job_id)
        if remote_backend and remote_id:  # a retry would have resumed it; nobody will now
            report.remote_orphans.append((job_id, remote_backend, remote_id))


async def cancel_requested(session: AsyncSession, job_id: int) -> bool:
    return bool(await session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))



async def unfinished_jobs(session: AsyncSession, job_ids: Sequence[int] | None = None) -> list[tuple[int, str]]:
    """(id, correlation id) of every job that may still run (of those in ``job_ids``, if given):
    their scratch folders are kept."""
    query = select(Job.id, Job.correlation_id).where(Job.state.in_([JobState.queued, JobState.running]))
    if job_ids is not None:
        query = query.where(Job.id.in_(list(job_ids)))
    rows = await session.execute(query)
    return [(job_id, correlation_id) for job_id, correlation_id in rows.all()]
