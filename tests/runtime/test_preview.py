"""The preview job on the tiny engine: the real diffusers IP-Adapter path (``load_ip_adapter`` of a
tiny plus adapter built from config) through the local worker, and a worker without the adapter's
weights that skips it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db.models import CreditState, JobState
from db.session import Database
from db.storage import LocalStorage
from engine.runtime.backends.local import LocalBackend
from engine.runtime.handlers.context import EngineOptions
from engine.jobs import PreviewJob, ReferenceImage
from engine.runtime.worker import Worker, WorkerConfig
from tests.runtime.engine_jobs import enqueue_spec, generate_spec, store_photos
from tests.runtime.helpers import balance, get, make_user

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _two_threads() -> None:
    torch.set_num_threads(2)


def _worker(database: Database, storage: LocalStorage, tmp_path: Path, base_model: str) -> Worker:
    return Worker(database, storage, LocalBackend(), worker_id="engine-worker",
                  options=EngineOptions(base_model=base_model, device="cpu", work_dir=tmp_path / "work",
                                        models_dir=tmp_path / "models"),
                  config=WorkerConfig(lease_seconds=30, tick_seconds=0.1, idle_seconds=0.05))


@pytest.fixture
async def worker(sqlite_database: Database, storage: LocalStorage, tmp_path: Path) -> AsyncIterator[Worker]:
    worker = _worker(sqlite_database, storage, tmp_path, "tiny")
    yield worker
    await worker.backend.close()


def preview_spec(user_id: int, keys: list[str], base_model: str = "tiny") -> PreviewJob:
    return PreviewJob(user_id=user_id, style_id="linkedin-headshot", prompt="a photo of a person, headshot",
                      base_model=base_model, count=1, extra_candidates=1, output_prefix=f"users/{user_id}/preview/",
                      output_aspects=["1:1", "4:5"],
                      reference_images=[ReferenceImage(key=keys[0], box=(10, 10, 60, 70)), ReferenceImage(key=keys[1])])


async def test_preview_paints_through_the_ip_adapter_and_leaves_the_pipeline_as_it_was(
    sqlite_database: Database, worker: Worker, storage: LocalStorage
) -> None:
    database = sqlite_database
    user = await make_user(database, free=2)
    keys = await store_photos(storage, user)
    job_id = await enqueue_spec(database, preview_spec(user, keys), cost=0)
    outcome = await worker.run_next()
    job = await get(database, job_id)
    assert outcome is not None and outcome.state == JobState.succeeded, job.error_message
    assert job.result is not None and job.result["skipped"] == ""
    images = job.result["images"]
    assert [(i["index"], i["aspect"]) for i in images] == [(0, "1:1"), (0, "4:5")]
    for image in images:
        data = await storage.get(image["key"])
        assert data[:2] == b"\xff\xd8" and b"AI-generated" in data  # finished and labelled as real portraits
    assert job.credits_reserved == 0 and job.credit_state in (CreditState.none, CreditState.committed)
    assert await balance(database, user) == 2  # free

    # The adapter is out of the shared pipeline again: a generation right after runs as before
    # (with the adapter still in, the UNet would ask for image embeddings and fail).
    plain = generate_spec(user, "", "after").model_copy(update={"lora_key": None})
    job_id = await enqueue_spec(database, plain, cost=1)
    outcome = await worker.run_next()
    assert outcome is not None and outcome.state == JobState.succeeded, (await get(database, job_id)).error_message


async def test_a_worker_without_the_adapter_weights_skips_previews_with_one_log_line(
    sqlite_database: Database, storage: LocalStorage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from engine.runtime.handlers import preview

    preview._reported.discard("sdxl")
    database = sqlite_database
    user = await make_user(database, free=1)
    keys = await store_photos(storage, user)
    from engine.models import get_spec, local_dir

    for source in get_spec("sdxl").sources():  # SDXL's weights are here (as far as a look tells), the adapter's not
        folder = local_dir(source, tmp_path / "models")
        folder.mkdir(parents=True)
        (folder / "model_index.json").write_text("{}")
    worker = _worker(database, storage, tmp_path, "tiny")
    try:
        with caplog.at_level(logging.WARNING, logger="engine.runtime.handlers.preview"):
            for _ in range(2):
                job_id = await enqueue_spec(database, preview_spec(user, keys, base_model="sdxl"), cost=0)
                outcome = await worker.run_next()
                job = await get(database, job_id)
                assert outcome is not None and outcome.state == JobState.succeeded, job.error_message
                assert job.result is not None and job.result["images"] == []
                assert "preview adapter" in job.result["skipped"]
    finally:
        await worker.backend.close()
    lines = [r.getMessage() for r in caplog.records if "previews skipped" in r.getMessage()]
    assert len(lines) == 1 and "studio models fetch sdxl" in lines[0]
    assert await balance(database, user) == 1
