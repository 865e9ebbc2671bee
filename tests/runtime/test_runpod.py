"""RunPod: the client against a fake endpoint speaking the real routes, the serverless handler
called as the SDK calls it, and the worker running jobs through RunPod end to end."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from db.job_status import CancelOutcome, request_cancel
from db.models import CreditState, JobState
from db.session import Database
from db.storage import LocalStorage
from engine.runtime import runpod_handler
from engine.runtime.backends.runpod import RunPodBackend
from engine.runtime.backends.runpod_client import STATE_MAP, RemoteState, RunPodClient, RunPodError
from engine.runtime.handlers import registry
from engine.runtime.handlers.context import EngineOptions
from engine.jobs import NoopJob
from engine.runtime.worker import Worker, WorkerConfig
from tests.runtime import gated
from tests.runtime.fake_runpod import FakeRunPod
from tests.runtime.helpers import assert_books_balance, balance, enqueue_noop, get, make_user


@pytest.fixture
def configured_handler(storage: LocalStorage, tmp_path: Path) -> Any:
    runpod_handler.configure(storage=storage, options=EngineOptions(base_model="tiny", device="cpu",
                                                                    work_dir=tmp_path / "remote-work"))
    return runpod_handler.handler


@pytest.fixture
async def fake(configured_handler: Any) -> AsyncIterator[FakeRunPod]:
    server = await FakeRunPod(configured_handler).start()
    yield server
    await server.stop()


@pytest.fixture
async def client(fake: FakeRunPod) -> AsyncIterator[RunPodClient]:
    runpod_client = RunPodClient(fake.endpoint_id, fake.api_key, base_url=fake.base_url, backoff_seconds=0.01)
    yield runpod_client
    await runpod_client.close()


def noop_input(job_id: int = 1, **spec: Any) -> dict[str, Any]:
    return {"kind": "noop", "payload": NoopJob(**spec).to_payload(), "job_id": job_id, "attempt": 1,
            "correlation_id": "c0ffee00"}


async def wait_final(client: RunPodClient, remote_id: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (status := await client.status(remote_id)).final:
        assert time.monotonic() < deadline, f"remote job {remote_id} not finished after {timeout} s: {status.state}"
        await asyncio.sleep(0.02)
    return status


def test_every_runpod_state_maps_onto_ours() -> None:
    assert {state.value: STATE_MAP[state].value for state in RemoteState} == {
        "IN_QUEUE": "running", "IN_PROGRESS": "running", "COMPLETED": "succeeded", "FAILED": "failed",
        "CANCELLED": "cancelled", "TIMED_OUT": "failed",
    }


async def test_the_handler_runs_a_job_as_the_sdk_calls_it(configured_handler: Any, storage: LocalStorage) -> None:
    output = await configured_handler({"id": "rp-1", "input": noop_input(7, steps=3, result_key="users/1/out/r.json")})
    assert output == {"steps": 3, "attempt": 1, "result_key": "users/1/out/r.json"}
    assert json.loads(await storage.get("users/1/out/r.json"))["job_id"] == 7


async def test_the_handler_reports_errors_with_our_code(configured_handler: Any) -> None:
    output = await configured_handler({"id": "rp-2", "input": noop_input(fail="remote boom")})
    error = json.loads(output["error"])
    assert error["code"] == "internal_error" and "remote boom" in error["message"]
    assert error["correlation_id"] == "c0ffee00"
    bad = await configured_handler({"id": "rp-3", "input": {"kind": "paint", "payload": {}, "job_id": 1}})
    assert json.loads(bad["error"])["code"] == "invalid_request"



def remote_files(tmp_path: Path) -> list[str]:
    root = tmp_path / "remote-work"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_a_cancelled_request_leaves_no_scratch_on_the_container(configured_handler: Any, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's /cancel or /delete cancels the RunPod request (the handler sees CancelledError):
    the job stops within a step, and its folder (the user's LoRA copy) goes once it has stopped."""
    monkeypatch.setitem(registry.HANDLERS, "noop", gated.HANDLER)
    gate = gated.reset(ending="step")
    request = asyncio.create_task(configured_handler({"id": "rp-4", "input": noop_input(5)}))
    await asyncio.to_thread(gate.started.wait, 10)
    assert remote_files(tmp_path) == [f"job-5-c0ffee00/{gated.SCRATCH_FILE}"]
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    gate.open.set()
    await asyncio.get_running_loop().run_in_executor(runpod_handler._EXECUTOR, lambda: None)  # the engine thread
    assert remote_files(tmp_path) == []


