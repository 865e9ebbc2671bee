"""Every metric of Portrait Studio, defined once (prometheus_client's default registry).

Conventions (https://prometheus.io/docs/practices/naming/): the ``studio_`` prefix, the unit in the
name (``_seconds``, ``_bytes``, ``_ratio``), ``_total`` on counters, and only low-cardinality labels
(a job's kind, state or error code, a platform, a stage, a verdict): never a user, chat, job or
charge id (tests/operator/test_metrics.py scans the registry for that).

Each process exports what it does: the bot process the conversation's counters, a worker the job
counters, stage durations, GPU memory and the model cache; both the queue gauges (read from the
database at scrape time: take ``max`` across processes, not ``sum``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

# --- the queue (read from the database when scraped) -------------------------------------------------
JOBS = Gauge("studio_jobs", "Jobs in the queue now, by kind and state (queued, running).", ["kind", "state"])
QUEUE_OLDEST_AGE = Gauge("studio_queue_oldest_job_age_seconds",
                         "Age of the oldest queued job, by kind (0: none queued).", ["kind"])

# --- jobs, as the worker ends them --------------------------------------------------------------------
QUEUE_WAIT = Histogram("studio_job_queue_wait_seconds", "Time from enqueueing to a job's first claim.", ["kind"],
                       buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200))
JOBS_FINISHED = Counter("studio_jobs_finished_total",
                        "Job attempts ended by a worker, by kind and outcome "
                        "(succeeded, failed, cancelled, requeued, lost).", ["kind", "outcome"])
JOB_DURATION = Histogram("studio_job_duration_seconds", "One attempt of a job on a worker, start to outcome.",
                         ["kind", "outcome"],
                         buckets=(1, 5, 10, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600))
JOB_FAILURES = Counter("studio_job_failures_total", "Job failures by kind and error code (retried ones too).",
                       ["kind", "code"])
JOB_REFUNDS = Counter("studio_job_refunds_total",
                      "Jobs whose credits went back: failed, cancelled, or portraits below the likeness bar.",
                      ["kind", "reason"])
STAGE_DURATION = Histogram(
    "studio_stage_duration_seconds",
    "Duration of a stage of the engine's work: training, generation (per portrait), ranking, finishing, upload.",
    ["stage"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 2400, 3600))

# --- the worker's machine ----------------------------------------------------------------------------
GPU_MEMORY_ALLOCATED = Gauge("studio_gpu_memory_allocated_bytes", "GPU memory held by tensors (CUDA workers only).",
                             ["device"])
GPU_MEMORY_RESERVED = Gauge("studio_gpu_memory_reserved_bytes", "GPU memory reserved by the caching allocator.",
                            ["device"])
MODEL_CACHE_MODELS = Gauge("studio_model_cache_models", "Models kept loaded between jobs by this worker.")
RUNNING_JOBS = Gauge("studio_worker_running_jobs", "Jobs this worker is running now.")
HEARTBEAT_AGE = Gauge("studio_worker_heartbeat_age_seconds",
                      "Seconds since the stalest running job's last heartbeat (0: nothing running).")

# --- the conversation (the bot process) ---------------------------------------------------------------
PHOTO_VERDICTS = Counter("studio_photo_verdicts_total", "Selfies checked on arrival, by verdict (accepted, or "
                         "the reason one was turned away).", ["verdict"])
RATE_LIMITED = Counter("studio_rate_limited_requests_total", "Requests refused by a rate limit.",
                       ["platform", "limit"])
CREDITS_SOLD = Counter("studio_credits_sold_total", "Credits bought (each charge counted once).", ["platform"])
PAYMENTS = Counter("studio_payments_total", "Payments credited (each charge once).", ["platform"])
STARS_RECEIVED = Counter("studio_stars_received_total", "Telegram Stars taken for credits.")
PAYMENT_REFUNDS = Counter("studio_payment_refunds_total", "Payments given back (the platform's refund).",
                          ["platform"])
CREDITS_TAKEN_BACK = Counter("studio_credits_taken_back_total", "Credits taken back by payment refunds.",
                             ["platform"])
PORTRAIT_LIKENESS = Histogram(
    "studio_delivered_portrait_likeness_ratio",
    "Likeness of each delivered portrait to its user's selfies (1.0: as alike as the selfies are to each other).",
    buckets=(0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25))

# --- the process itself ---------------------------------------------------------------------------------
READY = Gauge("studio_ready", "1 when the last readiness probe found the process ready, else 0.")


STAGES = ("training", "generation", "ranking", "finishing", "upload")


def observe_stage(stage: str, seconds: float, count: int = 1) -> None:
    """``studio_stage_duration_seconds{stage}``: ``count`` observations of ``seconds / count`` each
    (generation is observed per portrait: a call that painted 6 candidates is 6 observations)."""
    if count <= 0:
        return
    histogram = STAGE_DURATION.labels(stage)
    for _ in range(count):
        histogram.observe(seconds / count)


@contextmanager
def timed(stage: str, count: int = 1) -> Iterator[None]:
    """``with timed("ranking"):`` observes the block as that stage (not when it raised)."""
    started = time.monotonic()
    yield
    observe_stage(stage, time.monotonic() - started, count)
