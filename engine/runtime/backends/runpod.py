"""RunPod serverless backend: submit the claimed job to an endpoint running
``engine/runtime/runpod_handler.py`` (the same handlers), poll its status into our progress, cancel it
when the user cancels. The worker keeps the lease and writes the outcome as for local jobs.

The RunPod job id is recorded on our job right after submission (``RemoteHandle.record``), and a
retry (the first worker died, its lease expired, or it shut down) resumes it:

    stored job IN_QUEUE / IN_PROGRESS  → keep polling it
    stored job COMPLETED               → take its output, submit nothing
    FAILED / CANCELLED / TIMED_OUT / 404 → submit anew and record the new id

Only a user's cancel cancels the remote job; a worker that stops for any other reason leaves it
running for the next attempt."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from db.queue import Lease
from engine.runtime.backends.base import RemoteHandle
from engine.runtime.backends.remote_protocol import job_input, remote_failure
from engine.runtime.backends.runpod_client import RemoteState, RunPodClient, RunPodError
from engine.errors import Cancelled
from engine.runtime.handlers.context import JobContext
from engine.runtime.handlers.errors import JobFailed

if TYPE_CHECKING:  # the GPU image runs the engine without pydantic-settings (bench/gpu_check.sh)
    from config.settings import Settings

log = logging.getLogger(__name__)

_WORK_STAGE = {"train": "training", "generate": "generating"}
#: states of an earlier attempt's remote job that a retry follows instead of submitting anew
RESUMABLE_STATES = frozenset({RemoteState.IN_QUEUE, RemoteState.IN_PROGRESS, RemoteState.COMPLETED})


class RunPodBackend:
    name = "runpod"
    #: the work outlives the worker: a retry resumes the recorded RunPod job (see RemoteHandle)
    resumable = True

    def __init__(self, client: RunPodClient, *, slots: int = 4, poll_seconds: float = 2.0,
                 execution_timeout_seconds: float | None = 3600.0) -> None:
        self.client = client
        self.slots = slots
        self.poll_seconds = poll_seconds
        self.execution_timeout_seconds = execution_timeout_seconds

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> RunPodBackend:
        from config.settings import ConfigError, require_secret

        key = require_secret(settings, "runpod_api_key", "engine_backend=runpod")
        if not settings.runpod_endpoint_id:
            raise ConfigError("Configuration error: STUDIO_RUNPOD_ENDPOINT_ID is not set; engine_backend=runpod needs it.")
        client = RunPodClient(settings.runpod_endpoint_id, key, base_url=settings.runpod_base_url)
        return cls(client, **options)

    async def execute(self, lease: Lease, context: JobContext, remote: RemoteHandle | None = None
                      ) -> dict[str, Any]:
        remote_id = await self._resumable(lease, remote) if remote is not None else None
        if remote_id is None:
            remote_id = await self._submit(lease, remote)
        context.report("queued")
        try:
            return await self._follow(lease, context, remote_id, remote)
        except asyncio.CancelledError:  # the worker is being torn down
            if remote is None:
                await self._cancel_quietly(remote_id)
            else:
                log.info("job %s [%s]: worker torn down; RunPod job %s left running for the next attempt",
                         lease.job_id, lease.correlation_id, remote_id)
            raise

    async def _resumable(self, lease: Lease, remote: RemoteHandle) -> str | None:
        """The stored remote job when it is worth following (running, queued or completed);
        None when a new one must be submitted (failed, cancelled, timed out, unknown)."""
        if not remote.stored_id:
            return None
        try:
            status = await self.client.status(remote.stored_id)
        except RunPodError as error:
            if error.status != 404:
                raise self._unavailable(error) from error
            log.warning("job %s [%s]: RunPod job %s is unknown there; submitting anew", lease.job_id,
                        lease.correlation_id, remote.stored_id)
            return None
        if status.state in RESUMABLE_STATES:
            log.info("job %s [%s]: resuming RunPod job %s (%s) of an earlier attempt", lease.job_id,
                     lease.correlation_id, remote.stored_id, status.state)
            return remote.stored_id
        log.info("job %s [%s]: RunPod job %s of an earlier attempt ended %s; submitting anew", lease.job_id,
                 lease.correlation_id, remote.stored_id, status.state)
        return None

    async def _submit(self, lease: Lease, remote: RemoteHandle | None) -> str:
        try:
            remote_id = await self.client.submit(job_input(lease),
                                                 execution_timeout_seconds=self.execution_timeout_seconds)
        except RunPodError as error:
            raise self._unavailable(error) from error
        log.info("job %s [%s]: submitted to RunPod as %s", lease.job_id, lease.correlation_id, remote_id)
        if remote is None:
            return remote_id
        try:
            recorded = await remote.record(remote_id)
        except BaseException:  # nobody could ever resume it: do not pay for it
            await self._cancel_quietly(remote_id)
            raise
        if not recorded:
            await self._cancel_quietly(remote_id)
            raise JobFailed("lease_lost", f"lease lost before RunPod job {remote_id} was recorded; cancelled it")
        return remote_id

    async def _follow(self, lease: Lease, context: JobContext, remote_id: str, remote: RemoteHandle | None
                      ) -> dict[str, Any]:
        while True:
            if context.should_cancel():
                if remote is None or remote.user_cancelled():
                    await self._cancel_quietly(remote_id)
                else:
                    log.info("job %s [%s]: stopped here; RunPod job %s left running for the next attempt",
                             lease.job_id, lease.correlation_id, remote_id)
                raise Cancelled("remote", context.progress.snapshot()[1].step)
            try:
                status = await self.client.status(remote_id)
            except RunPodError as error:
                raise self._unavailable(error) from error
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
    def _unavailable(error: RunPodError) -> Exception:
        """A RunPod outage that outlasted the client's retries is retryable (the next attempt
        resumes the recorded remote job); any other API error is not."""
        if error.transient:
            return JobFailed("remote_unavailable", f"RunPod unavailable: {error}", retryable=True)
        return error

    @staticmethod
    def _report_progress(lease: Lease, context: JobContext, output: Any) -> None:
        if isinstance(output, dict) and "stage" in output:
            context.report(str(output["stage"]), int(output.get("step", 0)), int(output.get("total", 0)),
                           output.get("eta"))
        else:
            context.report(_WORK_STAGE.get(lease.kind, "generating"))

    async def cancel_remote(self, remote_id: str) -> None:
        """Cancel a remote job nobody will follow any more (its job ended while no worker watched)."""
        await self._cancel_quietly(remote_id)

    async def _cancel_quietly(self, remote_id: str) -> None:
        try:
            await self.client.cancel(remote_id)
        except Exception:
            log.exception("could not cancel RunPod job %s", remote_id)

    async def close(self) -> None:
        await self.client.close()
