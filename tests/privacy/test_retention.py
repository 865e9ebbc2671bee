"""Retention with a moved clock: selfies go a week after the model is ready, a model unused for 90
days goes with its portraits after one notice; the sweep is idempotent and `--dry-run` only lists."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy import func, select, update

from bot.core.replies import Reply
from bot.core.retention import RetentionSweeper
from db import retention
from db.models import Job, JobKind, JobState, LoraModel, LoraStatus, OutputImage, Photo, SelfieSet, SetStatus, User
from db.storage import LocalStorage
from db.users import get_or_create_user

READY = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
POLICY = retention.Policy(selfie_days=7, model_days=90, notice_days=7, unused_selfie_days=0)


@dataclass
class Said:
    chat_id: str
    text: str


class FakeMessenger:
    platform = "telegram"

    def __init__(self) -> None:
        self.said: list[Said] = []

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        self.said.append(Said(chat_id, reply.text))
        return "1"

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        raise AssertionError("no edits")


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


async def trained_user(database, storage, ready: datetime = READY) -> int:
    """A user whose model became ready at ``ready``, with 3 selfies and one batch of portraits."""
    async with database.transaction() as session:
        user, _ = await get_or_create_user(session, "telegram", "501")
        selfie_set = SelfieSet(user_id=user.id, status=SetStatus.trained)
        session.add(selfie_set)
        await session.flush()
        for n in range(3):
            key = f"users/{user.id}/photos/{selfie_set.id}/{n}.jpg"
            await storage.put(key, b"a face")
            session.add(Photo(set_id=selfie_set.id, position=n, sha256=f"{n}" * 64, storage_key=key, accepted=True,
                              original_name=f"selfie-{n}.jpg", face_embedding=np.ones(128).tobytes()))
        train = Job(user_id=user.id, kind=JobKind.train, state=JobState.succeeded, correlation_id="a" * 32,
                    created_at=ready - timedelta(minutes=10), finished_at=ready)
        session.add(train)
        await session.flush()
        lora_key = f"users/{user.id}/loras/1.safetensors"
        await storage.put(lora_key, b"a model")
        session.add(LoraModel(user_id=user.id, set_id=selfie_set.id, job_id=train.id, base_model="tiny", token="ohwx",
                              class_word="man", status=LoraStatus.ready, storage_key=lora_key,
                              created_at=ready - timedelta(minutes=10)))
        paint = Job(user_id=user.id, kind=JobKind.generate, state=JobState.succeeded, correlation_id="b" * 32,
                    created_at=ready + timedelta(minutes=5), reply_platform="telegram", reply_chat_id="501")
        session.add(paint)
        await session.flush()
        out_key = f"users/{user.id}/outputs/{paint.id}/1.jpg"
        await storage.put(out_key, b"a portrait")
        session.add(OutputImage(job_id=paint.id, user_id=user.id, style_id="linkedin-headshot", storage_key=out_key))
        return user.id


def sweeper(database, storage, messenger) -> RetentionSweeper:
    settings = SimpleNamespace(selfie_retention_days=7, model_retention_days=90, expiry_notice_days=7,
                               unused_selfie_retention_days=0, retention_sweep_minutes=60)
    return RetentionSweeper(SimpleNamespace(settings=settings, database=database, storage=storage), messenger)


async def count(database, model) -> int:
    async with database.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)))


async def test_selfies_go_a_week_after_the_model_is_ready(database, storage):
    user_id = await trained_user(database, storage)
    async with database.transaction() as session:
        assert not (await retention.plan(session, POLICY, READY + timedelta(days=6))).selfies
        due = await retention.plan(session, POLICY, READY + timedelta(days=7, minutes=1))
    assert due.selfies == [(user_id, 1, 3)] and not due.models and not due.notices
    assert await retention.apply(database, storage, due) == 3
    assert await storage.list(f"users/{user_id}/photos/") == []
    async with database.transaction() as session:
        photos = (await session.scalars(select(Photo))).all()
        assert all(p.storage_key is None and p.original_name == "" and p.face_embedding for p in photos)
        again = await retention.plan(session, POLICY, READY + timedelta(days=8))
    assert not again.selfies  # idempotent: nothing left to do
    assert await storage.exists(f"users/{user_id}/loras/1.safetensors")  # the model stays


async def test_an_unused_model_is_announced_once_then_goes_with_its_portraits(database, storage):
    user_id = await trained_user(database, storage)
    messenger = FakeMessenger()
    sweep = sweeper(database, storage, messenger)
    last_use = READY + timedelta(minutes=5)
    await sweep.run(last_use + timedelta(days=82))
    assert messenger.said == []  # not yet
    await sweep.run(last_use + timedelta(days=84))
    assert len(messenger.said) == 1 and messenger.said[0].chat_id == "501"
    assert "I'll delete it, with its portraits, on January 30, 2027" in messenger.said[0].text
    await sweep.run(last_use + timedelta(days=86))
    assert len(messenger.said) == 1  # told once
    assert await count(database, LoraModel) == 1

    found = await sweep.run(last_use + timedelta(days=90, minutes=1))
    assert [m.user_id for m in found.models] == [user_id]
    assert await storage.list(f"users/{user_id}/") == []
    for model in (LoraModel, OutputImage, Photo, SelfieSet):
        assert await count(database, model) == 0, model
    async with database.transaction() as session:
        user = await session.get(User, user_id)
        assert user is not None  # the account and its credits stay
    assert not await sweep.run(last_use + timedelta(days=91))  # idempotent


async def test_the_expiry_notice_goes_to_the_user_privately(database, storage):
    """Their last portraits may have been painted in a server channel that others read: the notice
    that their model goes is for them alone (a Discord DM channel; on Telegram their own chat)."""
    await trained_user(database, storage)
    async with database.transaction() as session:
        await session.execute(update(Job).values(reply_chat_id="-100777"))  # painted in a group/channel

    class DiscordLike(FakeMessenger):
        async def direct_chat(self, user_id: str) -> str:
            return f"dm-of-{user_id}"

    plain, direct = FakeMessenger(), DiscordLike()
    last_use = READY + timedelta(minutes=5)
    await sweeper(database, storage, plain).run(last_use + timedelta(days=84))
    assert [said.chat_id for said in plain.said] == ["501"]
    async with database.transaction() as session:
        await session.execute(update(LoraModel).values(expiry_warned_at=None))
    await sweeper(database, storage, direct).run(last_use + timedelta(days=84))
    assert [said.chat_id for said in direct.said] == ["dm-of-501"]


async def test_painting_again_postpones_the_end_and_renews_the_notice(database, storage):
    user_id = await trained_user(database, storage)
    messenger = FakeMessenger()
    sweep = sweeper(database, storage, messenger)
    await sweep.run(READY + timedelta(days=85))
    assert len(messenger.said) == 1
    async with database.transaction() as session:
        session.add(Job(user_id=user_id, kind=JobKind.generate, state=JobState.succeeded, correlation_id="c" * 32,
                        created_at=READY + timedelta(days=86), reply_platform="telegram", reply_chat_id="501"))
    assert not (await sweep.run(READY + timedelta(days=95))).models
    await sweep.run(READY + timedelta(days=86 + 84))
    assert len(messenger.said) == 2  # told again before the new end


def test_studio_retention_dry_run_lists_and_deletes_nothing(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from db.session import Database
    from studio.cli import app
    from config.settings import Settings

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    settings = Settings()
    storage = LocalStorage(settings.resolved_storage_dir)

    async def old_user() -> None:
        database = Database.from_settings(settings)
        await database.migrate()
        await trained_user(database, storage, datetime.now(UTC) - timedelta(days=20))
        await database.dispose()

    asyncio.run(old_user())
    root = logging.getLogger()
    handlers, level, hooks = list(root.handlers), root.level, (sys.excepthook, threading.excepthook)
    try:  # the command sets up logging on CliRunner's stream, closed once it returns
        result = CliRunner().invoke(app, ["retention", "--dry-run"])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        sys.excepthook, threading.excepthook = hooks
    assert result.exit_code == 0, result.output
    assert "would delete selfies of user 1, set 1: 3 photo file(s)" in result.output
    assert "model" not in result.output  # used 20 days ago: neither due nor announced
    assert len(asyncio.run(storage.list("users/1/"))) == 5


FACE_PRINT = np.linspace(-0.2, 0.2, 128).tolist()


async def test_an_expired_model_takes_its_previews_face_prints_and_a_failed_trainings_lora(database, storage):
    """Nothing of the model outlives it: the quick preview's portraits (stored under previews/,
    not outputs/), the selfies' face embeddings that finished jobs carried, and the LoRA file a
    later training uploaded before it failed (its row has no storage key)."""
    user_id = await trained_user(database, storage)
    async with database.transaction() as session:
        lora = await session.scalar(select(LoraModel))
        train = await session.get(Job, lora.job_id)
        train.payload = {"reference_embeddings": [FACE_PRINT] * 3, "lora_key": lora.storage_key}
        paint = await session.scalar(select(Job).where(Job.kind == JobKind.generate))
        paint.payload = {"style_id": "linkedin-headshot", "reference_embeddings": [FACE_PRINT] * 3}
        preview = Job(user_id=user_id, kind=JobKind.preview, state=JobState.succeeded, correlation_id="p" * 32,
                      payload={"reference_embeddings": [FACE_PRINT] * 3, "training_job_id": train.id,
                               "output_prefix": f"users/{user_id}/previews/{lora.id}/"},
                      created_at=READY - timedelta(minutes=9), finished_at=READY - timedelta(minutes=5))
        failed = Job(user_id=user_id, kind=JobKind.train, state=JobState.cancelled, correlation_id="f" * 32,
                     payload={"reference_embeddings": [FACE_PRINT] * 3}, created_at=READY + timedelta(days=2),
                     finished_at=READY + timedelta(days=2))
        session.add_all([preview, failed])
        await session.flush()
        preview_key = f"users/{user_id}/previews/{lora.id}/0-4x5.jpg"
        await storage.put(preview_key, b"a preview portrait")
        session.add(OutputImage(job_id=preview.id, user_id=user_id, style_id="x", storage_key=preview_key))
        dead = LoraModel(user_id=user_id, job_id=failed.id, base_model="tiny", token="ohwx", class_word="man",
                         status=LoraStatus.failed, created_at=READY + timedelta(days=2))
        session.add(dead)
        await session.flush()
        await storage.put(f"users/{user_id}/loras/{dead.id}.safetensors", b"uploaded before the training failed")

    found = await sweeper(database, storage, FakeMessenger()).run(READY + timedelta(days=91))
    assert [m.user_id for m in found.models] == [user_id]
    assert await storage.list(f"users/{user_id}/") == []
    for model in (LoraModel, OutputImage, Photo, SelfieSet):
        assert await count(database, model) == 0, model
    async with database.transaction() as session:
        payloads = [job.payload for job in (await session.scalars(select(Job))).all()]
    assert len(payloads) == 4 and not any("reference_embeddings" in p for p in payloads)
    assert payloads[0]["lora_key"] == f"users/{user_id}/loras/1.safetensors"  # the rest of a payload stays


async def add_set(session, storage, user_id: int, status: SetStatus, photos: int) -> SelfieSet:
    selfie_set = SelfieSet(user_id=user_id, status=status)
    session.add(selfie_set)
    await session.flush()
    for n in range(photos):
        key = f"users/{user_id}/sets/{selfie_set.id}/{n:064d}.jpg"
        await storage.put(key, b"a new selfie")
        session.add(Photo(set_id=selfie_set.id, position=n, sha256=f"{n:064d}", storage_key=key, accepted=True,
                          face_embedding=np.ones(128).tobytes()))
    return selfie_set


async def test_an_expired_model_leaves_the_set_the_user_is_collecting_again(database, storage):
    """A retraining failed; the bot reopened its set so the user can add photos and try again.
    The old model expiring meanwhile takes its own set, never the one being collected."""
    user_id = await trained_user(database, storage)
    async with database.transaction() as session:
        retry = await add_set(session, storage, user_id, SetStatus.collecting, photos=10)
        failed = Job(user_id=user_id, kind=JobKind.train, state=JobState.failed, correlation_id="f" * 32,
                     created_at=READY + timedelta(days=80), finished_at=READY + timedelta(days=80))
        session.add(failed)
        await session.flush()
        session.add(LoraModel(user_id=user_id, set_id=retry.id, job_id=failed.id, base_model="tiny", token="ohwx",
                              class_word="man", status=LoraStatus.failed, created_at=READY + timedelta(days=80)))
        retry_id = retry.id

    found = await sweeper(database, storage, FakeMessenger()).run(READY + timedelta(days=91))
    assert [m.user_id for m in found.models] == [user_id]
    assert await storage.list(f"users/{user_id}/") == [f"users/{user_id}/sets/{retry_id}/{n:064d}.jpg" for n in range(10)]
    async with database.transaction() as session:
        sets = (await session.scalars(select(SelfieSet))).all()
        assert [(s.id, s.status) for s in sets] == [(retry_id, SetStatus.collecting)]
        photos = (await session.scalars(select(Photo))).all()
        assert len(photos) == 10 and all(p.set_id == retry_id and p.storage_key for p in photos)
    assert await count(database, LoraModel) == 0


async def test_an_expired_model_leaves_a_training_underway_alone(database, storage):
    """A new training runs (and its quick preview waits) while the old model expires: its selfies,
    its model row, its preview folder and its job's face prints stay; the old model goes."""
    user_id = await trained_user(database, storage)
    async with database.transaction() as session:
        underway = await add_set(session, storage, user_id, SetStatus.training, photos=6)
        training = Job(user_id=user_id, kind=JobKind.train, state=JobState.running, correlation_id="t" * 32,
                       created_at=READY + timedelta(days=90, minutes=30))
        session.add(training)
        await session.flush()
        new = LoraModel(user_id=user_id, set_id=underway.id, job_id=training.id, base_model="tiny", token="ohwx",
                        class_word="man", created_at=READY + timedelta(days=90, minutes=30))
        session.add(new)
        await session.flush()
        training.payload = {"reference_embeddings": [FACE_PRINT] * 6,
                            "lora_key": f"users/{user_id}/loras/{new.id}.safetensors"}
        preview = Job(user_id=user_id, kind=JobKind.preview, state=JobState.queued, correlation_id="p" * 32,
                      payload={"reference_embeddings": [FACE_PRINT] * 6, "training_job_id": training.id,
                               "output_prefix": f"users/{user_id}/previews/{new.id}/"},
                      created_at=READY + timedelta(days=90, minutes=30))
        session.add(preview)
        await session.flush()
        # what an earlier attempt of the training already stored
        await storage.put(f"users/{user_id}/loras/{new.id}.safetensors", b"the model being trained")
        ids = (underway.id, training.id, preview.id, new.id)
    underway_id, training_id, preview_id, new_id = ids

    found = await sweeper(database, storage, FakeMessenger()).run(READY + timedelta(days=91))
    assert [m.user_id for m in found.models] == [user_id]
    assert await storage.list(f"users/{user_id}/") == sorted(
        [f"users/{user_id}/loras/{new_id}.safetensors"]
        + [f"users/{user_id}/sets/{underway_id}/{n:064d}.jpg" for n in range(6)])
    async with database.transaction() as session:
        assert [lora.id for lora in (await session.scalars(select(LoraModel))).all()] == [new_id]
        assert [s.id for s in (await session.scalars(select(SelfieSet))).all()] == [underway_id]
        assert await session.scalar(select(func.count()).select_from(Photo)) == 6
        for job_id in (training_id, preview_id):  # still needed while they run
            assert len((await session.get(Job, job_id)).payload["reference_embeddings"]) == 6


