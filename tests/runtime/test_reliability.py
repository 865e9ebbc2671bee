"""Reliability with real worker processes on SQLite and PostgreSQL: a worker killed with SIGKILL
mid-job, two workers sharing 200 jobs from 20 users, and a handler that raises."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.models import CreditEntry, CreditState, Job, JobState, LoraModel, LoraStatus
from db.session import Database
from db.storage import LocalStorage
from tests.runtime.engine_jobs import enqueue_spec, store_photos, train_spec
from tests.runtime.helpers import assert_books_balance, balance, count_jobs, enqueue_noop, get, make_user

ROOT = Path(__file__).resolve().parents[2]


class Workers:
    """Starts worker processes for one database and cleans them up."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url
        self.tmp = tmp
        self.storage = tmp / "storage"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def start(self, name: str, *, drain: bool = False, lease: float = 2.0, preload: bool = False,
              extra: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        command = [
            sys.executable, "-m", "tests.runtime.worker_process", "--url", self.url, "--storage", str(self.storage),
            "--work", str(self.tmp / "work"), "--id", name, "--lease", str(lease), "--log", str(self.log(name)),
        ]
        if drain:
            command.append("--drain")
        if preload:
            command.append("--preload")
        command.extend(extra)
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.processes[name] = process
        return process

    def wait(self, name: str, timeout: float = 60) -> int:
        process = self.processes[name]
        code = process.wait(timeout=timeout)
        assert code == 0, (process.stderr.read().decode() if process.stderr else "") + self.log(name).read_text()
        return code

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def workers(database: Database, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(database.url, tmp_path)
    yield started
    started.stop_all()


async def wait_until(predicate, timeout: float = 30, interval: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(interval)


@pytest.mark.slow
async def test_sigkill_mid_job_is_retried_elsewhere_with_one_result_and_exact_books(
    database: Database, workers: Workers
) -> None:
    user = await make_user(database, free=3)
    key = f"users/{user}/out/result.json"
    job_id = await enqueue_noop(database, user, seconds=3, steps=30, result_key=key)
    victim = workers.start("victim", extra=("--pause-at-step", "3"))  # it stays at step 3 until killed

    async def half_way() -> bool:
        job = await get(database, job_id)
        assert job.state in (JobState.queued, JobState.running), "the job ended before it could be killed"
        return job.state == JobState.running and 3 <= job.step < 30

    await wait_until(half_way, timeout=60)  # the worker process starts (imports) first
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert (await get(database, job_id)).state == JobState.running  # nobody has noticed yet
    workers.start("rescuer")

    async def done() -> bool:
        return (await get(database, job_id)).state in (JobState.succeeded, JobState.failed)

    await wait_until(done, timeout=90)  # start-up, the victim's lease expiring, then 30 steps
    job = await get(database, job_id)
    assert job.state == JobState.succeeded and job.attempts == 2
    assert job.result == {"steps": 30, "attempt": 2, "result_key": key}
    stored = LocalStorage(workers.storage)
    assert await stored.list(f"users/{user}/out/") == [key]
    assert json.loads(await stored.get(key)) == {"job_id": job_id, "attempt": 2, "steps": 30}
    assert job.credit_state == CreditState.committed and await balance(database, user) == 2
    await assert_books_balance(database, user)
    async with database.transaction() as session:
        reasons = Counter((await session.scalars(select(CreditEntry.reason).where(CreditEntry.job_id == job_id))).all())
    assert reasons == {"reserve": 1}
    assert "lease expired" in workers.log("rescuer").read_text()


@pytest.mark.slow
async def test_sigkill_mid_training_resumes_elsewhere_with_one_model_and_exact_books(
    database: Database, workers: Workers
) -> None:
    pytest.importorskip("torch")
    user = await make_user(database, free=2)
    storage = LocalStorage(workers.storage)
    spec = train_spec(user, await store_photos(storage, user), steps=24)
    job_id = await enqueue_spec(database, spec)
    # The victim stops at step 8, right after its second checkpoint (every 4 steps) is written,
    # and stays there until it is killed: however fast this machine is, it dies mid-training.
    victim = workers.start("victim", preload=True, extra=("--pause-at-step", "8"))

    async def training() -> bool:
        job = await get(database, job_id)
        assert job.state != JobState.succeeded, "training finished before it could be killed"
        return job.stage == "training" and job.step >= 8

    await wait_until(training, timeout=60)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    workers.start("rescuer", preload=True)

    async def done() -> bool:
        return (await get(database, job_id)).state in (JobState.succeeded, JobState.failed)

    await wait_until(done, timeout=90)
    job = await get(database, job_id)
    assert job.state == JobState.succeeded and job.attempts == 2, job.error_message
    assert job.result is not None and job.result["steps"] == 24 and job.result["resumed_from"] == 8
    async with database.transaction() as session:
        models = (await session.scalars(select(LoraModel).where(LoraModel.job_id == job_id))).all()
        reasons = Counter((await session.scalars(select(CreditEntry.reason).where(CreditEntry.job_id == job_id))).all())
    assert [(m.status, m.storage_key) for m in models] == [(LoraStatus.ready, spec.lora_key)]
    assert await storage.list(f"users/{user}/lora/") == [spec.lora_key]
    assert reasons == {"reserve": 1} and job.credit_state == CreditState.committed
    assert await balance(database, user) == 1
    await assert_books_balance(database, user)


@pytest.mark.slow
async def test_two_workers_run_200_jobs_from_20_users_exactly_once_and_fairly(
    database: Database, workers: Workers
) -> None:
    users = [await make_user(database, str(1000 + i), free=10) for i in range(20)]
    for user in users:  # the worst order for fairness: each user's ten jobs in one block
        for _ in range(10):
            await enqueue_noop(database, user)
    # Both take part whatever their start-up times: each holds its first job until both hold one.
    go = workers.tmp / "go"
    workers.start("a", drain=True, extra=("--hold-first-job-until", str(go)))
    workers.start("b", drain=True, extra=("--hold-first-job-until", str(go)))

    async def both_hold_a_job() -> bool:
        return all([await count_jobs(database, Job.state == JobState.running, Job.lease_owner == name) == 1
                    for name in ("a", "b")])

    await wait_until(both_hold_a_job, timeout=60)  # the worker processes start (imports) first
    go.touch()
    workers.wait("a", timeout=120)
    workers.wait("b", timeout=120)
    assert await count_jobs(database, Job.state == JobState.succeeded, Job.attempts == 1) == 200
    async with database.transaction() as session:
        rows = (await session.execute(select(Job.user_id, Job.lease_owner, Job.started_at, Job.id))).all()
        owners = Counter(
            (await session.scalars(select(Job.credit_state))).all()
        )
        spent = await session.scalar(select(func.count()).where(CreditEntry.reason == "refund"))
    assert owners == {CreditState.committed: 200} and spent == 0
    order = [user for user, _, _, _ in sorted(rows, key=lambda r: (r[2], r[3]))]
    served: Counter[int] = Counter()
    for user in order:  # round robin: in every prefix of the claim order, shares differ by at most 2
        served[user] += 1
        assert max(served.values()) - min(served[u] for u in users) <= 2
    for user in users:
        assert await balance(database, user) == 0
        await assert_books_balance(database, user)
    logs = workers.log("a").read_text() + workers.log("b").read_text()
    assert "started on a" in logs and "started on b" in logs  # both took part


async def test_a_raising_handler_in_a_worker_process_fails_refunds_and_logs_the_correlation_id(
    database: Database, workers: Workers
) -> None:
    user = await make_user(database, free=1)
    job_id = await enqueue_noop(database, user, fail="boom in the engine")
    workers.start("solo", drain=True)
    workers.wait("solo")
    job = await get(database, job_id)
    assert job.state == JobState.failed and job.error_code == "internal_error"
    assert job.credit_state == CreditState.refunded and await balance(database, user) == 1
    await assert_books_balance(database, user)
    log = workers.log("solo").read_text()
    line = next(line for line in log.splitlines() if f"job {job_id} [{job.correlation_id}]: failed" in line)
    assert "internal_error" in line
    assert "RuntimeError: boom in the engine" in log  # the traceback follows
