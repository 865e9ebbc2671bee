"""The end of a training has one owner: whoever ends its job (the worker, the reaper of a lost lease,
a user's cancel while it waits) brings its model and selfie set along in the same transaction, so a
query of the model changes nothing and nobody must remember to call a getter first."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select, update

from bot.core.replies import UserRef
from db import job_results, jobs, queue, trainings
from db.models import Job, JobKind, JobState, LoraModel, LoraStatus, Photo, SelfieSet, SetStatus, utcnow
from db.session import Database
from db.storage import LocalStorage
from engine.intake import IntakeConfig, judge_stored
from engine.runtime.backends.local import LocalBackend
from engine.runtime.worker import Worker
from tests.db.test_reads import studio_on
from tests.runtime.helpers import make_user

RESULT = {"lora_key": "users/1/loras/1.safetensors", "base_model": "tiny", "token": "ohwx", "class_word": "man"}


def judge(photos):  # type: ignore[no-untyped-def]
    return judge_stored(photos, IntakeConfig(min_photos=1))


def _photo(set_id: int, position: int, *, accepted: bool) -> Photo:
    face = np.full(8, float(position)).tobytes()
    return Photo(set_id=set_id, position=position, sha256=f"{position:064x}", storage_key=f"k{position}" if accepted else None,
                 accepted=accepted, verdict_code=None if accepted else "no_face", face_embedding=face)


async def a_training(database: Database, user_id: int, *, max_attempts: int = 3) -> tuple[int, int]:
    """A set of one accepted and one refused photo, training: (job id, set id)."""
    async with database.transaction() as session:
        selfie_set = SelfieSet(user_id=user_id, status=SetStatus.training)
        session.add(selfie_set)
        await session.flush()
        session.add_all([_photo(selfie_set.id, 1, accepted=True), _photo(selfie_set.id, 2, accepted=False)])
        job = (await jobs.enqueue(session, user_id=user_id, kind=JobKind.train, cost=1, payload={},
                                  max_attempts=max_attempts, reply_platform="telegram", reply_chat_id="1")).job
        session.add(LoraModel(user_id=user_id, set_id=selfie_set.id, job_id=job.id, base_model="tiny", token="ohwx",
                              class_word="man"))
        return job.id, selfie_set.id


async def model_and_set(database: Database, job_id: int, set_id: int) -> tuple[LoraStatus, SetStatus, list[bool]]:
    """Read without any getter: the model's status, the set's, and which photos keep a face print."""
    async with database.read() as session:
        lora = await session.scalar(select(LoraModel).where(LoraModel.job_id == job_id))
        selfie_set = await session.get(SelfieSet, set_id)
        photos = await trainings.set_photos(session, set_id)
        assert lora is not None and selfie_set is not None
        return lora.status, selfie_set.status, [p.face_embedding is not None for p in photos]


async def test_the_workers_final_transaction_makes_the_set_trained_and_forgets_refused_faces(
        database: Database) -> None:
    """Before: the worker marked the model ready, but the set stayed "training" and the refused photos
    kept their face prints until some reader called ``Studio.current_lora``."""
    job_id, set_id = await a_training(database, await make_user(database))
    async with database.transaction() as session:
        lease = await queue.claim(session, "w", lease_seconds=60)
        assert lease is not None and lease.job_id == job_id
        assert await queue.complete(session, lease, JobState.succeeded, result=RESULT)
        await job_results.record_success(session, job_id, lease.user_id, "train", RESULT)
    assert await model_and_set(database, job_id, set_id) == (LoraStatus.ready, SetStatus.trained, [True, False])


async def test_a_training_the_reaper_ends_gives_its_set_back(sqlite_database: Database, tmp_path: Path) -> None:
    """Its worker died on the last attempt: the model fails and the user can train the set again."""
    user_id = await make_user(sqlite_database)
    job_id, set_id = await a_training(sqlite_database, user_id, max_attempts=1)
    async with sqlite_database.transaction() as session:
        assert await queue.claim(session, "dead", lease_seconds=60) is not None
        await session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    worker = Worker(sqlite_database, LocalStorage(tmp_path / "storage"), LocalBackend(), worker_id="reaper")
    report = await worker.reap()
    assert report.failed == [job_id]
    assert await model_and_set(sqlite_database, job_id, set_id) == (LoraStatus.failed, SetStatus.collecting, [True, True])


async def test_a_waiting_training_cancelled_by_the_user_gives_its_set_back(sqlite_database: Database,
                                                                          tmp_path: Path) -> None:
    studio = studio_on(sqlite_database, tmp_path)
    user_id = await make_user(sqlite_database, "100")
    job_id, set_id = await a_training(sqlite_database, user_id)
    replies = await studio.command(UserRef("telegram", "100", "100"), "cancel")
    assert "went back" in replies[0].text, replies[0].text
    assert await model_and_set(sqlite_database, job_id, set_id) == (LoraStatus.failed, SetStatus.collecting, [True, True])


async def test_a_training_an_older_version_left_unsettled_is_settled_by_the_worker(
        sqlite_database: Database, tmp_path: Path) -> None:
    """An older version settled a training when it was next read: rows it left so are settled by
    the worker's first reap after the upgrade."""
    job_id, set_id = await a_training(sqlite_database, await make_user(sqlite_database))
    async with sqlite_database.transaction() as session:  # the old worker's end: the job alone
        lease = await queue.claim(session, "old", lease_seconds=60)
        assert lease is not None
        assert await queue.complete(session, lease, JobState.succeeded, result=RESULT)
    assert (await model_and_set(sqlite_database, job_id, set_id))[:2] == (LoraStatus.training, SetStatus.training)
    await Worker(sqlite_database, LocalStorage(tmp_path / "storage"), LocalBackend(), worker_id="new").reap()
    assert await model_and_set(sqlite_database, job_id, set_id) == (LoraStatus.ready, SetStatus.trained, [True, False])