async def test_a_folder_kept_for_a_retry_goes_when_another_job_comes(configured_handler: Any, tmp_path: Path) -> None:
    """After a retryable failure the folder waits for a retry on this container (which resumes
    from it); the container's next request for another job sweeps it."""
    failing = noop_input(8, scratch=True, fail="CUDA out of memory", fail_retryable=True)
    assert json.loads((await configured_handler({"id": "rp-5", "input": failing}))["error"])["retryable"]
    assert remote_files(tmp_path) == ["job-8-c0ffee00/scratch.bin"]
    again = await configured_handler({"id": "rp-6", "input": failing})  # the retry finds it; kept again
    assert json.loads(again["error"])["retryable"] and remote_files(tmp_path) == ["job-8-c0ffee00/scratch.bin"]
    other = noop_input(9)
    assert await configured_handler({"id": "rp-7", "input": other}) == {"steps": 1, "attempt": 1, "result_key": None}
    assert remote_files(tmp_path) == []



async def test_a_folder_kept_for_a_retry_that_never_comes_goes_after_a_while(
        configured_handler: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runpod_handler, "RETRY_KEEP_SECONDS", 1.0)
    failing = noop_input(8, scratch=True, fail="CUDA out of memory", fail_retryable=True)
    await configured_handler({"id": "rp-8", "input": failing})
    await asyncio.sleep(0.5)
    await configured_handler({"id": "rp-9", "input": failing})  # the retry came: the first timer lets it be
    await asyncio.sleep(0.75)  # the first timer is due, the second not yet
    assert remote_files(tmp_path) == ["job-8-c0ffee00/scratch.bin"]
    await asyncio.sleep(1.0)  # no further retry: it goes
    await asyncio.get_running_loop().run_in_executor(runpod_handler._EXECUTOR, lambda: None)
    assert remote_files(tmp_path) == []

async def test_client_submit_poll_health(client: RunPodClient, fake: FakeRunPod) -> None:
    remote_id = await client.submit(noop_input(steps=2))
    first = await client.status(remote_id)
    assert first.state in (RemoteState.IN_QUEUE, RemoteState.IN_PROGRESS, RemoteState.COMPLETED)
    done = await wait_final(client, remote_id)
    assert done.state == RemoteState.COMPLETED and done.output == {"steps": 2, "attempt": 1, "result_key": None}
    assert done.delay_ms is not None and done.execution_ms is not None
    health = await client.health()
    assert health["jobs"]["completed"] == 1 and "workers" in health
    assert fake.requests[0] == f"POST /v2/{fake.endpoint_id}/run"
    assert f"GET /v2/{fake.endpoint_id}/status/{remote_id}" in fake.requests


async def test_client_cancel(client: RunPodClient) -> None:
    remote_id = await client.submit(noop_input(seconds=30, steps=30))
    cancelled = await client.cancel(remote_id)
    assert cancelled.state == RemoteState.CANCELLED
    assert (await client.status(remote_id)).state == RemoteState.CANCELLED


async def test_client_retries_transient_errors_but_not_auth_errors(client: RunPodClient, fake: FakeRunPod) -> None:
    fake.fail_next_requests = 2
    assert await client.health()
    wrong = RunPodClient(fake.endpoint_id, "wrong-key", base_url=fake.base_url, backoff_seconds=0.01)
    try:
        with pytest.raises(RunPodError) as caught:
            await wrong.health()
        assert caught.value.status == 401 and not caught.value.transient
    finally:
        await wrong.close()
    fake.fail_next_requests = 10
    with pytest.raises(RunPodError) as outage:
        await client.health()
    assert outage.value.transient and outage.value.status == 503


# --- the worker through RunPod, on both databases ---------------------------------------------------


@pytest.fixture
async def remote_worker(database: Database, storage: LocalStorage, client: RunPodClient) -> Worker:
    backend = RunPodBackend(client, slots=2, poll_seconds=0.02)
    config = WorkerConfig(lease_seconds=5, tick_seconds=0.1, idle_seconds=0.05, reap_seconds=1)
    return Worker(database, storage, backend, config=config, worker_id="rp-worker")


async def test_worker_runs_a_job_on_runpod(database: Database, remote_worker: Worker, storage: LocalStorage) -> None:
    user = await make_user(database, free=1)
    job_id = await enqueue_noop(database, user, steps=2, result_key=f"users/{user}/out/r.json")
    outcome = await remote_worker.run_next()
    assert outcome is not None and outcome.state == JobState.succeeded
    job = await get(database, job_id)
    assert job.state == JobState.succeeded and job.result == {"steps": 2, "attempt": 1,
                                                                "result_key": f"users/{user}/out/r.json"}
    assert json.loads(await storage.get(f"users/{user}/out/r.json"))["job_id"] == job_id  # written remotely
    assert await balance(database, user) == 0
    await assert_books_balance(database, user)


