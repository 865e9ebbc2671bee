"""What travels between the worker and a remote (RunPod) handler: plain JSON, files by storage key."""

from __future__ import annotations

import json
from typing import Any

from db.queue import Lease
from engine.runtime.handlers.errors import Failure, JobFailed


def job_input(lease: Lease) -> dict[str, Any]:
    return {
        "kind": lease.kind, "payload": lease.payload, "job_id": lease.job_id, "attempt": lease.attempt,
        "correlation_id": lease.correlation_id,
    }


def error_output(failure: Failure, correlation_id: str) -> dict[str, Any]:
    """A handler result that RunPod turns into FAILED with this error string."""
    body = {"code": failure.code, "message": failure.message, "retryable": failure.retryable,
            "correlation_id": correlation_id}
    return {"error": json.dumps(body)}


def remote_failure(error: str | None) -> JobFailed:
    """The exception a FAILED remote job becomes: our own error code when our handler failed,
    ``remote_failed`` when the platform or the SDK did."""
    try:
        body = json.loads(error or "")
    except ValueError:
        body = None
    if isinstance(body, dict) and "code" in body:
        return JobFailed(str(body["code"]), str(body.get("message", "")), retryable=bool(body.get("retryable")))
    if isinstance(body, dict) and "error_message" in body:
        return JobFailed("remote_failed", f"{body.get('error_type', 'error')}: {body['error_message']}")
    return JobFailed("remote_failed", (error or "the remote worker failed without a message")[:2000])