async def test_selfies_never_trained_on_go_a_month_after_the_last_one(database, storage):
    """A user who sent some selfies and went away (or whose training failed and who never came
    back) had them kept for ever: they go 30 days after the newest arrived; one sent later stays."""
    policy = retention.Policy(selfie_days=7, model_days=90, notice_days=7, unused_selfie_days=30)
    sent = READY
    async with database.transaction() as session:
        user, _ = await get_or_create_user(session, "telegram", "502")
        selfie_set = SelfieSet(user_id=user.id, status=SetStatus.collecting)
        session.add(selfie_set)
        await session.flush()
        for n in range(2):
            key = f"users/{user.id}/sets/{selfie_set.id}/{n}.jpg"
            await storage.put(key, b"a face")
            session.add(Photo(set_id=selfie_set.id, position=n, sha256=f"{n}" * 64, storage_key=key, accepted=True,
                              face_embedding=np.ones(128).tobytes(), created_at=sent + timedelta(days=n)))
        user_id, set_id = user.id, selfie_set.id
    async with database.transaction() as session:
        assert not (await retention.plan(session, policy, sent + timedelta(days=30))).unused  # the newest is 29 days old
        due = await retention.plan(session, policy, sent + timedelta(days=31, minutes=1))
    assert due.unused == [(user_id, set_id, 2)] and "never trained on" in due.lines()[0]
    async with database.transaction() as session:  # one more arrives after the plan was made: it stays
        key = f"users/{user_id}/sets/{set_id}/late.jpg"
        await storage.put(key, b"a face")
        session.add(Photo(set_id=set_id, position=3, sha256="9" * 64, storage_key=key, accepted=True,
                          created_at=sent + timedelta(days=31, minutes=2)))
    assert await retention.apply(database, storage, due) == 2
    assert await storage.list(f"users/{user_id}/") == [key]
    async with database.transaction() as session:
        assert [p.sha256 for p in (await session.scalars(select(Photo))).all()] == ["9" * 64]
        assert await session.get(User, user_id) is not None  # the account stays