async def test_a_remote_failure_fails_the_job_with_the_handlers_code(database: Database, remote_worker: Worker) -> None:
    user = await make_user(database, free=1)
    job_id = await enqueue_noop(database, user, fail="remote boom")
    outcome = await remote_worker.run_next()
    assert outcome is not None and outcome.error_code == "internal_error"
    job = await get(database, job_id)
    assert job.state == JobState.failed and "remote boom" in (job.error_message or "")
    assert job.credit_state == CreditState.refunded and await balance(database, user) == 1


async def test_a_remote_timeout_is_retried_then_fails_and_refunds(
    database: Database, remote_worker: Worker, fake: FakeRunPod
) -> None:
    user = await make_user(database, free=1)
    job_id = await enqueue_noop(database, user, max_attempts=2)
    fake.force = "TIMED_OUT"
    first = await remote_worker.run_next()
    assert first is not None and first.state == "requeued" and first.error_code == "remote_timeout"
    assert (await get(database, job_id)).state == JobState.queued
    fake.force = "TIMED_OUT"
    second = await remote_worker.run_next()
    assert second is not None and second.state == JobState.failed
    job = await get(database, job_id)
    assert job.state == JobState.failed and job.error_code == "remote_timeout" and job.attempts == 2
    assert await balance(database, user) == 1
    await assert_books_balance(database, user)


async def test_user_cancel_cancels_the_remote_job(database: Database, remote_worker: Worker, fake: FakeRunPod) -> None:
    user = await make_user(database, free=1)
    job_id = await enqueue_noop(database, user, seconds=30, steps=30)
    task = asyncio.create_task(remote_worker.run_next())
    deadline = time.monotonic() + 30
    while not any(job.status == "IN_PROGRESS" for job in fake.jobs.values()):
        assert time.monotonic() < deadline, f"no remote job IN_PROGRESS after 30 s: {fake.jobs}"
        await asyncio.sleep(0.02)
    async with database.transaction() as session:
        assert await request_cancel(session, job_id) == CancelOutcome.requested
    outcome = await asyncio.wait_for(task, 30)
    assert outcome is not None and outcome.state == JobState.cancelled
    assert [job.status for job in fake.jobs.values()] == ["CANCELLED"]
    assert (await get(database, job_id)).credit_state == CreditState.refunded
    assert await balance(database, user) == 1


async def test_remote_progress_reaches_the_job(database: Database, storage: LocalStorage, tmp_path: Path) -> None:
    release = asyncio.Event()
    server: FakeRunPod

    async def training_like(job: dict[str, Any]) -> dict[str, Any]:
        server.jobs[job["id"]].output = {"stage": "training", "step": 6, "total": 24, "eta": 12.5}
        await release.wait()
        return {"steps": 1, "attempt": 1, "result_key": None}

    server = await FakeRunPod(training_like).start()
    client = RunPodClient(server.endpoint_id, server.api_key, base_url=server.base_url)
    try:
        worker = Worker(database, storage, RunPodBackend(client, slots=1, poll_seconds=0.02),
                        config=WorkerConfig(lease_seconds=5, tick_seconds=0.05), worker_id="rp")
        user = await make_user(database)
        job_id = await enqueue_noop(database, user)
        task = asyncio.create_task(worker.run_next())
        deadline = time.monotonic() + 30
        while (job := await get(database, job_id)).stage != "training":
            assert time.monotonic() < deadline, f"the remote progress never reached the job in 30 s (stage {job.stage})"
            await asyncio.sleep(0.02)
        assert (job.stage, job.step, job.total_steps, job.eta_seconds) == ("training", 6, 24, 12.5)
        release.set()
        outcome = await asyncio.wait_for(task, 30)
        assert outcome is not None and outcome.state == JobState.succeeded
    finally:
        release.set()
        await client.close()
        await server.stop()


async def test_a_user_deleted_while_their_job_runs_on_runpod_stops_the_remote_job(
        database: Database, remote_worker: Worker, fake: FakeRunPod, storage: LocalStorage) -> None:
    from db.users import delete_user

    user = await make_user(database, free=1)
    await enqueue_noop(database, user, seconds=30, steps=30, result_key=f"users/{user}/outputs/r.json")
    task = asyncio.create_task(remote_worker.run_next())
    deadline = time.monotonic() + 30
    while not any(job.status == "IN_PROGRESS" for job in fake.jobs.values()):
        assert time.monotonic() < deadline, f"no remote job IN_PROGRESS after 30 s: {fake.jobs}"
        await asyncio.sleep(0.02)
    async with database.transaction() as session:  # /delete
        assert await delete_user(session, user)
    outcome = await asyncio.wait_for(task, 30)
    assert outcome is not None and outcome.state == "lost"
    assert [job.status for job in fake.jobs.values()] == ["CANCELLED"]  # not left running for a next attempt
    assert await storage.list(f"users/{user}/") == []
