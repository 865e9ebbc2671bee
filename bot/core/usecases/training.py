"""Training a personal model: who is in the photos (the class word), then the job, with a train-free
preview of a first model's portraits queued beside it."""

from __future__ import annotations

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import actions, texts
from bot.core.context import Context, say
from bot.core.preview import preview_style, queue_preview
from bot.core.progress import progress_reply
from bot.core.replies import Button, Reply, UserRef
from bot.core.selfies import training_crops
from bot.core.usecases.buying import out_of_credits
from bot.core.usecases.painting import MAX_REFERENCES, base_model, fresh_key, references
from db import credits, jobs, trainings
from db.models import JobKind, LoraModel, SetStatus, User
from db.storage import user_prefix
from engine.jobs import TrainJob
from styles.prompt_fit import PERSONAL_TOKEN  # the rare token a personal LoRA binds the face to


async def ask_class_word(ctx: Context, user: UserRef, _args: list[str] | None = None) -> list[Reply]:
    async with ctx.database.transaction() as session:
        account = await ctx.account(session, user)
        problem = await training_problem(ctx, session, account)
    if problem:
        return [problem]
    buttons = tuple(Button(label, actions.train_as(word)) for word, label in texts.CLASS_WORDS.items())
    return say(texts.CHOOSE_CLASS, buttons)


async def training_problem(ctx: Context, session: AsyncSession, account: User) -> Reply | None:
    has_model = await trainings.painting_model(session, account.id) is not None
    if await jobs.active_jobs(session, account.id, JobKind.train):
        return Reply(texts.TRAIN_ALREADY)
    selfie_set = await ctx.selfies.collecting_set(session, account.id)
    accepted = await ctx.selfies.accepted(session, selfie_set.id) if selfie_set is not None else []
    if len(accepted) < ctx.intake.min_photos:
        missing = ctx.intake.min_photos - len(accepted)
        if has_model:  # e.g. an old summary's Train button
            return Reply(texts.TRAIN_NEW_NOT_READY.format(missing=missing),
                         ((Button(texts.BUTTON_SEE_STYLES, actions.STYLES),),), private=True)
        return Reply(texts.TRAIN_NOT_READY(missing), private=True)
    if account.credits < ctx.settings.train_cost:
        return out_of_credits(ctx, UserRef(account.platform, account.platform_user_id, ""), ctx.settings.train_cost,
                              account.credits, has_model=has_model)
    return None


async def train(ctx: Context, user: UserRef, class_word: str) -> list[Reply]:
    if class_word not in texts.CLASS_WORDS:
        class_word = "person"
    settings = ctx.settings
    async with ctx.database.transaction() as session:
        account = await ctx.account(session, user)
        if (problem := await training_problem(ctx, session, account)) is not None:
            return [problem]
        selfie_set = await ctx.selfies.open_set(session, account.id)
        photos = await ctx.selfies.accepted(session, selfie_set.id)
        try:
            enqueued = await jobs.enqueue(
                session, user_id=account.id, kind=JobKind.train, cost=settings.train_cost,
                payload={}, idempotency_key=await fresh_key(session, f"train:set:{selfie_set.id}"),
                max_attempts=settings.job_max_attempts, max_active_per_user=settings.max_queued_jobs_per_user,
                reply_platform=user.platform, reply_chat_id=user.chat_id,
            )
        except credits.InsufficientCredits as error:
            has_model = await trainings.painting_model(session, account.id) is not None
            return [out_of_credits(ctx, user, error.needed, error.balance, has_model=has_model)]
        except jobs.TrainingAlreadyRunning:
            return [Reply(texts.TRAIN_ALREADY)]
        except jobs.QueueLimitReached as error:
            return [Reply(texts.QUEUE_FULL.format(limit=error.limit), private=True)]
        if not enqueued.created:
            return []  # a racing second tap: its twin's job already has its progress message
        job = enqueued.job
        lora = LoraModel(user_id=account.id, set_id=selfie_set.id, job_id=job.id, base_model=settings.base_model,
                         token=PERSONAL_TOKEN, class_word=class_word)
        session.add(lora)
        await session.flush()
        selfie_set.status = SetStatus.training
        selfie_set.class_word = class_word
        job.payload = TrainJob(
            user_id=account.id, set_id=selfie_set.id, photo_keys=[p.storage_key for p in photos],
            crops=training_crops(photos, token=PERSONAL_TOKEN, class_word=class_word, config=ctx.intake),
            reference_embeddings=[np.frombuffer(p.face_embedding, dtype=np.float64).tolist()
                                  for p in photos if p.face_embedding][:MAX_REFERENCES],
            lora_key=f"{user_prefix(account.id)}loras/{lora.id}.safetensors", base_model=base_model(ctx),
            token=PERSONAL_TOKEN, class_word=class_word, seed=lora.id,
        ).to_payload()
        if await trainings.painting_model(session, account.id) is None:  # a first portrait while a first model learns
            await queue_preview(session, user, preview_style(ctx.catalogue), lora, job, photos,
                                count=settings.preview_images, base_model=base_model(ctx),
                                references=await references(ctx, session, lora))
    ctx.audiences.forget(user)  # their sentences agree with the class word they gave from now on
    return [progress_reply(job, texts.TRAIN_QUEUED)]
