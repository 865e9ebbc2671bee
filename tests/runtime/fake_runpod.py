"""A fake RunPod serverless endpoint on 127.0.0.1 speaking the real routes:

    POST /v2/{endpoint}/run, GET /v2/{endpoint}/status/{id}, POST /v2/{endpoint}/cancel/{id},
    GET /v2/{endpoint}/health  (Bearer auth, JSON bodies shaped like RunPod's)

Jobs wait IN_QUEUE for ``queue_delay`` seconds, then run ``runner(job)`` the way the SDK calls a
handler (``{"id", "input"}``): a returned ``{"error": …}`` or an exception makes the job FAILED,
anything else COMPLETED with that output. ``force`` makes the next job end in a given state.

Jobs live in the server, not in the worker that submitted them, so they keep running when that
worker dies. ``hold`` keeps started jobs IN_PROGRESS until it is set; ``settle`` ends a job in a
given state and ``forget`` makes it unknown (404), as if RunPod had dropped it; ``submitted`` and
``cancelled`` list the ids of accepted ``/run`` and ``/cancel`` calls.
"""

from __future__ import annotations

import asyncio
import json
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.local_server import serve_locally

Runner = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass
class FakeJob:
    id: str
    input: dict[str, Any]
    status: str = "IN_QUEUE"
    output: Any = None
    error: str | None = None
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    task: asyncio.Task[None] | None = None

    def body(self) -> dict[str, Any]:
        now = time.monotonic()
        body: dict[str, Any] = {"id": self.id, "status": self.status,
                                "delayTime": int(((self.started or now) - self.created) * 1000)}
        if self.started is not None:
            body["executionTime"] = int(((self.finished or now) - self.started) * 1000)
            body["workerId"] = "fake-worker"
        if self.output is not None:
            body["output"] = self.output
        if self.error is not None:
            body["error"] = self.error
        return body


class FakeRunPod:
    def __init__(self, runner: Runner, *, endpoint_id: str = "ep-test", api_key: str = "rp-test-key",
                 queue_delay: float = 0.05) -> None:
        self.runner = runner
        self.endpoint_id = endpoint_id
        self.api_key = api_key
        self.queue_delay = queue_delay
        self.jobs: dict[str, FakeJob] = {}
        self.force: str | None = None
        self.fail_next_requests = 0  # answer 503 to this many requests (transient outage)
        self.requests: list[str] = []
        self.hold: asyncio.Event | None = None
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- server ------------------------------------------------------------------------------------
    async def start(self) -> FakeRunPod:
        app = web.Application(middlewares=[self._auth])
        prefix = "/v2/{endpoint}"
        app.router.add_post(f"{prefix}/run", self._run)
        app.router.add_get(f"{prefix}/status/{{job_id}}", self._status)
        app.router.add_post(f"{prefix}/cancel/{{job_id}}", self._cancel)
        app.router.add_get(f"{prefix}/health", self._health)
        self._runner, port = await serve_locally(app)
        self.base_url = f"http://127.0.0.1:{port}/v2"
        return self

    async def stop(self) -> None:
        for job in self.jobs.values():
            if job.task is not None:
                job.task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path}")
        if self.fail_next_requests > 0:
            self.fail_next_requests -= 1
            return web.json_response({"error": "upstream unavailable"}, status=503)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": "Unauthorized"}, status=401)
        if request.match_info.get("endpoint") != self.endpoint_id:
            return web.json_response({"error": "endpoint not found"}, status=404)
        return await handler(request)

    # --- routes ------------------------------------------------------------------------------------
    async def _run(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict) or "input" not in body:
            return web.json_response({"error": "missing input"}, status=400)
        job = FakeJob(id=f"{uuid.uuid4()}-u1", input=body["input"])
        self.jobs[job.id] = job
        self.submitted.append(job.id)
        job.task = asyncio.create_task(self._execute(job, self.force, self.hold))
        self.force = None
        return web.json_response({"id": job.id, "status": job.status})

    async def _status(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return web.json_response({"error": "job not found"}, status=404)
        return web.json_response(job.body())

    async def _cancel(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return web.json_response({"error": "job not found"}, status=404)
        self.cancelled.append(job.id)
        if job.status in ("IN_QUEUE", "IN_PROGRESS"):
            if job.task is not None:
                job.task.cancel()
            job.status, job.finished = "CANCELLED", time.monotonic()
        return web.json_response({"id": job.id, "status": job.status})

    async def _health(self, request: web.Request) -> web.Response:
        counts = {state: sum(j.status == state for j in self.jobs.values())
                  for state in ("COMPLETED", "FAILED", "IN_PROGRESS", "IN_QUEUE")}
        return web.json_response({
            "jobs": {"completed": counts["COMPLETED"], "failed": counts["FAILED"], "inProgress": counts["IN_PROGRESS"],
                     "inQueue": counts["IN_QUEUE"], "retried": 0},
            "workers": {"idle": 1, "running": counts["IN_PROGRESS"]},
        })

    # --- test controls -----------------------------------------------------------------------------
    def settle(self, job_id: str, status: str, *, error: str | None = None) -> None:
        """End a job in ``status`` now (e.g. FAILED while no worker was watching)."""
        job = self.jobs[job_id]
        if job.task is not None:
            job.task.cancel()
        job.status, job.error, job.finished = status, error, time.monotonic()

    def forget(self, job_id: str) -> None:
        """Make a job unknown: its status and cancel routes answer 404."""
        job = self.jobs.pop(job_id)
        if job.task is not None:
            job.task.cancel()

    # --- execution ---------------------------------------------------------------------------------
    async def _execute(self, job: FakeJob, force: str | None, hold: asyncio.Event | None = None) -> None:
        await asyncio.sleep(self.queue_delay)
        job.status, job.started = "IN_PROGRESS", time.monotonic()
        if force is not None:
            job.status, job.finished = force, time.monotonic()
            return
        if hold is not None:
            await hold.wait()
        try:
            output = await self.runner({"id": job.id, "input": job.input})
        except asyncio.CancelledError:
            raise
        except Exception as error:  # what the SDK reports for a raising handler
            job.error = json.dumps({"error_type": str(type(error)), "error_message": str(error),
                                    "error_traceback": traceback.format_exc()})
            job.status = "FAILED"
        else:
            if isinstance(output, dict) and "error" in output:
                job.error = str(output.pop("error"))
                job.output = output or None
                job.status = "FAILED"
            else:
                job.output = output
                job.status = "COMPLETED"
        job.finished = time.monotonic()
