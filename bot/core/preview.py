"""The train-free preview queued with a training: free, at most one per training (the database's
unique idempotency key ``preview:lora:<model id>``), claimed ahead of trainings (``db.queue``).

Its portraits arrive in the chat marked as a quick preview (``bot.core.notifier``); a worker
without the preview adapter paints nothing and the chat stays as it was.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.replies import UserRef
from db import jobs, queue
from db.models import Job, JobKind, JobState, LoraModel, Photo
from db.storage import user_prefix
from engine.jobs import PreviewJob, ReferenceImage
from styles import Catalogue, Style

log = logging.getLogger(__name__)

SUBJECT = "a"  # no personal token yet: "headshot of a man"
MAX_REFERENCES = 3  # the selfies the adapter sees (their face tokens side by side)
ATTEMPTS = 1  # best effort: a preview that fails is not tried again ahead of the training


def preview_key(lora: LoraModel) -> str:
    return f"preview:lora:{lora.id}"


def preview_style(catalogue: Catalogue) -> Style | None:
    """The style the user is most likely to want: the first of the catalogue."""
    return next(iter(catalogue), None)


def best_references(photos: Sequence[Photo]) -> list[ReferenceImage]:
    """The accepted selfies with the largest faces (the most detail for the adapter), largest first."""

    def area(photo: Photo) -> int:
        box = photo.face_box or {}
        return (box.get("right", 0) - box.get("left", 0)) * (box.get("bottom", 0) - box.get("top", 0))

    usable = sorted((p for p in photos if p.accepted and p.storage_key), key=lambda p: (-area(p), p.position))
    references = []
    for photo in usable[:MAX_REFERENCES]:
        box = photo.face_box
        references.append(ReferenceImage(
            key=str(photo.storage_key),
            box=(int(box["left"]), int(box["top"]), int(box["right"]), int(box["bottom"])) if box else None,
            size=(photo.width, photo.height) if photo.width and photo.height else None,
        ))
    return references


def preview_payload(style: Style, lora: LoraModel, training: Job, photos: Sequence[Photo], *, count: int,
                    base_model: str, references: list[list[float]]) -> PreviewJob:
    seed = secrets.randbelow(2**31)
    return PreviewJob(
        user_id=lora.user_id, style_id=style.id, prompt=style.prompts(SUBJECT, lora.class_word, count, seed=seed),
        negative_prompt=style.negative_prompt, style_lora_key=style.lora.source if style.lora else None,
        style_lora_weight=style.lora.weight if style.lora else 0.8, base_model=base_model, count=count,
        aspect=style.aspects[0], steps=style.sampler.steps, guidance=style.sampler.guidance_scale, seed=seed,
        use_refiner=style.sampler.refiner_split is not None, refiner_split=style.sampler.refiner_split,
        scheduler=style.sampler.scheduler, output_prefix=f"{user_prefix(lora.user_id)}previews/{lora.id}/",
        output_aspects=[style.aspects[0]], reference_embeddings=references, extra_candidates=1,
        reference_images=best_references(photos), training_job_id=training.id,
    )


async def queue_preview(session: AsyncSession, user: UserRef, style: Style | None, lora: LoraModel, training: Job,
                        photos: Sequence[Photo], *, count: int, base_model: str, references: list[list[float]]
                        ) -> Job | None:
    """Queue the preview of a training just queued (same transaction); None when there is none to
    paint (previews off, no style, no usable selfie) or it was queued already."""
    if count <= 0 or style is None:
        return None
    payload = preview_payload(style, lora, training, photos, count=count, base_model=base_model,
                              references=references)
    if not payload.reference_images:
        return None
    enqueued = await jobs.enqueue(
        session, user_id=lora.user_id, kind=JobKind.preview, payload=payload.to_payload(), cost=0,
        idempotency_key=preview_key(lora), max_attempts=ATTEMPTS, priority=queue.PREVIEW_PRIORITY,
        reply_platform=user.platform, reply_chat_id=user.chat_id,
    )
    return enqueued.job if enqueued.created else None


def shown(job: Job) -> bool:
    """Whether a finished preview has portraits to show."""
    return job.state == JobState.succeeded and bool((job.result or {}).get("images"))


async def training_of(session: AsyncSession, preview: Job) -> Job | None:
    training_id = (preview.payload or {}).get("training_job_id")
    return await session.get(Job, training_id, populate_existing=True) if training_id else None


async def shown_preview(session: AsyncSession, training: Job) -> Job | None:
    """The preview of this training that reached the chat with portraits, if any."""
    from sqlalchemy import select

    candidates = await session.scalars(
        select(Job).where(Job.user_id == training.user_id, Job.kind == JobKind.preview, Job.delivered_at.is_not(None))
        .order_by(Job.id.desc())
    )
    for job in candidates:
        if (job.payload or {}).get("training_job_id") == training.id and shown(job):
            return job
    return None
