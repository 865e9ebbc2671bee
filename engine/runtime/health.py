"""A worker process's metrics and health (``telemetry``): the queue gauges read from the database
at scrape time, GPU memory and the model cache, and the liveness of a worker whose jobs'
heartbeats stop advancing (a stuck worker answers /livez with 503 and is restarted)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from db.models import Job, JobKind, JobState, utcnow
from db.session import Database
from telemetry import metrics
from telemetry.server import Check, HealthServer, Refresh, database_check, storage_check

QUEUE_STATES = (JobState.queued, JobState.running)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite drops the zone


def queue_refresh(database: Database) -> Refresh:
    """Sets ``studio_jobs{kind,state}`` and ``studio_queue_oldest_job_age_seconds{kind}`` from one read."""

    seen: set[str] = {str(kind) for kind in JobKind}  # kinds once reported go back to 0, not stale

    async def refresh() -> None:
        async with database.read() as session:
            rows = (await session.execute(
                select(Job.kind, Job.state, func.count(), func.min(Job.created_at))
                .where(Job.state.in_(QUEUE_STATES)).group_by(Job.kind, Job.state))).all()
        now = utcnow()
        seen.update(str(row[0]) for row in rows)
        for kind in seen:
            for state in QUEUE_STATES:
                metrics.JOBS.labels(kind, str(state)).set(0)
            metrics.QUEUE_OLDEST_AGE.labels(kind).set(0)
        for kind, state, count, oldest in rows:
            metrics.JOBS.labels(str(kind), str(state)).set(count)
            if state == JobState.queued and oldest is not None:
                metrics.QUEUE_OLDEST_AGE.labels(str(kind)).set(max(0.0, (now - _aware(oldest)).total_seconds()))

    return refresh


def worker_refresh(worker: Any) -> Refresh:
    """The worker's own gauges: running jobs, the stalest heartbeat, the model cache, GPU memory."""

    async def refresh() -> None:
        metrics.RUNNING_JOBS.set(worker.running)
        metrics.HEARTBEAT_AGE.set(worker.heartbeat_age())
        metrics.MODEL_CACHE_MODELS.set(len(getattr(worker.cache, "_items", ())))
        gpu_memory()

    return refresh


def gpu_memory() -> None:
    """CUDA memory per device, when this process has imported torch and has CUDA (else absent)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return
    for index in range(torch.cuda.device_count()):
        device = f"cuda:{index}"
        metrics.GPU_MEMORY_ALLOCATED.labels(device).set(torch.cuda.memory_allocated(index))
        metrics.GPU_MEMORY_RESERVED.labels(device).set(torch.cuda.memory_reserved(index))


def stuck_check(worker: Any, after_seconds: float) -> Check:
    """Not live when a running job's heartbeat has not advanced for ``after_seconds`` (or, idle, the
    claim loop has not turned for as long)."""

    async def check() -> str | None:
        return worker.stuck(after_seconds)

    return check


def worker_server(settings: Any, worker: Any, database: Database, storage: Any, *, port: int | None = None) -> HealthServer:
    """The worker process's /metrics, /livez and /readyz on ``STUDIO_METRICS_PORT`` (or ``port``)."""
    after = max(settings.worker_stuck_ticks * worker.config.tick_seconds, 2 * worker.config.idle_seconds)
    return HealthServer(
        settings.metrics_host, settings.metrics_port if port is None else port,
        live=[stuck_check(worker, after)], ready=[database_check(database), storage_check(storage)],
        refresh=[queue_refresh(database), worker_refresh(worker)])

