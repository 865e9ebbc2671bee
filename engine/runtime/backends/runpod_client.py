"""A small async client of RunPod's serverless API (the real routes, not the SDK's local server):

    POST {base}/{endpoint}/run          {"input": {...}}  → {"id", "status"}
    GET  {base}/{endpoint}/status/{id}  → {"id", "status", "output"?, "error"?, "delayTime", "executionTime"}
    POST {base}/{endpoint}/cancel/{id}  → {"id", "status"}
    GET  {base}/{endpoint}/health       → {"jobs": {...}, "workers": {...}}

Transient failures (connection errors, 429, 5xx) are retried with backoff; 4xx are not.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import aiohttp

from db.models import JobState

log = logging.getLogger(__name__)


class RemoteState(StrEnum):
    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


#: RunPod's states onto ours. Waiting and running at RunPod are both "running" for us: the job
#: is leased to the worker that submitted it (the stage tells the user which).
STATE_MAP: dict[RemoteState, JobState] = {
    RemoteState.IN_QUEUE: JobState.running,
    RemoteState.IN_PROGRESS: JobState.running,
    RemoteState.COMPLETED: JobState.succeeded,
    RemoteState.FAILED: JobState.failed,
    RemoteState.CANCELLED: JobState.cancelled,
    RemoteState.TIMED_OUT: JobState.failed,
}
FINAL_REMOTE_STATES = frozenset({RemoteState.COMPLETED, RemoteState.FAILED, RemoteState.CANCELLED,
                                 RemoteState.TIMED_OUT})


class RunPodError(Exception):
    def __init__(self, message: str, *, status: int | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient


@dataclass(frozen=True)
class RemoteStatus:
    id: str
    state: RemoteState
    output: Any = None
    error: str | None = None
    delay_ms: int | None = None
    execution_ms: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def our_state(self) -> JobState:
        return STATE_MAP[self.state]

    @property
    def final(self) -> bool:
        return self.state in FINAL_REMOTE_STATES

    @classmethod
    def parse(cls, body: dict[str, Any]) -> RemoteStatus:
        try:
            state = RemoteState(body["status"])
        except (KeyError, ValueError):
            raise RunPodError(f"unexpected RunPod status response: {json.dumps(body)[:300]}") from None
        error = body.get("error")
        return cls(
            id=str(body.get("id", "")), state=state, output=body.get("output"),
            error=error if error is None or isinstance(error, str) else json.dumps(error),
            delay_ms=body.get("delayTime"), execution_ms=body.get("executionTime"), raw=body,
        )


class RunPodClient:
    def __init__(
        self,
        endpoint_id: str,
        api_key: str,
        *,
        base_url: str = "https://api.runpod.ai/v2",
        timeout_seconds: float = 30.0,
        retries: int = 3,
        backoff_seconds: float = 0.5,
    ) -> None:
        if not endpoint_id:
            raise ValueError("a RunPod endpoint id is required (STUDIO_RUNPOD_ENDPOINT_ID)")
        self.endpoint_url = f"{base_url.rstrip('/')}/{endpoint_id}"
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._retries = retries
        self._backoff = backoff_seconds
        self._session: aiohttp.ClientSession | None = None

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        url = f"{self.endpoint_url}/{path}"
        for attempt in range(self._retries + 1):
            try:
                async with self._session.request(method, url, json=body) as response:
                    text = await response.text()
                    if response.status == 429 or response.status >= 500:
                        raise RunPodError(f"{method} {path}: HTTP {response.status}", status=response.status,
                                          transient=True)
                    if response.status >= 400:
                        raise RunPodError(f"{method} {path}: HTTP {response.status}: {text[:300]}",
                                          status=response.status)
                    return json.loads(text) if text else {}
            except (aiohttp.ClientError, TimeoutError) as error:
                failure = RunPodError(f"{method} {path}: {type(error).__name__}: {error}", transient=True)
            except RunPodError as error:
                if not error.transient:
                    raise
                failure = error
            if attempt == self._retries:
                raise failure
            log.warning("RunPod %s (retrying)", failure)
            await asyncio.sleep(self._backoff * 2**attempt)
        raise AssertionError("unreachable")

    async def submit(self, job_input: dict[str, Any], *, execution_timeout_seconds: float | None = None) -> str:
        body: dict[str, Any] = {"input": job_input}
        if execution_timeout_seconds is not None:
            body["policy"] = {"executionTimeout": int(execution_timeout_seconds * 1000)}
        answer = await self._request("POST", "run", body)
        if not answer.get("id"):
            raise RunPodError(f"RunPod accepted no job: {json.dumps(answer)[:300]}")
        return str(answer["id"])

    async def status(self, remote_id: str) -> RemoteStatus:
        return RemoteStatus.parse(await self._request("GET", f"status/{remote_id}"))

    async def cancel(self, remote_id: str) -> RemoteStatus:
        return RemoteStatus.parse(await self._request("POST", f"cancel/{remote_id}"))

    async def health(self) -> dict[str, Any]:
        return await self._request("GET", "health")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
