"""What the personal model learns from: the bot's training job carries intake's face-centred and
upper-body squares with captions (not whole photos centre-cropped), and the worker's handler cuts
exactly those squares from the stored photos before the trainer sees them."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from db.models import Job, JobKind, Photo
from engine.jobs import TrainJob
from engine.runtime.handlers.context import EngineOptions, JobContext, ModelCache, StorageBridge
from engine.runtime.handlers.train import training_examples
from tests.support.selfies import obama_selfies
from tests.telegram.conftest import agree

ALEX = 501


async def test_the_training_job_gets_face_centred_crops_with_captions(bot_factory, tmp_path) -> None:
    async with bot_factory(free_credits=3) as bot:
        await agree(bot.telegram, ALEX)
        for data in obama_selfies(9):
            await bot.telegram.send_photo(ALEX, data, media_group_id="set")
        summary = await bot.telegram.wait_for_text(ALEX, "look great", timeout=90)
        await bot.telegram.press(ALEX, summary, "Train my model")
        await bot.telegram.press(ALEX, await bot.telegram.wait_for_text(ALEX, "Who is in the photos"), "A woman")
        await bot.telegram.wait_for_text(ALEX, "Learning your face")
        async with bot.services.database.transaction() as session:
            job = await session.scalar(select(Job).where(Job.kind == JobKind.train))
            photos = {p.storage_key: p for p in await session.scalars(select(Photo).where(Photo.accepted))}
        spec = TrainJob.model_validate(job.payload)

        assert spec.crops and set(spec.photo_keys) == set(photos) and len(photos) == 9
        assert {crop.photo_key for crop in spec.crops} == set(photos)  # every accepted photo is used
        captions = {crop.caption for crop in spec.crops}
        assert "a photo of ohwx woman" in captions  # the close-ups
        assert captions <= {"a photo of ohwx woman", "a photo of ohwx woman, upper body"}
        for crop in spec.crops:
            photo = photos[crop.photo_key]
            left, top, right, bottom = crop.box
            face = photo.face_box
            assert right - left == bottom - top and right <= photo.width and bottom <= photo.height
            assert left <= face["left"] and face["right"] <= right  # the face is inside the square …
            close_up = crop.caption.endswith("woman")
            if close_up:  # … and fills a good part of a close-up (not a whole photo centre-cropped)
                assert (face["right"] - face["left"]) / (right - left) > 0.3
                assert top <= face["top"] and face["bottom"] <= bottom

        context = JobContext(job_id=job.id, attempt=1, correlation_id="ab" * 16,
                             options=EngineOptions(work_dir=tmp_path / "work"),
                             storage=StorageBridge(bot.services.storage, asyncio.get_running_loop()), cache=ModelCache())
        examples = await asyncio.to_thread(training_examples, spec, context)
        assert [caption for _, caption in examples] == [crop.caption for crop in spec.crops]
        assert [image.size for image, _ in examples] == [(c.box[2] - c.box[0],) * 2 for c in spec.crops]
