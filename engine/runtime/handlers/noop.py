"""A job that does nothing for a while: tests and the queue benchmark."""

from __future__ import annotations

import json
import time

from engine.runtime.handlers.context import JobContext
from engine.runtime.handlers.errors import JobFailed
from engine.jobs import NoopJob, NoopOutput
from engine.runtime.scratch import write_atomically


def handle_noop(spec: NoopJob, context: JobContext) -> NoopOutput:
    if spec.scratch:
        write_atomically(context.work_dir / "scratch.bin", f"job {context.job_id}".encode())
    if spec.fail is not None:
        if spec.fail_retryable:
            raise JobFailed("busy", spec.fail, retryable=True)
        raise RuntimeError(spec.fail)
    pause = spec.seconds / spec.steps
    if pause:
        context.report("generating", 0, spec.steps)
    for step in range(spec.steps):
        context.check_cancel("generating", step)
        if pause:
            time.sleep(pause)
            context.report("generating", step + 1, spec.steps)
    if spec.result_key:
        context.report("finishing", spec.steps, spec.steps)
        body = {"job_id": context.job_id, "attempt": context.attempt, "steps": spec.steps}
        context.storage.put(spec.result_key, json.dumps(body).encode(), content_type="application/json")
    return NoopOutput(steps=spec.steps, attempt=context.attempt, result_key=spec.result_key)
