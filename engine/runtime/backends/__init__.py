"""Where a claimed job's work runs: in this process (``local``) or on RunPod serverless (``runpod``).

Either way the worker owns the job row: it claims, heartbeats, writes progress and the outcome.
A backend only turns (kind, payload, context) into a JSON result or an exception.
"""

from __future__ import annotations

from typing import Any

from engine.runtime.backends.base import Backend, RemoteHandle, ResumableBackend

__all__ = ["Backend", "RemoteHandle", "ResumableBackend", "backend_from_settings"]


def backend_from_settings(settings: Any, *, preload: bool = True) -> Backend:
    if str(settings.engine_backend) == "runpod":
        from engine.runtime.backends.runpod import RunPodBackend

        return RunPodBackend.from_settings(settings)
    from engine.runtime.backends.local import LocalBackend

    return LocalBackend(preload=preload)
