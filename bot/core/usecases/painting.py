"""Painting: a style tapped (or named as typed), "More like this", and the full-resolution files of
an album."""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import actions, texts
from bot.core.context import Context
from bot.core.delivery import originals_reply
from bot.core.job_refs import names, parse_job_ref
from bot.core.progress import progress_reply
from bot.core.replies import Button, Reply, UserRef
from bot.core.usecases.buying import out_of_credits
from bot.core.usecases.menus import folded, style_picker, typed_category
from db import credits, jobs, trainings
from db.models import FINAL_JOB_STATES, Job, JobKind, JobState, LoraModel, LoraStatus
from db.storage import ObjectNotFound, user_prefix
from engine.jobs import GenerateJob
from styles import Style

MAX_REFERENCES = 12  # selfie embeddings sent with a generation to rank its outputs by likeness


class NotYours(Exception):
    """A button of somebody else's portraits."""


def style_key(user: UserRef, source_message_id: str, style_id: str) -> str:
    """A style button's idempotency key: a double tap on one button makes one job."""
    return f"gen:{user.platform}:{user.user_id}:{user.chat_id}:{source_message_id}:{style_id}"


async def style_button(ctx: Context, user: UserRef, style_id: str, source_message_id: str) -> list[Reply]:
    return await generate(ctx, user, style_id, key_base=style_key(user, source_message_id, style_id))


async def named_style(ctx: Context, user: UserRef, typed: str, source_message_id: str) -> list[Reply]:
    """A style named by id or title (any case, spacing or punctuation) is painted; a category's
    name shows that category's styles; anything else is said to be unknown, with the picker."""
    wanted = folded(typed)
    style = next((s for s in ctx.catalogue if wanted in {folded(s.id), *map(folded, s.titles.values())}), None)
    if style is not None:
        return await generate(ctx, user, style.id, key_base=style_key(user, source_message_id, style.id))
    return await typed_category(ctx, typed, unknown=texts.UNKNOWN_STYLE_NAMED)


async def generate(ctx: Context, user: UserRef, style_id: str, *, key_base: str, seed: int | None = None) -> list[Reply]:
    if style_id not in ctx.catalogue:
        return [style_picker(ctx, texts.UNKNOWN_STYLE)]
    style = ctx.catalogue.get(style_id)
    settings = ctx.settings
    async with ctx.database.transaction() as session:
        account = await ctx.account(session, user)
        newest, lora = await trainings.models(session, account.id)
        if lora is None and newest is not None and newest.status == LoraStatus.training:
            return [Reply(texts.MODEL_TRAINING)]
        if lora is None:
            return [await no_model(ctx, session, account.id)]
        key = await fresh_key(session, key_base)
        try:
            enqueued = await jobs.enqueue(
                session, user_id=account.id, kind=JobKind.generate, cost=settings.generate_cost,
                payload=generation_payload(ctx, style, lora, account.id, seed, await references(ctx, session, lora)),
                idempotency_key=key,
                max_attempts=settings.job_max_attempts, max_active_per_user=settings.max_queued_jobs_per_user,
                reply_platform=user.platform, reply_chat_id=user.chat_id,
            )
        except credits.InsufficientCredits as error:
            return [out_of_credits(ctx, user, error.needed, error.balance)]
        except jobs.QueueLimitReached as error:
            return [Reply(texts.QUEUE_FULL.format(limit=error.limit), private=True)]
        if not enqueued.created:
            return []  # a second tap on the same button: its job already has its progress message
        # every job's portraits in a folder of their own
        enqueued.job.payload = {**enqueued.job.payload, "output_prefix": f"{user_prefix(account.id)}outputs/{enqueued.job.id}/"}
    title = texts.GENERATE_QUEUED.format(count=settings.images_per_generation, title=style.title)
    return [progress_reply(enqueued.job, title)]


async def no_model(ctx: Context, session: AsyncSession, user_id: int) -> Reply:
    """A style asked for before any model paints: send selfies, or (the photos are there, their
    training failed or was stopped) train them."""
    selfie_set = await ctx.selfies.collecting_set(session, user_id)
    if selfie_set is not None and await ctx.selfies.ready_to_train(session, selfie_set):
        return Reply(texts.NO_MODEL_PHOTOS_READY, ((Button(texts.BUTTON_TRAIN, actions.TRAIN),),))
    if await trainings.deleted_for_disuse(session, user_id, retention_days=ctx.settings.model_retention_days):
        return Reply(texts.MODEL_EXPIRED.format(days=texts.DAY_COUNT(ctx.settings.model_retention_days),
                                                min_photos=ctx.intake.min_photos))
    return Reply(texts.NO_MODEL.format(min_photos=ctx.intake.min_photos))


