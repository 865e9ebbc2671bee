"""RunPod serverless backend: submit the claimed job to an endpoint running
``engine/runpod_handler.py`` (the same handlers), poll its status into our progress, cancel it
when the user cancels. The worker keeps the lease and writes the outcome as for local jobs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from db.queue import Lease
from engine.backends.remote_protocol import job_input, remote_failure
from engine.backends.runpod_client import RemoteState, RunPodClient
from engine.errors import Cancelled
from engine.handlers.context import JobContext
from engine.handlers.errors import JobFailed

log = logging.getLogger(__name__)

_WORK_STAGE = {"train": "training", "generate": "generating"}


class RunPodBackend:
    name = "runpod"

    def __init__(self, client: RunPodClient, *, slots: int = 4, poll_seconds: float = 2.0,
                 execution_timeout_seconds: float | None = 3600.0) -> None:
        self.client = client
        self.slots = slots
        self.poll_seconds = poll_seconds
        self.execution_timeout_seconds = execution_timeout_seconds

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> RunPodBackend:
        from studio.settings import require_secret

        key = require_secret(settings, "runpod_api_key", "engine_backend=runpod")
        client = RunPodClient(settings.runpod_endpoint_id, key, base_url=settings.runpod_base_url)
        return cls(client, **options)

    async def execute(self, lease: Lease, context: JobContext) -> dict[str, Any]:
        remote_id = await self.client.submit(job_input(lease), execution_timeout_seconds=self.execution_timeout_seconds)
        log.info("job %s [%s]: submitted to RunPod as %s", lease.job_id, lease.correlation_id, remote_id)
        context.report("queued")
        try:
            return await self._follow(lease, context, remote_id)
        except asyncio.CancelledError:
            await self._cancel_quietly(remote_id)
            raise

    async def _follow(self, lease: Lease, context: JobContext, remote_id: str) -> dict[str, Any]:
        while True:
            if context.should_cancel():
                await self._cancel_quietly(remote_id)
                raise Cancelled("remote", context.progress.snapshot()[1].step)
            status = await self.client.status(remote_id)
            if status.state == RemoteState.IN_QUEUE:
                context.report("queued")
            elif status.state == RemoteState.IN_PROGRESS:
                self._report_progress(lease, context, status.output)
            elif status.state == RemoteState.COMPLETED:
                if not isinstance(status.output, dict):
                    raise JobFailed("remote_failed", f"RunPod job {remote_id} returned no result object")
                return status.output
            elif status.state == RemoteState.FAILED:
                raise remote_failure(status.error)
            elif status.state == RemoteState.TIMED_OUT:
                raise JobFailed("remote_timeout", f"RunPod job {remote_id} timed out", retryable=True)
            elif status.state == RemoteState.CANCELLED:
                # Not asked by the user (that is handled above): someone cancelled it on RunPod.
                raise JobFailed("remote_cancelled", f"RunPod job {remote_id} was cancelled on RunPod", retryable=True)
            await asyncio.sleep(self.poll_seconds)

    @staticmethod
    def _report_progress(lease: Lease, context: JobContext, output: Any) -> None:
        if isinstance(output, dict) and "stage" in output:
            context.report(str(output["stage"]), int(output.get("step", 0)), int(output.get("total", 0)),
                           output.get("eta"))
        else:
            context.report(_WORK_STAGE.get(lease.kind, "generating"))

    async def _cancel_quietly(self, remote_id: str) -> None:
        try:
            await self.client.cancel(remote_id)
        except Exception:
            log.exception("could not cancel RunPod job %s", remote_id)

    async def close(self) -> None:
        await self.client.close()
