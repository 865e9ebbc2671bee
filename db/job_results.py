"""Rows a finished job leaves behind, written in the same transaction as its final state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import credits
from db.models import Job, LoraModel, LoraStatus, OutputImage


async def record_success(session: AsyncSession, job_id: int, user_id: int, kind: str, result: dict[str, Any]) -> None:
    if kind in ("generate", "preview"):
        # A retried job replaces, never duplicates, its images.
        await session.execute(delete(OutputImage).where(OutputImage.job_id == job_id))
        for image in result.get("images", []):
            session.add(OutputImage(
                job_id=job_id, user_id=user_id, style_id=result.get("style_id", ""), position=image["index"],
                variant=image.get("aspect", ""), storage_key=image["key"], width=image["width"], height=image["height"],
                size_bytes=image["size_bytes"], score=image.get("score"),
            ))
        if short := int(result.get("below_likeness") or 0):
            job = await session.get(Job, job_id)
            portraits = len({image["index"] for image in result.get("images", [])})
            if job is not None:
                await credits.refund_shortfall(session, job, short, portraits)
    elif kind == "train":
        existing = await session.scalar(select(LoraModel).where(LoraModel.job_id == job_id))
        if existing is None:
            existing = LoraModel(job_id=job_id, user_id=user_id, base_model=result["base_model"],
                                 token=result["token"], class_word=result["class_word"])
            session.add(existing)
        existing.status = LoraStatus.ready
        existing.storage_key = result["lora_key"]
        existing.base_model = result["base_model"]
    await session.flush()


async def record_failure(session: AsyncSession, job_id: int, kind: str) -> None:
    """A training that failed or was cancelled leaves its model row (if the front end made one) failed."""
    if kind == "train":
        await session.execute(
            update(LoraModel).where(LoraModel.job_id == job_id, LoraModel.status == LoraStatus.training)
            .values(status=LoraStatus.failed).execution_options(synchronize_session=False)
        )