async def fresh_key(session: AsyncSession, base: str) -> str:
    """A double tap on one button makes one job; a later tap on the same button makes a new one."""
    key, n = base, 1
    while (job := await jobs.find_by_key(session, key)) is not None and job.state in FINAL_JOB_STATES:
        n += 1
        key = f"{base}#{n}"
    return key[:128]


def style_title(ctx: Context, job: Job) -> str:
    style_id = job.payload.get("style_id", "")
    return ctx.catalogue.get(style_id).title if style_id in ctx.catalogue else texts.UNKNOWN_STYLE_TITLE


def base_model(ctx: Context) -> str:
    return "" if ctx.settings.base_model == "auto" else ctx.settings.base_model


async def references(ctx: Context, session: AsyncSession, lora: LoraModel) -> list[list[float]]:
    """The face embeddings of the selfies the model learnt from, to rank its portraits by likeness."""
    if lora.set_id is None:
        return []
    # the accepted photos' face prints, also once retention has deleted the photo files
    photos = [p for p in await ctx.selfies.photos(session, lora.set_id) if p.accepted]
    return [np.frombuffer(p.face_embedding, dtype=np.float64).tolist() for p in photos if p.face_embedding][:MAX_REFERENCES]


def generation_payload(ctx: Context, style: Style, lora: LoraModel, user_id: int, seed: int | None,
                       references: list[list[float]]) -> dict[str, Any]:
    settings = ctx.settings
    count = settings.images_per_generation
    seed = secrets.randbelow(2**31) if seed is None else seed
    return GenerateJob(
        user_id=user_id, style_id=style.id, prompt=style.prompts(lora.token, lora.class_word, count, seed=seed),
        negative_prompt=style.negative_prompt, lora_key=lora.storage_key,
        style_lora_key=style.lora.source if style.lora else None,
        style_lora_weight=style.lora.weight if style.lora else 0.8,
        base_model=lora.base_model if lora.base_model != "auto" else "", count=count, aspect=style.aspects[0],
        steps=style.sampler.steps, guidance=style.sampler.guidance_scale, seed=seed,
        use_refiner=style.sampler.refiner_split is not None, refiner_split=style.sampler.refiner_split,
        scheduler=style.sampler.scheduler, output_prefix=f"{user_prefix(user_id)}outputs/pending/",
        output_aspects=list(style.aspects), reference_embeddings=references, extra_candidates=count // 2,
        min_likeness=settings.min_likeness if style.min_likeness is None else style.min_likeness,
        likeness_retries=settings.likeness_retries,
    ).to_payload()


async def own_job(ctx: Context, session: AsyncSession, user: UserRef, button: str) -> Job | None:
    """The user's job a button names (None: gone, or an id since reused); raises NotYours when
    it is somebody else's (in a Discord channel everyone sees, and can press, every button)."""
    account = await ctx.account(session, user)
    ref = parse_job_ref(button)
    job = await session.get(Job, ref[0]) if ref is not None else None
    if job is None or ref is None or not names(job, ref[1]):
        return None
    if job.user_id != account.id:
        raise NotYours
    return job


async def more_like(ctx: Context, user: UserRef, button: str, source_message_id: str) -> list[Reply]:
    async with ctx.database.transaction() as session:
        try:
            job = await own_job(ctx, session, user, button)
        except NotYours:
            return [Reply(texts.NOT_YOUR_BUTTON, private=True)]
        if job is None:  # gone with a /delete or the retention sweep: not a bare picker, as if it worked
            return [style_picker(ctx, texts.PORTRAITS_GONE)]
        if job.kind != JobKind.generate:
            return [style_picker(ctx, texts.PICK_STYLE)]
        style_id = job.payload.get("style_id", "")
    return await generate(ctx, user, style_id, key_base=f"more:{job.id}:{source_message_id}")


async def originals(ctx: Context, user: UserRef, button: str) -> list[Reply]:
    async with ctx.database.transaction() as session:
        try:
            job = await own_job(ctx, session, user, button)
        except NotYours:
            return [Reply(texts.NOT_YOUR_BUTTON, private=True)]
        if job is None or job.state != JobState.succeeded:
            return [style_picker(ctx, texts.PORTRAITS_GONE)]
    try:
        return [await originals_reply(ctx.storage, job, style_title(ctx, job))]
    except ObjectNotFound:  # deleted by the retention sweep
        return [style_picker(ctx, texts.PORTRAITS_GONE)]
