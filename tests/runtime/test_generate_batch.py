"""Queued generation jobs that can share one pipeline call run together: claimed together (each
with its own lease, fairly), generated in one call, then ranked, finished, stored, completed and
settled each on its own. On SQLite and on a real PostgreSQL (the ``database`` fixture), with the
tiny engine."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from db import queue
from db.job_status import CancelOutcome, request_cancel
from db.models import CreditState, JobState, OutputImage
from db.session import Database
from db.storage import LocalStorage
from engine.runtime.backends.local import LocalBackend
from engine.runtime.handlers.context import EngineOptions
from engine.runtime.handlers.errors import JobFailed
from engine.runtime.handlers.generate import batch_images, batch_key
from engine.jobs import GenerateJob
from engine.runtime.worker import Worker, WorkerConfig
from tests.runtime.engine_jobs import enqueue_spec, store_photos, train_spec
from tests.runtime.helpers import assert_books_balance, balance, get, make_user

FAST = WorkerConfig(lease_seconds=30, tick_seconds=0.1, idle_seconds=0.05)


def spec(user_id: int, name: str, *, lora_key: str | None = None, seed: int = 0, aspect: str = "1:1",
         count: int = 2, aspects: tuple[str, ...] = ()) -> GenerateJob:
    return GenerateJob(user_id=user_id, style_id="linkedin-headshot", prompt=f"a photo of ohwx person, {name}",
                       lora_key=lora_key, base_model="tiny", count=count, aspect=aspect, seed=seed,
                       output_prefix=f"users/{user_id}/out/{name}/", output_aspects=list(aspects))


@pytest.fixture
async def worker(database: Database, storage: LocalStorage, tmp_path: Path) -> AsyncIterator[Worker]:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    backend = LocalBackend()
    yield Worker(database, storage, backend, worker_id="batch-worker", config=FAST,
                 options=EngineOptions(base_model="tiny", device="cpu", work_dir=tmp_path / "work"))
    await backend.close()


def pipeline_calls(worker: Worker) -> int:
    if "generator:tiny" not in worker.cache:  # not loaded yet (get would store the default)
        return 0
    return worker.cache.get("generator:tiny", lambda: None).pipeline_calls


async def images_of(database: Database, job_id: int) -> list[OutputImage]:
    async with database.transaction() as session:
        return list((await session.scalars(select(OutputImage).where(OutputImage.job_id == job_id)
                                           .order_by(OutputImage.position, OutputImage.id))).all())


async def test_only_compatible_queued_jobs_are_claimed_with_a_generation_fairly_and_in_order(
    database: Database,
) -> None:
    first, second, third = [await make_user(database, uid, free=10) for uid in ("1", "2", "3")]
    lead = await enqueue_spec(database, spec(first, "lead", lora_key="L1"))
    same_user = await enqueue_spec(database, spec(first, "again", lora_key="L1", seed=9))
    other_lora = await enqueue_spec(database, spec(first, "other-lora", lora_key="L2"))
    behind_other_lora = await enqueue_spec(database, spec(first, "behind", lora_key="L1"))
    other_aspect = await enqueue_spec(database, spec(second, "wide", lora_key="L1", aspect="16:9"))
    behind_other_aspect = await enqueue_spec(database, spec(second, "behind", lora_key="L1"))
    never_served = await enqueue_spec(database, spec(third, "first", lora_key="L1"))
    too_big = await enqueue_spec(database, spec(third, "big", lora_key="L1", count=4))
    async with database.transaction() as session:
        lease = await queue.claim(session, "w1", lease_seconds=30)
        assert lease is not None and lease.job_id == lead
        companions = await queue.claim_companions(
            session, lease, key=batch_key, size=batch_images, room=8 - batch_images(lease.payload), lease_seconds=30,
        )
    # The never-served user first, then the lead's user; every user's jobs in their order, none
    # overtaking an older job of theirs that cannot share the call; 8 images at most.
    assert [c.job_id for c in companions] == [never_served, same_user]
    for companion in companions:
        assert companion.owner == "w1" and companion.attempt == 1 and companion.kind == "generate"
        job = await get(database, companion.job_id)
        assert job.state == JobState.running and job.lease_owner == "w1" and job.attempts == 1
    for job_id in (other_lora, behind_other_lora, other_aspect, behind_other_aspect, too_big):
        assert (await get(database, job_id)).state == JobState.queued
    # Incompatible jobs stay claimable by anyone, at once.
    async with database.transaction() as session:
        nxt = await queue.claim(session, "w2", lease_seconds=30)
    assert nxt is not None and nxt.job_id == other_aspect


async def test_two_compatible_jobs_run_in_one_pipeline_call_with_their_own_results_and_credits(
    database: Database, worker: Worker, storage: LocalStorage
) -> None:
    user = await make_user(database, free=5)
    train_id = await enqueue_spec(database, train_spec(user, await store_photos(storage, user), steps=2))
    trained = await worker.run_next()
    assert trained is not None and trained.state == JobState.succeeded
    lora_key = (await get(database, train_id)).result["lora_key"]  # type: ignore[index]
    # "More like this" twice: same LoRA and settings, own prompts, seeds, counts and crops.
    first = await enqueue_spec(database, spec(user, "first", lora_key=lora_key, aspects=("4:5", "16:9")))
    second = await enqueue_spec(database, spec(user, "second", lora_key=lora_key, seed=50, count=1))
    before = pipeline_calls(worker)
    outcome = await worker.run_next()
    assert outcome is not None and outcome.batch == (first, second)
    assert [(o.job_id, o.state) for o in worker.last_outcomes] == [(first, JobState.succeeded),
                                                                   (second, JobState.succeeded)]
    assert pipeline_calls(worker) - before == 1  # 3 images, one pipeline call
    one, two = await get(database, first), await get(database, second)
    assert one.result is not None and two.result is not None
    assert [(i["index"], i["aspect"], i["seed"]) for i in one.result["images"]] == [
        (0, "4:5", 0), (0, "16:9", 0), (1, "4:5", 1), (1, "16:9", 1)]
    assert [(i["index"], i["aspect"], i["seed"]) for i in two.result["images"]] == [(0, "1:1", 50)]
    assert [row.storage_key for row in await images_of(database, first)] == [
        f"users/{user}/out/first/0-4x5.jpg", f"users/{user}/out/first/0-16x9.jpg",
        f"users/{user}/out/first/1-4x5.jpg", f"users/{user}/out/first/1-16x9.jpg"]
    assert [row.storage_key for row in await images_of(database, second)] == [f"users/{user}/out/second/0-1x1.jpg"]
    for key in [i["key"] for i in one.result["images"] + two.result["images"]]:
        assert (await storage.get(key))[:2] == b"\xff\xd8"
    for job in (one, two):
        assert job.state == JobState.succeeded and job.credit_state == CreditState.committed
        assert job.lease_owner is None and job.progress == 1.0
    assert await balance(database, user) == 2
    await assert_books_balance(database, user)


async def test_an_incompatible_job_is_not_batched(database: Database, worker: Worker) -> None:
    user = await make_user(database, free=5)
    square = await enqueue_spec(database, spec(user, "square", count=1))
    wide = await enqueue_spec(database, spec(user, "wide", count=1, aspect="16:9"))
    outcome = await worker.run_next()
    assert outcome is not None and outcome.job_id == square and outcome.state == JobState.succeeded
    assert outcome.batch == () and len(worker.last_outcomes) == 1
    assert (await get(database, wide)).state == JobState.queued
    outcome = await worker.run_next()
    assert outcome is not None and outcome.job_id == wide and outcome.state == JobState.succeeded
    assert outcome.batch == ()
    assert await balance(database, user) == 3
    await assert_books_balance(database, user)


async def test_cancelling_one_job_of_a_batch_refunds_it_and_the_other_succeeds(
    database: Database, worker: Worker, storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.generate import Generator

    user = await make_user(database, free=5)
    kept = await enqueue_spec(database, spec(user, "kept"))
    cancelled = await enqueue_spec(database, spec(user, "cancelled", seed=7))
    reached, release = threading.Event(), threading.Event()
    original = Generator.generate_many

    def held(self: Generator, *args: Any, **kwargs: Any) -> Any:
        reached.set()
        assert release.wait(60)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Generator, "generate_many", held)
    task = asyncio.create_task(worker.run_next())
    while not reached.is_set():
        assert not task.done(), task.result()
        await asyncio.sleep(0.02)
    async with database.transaction() as session:
        assert await request_cancel(session, cancelled) == CancelOutcome.requested
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not any(run.lease.job_id == cancelled and run.user_cancelled for run in worker._runs):
        assert loop.time() < deadline, "the worker never saw the cancel"
        await asyncio.sleep(0.02)
    release.set()
    outcome = await asyncio.wait_for(task, 120)
    assert outcome is not None and outcome.batch == (kept, cancelled)
    assert [(o.job_id, o.state) for o in worker.last_outcomes] == [(kept, JobState.succeeded),
                                                                   (cancelled, JobState.cancelled)]
    done, refunded = await get(database, kept), await get(database, cancelled)
    assert done.state == JobState.succeeded and done.credit_state == CreditState.committed
    assert done.result is not None and [i["seed"] for i in done.result["images"]] == [0, 1]
    assert refunded.state == JobState.cancelled and refunded.credit_state == CreditState.refunded
    assert refunded.result is None and await images_of(database, cancelled) == []
    assert not await storage.exists(f"users/{user}/out/cancelled/0-1x1.jpg")
    assert await balance(database, user) == 4
    await assert_books_balance(database, user)


async def test_a_failed_batch_fails_or_retries_each_job_as_alone(
    database: Database, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.generate import Generator

    def out_of_memory(self: Generator, *args: Any, **kwargs: Any) -> Any:
        raise JobFailed("out_of_memory", "CUDA out of memory", retryable=True)

    monkeypatch.setattr(Generator, "generate_many", out_of_memory)
    user = await make_user(database, free=5)
    retried = await enqueue_spec(database, spec(user, "retried"), max_attempts=3)
    last_try = await enqueue_spec(database, spec(user, "last", seed=4), max_attempts=1)
    outcome = await worker.run_next()
    assert outcome is not None and outcome.batch == (retried, last_try)
    assert [(o.state, o.error_code) for o in worker.last_outcomes] == [("requeued", "out_of_memory"),
                                                                       (JobState.failed, "out_of_memory")]
    again, failed = await get(database, retried), await get(database, last_try)
    assert again.state == JobState.queued and again.attempts == 1 and again.lease_owner is None
    assert failed.state == JobState.failed and failed.error_code == "out_of_memory"
    assert failed.credit_state == CreditState.refunded
    assert await balance(database, user) == 4  # one refunded, one still reserved for its retry
    await assert_books_balance(database, user)
