"""Face prints (128 numbers per face) are kept only while they serve the user: once a set has
trained a model, the prints of the photos it refused (another person, a second face) go; the
accepted ones stay to rank the model's portraits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import select

from bot.core.studio import Studio
from db import trainings
from db.models import Job, JobKind, JobState, LoraModel, LoraStatus, Photo, SelfieSet, SetStatus
from db.session import Database
from db.storage import LocalStorage
from db.users import get_or_create_user
from bot.core.services import Services
from config.settings import Settings
from styles import load_catalogue


async def test_a_trained_set_forgets_the_faces_it_refused(database: Database, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    studio = Studio(Services(settings, database, LocalStorage(tmp_path / "storage"), load_catalogue()))
    print_ = np.zeros(128).tobytes()
    async with database.transaction() as session:
        user, _ = await get_or_create_user(session, "telegram", "5")
        selfie_set = SelfieSet(user_id=user.id, status=SetStatus.training)
        session.add(selfie_set)
        await session.flush()
        session.add_all([Photo(set_id=selfie_set.id, position=1, sha256="a" * 64, accepted=True, face_embedding=print_),
                         Photo(set_id=selfie_set.id, position=2, sha256="b" * 64, accepted=False,
                               verdict_code="different_person", face_embedding=print_)])
        job = Job(user_id=user.id, kind=JobKind.train, state=JobState.succeeded, correlation_id="e" * 32,
                  payload={"lora_key": f"users/{user.id}/loras/1.safetensors"}, result={})
        session.add(job)
        await session.flush()
        session.add(LoraModel(user_id=user.id, set_id=selfie_set.id, job_id=job.id, base_model="tiny", token="ohwx",
                              class_word="man", status=LoraStatus.training))
    async with database.transaction() as session:  # the worker settles a training that ended so
        assert await trainings.settle_ended_trainings(session, studio.selfies.judge) == [job.id]
    async with database.read() as session:
        assert (await trainings.newest_model(session, user.id)).status == LoraStatus.ready
    async with database.transaction() as session:
        prints = dict((await session.execute(select(Photo.accepted, Photo.face_embedding))).all())
    assert prints == {True: print_, False: None}
