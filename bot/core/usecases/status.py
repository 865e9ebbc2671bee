"""/status: the user's photos, model, jobs and balance, and the way on from there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from i18n import percent
from bot.core import actions, texts
from bot.core.context import Context, say
from bot.core.replies import Button, Reply, UserRef
from db import jobs, trainings
from db.models import Job, JobKind, LoraModel, LoraStatus, User


async def status(ctx: Context, user: UserRef, _args: list[str]) -> list[Reply]:
    async def read(session: AsyncSession, account: User) -> tuple[Any, ...]:
        lora, painter = await trainings.models(session, account.id)
        selfie_set = await ctx.selfies.collecting_set(session, account.id)
        photos = await ctx.selfies.photos(session, selfie_set.id) if selfie_set is not None else []
        active = await jobs.active_jobs(session, account.id)
        figure = await trainings.likeness_when_trained(session, painter) if painter is not None else None
        ready_to_train = selfie_set is not None and await ctx.selfies.ready_to_train(session, selfie_set)
        expired = lora is None and await trainings.deleted_for_disuse(
            session, account.id, retention_days=ctx.settings.model_retention_days)
        return account, lora, painter, photos, active, figure, ready_to_train, expired

    account, lora, painter, photos, active, figure, ready_to_train, expired = await ctx.read_account(user, read)
    accepted = sum(p.accepted for p in photos)
    lines = [texts.STATUS_HEADER]
    if photos or lora is None:  # a trained model's photos are not a set in the making
        first_model = painter is None and (lora is None or lora.status == LoraStatus.failed)
        template = texts.STATUS_PHOTOS if first_model else texts.STATUS_NEXT_PHOTOS
        lines.append(template.format(accepted=accepted, total=len(photos), min_photos=ctx.intake.min_photos))
    if expired:
        lines.append(texts.STATUS_MODEL_EXPIRED.format(days=texts.DAY_COUNT(ctx.settings.model_retention_days)))
    elif painter is None:
        lines.append(texts.STATUS_MODEL[lora.status if lora else "none"])
    else:  # the model that paints; a newer one training, or whose training stopped, beside it
        model_line = texts.STATUS_MODEL[LoraStatus.ready]
        if figure is not None:
            model_line += texts.STATUS_LIKENESS.format(likeness=percent(figure))
        lines.append(model_line)
        if lora is not None and lora.id != painter.id:
            lines.append(texts.STATUS_NEW_MODEL_TRAINING if lora.status == LoraStatus.training
                         else texts.STATUS_NEW_MODEL_STOPPED)
    for job in active:
        stage = texts.STAGE_NAMES.get(job.stage, job.stage)
        lines.append(texts.STATUS_JOB.format(kind=texts.JOB_KINDS.get(job.kind, job.kind), stage=stage,
                                              percent=percent(round(job.progress * 100))))
    lines.append(texts.STATUS_CREDITS.format(credits=account.credits))
    return say("\n".join(map(str, lines)), *next_step(ctx, user, account.credits, painter, lora, active, ready_to_train),
               private=True)


def next_step(ctx: Context, user: UserRef, balance: int, painter: LoraModel | None, newest: LoraModel | None,
              active: Sequence[Job], ready_to_train: bool) -> tuple[tuple[Button, ...], ...]:
    """/status's way on: train a set that is ready, paint with a model that is, buy what that needs."""
    training = any(job.kind == JobKind.train for job in active) or (
        newest is not None and newest.status == LoraStatus.training)
    buttons: list[Button] = []
    costs: list[int] = []
    if ready_to_train and not training:
        buttons.append(Button(texts.BUTTON_TRAIN, actions.TRAIN))
        costs.append(ctx.settings.train_cost)
    if painter is not None:
        buttons.append(Button(texts.BUTTON_SEE_STYLES, actions.STYLES))
        costs.append(ctx.settings.generate_cost)
    # Buy where any step offered needs more than the balance (a painting affordable, a training not)
    if any(balance < cost for cost in costs) and ctx.selling(user.platform) and not ctx.settings.is_banned(
            user.platform, user.user_id):
        buttons.append(Button(texts.BUTTON_BUY, actions.BUY))
    return (tuple(buttons),) if buttons else ()
