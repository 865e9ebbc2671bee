"""The worker's part of a job, played by a test as the existing end-to-end tests do (tests/telegram/
test_returning_user.py, test_preview.py): the job claimed, its progress reported, its portraits put
in storage and its result recorded in the database, so that the bot's own job watcher shows the
progress and delivers the outcome, in seconds and without a model."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image
from sqlalchemy import select

from bot.core import texts
from db import job_results, queue
from db.models import Job, JobState, LoraModel
from engine.aspects import slug
from i18n import Audience, percent
from tests.support.languages import said


def portrait_jpeg(colour: tuple[int, int, int]) -> bytes:
    encoded = io.BytesIO()
    Image.new("RGB", (96, 120), colour).save(encoded, "JPEG")
    return encoded.getvalue()


async def store_images(bot, payload: dict[str, Any], count: int, aspects: list[str],
                       likeness: list[int] | None = None) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Portraits in storage under the job's output prefix, as the worker leaves them."""
    images = []
    for index in range(count):
        for aspect in aspects:
            data = portrait_jpeg((40 + 50 * index, 90, 140))
            key = f"{payload['output_prefix']}{index}-{slug(aspect)}.jpg"
            await bot.services.storage.put(key, data)
            image = {"key": key, "index": index, "width": 96, "height": 120, "seed": 7 + index,
                     "size_bytes": len(data), "aspect": aspect, "score": 0.2 + index / 10}
            if likeness is not None:
                image["likeness"] = likeness[index]
            images.append(image)
    return images


async def paint_preview(bot) -> None:  # type: ignore[no-untyped-def]
    """The free quick preview queued with the training: painted (one portrait)."""
    async with bot.services.database.transaction() as session:
        lease = await queue.claim(session, "w1", lease_seconds=60, kinds=["preview"])
        assert lease is not None
        images = await store_images(bot, lease.payload, 1, ["1:1"])
        result = {"style_id": lease.payload["style_id"], "base_model": "tiny", "images": images, "seconds": 1.0}
        assert await queue.complete(session, lease, JobState.succeeded, result=result)
        await job_results.record_success(session, lease.job_id, lease.user_id, "preview", result)


async def skip_preview(bot) -> None:  # type: ignore[no-untyped-def]
    async with bot.services.database.transaction() as session:
        lease = await queue.claim(session, "w1", lease_seconds=60, kinds=["preview"])
        assert lease is not None
        assert await queue.complete(session, lease, JobState.succeeded, result={"images": [], "skipped": "no adapter"})


async def claim_training(bot) -> queue.Lease:  # type: ignore[no-untyped-def]
    async with bot.services.database.transaction() as session:
        lease = await queue.claim(session, "w1", lease_seconds=60, kinds=["train"])
        assert lease is not None
        return lease


async def report(bot, lease: queue.Lease, progress: queue.ProgressUpdate) -> Job:  # type: ignore[no-untyped-def]
    async with bot.services.database.transaction() as session:
        assert await queue.heartbeat(session, lease, lease_seconds=60, progress=progress) is False
    async with bot.services.database.transaction() as session:
        job = await session.get(Job, lease.job_id, populate_existing=True)
        assert job is not None
        return job


async def finish_training(bot, lease: queue.Lease, class_word: str,  # type: ignore[no-untyped-def]
                          likeness: int | None = None) -> None:
    async with bot.services.database.transaction() as session:
        lora = await session.scalar(select(LoraModel).order_by(LoraModel.id.desc()))
        assert lora is not None
        result: dict[str, Any] = {"lora_key": f"users/{lora.user_id}/loras/{lora.id}.safetensors",
                                  "base_model": "tiny", "token": "ohwx", "class_word": class_word, "steps": 8,
                                  "final_loss": 0.1, "seconds": 1.0}
        if likeness is not None:
            result["likeness"] = likeness
        assert await queue.complete(session, lease, JobState.succeeded, result=result)
        await job_results.record_success(session, lease.job_id, lease.user_id, "train", result)


async def paint_portraits(bot, likeness: list[int]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The generation job waiting: painted, each portrait in each of the style's aspects."""
    async with bot.services.database.transaction() as session:
        lease = await queue.claim(session, "w1", lease_seconds=60, kinds=["generate"])
        assert lease is not None
        payload = lease.payload
        images = await store_images(bot, payload, payload["count"], payload["output_aspects"], likeness)
        result = {"style_id": payload["style_id"], "base_model": "tiny", "images": images, "seconds": 1.0,
                  "min_likeness": 0}
        assert await queue.complete(session, lease, JobState.succeeded, result=result)
        await job_results.record_success(session, lease.job_id, lease.user_id, "generate", result)
        return payload


def progress_line(audience: Audience, title: Any, job: Job) -> str:
    """A running job's progress message as the user reads it (bot/core/progress.py): title, bar,
    percent and the time left."""
    def line() -> str:
        bar = f"{title}  {texts.progress_bar(job.progress)} {percent(round(job.progress * 100))}"
        return f"{bar} · {texts.TIME_LEFT.format(time=texts.duration(job.eta_seconds))}"

    return said(audience, line)


def album_caption(title: str, number: int, count: int, likeness: int) -> str:
    """A portrait's caption in the album (bot/core/delivery.py), in the current audience's language."""
    template = texts.ALBUM_FIRST_CAPTION if number == 1 else texts.ALBUM_CAPTION
    return template.format(title=title, index=number, count=count) + texts.LIKENESS_CAPTION.format(
        percent=percent(likeness))
