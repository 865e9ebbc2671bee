"""Scratch space belongs to one job run: named by it, kept while the job may still run, gone when it
is over (also when its user deleted everything while it ran, or when its retry ran on another
worker), swept at the worker's start and then every ``sweep_seconds``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update

from db.models import Job, JobState
from db.session import Database
from db.storage import LocalStorage
from db.users import delete_user
from engine.runtime import scratch
from engine.runtime.backends.local import LocalBackend
from engine.runtime.handlers import registry
from engine.runtime.handlers.context import EngineOptions
from engine.runtime.worker import Worker, WorkerConfig
from tests.runtime import gated
from tests.runtime.helpers import enqueue_noop, get, make_user

FAST = WorkerConfig(lease_seconds=5, tick_seconds=0.05, idle_seconds=0.05, reap_seconds=0.5)


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.fixture
async def worker(database: Database, storage: LocalStorage, work: Path) -> AsyncIterator[Worker]:
    backend = LocalBackend()
    yield Worker(database, storage, backend, config=FAST, worker_id="w", options=EngineOptions(work_dir=work))
    await backend.close()


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("fail", [None, "boom"])
async def test_a_jobs_folder_is_its_own_and_goes_when_it_ends(database, worker, work, fail):
    user = await make_user(database)
    job_id = await enqueue_noop(database, user, scratch=True, steps=2, seconds=0.3, fail=fail)
    job = await get(database, job_id)
    assert len(job.correlation_id) == 32  # 128 bits: a folder name no other job can have
    running = asyncio.create_task(worker.run_next())
    folder = scratch.job_folder(work, job_id, job.correlation_id)
    if fail is None:  # (a failing job is over at once)
        for _ in range(200):
            if (folder / "scratch.bin").exists():
                break
            await asyncio.sleep(0.01)
        assert (folder / "scratch.bin").read_bytes() == f"job {job_id}".encode()
    outcome = await running
    assert outcome is not None and outcome.state == (JobState.failed if fail else JobState.succeeded)
    assert files_under(work) == [] and list(work.iterdir()) == []


async def test_a_retried_job_keeps_its_folder_until_its_last_attempt(database, worker, work):
    user = await make_user(database)
    job_id = await enqueue_noop(database, user, scratch=True, fail="GPU busy", fail_retryable=True, max_attempts=2)
    job = await get(database, job_id)
    assert (await worker.run_next()).state == "requeued"
    assert files_under(work) == [f"{scratch.folder_name(job_id, job.correlation_id)}/scratch.bin"]
    assert (await worker.run_next()).state == JobState.failed
    assert files_under(work) == []


async def test_a_job_whose_user_is_deleted_while_it_runs_leaves_nothing(database, worker, storage, work):
    user = await make_user(database)
    job_id = await enqueue_noop(database, user, scratch=True, steps=20, seconds=2.0,
                                result_key=f"users/{user}/outputs/result.json")
    running = asyncio.create_task(worker.run_next())
    job = await get(database, job_id)
    folder = scratch.job_folder(work, job_id, job.correlation_id)
    for _ in range(300):
        if folder.exists():
            break
        await asyncio.sleep(0.01)
    async with database.transaction() as session:  # /delete, while the job runs
        assert await delete_user(session, user)
    await storage.delete_user(user)
    outcome = await running
    assert outcome is not None and outcome.state == "lost"
    assert files_under(work) == []
    assert await storage.delete_user(user) == 0  # nothing was written under the user after the delete


async def test_the_worker_sweeps_what_finished_jobs_left_at_start(database, worker, work):
    user = await make_user(database)
    waiting = await enqueue_noop(database, user)
    waiting_job = await get(database, waiting)
    kept = scratch.job_folder(work, waiting, waiting_job.correlation_id)
    kept.mkdir(parents=True)
    (kept / "checkpoint").write_bytes(b"resume me")
    for name in ("job-1", "job-2", f"job-99-{'ab' * 16}"):  # the old naming, and a job that is gone
        (work / name).mkdir()
        (work / name / "user_lora.safetensors").write_bytes(b"someone's face")
    (work / "stray.tmp").write_bytes(b"x")
    removed = await worker.sweep_scratch()
    assert sorted(removed) == sorted(["job-1", "job-2", f"job-99-{'ab' * 16}", "stray.tmp"])
    assert files_under(work) == [f"{kept.name}/checkpoint"]


async def test_a_torn_copy_left_by_a_killed_worker_is_never_loaded(storage, work):
    """A worker killed mid-copy left half a LoRA in the job's folder; the retry fetches it anew."""
    from engine.runtime.handlers.context import JobContext, ModelCache, StorageBridge
    from engine.runtime.handlers.generate import _fetch_lora

    lora = bytes(range(256)) * 4096  # 1 MiB
    await storage.put("users/1/loras/1.safetensors", lora)
    context = JobContext(job_id=7, attempt=2, correlation_id="cd" * 16, options=EngineOptions(work_dir=work),
                         storage=StorageBridge(storage, asyncio.get_running_loop()), cache=ModelCache())
    torn = context.work_dir / "user_lora.safetensors"
    torn.write_bytes(lora[: len(lora) // 2])
    path = await asyncio.to_thread(_fetch_lora, context, "users/1/loras/1.safetensors", "user_lora")
    assert path == torn and path.read_bytes() == lora
    assert [p.name for p in context.work_dir.iterdir()] == ["user_lora.safetensors"]  # no temporary left


async def test_a_folder_kept_for_a_retry_that_ran_on_another_worker_goes_once_the_job_is_over(
        database, storage, tmp_path):
    """The attempt on worker a ended retryable (out of memory): a keeps the folder, the retry may
    come back here and resume. It ran on worker b instead; once the job is over, a's next sweep
    (every ``sweep_seconds`` while it polls the queue) removes the folder."""
    config = WorkerConfig(lease_seconds=5, tick_seconds=0.05, idle_seconds=0.05, reap_seconds=0.5, sweep_seconds=0)
    a = Worker(database, storage, LocalBackend(), config=config, worker_id="a",
               options=EngineOptions(work_dir=tmp_path / "a"))
    b = Worker(database, storage, LocalBackend(), config=config, worker_id="b",
               options=EngineOptions(work_dir=tmp_path / "b"))
    user = await make_user(database)
    job_id = await enqueue_noop(database, user, scratch=True, fail="CUDA out of memory", fail_retryable=True)
    job = await get(database, job_id)
    assert (await a.run_next()).state == "requeued"
    kept = [f"{scratch.folder_name(job_id, job.correlation_id)}/scratch.bin"]
    assert await a.sweep_scratch() == [] and files_under(tmp_path / "a") == kept  # the job may still run here
    async with database.transaction() as session:  # the next attempt does not run out of memory
        await session.execute(update(Job).where(Job.id == job_id).values(
            payload={**job.payload, "fail": None, "fail_retryable": False}))
    assert (await b.run_next()).state == JobState.succeeded
    assert files_under(tmp_path / "b") == []
    assert await a.run_next() is None  # a polls the queue (nothing in it) and sweeps
    assert files_under(tmp_path / "a") == []


@pytest.mark.parametrize("ending", ["out_of_memory", "input_missing"])
async def test_a_job_that_fails_because_its_user_deleted_everything_leaves_nothing(
        database, storage, work, monkeypatch, ending):
    """/delete takes the rows, then the files; the running job's next storage read finds its
    input gone and it fails (or its attempt ends retryable) before its heartbeat notices that
    its rows are gone: the outcome is written nowhere, and still nothing of it stays."""
    monkeypatch.setitem(registry.HANDLERS, "noop", gated.HANDLER)
    user = await make_user(database)
    selfie = f"users/{user}/sets/1/{'a' * 64}.jpg"
    await storage.put(selfie, b"selfie")
    gate = gated.reset(ending="out_of_memory" if ending == "out_of_memory" else "step",
                       write_key=f"users/{user}/outputs/late.png", read_key=selfie)
    slow = WorkerConfig(lease_seconds=120, tick_seconds=30, idle_seconds=0.05, reap_seconds=0.0)
    worker = Worker(database, storage, LocalBackend(), config=slow, worker_id="w", options=EngineOptions(work_dir=work))
    job_id = await enqueue_noop(database, user)
    job = await get(database, job_id)
    running = asyncio.create_task(worker.run_next())
    await asyncio.to_thread(gate.started.wait, 10)
    assert files_under(work) == [f"{scratch.folder_name(job_id, job.correlation_id)}/{gated.SCRATCH_FILE}"]
    async with database.transaction() as session:  # Studio.delete_everything: rows, then storage
        assert await delete_user(session, user)
    await storage.delete_user(user)
    gate.open.set()
    outcome = await running
    assert outcome is not None and not outcome.written
    assert files_under(work) == []
    assert await storage.delete_user(user) == 0  # what it stored after the delete went too
