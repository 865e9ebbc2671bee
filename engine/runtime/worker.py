"""The worker loop: reap → claim (committed) → run the handler off the loop while heartbeating
and writing progress → write the outcome, its rows and the credit settlement in one transaction.

A user's cancel reaches the handler through ``should_cancel`` within one step (the monitor polls
``cancel_requested`` with every heartbeat, every ``tick_seconds``). A worker that loses its
lease (it stalled and the job was handed on) stops its handler and writes nothing.

Claiming that fails (e.g. SQLite's "database is locked") is logged and retried after a back-off;
it is never taken for an empty queue, so a draining worker (``run(drain=True)``) only returns once
a claim really found nothing — or raises ``ClaimsFailing`` when claims keep failing, so that a
cron-style ``--once`` run ends with an error instead of waiting forever.

Stopping: ``stop()`` stops claiming and lets the running job finish; ``stop(interrupt=True)``
(what SIGTERM does, see worker_cli) stops it within a step and gives it back to the queue without
counting the attempt (training resumes from its checkpoint).

Batching: when the claimed job is a generation job (local backend), the same claim transaction
also claims, each with its own lease, the other queued generation jobs that can share its
pipeline call (``queue.claim_companions``: same LoRA, model, aspect, steps, guidance, refiner,
style LoRA and weights; fair across users, in order within a user; up to ``batch_images``
images). Only jobs already queued are taken, nothing waits for more. They run in one handler
call (``JobContext.companions``); every lease is heartbeated and its cancel polled while it runs,
and each job then ends on its own, in its own transaction, exactly as it would alone.

Remote (RunPod) work outlives the worker: the backend records the remote job id on the job as
soon as it submits it (lease-guarded, own transaction), and the next attempt resumes that remote
job instead of paying for a second one. Only a user's cancel, or the reaper ending the job for
good, cancels the remote job.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, replace
from datetime import UTC
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from db import job_results, queue, trainings
from db.models import FINAL_JOB_STATES, Job, JobState, User
from db.queue import Lease
from db.session import Database
from db.storage import Storage
from engine.runtime import scratch
from engine.runtime.backends import Backend, RemoteHandle
from engine.errors import Cancelled
from engine.intake import IntakeConfig, judge_stored
from engine.runtime.handlers.context import BatchMember, EngineOptions, JobContext, ModelCache, StorageBridge
from engine.runtime.handlers.errors import Failure, classify
from engine.runtime.progress import ProgressTracker
from config.redaction import redact
from telemetry import metrics

if TYPE_CHECKING:  # the GPU image runs the engine without pydantic-settings (bench/gpu_check.sh)
    from config.settings import Settings

log = logging.getLogger(__name__)


def new_worker_id() -> str:
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class WorkerConfig:
    lease_seconds: float = 120.0
    tick_seconds: float = 0.5  # heartbeat + progress write + cancel poll while a job runs
    idle_seconds: float = 0.5  # wait between polls of an empty queue
    reap_seconds: float = 5.0
    #: how often the work dir is swept of the scratch folders of jobs that are over (and at start)
    sweep_seconds: float = 60.0
    kinds: tuple[str, ...] | None = None
    #: most images one generation pipeline call holds when compatible queued generation jobs are
    #: claimed together with the one claimed (local backend only); 0 turns batching off
    batch_images: int = 8
    #: a draining worker (``run(drain=True)``, ``studio worker --once``) gives up with
    #: ``ClaimsFailing`` after this many claims in a row raised; a serving worker keeps trying
    drain_claim_failures: int = 10

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WorkerConfig:
        lease = float(settings.job_lease_seconds)
        values: dict[str, Any] = {
            "lease_seconds": lease, "tick_seconds": min(0.5, lease / 4), "reap_seconds": min(5.0, lease / 2),
        }
        return cls(**(values | overrides))


@dataclass(frozen=True)
class Outcome:
    job_id: int
    state: str  # succeeded / failed / cancelled / requeued / lost
    error_code: str | None = None
    written: bool = True
    #: the ids of all jobs that ran in the same pipeline call, this one first; () when it ran alone
    batch: tuple[int, ...] = ()


FINAL_OUTCOMES = frozenset({"succeeded", "failed", "cancelled"})


class ClaimsFailing(RuntimeError):
    """A draining worker's claims kept failing (e.g. the database is unreachable)."""


