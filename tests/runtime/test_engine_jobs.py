"""Training and generation jobs on the tiny engine: through the local worker, and through the
RunPod serverless handler called directly (the same handler code)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from db.job_status import CancelOutcome, request_cancel
from db.models import CreditState, JobState, LoraModel, LoraStatus, OutputImage
from db.session import Database
from db.storage import LocalStorage
from engine.runtime.backends.local import LocalBackend
from engine.runtime.handlers.context import EngineOptions
from engine.runtime.worker import Worker, WorkerConfig
from tests.runtime.engine_jobs import enqueue_spec, generate_spec, store_photos, train_spec
from tests.runtime.helpers import Heartbeats, assert_books_balance, balance, get, make_user
from tests.runtime.worker_process import pause_at_step

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _two_threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture
async def worker(sqlite_database: Database, storage: LocalStorage, tmp_path: Path) -> AsyncIterator[Worker]:
    backend = LocalBackend()
    yield Worker(sqlite_database, storage, backend, worker_id="engine-worker",
                 options=EngineOptions(base_model="tiny", device="cpu", work_dir=tmp_path / "work"),
                 config=WorkerConfig(lease_seconds=30, tick_seconds=0.1, idle_seconds=0.05))
    await backend.close()


async def test_train_then_generate_twice_with_warm_models(
    sqlite_database: Database, worker: Worker, storage: LocalStorage
) -> None:
    database = sqlite_database
    user = await make_user(database, free=5)
    keys = await store_photos(storage, user)
    train_id = await enqueue_spec(database, train_spec(user, keys, steps=8))
    outcome = await worker.run_next()
    assert outcome is not None and outcome.state == JobState.succeeded
    trained = await get(database, train_id)
    lora_key = trained.result["lora_key"] if trained.result else ""
    assert trained.result is not None and trained.result["steps"] == 8 and trained.result["base_model"] == "tiny"
    assert (await storage.get(lora_key))[:8]  # a safetensors file
    async with database.transaction() as session:
        models = (await session.scalars(select(LoraModel).where(LoraModel.job_id == train_id))).all()
    assert [(m.status, m.storage_key, m.user_id) for m in models] == [(LoraStatus.ready, lora_key, user)]

    generator = None
    for name in ("first", "second"):
        job_id = await enqueue_spec(database, generate_spec(user, lora_key, name, aspects=("4:5", "16:9")))
        outcome = await worker.run_next()
        assert outcome is not None and outcome.state == JobState.succeeded, (await get(database, job_id)).error_message
        job = await get(database, job_id)
        assert job.result is not None and [image["index"] for image in job.result["images"]] == [0, 0, 1, 1]
        async with database.transaction() as session:
            rows = (await session.scalars(select(OutputImage).where(OutputImage.job_id == job_id)
                                          .order_by(OutputImage.position, OutputImage.id))).all()
        prefix = f"users/{user}/out/{name}/"
        assert [row.storage_key for row in rows] == [f"{prefix}0-4x5.jpg", f"{prefix}0-16x9.jpg",
                                                     f"{prefix}1-4x5.jpg", f"{prefix}1-16x9.jpg"]
        assert [row.variant for row in rows] == ["4:5", "16:9", "4:5", "16:9"]
        for row in rows:  # finished: exact aspect, JPEG with the AI label
            assert row.style_id == "linkedin-headshot"
            assert abs(row.width / row.height - (4 / 5 if row.variant == "4:5" else 16 / 9)) < 0.02
            data = await storage.get(row.storage_key)
            assert data[:2] == b"\xff\xd8" and b"AI-generated" in data
        # The pipelines are loaded once and reused by the next job.
        current = worker.cache.get("generator:tiny", lambda: None)
        assert current is not None and current.loaded
        assert generator is None or current is generator
        generator = current
    assert await balance(database, user) == 2
    await assert_books_balance(database, user)


async def test_cancel_stops_training_within_a_step_and_refunds(
    sqlite_database: Database, worker: Worker, storage: LocalStorage
) -> None:
    database = sqlite_database
    total = 24
    user = await make_user(database, free=1)
    job_id = await enqueue_spec(database, train_spec(user, await store_photos(storage, user), steps=total))
    # Training waits at step 2 until the cancel is requested, so it cannot finish first however
    # fast this machine is; then it goes on, and the cancel reaches it while it trains.
    requested = threading.Event()
    pause_at_step(worker.backend, 2, until=requested)
    with Heartbeats(database) as beats:
        task = asyncio.create_task(worker.run_next())
        deadline = asyncio.get_running_loop().time() + 60  # loading the models is slow on a busy machine
        while not ((job := await get(database, job_id)).stage == "training" and job.step >= 2):
            assert job.state in (JobState.queued, JobState.running), job.error_message
            assert asyncio.get_running_loop().time() < deadline, f"training never reached step 2 ({job.stage})"
            await asyncio.sleep(0.02)
        assert job.total_steps == total
        async with database.transaction() as session:
            assert await request_cancel(session, job_id) == CancelOutcome.requested
        requested.set()
        outcome = await asyncio.wait_for(task, 60)
    # Cancelled, not finished: the heartbeat after the request returned it, and training stopped
    # at its next step (at most one more if a step ended while that heartbeat was on its way).
    assert outcome is not None and outcome.state == JobState.cancelled
    seen_at = beats.step_when_cancel_was_seen()
    assert beats.stopped_at is not None and 2 <= beats.stopped_at <= seen_at + 2 < total, (beats.stopped_at, seen_at)
    job = await get(database, job_id)
    assert job.state == JobState.cancelled and job.step < total and job.credit_state == CreditState.refunded
    assert await balance(database, user) == 1
    assert not await storage.exists(f"users/{user}/lora/model.safetensors")


async def test_the_runpod_handler_trains_and_generates(storage: LocalStorage, tmp_path: Path) -> None:
    from engine.runtime import runpod_handler

    runpod_handler.configure(storage=storage, options=EngineOptions(base_model="tiny", device="cpu",
                                                                    work_dir=tmp_path / "remote"))
    keys = await store_photos(storage, 5)
    spec = train_spec(5, keys, steps=4)
    trained: dict[str, Any] = await runpod_handler.handler(
        {"id": "rp-train", "input": {"kind": "train", "payload": spec.to_payload(), "job_id": 41, "attempt": 1,
                                     "correlation_id": "feedbeef"}})
    assert "error" not in trained, trained
    assert trained["lora_key"] == spec.lora_key and await storage.exists(spec.lora_key)
    generated = await runpod_handler.handler(
        {"id": "rp-gen", "input": {"kind": "generate", "payload": generate_spec(5, spec.lora_key, "rp", 1).to_payload(),
                                   "job_id": 42, "attempt": 1, "correlation_id": "feedbeef"}})
    assert [image["key"] for image in generated["images"]] == ["users/5/out/rp/0-1x1.jpg"]
    assert await storage.exists("users/5/out/rp/0-1x1.jpg")
    missing = await runpod_handler.handler(
        {"id": "rp-bad", "input": {"kind": "train", "payload": train_spec(5, ["users/5/photos/nope.png"]).to_payload(),
                                   "job_id": 43, "correlation_id": "feedbeef"}})
    assert json.loads(missing["error"])["code"] == "input_missing"
