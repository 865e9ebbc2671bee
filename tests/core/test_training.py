from __future__ import annotations

from sqlalchemy import select

from bot.core.studio import Studio
from db.models import Job, JobKind, LoraModel, SelfieSet, SetStatus
from tests.core.conftest import ALEX, actions_of, text_of, with_model, with_photos


async def test_train_asks_who_is_in_the_photos_then_queues_the_training_and_its_preview(studio: Studio) -> None:
    await with_photos(studio, 8)
    question = await studio.action(ALEX, "train")
    assert actions_of(question) == ["class:man", "class:woman", "class:person"]
    progress = await studio.action(ALEX, "class:man")
    assert progress[0].progress_of_job is not None and actions_of(progress)[0].startswith("cancel:")
    async with studio.database.read() as session:
        kinds = sorted(str(job.kind) for job in await session.scalars(select(Job)))
        selfie_set = await session.scalar(select(SelfieSet))
        lora = await session.scalar(select(LoraModel))
    assert kinds == [JobKind.preview, JobKind.train] and selfie_set.status == SetStatus.training  # type: ignore[union-attr]
    assert lora is not None and lora.class_word == "man"


async def test_a_double_tap_makes_one_training(studio: Studio) -> None:
    await with_photos(studio, 8)
    await studio.action(ALEX, "class:woman")
    assert await studio.action(ALEX, "class:woman") != []  # "already learning": not a second job
    async with studio.database.read() as session:
        assert len((await session.scalars(select(Job).where(Job.kind == JobKind.train))).all()) == 1


async def test_too_few_photos_says_how_many_more(studio: Studio) -> None:
    await with_photos(studio, 3)
    assert "5" in text_of(await studio.command(ALEX, "train"))


async def test_a_user_with_a_model_and_no_new_photos_keeps_the_model(studio: Studio) -> None:
    await with_model(studio)
    reply = await studio.command(ALEX, "train")
    assert actions_of(reply) == ["styles"]
