"""The life of a personal model, from the end of its training on.

A training ends in one transaction, whoever ends it (the worker, the reaper of a lost lease, a user's
cancel while it waits): the job's final state, its model ready or failed, and its selfie set either
trained for good (the face prints of the photos it refused forgotten: a privacy step) or collecting
again so the user can train at once. The queries of models here change nothing.

The set-level judgement of photos is the intake's (``engine.intake.judge_stored``); it is handed in
as ``judge`` so that this layer imports nothing above the database."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import FINAL_JOB_STATES, Job, JobKind, JobState, LoraModel, LoraStatus, Photo, SelfieSet, SetStatus

log = logging.getLogger(__name__)

SetJudge = Callable[[Sequence[Photo]], Any]
"""Writes set-level verdicts onto a set's photos, in upload order (``engine.intake.judge_stored``)."""


async def newest_model(session: AsyncSession, user_id: int) -> LoraModel | None:
    """The user's newest model, in whatever state the end of its training left it."""
    return await session.scalar(
        select(LoraModel).where(LoraModel.user_id == user_id).order_by(LoraModel.id.desc()).limit(1)
    )


async def models(session: AsyncSession, user_id: int) -> tuple[LoraModel | None, LoraModel | None]:
    """(the newest model, the model that paints). The one that paints is the newest ready one: a newer
    model still training, or whose training stopped, does not take the place of the one that painted
    until then."""
    newest = await newest_model(session, user_id)
    if newest is None or newest.status == LoraStatus.ready:
        return newest, newest
    return newest, await session.scalar(
        select(LoraModel).where(LoraModel.user_id == user_id, LoraModel.status == LoraStatus.ready)
        .order_by(LoraModel.id.desc()).limit(1)
    )


async def painting_model(session: AsyncSession, user_id: int) -> LoraModel | None:
    return (await models(session, user_id))[1]


async def likeness_when_trained(session: AsyncSession, lora: LoraModel) -> int | None:
    """The likeness figure measured when the model was trained (its training job's result)."""
    if lora.job_id is None:
        return None
    job = await session.get(Job, lora.job_id)
    figure = (job.result or {}).get("likeness") if job is not None else None
    return int(figure) if figure is not None else None


async def deleted_for_disuse(session: AsyncSession, user_id: int, *, retention_days: int) -> bool:
    """A model of the user was trained and none is left: the retention sweep deleted it for disuse
    (/delete deletes the account, jobs and all)."""
    if not retention_days or await session.scalar(
            select(LoraModel.id).where(LoraModel.user_id == user_id).limit(1)) is not None:
        return False
    trained = select(Job.id).where(Job.user_id == user_id, Job.kind == JobKind.train,
                                   Job.state == JobState.succeeded).limit(1)
    return await session.scalar(trained) is not None


async def set_photos(session: AsyncSession, set_id: int) -> list[Photo]:
    return list(await session.scalars(select(Photo).where(Photo.set_id == set_id).order_by(Photo.position, Photo.id)))


async def training_ended(session: AsyncSession, job_id: int, *, succeeded: bool, judge: SetJudge,
                         result: dict[str, Any] | None = None) -> None:
    """Bring a training's model and selfie set to the state its ended job implies (idempotent; a
    job of another kind is left alone). ``result``: the training's, on success."""
    if succeeded:
        await training_succeeded(session, job_id, result)
    else:
        await training_failed(session, job_id, judge)


async def training_succeeded(session: AsyncSession, job_id: int, result: dict[str, Any] | None = None) -> None:
    """The model ready; its set trained for good, the face prints of the photos it refused forgotten."""
    job = await _training(session, job_id)
    if job is None:
        return
    result = result if result is not None else (job.result or {})
    lora = await session.scalar(select(LoraModel).where(LoraModel.job_id == job_id))
    if lora is None:
        lora = LoraModel(job_id=job_id, user_id=job.user_id, base_model=result["base_model"], token=result["token"],
                         class_word=result["class_word"], set_id=(job.payload or {}).get("set_id"))
        session.add(lora)
    lora.status = LoraStatus.ready
    lora.storage_key = result.get("lora_key") or (job.payload or {}).get("lora_key")
    lora.base_model = result.get("base_model") or lora.base_model
    await session.flush()
    if (selfie_set := await _set_in_training(session, lora)) is not None:
        selfie_set.status = SetStatus.trained
        await forget_refused_faces(session, selfie_set.id)
        await session.flush()


