"""Rows a finished job leaves behind, written in the same transaction as its final state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from db import credits, trainings
from db.models import Job, OutputImage
from db.trainings import SetJudge


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
        await trainings.training_succeeded(session, job_id, result)
    await session.flush()


async def record_failure(session: AsyncSession, job_id: int, kind: str, *, judge: SetJudge) -> None:
    """A training that failed or was cancelled leaves its model failed and its set collecting again."""
    if kind == "train":
        await trainings.training_failed(session, job_id, judge)
