"""RunPod serverless entry point: the same handlers as the local worker, files by storage key.

Input (built by engine.runtime.backends.remote_protocol.job_input):
    {"kind": "train" | "generate" | "noop", "payload": {...}, "job_id": 17, "attempt": 1, "correlation_id": "…"}
Output: the handler's JSON result, or ``{"error": "<json code/message/retryable>"}`` (RunPod marks
the job FAILED and the worker maps the code back). Configuration comes from the container's
environment (the usual STUDIO_* settings: S3 storage, models dir, base model, device).

Models stay loaded between requests served by one container (module-level cache); handlers run
on one thread, off the SDK's event loop. A job's scratch folder goes when its request ends (done,
failed, or cancelled); after a retryable failure it waits a while for a retry on this container,
and every request first sweeps the folders of other jobs (the container runs one at a time). Progress is sent with ``progress_update`` on the
platform (the status route shows it while the job is IN_PROGRESS).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from db.storage import Storage
from engine.runtime.backends.remote_protocol import error_output
from engine.runtime.handlers.context import EngineOptions, JobContext, ModelCache, StorageBridge
from engine.runtime.handlers.errors import classify
from engine.runtime.handlers.registry import execute
from engine.runtime.progress import ProgressTracker
from engine.runtime.scratch import entries, remove_job_folder, sweep

log = logging.getLogger(__name__)

_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")
_CACHE = ModelCache()
_STATE: dict[str, Any] = {}
PROGRESS_SECONDS = 2.0
#: how long a folder kept for a retry on this container (after a retryable failure) waits for it
RETRY_KEEP_SECONDS = 900.0


def configure(*, storage: Storage, options: EngineOptions) -> None:
    """Set storage and engine options explicitly (tests, or embedding); otherwise read from env."""
    _STATE["storage"], _STATE["options"] = storage, options


def _configured() -> tuple[Storage, EngineOptions]:
    if "storage" not in _STATE:
        from db.storage import storage_from_settings
        from config.settings import load_settings

        settings = load_settings()
        configure(storage=storage_from_settings(settings), options=EngineOptions.from_settings(settings))
    return _STATE["storage"], _STATE["options"]


def _progress_sender(job: dict[str, Any], tracker: ProgressTracker) -> Any:
    """On the RunPod platform, a task that forwards progress every few seconds."""
    if not os.environ.get("RUNPOD_POD_ID"):
        return None
    from runpod.serverless import progress_update

    async def forward() -> None:
        sent = -1
        while True:
            await asyncio.sleep(PROGRESS_SECONDS)
            version, update = tracker.snapshot()
            if version != sent:
                progress_update(job, {"stage": update.stage, "step": update.step, "total": update.total_steps,
                                      "eta": update.eta_seconds})
                sent = version

    return asyncio.create_task(forward())


def _remove_scratch(job_input: dict[str, Any]) -> None:
    try:
        remove_job_folder(_configured()[1].work_dir, int(job_input["job_id"]), str(job_input.get("correlation_id", "")))
    except Exception:
        log.warning("job %s: its scratch folder could not be removed", job_input.get("job_id"), exc_info=True)


def _sweep_others(job_input: dict[str, Any]) -> None:
    """Before a request runs (on the engine thread, so after the one before it has stopped):
    every other job's folder goes. A container runs one request at a time, so those jobs are not
    running here; a folder kept for a retry that went elsewhere (or never came) goes with them."""
    try:
        root = _configured()[1].work_dir
        keep = [(int(job_input["job_id"]), str(job_input.get("correlation_id", "")))]
        removed = sweep(root, entries(root), keep)
        if removed:
            log.info("removed %d scratch folder(s) of earlier jobs on this container", len(removed))
    except Exception:
        log.warning("sweeping the scratch folders of earlier jobs failed", exc_info=True)


def _run(kind: str, payload: dict[str, Any], context: JobContext, job_input: dict[str, Any]) -> dict[str, Any]:
    _sweep_others(job_input)
    return execute(kind, payload, context)


def _forget_later(job_input: dict[str, Any]) -> None:
    """A folder kept for a retry on this container goes after ``RETRY_KEEP_SECONDS`` when no
    request came meanwhile (the next request's sweep decides otherwise)."""
    requests = _STATE.get("requests", 0)

    def expire() -> None:
        if _STATE.get("requests", 0) == requests:  # nothing ran since: the folder is not in use
            _EXECUTOR.submit(_remove_scratch, job_input)

    asyncio.get_running_loop().call_later(RETRY_KEEP_SECONDS, expire)


async def handler(job: dict[str, Any]) -> dict[str, Any]:
    job_input = job.get("input") or {}
    correlation_id = str(job_input.get("correlation_id", ""))
    started = time.monotonic()
    _STATE["requests"] = _STATE.get("requests", 0) + 1
    try:
        storage, options = _configured()
        loop = asyncio.get_running_loop()
        tracker = ProgressTracker()
        context = JobContext(
            job_id=int(job_input["job_id"]), attempt=int(job_input.get("attempt", 1)), correlation_id=correlation_id,
            options=options, storage=StorageBridge(storage, loop), cache=_CACHE, progress=tracker,
        )
        sender = _progress_sender(job, tracker)
        try:
            result = await loop.run_in_executor(
                _EXECUTOR, _run, str(job_input["kind"]), dict(job_input.get("payload") or {}), context, job_input
            )
        except asyncio.CancelledError:
            # The request was cancelled (the user's cancel or /delete, or the job ended for good):
            # stop the handler within a step; its folder goes once it has stopped (the engine
            # thread runs one thing at a time, so the removal queued here runs after it).
            context.cancel_event.set()
            _EXECUTOR.submit(_remove_scratch, job_input)
            raise
        finally:
            if sender is not None:
                sender.cancel()
        log.info("job %s [%s]: done on RunPod in %.2f s", context.job_id, correlation_id, time.monotonic() - started)
        _remove_scratch(job_input)
        return result
    except Exception as error:
        failure = classify(error)
        if failure.retryable:  # a retry on this container resumes from the folder, if it comes soon
            _forget_later(job_input)
        else:
            _remove_scratch(job_input)
        log.error("job %s [%s]: failed on RunPod with %s", job_input.get("job_id"), correlation_id, failure.code,
                  exc_info=None if failure.expected else error)
        return error_output(failure, correlation_id)


if __name__ == "__main__":
    import runpod

    from config.logs import configure_logging

    configure_logging(os.environ.get("STUDIO_LOG_LEVEL", "INFO"))
    runpod.serverless.start({"handler": handler})