async def training_failed(session: AsyncSession, job_id: int, judge: SetJudge) -> None:
    """The model failed; its set collects again, judged anew with the photos sent meanwhile."""
    if await _training(session, job_id) is None:
        return
    lora = await session.scalar(select(LoraModel).where(LoraModel.job_id == job_id))
    if lora is None:
        return
    if lora.status == LoraStatus.training:
        lora.status = LoraStatus.failed
        await session.flush()
    if (selfie_set := await _set_in_training(session, lora)) is not None:
        await reopen(session, selfie_set, judge)
        await session.flush()


async def _training(session: AsyncSession, job_id: int) -> Job | None:
    job = await session.get(Job, job_id)
    return job if job is not None and job.kind == JobKind.train else None


async def _set_in_training(session: AsyncSession, lora: LoraModel) -> SelfieSet | None:
    selfie_set = await session.get(SelfieSet, lora.set_id) if lora.set_id else None
    return selfie_set if selfie_set is not None and selfie_set.status == SetStatus.training else None


async def settle_ended_trainings(session: AsyncSession, judge: SetJudge) -> list[int]:
    """Trainings whose job ended while their model still reads "training": rows an older version
    left to be settled when next read. Settled here (the worker does it at start); their job ids."""
    stale = (select(Job.id, Job.state).join(LoraModel, LoraModel.job_id == Job.id)
             .where(LoraModel.status == LoraStatus.training, Job.state.in_(tuple(FINAL_JOB_STATES))))
    ended = (await session.execute(stale)).all()
    for job_id, state in ended:
        await training_ended(session, job_id, succeeded=state == JobState.succeeded, judge=judge)
    if ended:
        log.info("settled %d training(s) that had ended before this version", len(ended))
    return [job_id for job_id, _ in ended]


async def forget_refused_faces(session: AsyncSession, set_id: int) -> None:
    """Once a set has trained a model it is judged for good: the face prints of the photos it
    refused (someone else, a second person, a blurred face) are of no more use, and they may be
    of people who never agreed to be here. The accepted ones rank the model's portraits."""
    await session.execute(update(Photo).where(Photo.set_id == set_id, Photo.accepted.is_(False))
                          .values(face_embedding=None).execution_options(synchronize_session=False))


async def reopen(session: AsyncSession, selfie_set: SelfieSet, judge: SetJudge) -> None:
    """A set whose training ended without a model collects again. Photos the user sent while it
    was training went into a newer set: they join this one and the whole set is judged again,
    so no photo is stranded in a set the user can no longer reach."""
    selfie_set.status = SetStatus.collecting
    newer = list(await session.scalars(
        select(SelfieSet).where(SelfieSet.user_id == selfie_set.user_id, SelfieSet.status == SetStatus.collecting,
                                SelfieSet.id != selfie_set.id).order_by(SelfieSet.id)
    ))
    if not newer:
        return
    stored = await set_photos(session, selfie_set.id)
    known = {p.sha256 for p in stored}
    position = max((p.position for p in stored), default=0)
    for other in newer:
        for photo in await set_photos(session, other.id):
            if photo.sha256 in known:  # the same file sent again: its first copy is kept
                await session.delete(photo)
                continue
            known.add(photo.sha256)
            position += 1
            photo.set_id, photo.position = selfie_set.id, position
        await session.flush()
        await session.delete(other)
    await session.flush()
    judge(await set_photos(session, selfie_set.id))