class _ClaimFailed:
    """What ``Worker._next`` returns when claiming raised, as opposed to None (nothing to claim)."""


_CLAIM_FAILED = _ClaimFailed()


class _Run:
    """Book-keeping for one running job, shared by the executor call and its monitor."""

    def __init__(self, lease: Lease, context: JobContext) -> None:
        self.lease = lease
        self.context = context
        self.user_cancelled = False
        self.lease_lost = False
        self.shutdown = False
        self.beat = time.monotonic()  # its last heartbeat written (liveness: engine/runtime/health.py)


class Worker:
    def __init__(
        self,
        database: Database,
        storage: Storage,
        backend: Backend,
        *,
        options: EngineOptions | None = None,
        config: WorkerConfig | None = None,
        worker_id: str | None = None,
        cache: ModelCache | None = None,
        intake: IntakeConfig | None = None,
    ) -> None:
        self.database = database
        #: judges a selfie set again when a failed training gives it back to the user (the bot's own rules)
        self.judge = functools.partial(judge_stored, config=intake or IntakeConfig())
        self.storage = storage
        self.backend = backend
        self.options = options or EngineOptions()
        self.config = config or WorkerConfig()
        self.worker_id = worker_id or new_worker_id()
        self.cache = cache or ModelCache()
        self._stop = asyncio.Event()
        self._runs: set[_Run] = set()
        self._last_run: dict[str, float] = {}  # chore -> when it last ran (monotonic)
        self.processed = 0
        #: the outcomes of the last ``run_next``: one, or one per job of a batch (the lead first)
        self.last_outcomes: list[Outcome] = []
        self._turned = time.monotonic()  # the claim loop's last turn (liveness of an idle worker)

    # --- control ---------------------------------------------------------------------------------
    def stop(self, *, interrupt: bool = False) -> None:
        """Stop claiming; with ``interrupt`` also stop running jobs and give them back."""
        self._stop.set()
        if interrupt:
            for run in list(self._runs):
                run.shutdown = True
                run.context.cancel_event.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- health (telemetry) ----------------------------------------------------------------------
    @property
    def running(self) -> int:
        return len(self._runs)

    def heartbeat_age(self) -> float:
        """Seconds since the stalest running job's last heartbeat; 0 when nothing runs."""
        now = time.monotonic()
        return max((now - run.beat for run in list(self._runs)), default=0.0)

    def stuck(self, after_seconds: float) -> str | None:
        """Why this worker is stuck (a running job's heartbeat, or an idle worker's claim loop, has
        not advanced for ``after_seconds``), or None."""
        now = time.monotonic()
        for run in list(self._runs):
            if now - run.beat > after_seconds:
                return (f"job {run.lease.job_id}: no heartbeat for {now - run.beat:.0f} s "
                        f"(stuck after {after_seconds:g} s)")
        if not self._runs and not self.stopping and now - self._turned > after_seconds:
            return f"the claim loop has not turned for {now - self._turned:.0f} s (stuck after {after_seconds:g} s)"
        return None

    def _observe(self, leases: list[Lease], outcomes: list[Outcome], seconds: float) -> None:
        """The job metrics of ended attempts (by kind, outcome and error code: never a user)."""
        for lease, outcome in zip(leases, outcomes, strict=False):
            state = str(outcome.state)
            metrics.JOBS_FINISHED.labels(lease.kind, state).inc()
            metrics.JOB_DURATION.labels(lease.kind, state).observe(seconds)
            if outcome.error_code and outcome.error_code != "cancelled":
                metrics.JOB_FAILURES.labels(lease.kind, outcome.error_code).inc()
            if outcome.written and state in (JobState.failed, JobState.cancelled) and lease.credits_reserved:
                metrics.JOB_REFUNDS.labels(lease.kind, state).inc()

    async def _queue_waits(self, session: Any, leases: list[Lease]) -> None:
        """``studio_job_queue_wait_seconds``: enqueueing to first claim, read in the claim's transaction."""
        first = [lease for lease in leases if lease.attempt == 1]
        if not first:
            return
        rows = await session.execute(select(Job.id, Job.created_at).where(Job.id.in_([l.job_id for l in first])))
        created = dict(rows.all())
        now = time.time()
        for lease in first:
            if (at := created.get(lease.job_id)) is not None:
                stamp = at.timestamp() if at.tzinfo is not None else at.replace(tzinfo=UTC).timestamp()
                metrics.QUEUE_WAIT.labels(lease.kind).observe(max(0.0, now - stamp))

    # --- main loop -------------------------------------------------------------------------------
    async def run(self, *, drain: bool = False) -> int:
        """Work until stopped (or, with ``drain``, until nothing is left to claim). Returns the
        number of jobs this worker finished."""
        log.info("worker %s started (backend %s, %d slot(s), lease %.0f s)", self.worker_id, self.backend.name,
                 self.backend.slots, self.config.lease_seconds)
        await self._every(self.config.sweep_seconds, self.sweep_scratch, "sweeping old scratch folders")
        # Every slot ends before run() does, also when one raised: the others are then giving
        # their jobs back (stop(interrupt=True)) and must not be cut off mid-transaction.
        results = await asyncio.gather(*(self._slot(drain) for _ in range(max(1, self.backend.slots))),
                                       return_exceptions=True)
        log.info("worker %s stopped after %d job(s)", self.worker_id, self.processed)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return self.processed

    async def _slot(self, drain: bool) -> None:
        failures = 0  # claims that failed in a row
        while not self.stopping:
            outcome = await self._next()
            if outcome is _CLAIM_FAILED:
                # Not an empty queue (e.g. "database is locked"): even a draining worker stays and
                # tries again, backing off while the failures go on.
                failures += 1
                if drain and failures >= self.config.drain_claim_failures:
                    self.stop(interrupt=True)  # the other slots give their jobs back and stop too
                    raise ClaimsFailing(f"worker {self.worker_id}: {failures} claims in a row failed; "
                                        "giving up (see the errors above)")
                ceiling = max(5.0, self.config.idle_seconds)  # never shorter than an empty queue's wait
                pause = min(self.config.idle_seconds * 2 ** min(failures - 1, 10), ceiling)
            else:
                failures = 0
                if outcome is not None:
                    continue
                if drain and not self._runs:
                    return
                pause = self.config.idle_seconds
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=pause)
            except TimeoutError:
                pass

    async def run_next(self) -> Outcome | None:
        """Reap if due, claim one job and run it to the end. None when nothing was claimed: the
        queue was empty, or claiming failed (logged; the caller may try again)."""
        outcome = await self._next()
        return None if outcome is _CLAIM_FAILED else outcome

    async def _next(self) -> Outcome | _ClaimFailed | None:
        """``run_next``, telling a failed claim (``_CLAIM_FAILED``) from an empty queue (None)."""
        self._turned = time.monotonic()
        await self._every(self.config.reap_seconds, self.reap, "reaping expired leases")
        await self._every(self.config.sweep_seconds, self.sweep_scratch, "sweeping old scratch folders")
        try:
            async with self.database.transaction() as session:
                lease = await queue.claim(
                    session, self.worker_id, lease_seconds=self.config.lease_seconds, kinds=self.config.kinds
                )
                companions = await self._claim_companions(session, lease) if lease is not None else []
                if lease is not None:
                    await self._queue_waits(session, [lease, *companions])
        except Exception:
            log.exception("worker %s: claiming failed; retrying", self.worker_id)
            return _CLAIM_FAILED
        if lease is None:
            return None
        began = time.monotonic()
        if companions:
            outcomes = await self._run_batch([lease, *companions])
            self.processed += len(outcomes)
            self.last_outcomes = outcomes
            self._observe([lease, *companions], outcomes, time.monotonic() - began)
            return outcomes[0]
        try:
            outcome = await self._run(lease)
        except Exception:  # e.g. the database went away while writing the outcome
            outcome = self._unwritten(lease)
        self.processed += 1
        self.last_outcomes = [outcome]
        self._observe([lease], [outcome], time.monotonic() - began)
        return outcome

    @staticmethod
    def _unwritten(lease: Lease, batch: tuple[int, ...] = ()) -> Outcome:
        log.exception("job %s [%s]: the outcome could not be written; its lease will expire and it will be "
                      "retried", lease.job_id, lease.correlation_id,
                      extra={"job_id": lease.job_id, "error_id": lease.correlation_id})
        return Outcome(lease.job_id, "lost", written=False, batch=batch)

    def _batches(self, lease: Lease) -> bool:
        """Whether jobs like this one may share its work: generation jobs, run by this process
        (a remote backend runs one job per remote request)."""
        return (self.config.batch_images > 0 and lease.kind == "generate" and self.backend.name == "local"
                and not getattr(self.backend, "resumable", False))

    async def _claim_companions(self, session: Any, lease: Lease) -> list[Lease]:
        """In the claim's transaction: other queued generation jobs that can share this one's
        pipeline call (``engine.runtime.handlers.generate.batch_key``), up to ``batch_images`` images."""
        if not self._batches(lease):
            return []
        from engine.runtime.handlers.generate import batch_images, batch_key

        if batch_key(lease.payload) is None:
            return []
        room = self.config.batch_images - batch_images(lease.payload)
        return await queue.claim_companions(
            session, lease, key=batch_key, size=batch_images, room=room, lease_seconds=self.config.lease_seconds,
            kinds=self.config.kinds,
        )

    async def reap(self) -> queue.ReapReport:
        async with self.database.transaction() as session:
            report = await queue.reap_expired(session)
            for job_id in (*report.failed, *report.cancelled):
                await trainings.training_failed(session, job_id, self.judge)
            await trainings.settle_ended_trainings(session, self.judge)
        await self._cancel_orphans(report)
        return report

    async def _cancel_orphans(self, report: queue.ReapReport) -> None:
        """Remote jobs of jobs the reaper ended (cancelled, or out of attempts): nobody will
        resume them, so stop paying for them."""
        cancel = getattr(self.backend, "cancel_remote", None)
        for job_id, backend, remote_id in report.remote_orphans:
            if cancel is None or backend != self.backend.name:
                log.warning("job %s: its %s job %s may still be running; this worker cannot cancel it", job_id,
                            backend, remote_id)
                continue
            log.info("job %s: cancelling its orphaned %s job %s", job_id, backend, remote_id)
            await cancel(remote_id)

    async def _every(self, seconds: float, chore: Callable[[], Awaitable[object]], what: str) -> None:
        """``chore`` when ``seconds`` have passed since it last ran here (at once the first time);
        its failure is logged, not raised: claiming goes on."""
        now = time.monotonic()
        if now - self._last_run.get(what, float("-inf")) < seconds:
            return
        self._last_run[what] = now
        try:
            await chore()
        except Exception:
            log.exception("worker %s: %s failed", self.worker_id, what)

    # --- scratch folders -------------------------------------------------------------------------
    async def sweep_scratch(self) -> list[str]:
        """Remove from this machine's work dir the scratch folders of jobs that are over (or gone),
        and anything else that is no job's folder. The folders of jobs that may still run (queued,
        or running: here, where a retry resumes its checkpoint, or on another worker process that
        shares this work dir) stay. Runs at start and every ``sweep_seconds``: a job whose last
        attempt here ended retryable and that then ended on another worker leaves its folder here."""
        root = self.options.work_dir
        names = scratch.entries(root)  # listed before the jobs are read: see scratch.sweep
        if not names:
            return []
        ids = sorted({parsed[0] for name in names if (parsed := scratch.parse_folder(name)) is not None})
        async with self.database.transaction() as session:
            live = await queue.unfinished_jobs(session, ids) if ids else []
        removed = await asyncio.to_thread(scratch.sweep, root, names, live)
        if removed:
            log.info("worker %s: removed %d scratch folder(s) of finished or deleted jobs", self.worker_id,
                     len(removed))
        return removed

    async def _job_gone(self, lease: Lease) -> bool:
        try:
            async with self.database.transaction() as session:
                return await session.get(Job, lease.job_id) is None
        except Exception:
            log.warning("job %s: could not tell whether it still exists", lease.job_id, exc_info=True)
            return False

    async def _tidy(self, lease: Lease, outcome: Outcome) -> None:
        """After every outcome on this machine: the job's scratch folder goes unless the job may
        still run (back in the queue, or handed on: a retry here resumes its checkpoint; the sweep
        takes the folder once the job is over). The job's state is read back rather than taken
        from the outcome, which cannot tell, e.g., a job that failed because its user's /delete
        took its files (nothing written: its rows were gone) from one handed on. A job whose user
        is gone also takes what it stored with it."""
        if outcome.state in FINAL_OUTCOMES and outcome.written:
            over = True
        else:
            try:
                async with self.database.transaction() as session:
                    state = await session.scalar(select(Job.state).where(Job.id == lease.job_id))
                    user_gone = state is None and await session.get(User, lease.user_id) is None
            except Exception:
                log.warning("job %s: could not tell whether it is over; the sweep will tell", lease.job_id,
                            exc_info=True)
                return
            if user_gone:
                removed = await self.storage.delete_user(lease.user_id)
                log.info("job %s [%s]: its user was deleted while it ran; %d stored object(s) it left removed",
                         lease.job_id, lease.correlation_id, removed)
            over = state is None or state in FINAL_JOB_STATES
        if over:
            await asyncio.to_thread(scratch.remove_job_folder, self.options.work_dir, lease.job_id,
                                    lease.correlation_id)

    # --- one job ---------------------------------------------------------------------------------
    def _start(self, lease: Lease) -> tuple[_Run, asyncio.Event]:
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        tracker = ProgressTracker(on_stage_change=lambda: loop.call_soon_threadsafe(wake.set))
        context = JobContext(
            job_id=lease.job_id, attempt=lease.attempt, correlation_id=lease.correlation_id, options=self.options,
            storage=StorageBridge(self.storage, loop), cache=self.cache, progress=tracker,
        )
        run = _Run(lease, context)
        self._runs.add(run)
        extra = {"job_id": lease.job_id, "user_id": lease.user_id, "error_id": lease.correlation_id}
        log.info("job %s [%s]: %s attempt %d/%d started on %s", lease.job_id, lease.correlation_id, lease.kind,
                 lease.attempt, lease.max_attempts, self.worker_id, extra=extra)
        return run, wake

    async def _run(self, lease: Lease) -> Outcome:
        run, wake = self._start(lease)
        started = time.monotonic()
        work = asyncio.ensure_future(self._execute(run))
        monitor = asyncio.create_task(self._monitor(run, wake, work))
        result: dict[str, Any] | None = None
        error: BaseException | None = None
        try:
            result = await work
        except Exception as caught:  # every handler error becomes the job's error, never the worker's
            error = caught
        finally:
            # Never cancel the monitor: a task cancelled inside a transaction can leave its
            # connection (and, on SQLite, the write lock) behind. Wake it; it returns at once.
            wake.set()
            await asyncio.gather(monitor, return_exceptions=True)
            self._runs.discard(run)
        outcome = await self._conclude(run, result, error, time.monotonic() - started)
        await self._tidy_safely(lease, outcome)
        return outcome

    async def _tidy_safely(self, lease: Lease, outcome: Outcome) -> None:
        try:
            await self._tidy(lease, outcome)
        except Exception:  # the sweep at the next start catches what this leaves
            log.exception("job %s [%s]: tidying its scratch folder failed", lease.job_id, lease.correlation_id)

    async def _run_batch(self, leases: list[Lease]) -> list[Outcome]:
        """Jobs claimed together run in one handler call (the lead's, with the others as its
        ``companions``); every lease is heartbeated, and its cancel polled, while it runs. Each
        job then ends on its own, in its own transaction, exactly as it would have alone."""
        batch = tuple(lease.job_id for lease in leases)
        starts = [self._start(lease) for lease in leases]
        lead = starts[0][0]
        members = [BatchMember(run.lease.kind, run.lease.payload, run.context) for run, _ in starts[1:]]
        lead.context.companions = members
        log.info("jobs %s: %d generation jobs share one pipeline call on %s", ", ".join(map(str, batch)),
                 len(batch), self.worker_id)
        started = time.monotonic()
        work = asyncio.ensure_future(self._execute(lead))
        monitors = [asyncio.create_task(self._monitor(run, wake, work)) for run, wake in starts]
        result: dict[str, Any] | None = None
        error: BaseException | None = None
        try:
            result = await work
        except Exception as caught:
            error = caught
        finally:
            for _, wake in starts:
                wake.set()
            await asyncio.gather(*monitors, return_exceptions=True)
            for run, _ in starts:
                self._runs.discard(run)
        seconds = time.monotonic() - started
        ends: list[tuple[_Run, dict[str, Any] | None, BaseException | None]] = [(lead, result, error)]
        for member, (run, _) in zip(members, starts[1:], strict=True):
            if member.result is None and member.error is None:  # the batch ended before reaching it
                ends.append((run, None, error or RuntimeError("the batch ended without this job's result")))
            else:
                ends.append((run, member.result, member.error))
        outcomes = []
        for run, job_result, job_error in ends:
            try:
                outcome = await self._conclude(run, job_result, job_error, seconds)
                outcomes.append(Outcome(outcome.job_id, outcome.state, outcome.error_code, outcome.written, batch))
            except Exception:
                outcomes.append(self._unwritten(run.lease, batch))
            await self._tidy_safely(run.lease, outcomes[-1])
        return outcomes

    async def _conclude(self, run: _Run, result: dict[str, Any] | None, error: BaseException | None,
                        seconds: float) -> Outcome:
        lease = run.lease
        extra = {"job_id": lease.job_id, "user_id": lease.user_id, "error_id": lease.correlation_id}
        if run.lease_lost:
            if run.user_cancelled:  # its rows are gone: nobody to hand it on to
                log.info("job %s [%s]: stopped after %.1f s; its user deleted everything", lease.job_id,
                         lease.correlation_id, seconds, extra=extra)
            else:
                log.warning("job %s [%s]: lease lost after %.1f s; result discarded, the job was handed on",
                            lease.job_id, lease.correlation_id, seconds, extra=extra)
            return Outcome(lease.job_id, "lost", written=False)
        if error is None:
            assert result is not None
            outcome = await self._succeed(lease, result)
            log.info("job %s [%s]: %s in %.2f s", lease.job_id, lease.correlation_id, outcome.state, seconds,
                     extra=extra)
            return outcome
        return await self._fail(run, error, seconds, extra)

    def _execute(self, run: _Run) -> Any:
        """The backend's work; a resumable (remote) backend also gets the job's remote handle."""
        if not getattr(self.backend, "resumable", False):
            return self.backend.execute(run.lease, run.context)
        lease = run.lease
        stored = lease.remote_id if lease.remote_backend == self.backend.name else None
        handle = RemoteHandle(stored_id=stored, record=lambda remote_id: self._record_remote(run, remote_id),
                              user_cancelled=lambda: run.user_cancelled)
        return self.backend.execute(lease, run.context, handle)  # type: ignore[call-arg]

    async def _record_remote(self, run: _Run, remote_id: str, *, tries: int = 3) -> bool:
        """Store a just-submitted remote job id on the job, in its own short transaction, only
        while the lease is ours. False (and the run marked lost) when it is not."""
        lease = run.lease
        for attempt in range(1, tries + 1):
            try:
                async with self.database.transaction() as session:
                    recorded = await queue.record_remote(session, lease, self.backend.name, remote_id)
            except Exception:
                if attempt == tries:
                    raise
                log.warning("job %s: recording remote job %s failed; retrying", lease.job_id, remote_id,
                            exc_info=True)
                await asyncio.sleep(0.1 * 2**attempt)
                continue
            if not recorded:
                log.warning("job %s [%s]: lease lost before remote job %s was recorded", lease.job_id,
                            lease.correlation_id, remote_id)
                run.lease_lost = True
            return recorded
        raise AssertionError("unreachable")

    async def _monitor(self, run: _Run, wake: asyncio.Event, work: asyncio.Future[Any]) -> None:
        written = -1
        while not work.done():
            try:
                await asyncio.wait_for(wake.wait(), timeout=self.config.tick_seconds)
            except TimeoutError:
                pass
            wake.clear()
            if work.done():
                return
            started = time.monotonic()
            version, update = run.context.progress.snapshot()
            try:
                async with self.database.transaction() as session:
                    flag = await queue.heartbeat(
                        session, run.lease, lease_seconds=self.config.lease_seconds,
                        progress=update if version != written else None,
                    )
            except Exception:
                log.exception("job %s: heartbeat failed; retrying", run.lease.job_id)
                continue
            written = version
            run.beat = self._turned = time.monotonic()
            if (took := time.monotonic() - started) > self.config.lease_seconds / 4:
                log.warning("job %s: heartbeat took %.1f s (lease %.0f s)", run.lease.job_id, took,
                            self.config.lease_seconds)
            if flag is None:
                run.lease_lost = True
                if await self._job_gone(run.lease):
                    # Its user deleted everything: stop for good, a remote copy of the work too.
                    log.info("job %s [%s]: its rows are gone (the user deleted everything); stopping it",
                             run.lease.job_id, run.lease.correlation_id)
                    run.user_cancelled = True
                run.context.cancel_event.set()
                return
            if flag and not run.user_cancelled:
                log.info("job %s [%s]: cancel requested", run.lease.job_id, run.lease.correlation_id)
                run.user_cancelled = True
                run.context.cancel_event.set()

    async def _succeed(self, lease: Lease, result: dict[str, Any]) -> Outcome:
        try:
            async with self.database.transaction() as session:
                if not await queue.complete(session, lease, JobState.succeeded, result=result):
                    return Outcome(lease.job_id, "lost", written=False)
                await job_results.record_success(session, lease.job_id, lease.user_id, lease.kind, result)
            return Outcome(lease.job_id, JobState.succeeded)
        except Exception as error:
            log.exception("job %s [%s]: could not record the result", lease.job_id, lease.correlation_id,
                          extra={"job_id": lease.job_id, "error_id": lease.correlation_id})
            return await self._write_failure(lease, Failure("internal_error", f"recording the result: {error}"))

    async def _fail(self, run: _Run, error: BaseException, seconds: float, extra: dict[str, Any]) -> Outcome:
        lease = run.lease
        if isinstance(error, Cancelled) and run.shutdown and not run.user_cancelled:
            # Given back uncounted; or ended cancelled when the user's cancel landed meanwhile
            # (before the monitor's next poll saw it): see queue.give_back.
            async with self.database.transaction() as session:
                state = await queue.give_back(session, lease, count_attempt=False)
                if state == JobState.cancelled:
                    await job_results.record_failure(session, lease.job_id, lease.kind, judge=self.judge)
            if state == JobState.cancelled:
                log.info("job %s [%s]: interrupted by shutdown after its user cancelled it; cancelled",
                         lease.job_id, lease.correlation_id, extra=extra)
                return Outcome(lease.job_id, JobState.cancelled, "cancelled")
            log.info("job %s [%s]: interrupted by shutdown, back in the queue", lease.job_id, lease.correlation_id,
                     extra=extra)
            return Outcome(lease.job_id, "requeued", written=state is not None)
        if run.user_cancelled:
            # The user asked to stop it (and was told their credits came back): whatever the
            # handler ended with (stopped within a step, or an error such as out of memory on the
            # way out), the job ends cancelled and refunded. It never goes back to the queue.
            log.info("job %s [%s]: cancelled by the user after %.1f s (%s)", lease.job_id, lease.correlation_id,
                     seconds, error if isinstance(error, Cancelled) else f"it ended with {type(error).__name__}",
                     extra=extra)
            return await self._write_failure(lease, Failure("cancelled", "cancelled by the user"),
                                             state=JobState.cancelled)
        failure = classify(error)
        if failure.expected:
            log.error("job %s [%s]: failed with %s: %s", lease.job_id, lease.correlation_id, failure.code,
                      failure.message, extra=extra)
        else:
            log.error("job %s [%s]: failed with %s", lease.job_id, lease.correlation_id, failure.code, extra=extra,
                      exc_info=error)
        return await self._write_failure(lease, failure)

    async def _write_failure(self, lease: Lease, failure: Failure, *, state: JobState = JobState.failed) -> Outcome:
        # An error's text can carry a secret (a remote endpoint echoing its key, a URL with a password):
        # what is stored, and shown to operators, never does.
        failure = replace(failure, message=redact(failure.message))
        async with self.database.transaction() as session:
            if failure.retryable:
                left = await queue.give_back(session, lease, count_attempt=True, error_code=failure.code,
                                             error_message=failure.message[:1000])
                if left is None:  # the lease is no longer ours
                    state = "requeued" if lease.attempt < lease.max_attempts else JobState.failed
                    return Outcome(lease.job_id, str(state), failure.code, written=False)
                if left == JobState.queued:
                    return Outcome(lease.job_id, "requeued", failure.code)
                # out of attempts (failed), or cancelled: the user's cancel landed before the
                # monitor's next poll saw it, and a cancelled job never goes back to the queue
                await job_results.record_failure(session, lease.job_id, lease.kind, judge=self.judge)
                code = "cancelled" if left == JobState.cancelled else failure.code
                return Outcome(lease.job_id, str(left), code)
            written = await queue.complete(
                session, lease, state, error_code=failure.code, error_message=failure.message[:2000]
            )
            if written:
                await job_results.record_failure(session, lease.job_id, lease.kind, judge=self.judge)
        return Outcome(lease.job_id, str(state), failure.code, written)
