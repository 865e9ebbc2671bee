"""The preview in the chat, with the worker's part played here: queued free with the training,
once per training (the database refuses a second), and nothing shown when the worker had no
adapter weights to paint it — the conversation then is the one without previews."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.core.preview import preview_key, queue_preview, preview_style
from bot.core.replies import UserRef
from db import job_results, queue
from db.models import Job, JobKind, JobState, LoraModel, Photo
from tests.telegram.conftest import agree, start_training

ALEX = 501


async def train(bot) -> None:  # type: ignore[no-untyped-def]
    telegram = bot.telegram
    await agree(telegram, ALEX)
    await start_training(telegram, ALEX)


async def test_a_training_queues_one_free_preview_ahead_of_it(bot_factory) -> None:
    async with bot_factory(free_credits=1) as bot:
        await train(bot)
        async with bot.services.database.transaction() as session:
            training, preview = list(await session.scalars(select(Job).order_by(Job.id)))
            lora = await session.scalar(select(LoraModel))
            assert lora is not None
            assert (training.kind, preview.kind) == (JobKind.train, JobKind.preview)
            assert preview.credits_reserved == 0 and preview.priority == queue.PREVIEW_PRIORITY
            assert preview.idempotency_key == preview_key(lora)
            payload = preview.payload
            assert payload["training_job_id"] == training.id and payload["style_id"] == "linkedin-headshot"
            assert payload["prompt"][0].startswith("professional corporate headshot of a man")  # no personal token yet
            assert 1 <= len(payload["reference_images"]) <= 3 and payload["reference_embeddings"]
            assert payload["count"] == 1 and payload["output_prefix"].startswith(f"users/{lora.user_id}/previews/")
            user_id = lora.user_id
            photos = list(await session.scalars(select(Photo)))
            # not offered twice: the same training gets no second preview, whatever asks for it
            again = await queue_preview(session, UserRef("telegram", str(ALEX), str(ALEX), "Alex"),
                                        preview_style(bot.services.catalogue), lora, training, photos, count=1,
                                        base_model="", references=[])
            assert again is None
        with pytest.raises(IntegrityError):
            async with bot.services.database.transaction() as session:
                session.add(Job(user_id=user_id, kind=JobKind.preview, idempotency_key=preview_key(lora),
                                correlation_id="c" * 32))
        async with bot.services.database.transaction() as session:
            assert await bot.services.storage.list(f"users/{user_id}/previews/") == []
            assert (await session.get(Job, training.id)).credits_reserved == 1  # type: ignore[union-attr]
            lease = await queue.claim(session, "w1", lease_seconds=30)
            assert lease is not None and lease.job_id == preview.id  # the preview goes first


async def test_without_the_adapter_the_chat_is_as_without_previews(bot_factory) -> None:
    async with bot_factory(free_credits=1) as bot:
        telegram = bot.telegram
        await train(bot)
        async with bot.services.database.transaction() as session:  # the worker's part
            training, preview = list(await session.scalars(select(Job).order_by(Job.id)))
            skipped = {"style_id": "linkedin-headshot", "base_model": "sdxl", "images": [], "seconds": 0.1,
                       "skipped": "the preview adapter of 'sdxl' is not in data/models"}
            lease = await queue.claim(session, "w1", lease_seconds=30)
            assert lease is not None and lease.job_id == preview.id
            assert await queue.complete(session, lease, JobState.succeeded, result=skipped)
        await bot.watcher_ticks(3)
        async with bot.services.database.transaction() as session:
            assert (await session.get(Job, preview.id, populate_existing=True)).delivered_at is not None  # type: ignore[union-attr]
            lora = await session.scalar(select(LoraModel))
            assert lora is not None
            lease = await queue.claim(session, "w1", lease_seconds=30)
            assert lease is not None and lease.job_id == training.id
            result = {"lora_key": f"users/{lora.user_id}/loras/{lora.id}.safetensors", "base_model": "sdxl",
                      "token": "ohwx", "class_word": "man", "steps": 8, "final_loss": 0.1, "seconds": 1.0}
            assert await queue.complete(session, lease, JobState.succeeded, result=result)
            await job_results.record_success(session, lease.job_id, lease.user_id, "train", result)
        ready = await telegram.wait_for_text(ALEX, "Your model is ready", timeout=30)
        assert ready.text == "✨ Your model is ready! Pick a style:"
        assert not any("with my model" in label for label in ready.button_labels)
        texts = telegram.texts_to(ALEX)
        assert not any("preview" in text.lower() for text in texts)
        assert not [m for m in telegram.sent_to(ALEX) if m.media]  # no picture came
