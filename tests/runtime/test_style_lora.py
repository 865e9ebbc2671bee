"""A style's pre-styled LoRA (``[lora] source``) on the tiny engine, through the local worker: used
when it is in the models folder or in storage; missing (a fresh install), the style still works
with its prompt alone, batched as usual, and the worker says once what is missing and how to add
it; a file that is there but broken fails its job with the file named."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db.models import CreditState, JobState
from db.session import Database
from db.storage import LocalStorage
from engine.runtime.backends.local import LocalBackend
from engine.runtime.handlers import generate as generate_handler
from engine.runtime.handlers.context import EngineOptions
from engine.jobs import GenerateJob
from engine.runtime.worker import Worker, WorkerConfig
from tests.runtime.engine_jobs import enqueue_spec, store_photos, train_spec
from tests.runtime.helpers import assert_books_balance, balance, get, make_user

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow

MISSING = "looks/barbie-style.safetensors"  # what barbie-look names; not on a fresh install


@pytest.fixture(autouse=True)
def _two_threads_and_no_warnings_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.set_num_threads(2)
    monkeypatch.setattr(generate_handler, "_missing_style_loras", set())


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture
async def worker(sqlite_database: Database, storage: LocalStorage, tmp_path: Path,
                 models_dir: Path) -> AsyncIterator[Worker]:
    backend = LocalBackend()
    yield Worker(sqlite_database, storage, backend, worker_id="style-worker",
                 options=EngineOptions(base_model="tiny", device="cpu", work_dir=tmp_path / "work",
                                       models_dir=models_dir),
                 config=WorkerConfig(lease_seconds=30, tick_seconds=0.1, idle_seconds=0.05))
    await backend.close()


def styled(user_id: int, name: str, style_lora: str, *, seed: int = 0, count: int = 2,
           lora_key: str | None = None) -> GenerateJob:
    return GenerateJob(user_id=user_id, style_id="barbie-look", prompt=f"fashion photo of ohwx person, {name}",
                       lora_key=lora_key, style_lora_key=style_lora, style_lora_weight=0.7, base_model="tiny",
                       count=count, seed=seed, output_prefix=f"users/{user_id}/out/{name}/")


def missing_warnings(caplog: pytest.LogCaptureFixture, source: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.name == generate_handler.__name__ and source in r.getMessage()]


def active_adapters(worker: Worker) -> list[str]:
    generator = worker.cache.get("generator:tiny", lambda: None)
    assert generator is not None and generator.loaded
    return list(generator.base.get_active_adapters())


async def train_lora(database: Database, worker: Worker, storage: LocalStorage, user: int) -> str:
    train_id = await enqueue_spec(database, train_spec(user, await store_photos(storage, user), steps=2))
    outcome = await worker.run_next()
    assert outcome is not None and outcome.state == JobState.succeeded
    return (await get(database, train_id)).result["lora_key"]  # type: ignore[index]


async def test_a_missing_style_lora_is_left_out_with_one_warning_and_the_batch_succeeds(
    sqlite_database: Database, worker: Worker, models_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = sqlite_database
    caplog.set_level(logging.WARNING, logger=generate_handler.__name__)
    user = await make_user(database, free=5)
    first = await enqueue_spec(database, styled(user, "first", MISSING))
    second = await enqueue_spec(database, styled(user, "second", MISSING, seed=50, count=1))
    outcome = await worker.run_next()
    # Same style LoRA, same batch key: one pipeline call for both, each with its own images.
    assert outcome is not None and outcome.batch == (first, second)
    assert [(o.job_id, o.state) for o in worker.last_outcomes] == [(first, JobState.succeeded),
                                                                   (second, JobState.succeeded)]
    assert worker.cache.get("generator:tiny", lambda: None).pipeline_calls == 1
    one, two = await get(database, first), await get(database, second)
    assert one.result is not None and [(i["index"], i["seed"]) for i in one.result["images"]] == [(0, 0), (1, 1)]
    assert two.result is not None and [(i["index"], i["seed"]) for i in two.result["images"]] == [(0, 50)]
    assert active_adapters(worker) == []  # the prompt alone
    # A later job of the same style: fine again, and no second warning from this process.
    third = await enqueue_spec(database, styled(user, "third", MISSING, count=3))
    outcome = await worker.run_next()
    assert outcome is not None and outcome.job_id == third and outcome.state == JobState.succeeded
    assert len((await get(database, third)).result["images"]) == 3  # type: ignore[index]
    warnings = missing_warnings(caplog, MISSING)
    assert len(warnings) == 1, warnings
    assert str(models_dir / MISSING) in warnings[0] and "STUDIO_MODELS_DIR" in warnings[0]
    assert "prompt alone" in warnings[0] and "storage" in warnings[0]
    for job in (one, two, await get(database, third)):
        assert job.credit_state == CreditState.committed and job.error_code is None
    assert await balance(database, user) == 2
    await assert_books_balance(database, user)


async def test_a_style_lora_on_disk_or_in_storage_is_applied_and_a_broken_one_fails_its_job(
    sqlite_database: Database, worker: Worker, storage: LocalStorage, models_dir: Path,
    caplog: pytest.LogCaptureFixture
) -> None:
    database = sqlite_database
    caplog.set_level(logging.WARNING, logger=generate_handler.__name__)
    user = await make_user(database, free=10)
    lora_key = await train_lora(database, worker, storage, user)
    weights = await storage.get(lora_key)
    on_disk = models_dir / "looks/cinematic-film.safetensors"
    on_disk.parent.mkdir(parents=True)
    on_disk.write_bytes(weights)
    await storage.put("looks/from-storage.safetensors", weights)

    seen: list[str] = []
    for name, source in (("disk", "looks/cinematic-film.safetensors"), ("storage", "looks/from-storage.safetensors")):
        job_id = await enqueue_spec(database, styled(user, name, source, lora_key=lora_key))
        outcome = await worker.run_next()
        assert outcome is not None and outcome.state == JobState.succeeded, (await get(database, job_id)).error_message
        assert len((await get(database, job_id)).result["images"]) == 2  # type: ignore[index]
        adapters = active_adapters(worker)  # the user's LoRA and the style's, both set
        assert sorted(a.split("_")[0] for a in adapters) == ["style", "user"], adapters
        seen += [a for a in adapters if a.startswith("style_")]
        assert missing_warnings(caplog, source) == []
    assert len(set(seen)) == 2  # two different style files

    broken = models_dir / "looks/broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    failed = await enqueue_spec(database, styled(user, "broken", "looks/broken.safetensors", lora_key=lora_key),
                                max_attempts=1)
    outcome = await worker.run_next()
    assert outcome is not None and outcome.state == JobState.failed
    job = await get(database, failed)
    assert job.credit_state == CreditState.refunded and str(broken) in (job.error_message or ""), job.error_message
    # The warm generator is not left half-loaded: the next job runs.
    after = await enqueue_spec(database, styled(user, "after", MISSING, lora_key=lora_key))
    outcome = await worker.run_next()
    assert outcome is not None and outcome.job_id == after and outcome.state == JobState.succeeded
    assert [a.split("_")[0] for a in active_adapters(worker)] == ["user"]
    assert await balance(database, user) == 10 - 1 - 3
    await assert_books_balance(database, user)
