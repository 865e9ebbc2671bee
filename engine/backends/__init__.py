"""Where a claimed job's work runs: in this process (``local``) or on RunPod serverless (``runpod``).

Either way the worker owns the job row: it claims, heartbeats, writes progress and the outcome.
A backend only turns (kind, payload, context) into a JSON result or an exception.
"""

from __future__ import annotations

from typing import Any, Protocol

from db.queue import Lease
from engine.handlers.context import JobContext


class Backend(Protocol):
    name: str
    #: how many jobs one worker process runs at once through this backend
    slots: int

    async def execute(self, lease: Lease, context: JobContext) -> dict[str, Any]: ...

    async def close(self) -> None: ...


def backend_from_settings(settings: Any, *, preload: bool = True) -> Backend:
    if str(settings.engine_backend) == "runpod":
        from engine.backends.runpod import RunPodBackend

        return RunPodBackend.from_settings(settings)
    from engine.backends.local import LocalBackend

    return LocalBackend(preload=preload)
