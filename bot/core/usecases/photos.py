"""Selfies arriving: checked at once, stored, judged as a set, and answered with a verdict for each
refused photo and what the set needs next."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import actions, texts
from bot.core.context import Context, say
from bot.core.replies import Button, IncomingFile, Reply, UserRef
from bot.core.selfies import AccountGone, BatchResult, clean_filename
from bot.core.usecases.welcome import consent_first
from db import trainings
from engine.intake import PhotoVerdict
from engine.intake.reasons import said_for
from db.models import LoraModel, LoraStatus, User
from telemetry import metrics


async def photos(ctx: Context, user: UserRef, files: list[IncomingFile]) -> list[Reply]:
    async def read(session: AsyncSession, account: User) -> tuple[User, LoraModel | None, LoraModel | None]:
        return account, *await trainings.models(session, account.id)

    account, lora, painter = await ctx.read_account(user, read)
    if account.consented_at is None:  # no photo is looked at, let alone kept, before consent
        return consent_first()
    try:
        result = await ctx.selfies.add(account.id, files)
    except AccountGone:
        return say(texts.PHOTOS_NOT_KEPT)
    for verdict in result.batch:  # by reason (a RejectCode), never by user
        metrics.PHOTO_VERDICTS.labels("accepted" if verdict.ok else str(verdict.code or "refused")).inc()
    # a file the user named (a document, a Discord attachment) is called by its name in the verdicts
    names = [clean_filename(f.filename) if f.sent_as_document else "" for f in files]
    # with a model trained or training, new photos start a set for a next one: say so, or "1 of 8
    # so far" reads as if the photos the model learnt from were lost
    next_model = painter is not None or (lora is not None and lora.status == LoraStatus.training)
    return [batch_summary(ctx, result, names, next_model=next_model, painting=painter is not None)]


def refusal(verdict: PhotoVerdict) -> str:
    """Why a photo was refused, in the user's language (the verdict records it in English)."""
    return str(said_for(verdict.code)) if verdict.code is not None else verdict.message


def batch_summary(ctx: Context, result: BatchResult, names: Sequence[str] = (), *, next_model: bool = False,
                  painting: bool = False) -> Reply:
    """``next_model``: a model is trained or training; ``painting``: one is ready and paints."""
    batch = result.batch
    good = sum(v.ok for v in batch)
    if len(batch) == 1:
        head = texts.BATCH_ONE_GOOD if good else texts.BATCH_ONE_REFUSED
    else:
        head = texts.batch_good(len(batch), good) if good else texts.BATCH_NONE_GOOD.format(count=len(batch))
    lines = [head]
    for index, verdict in enumerate(batch):
        if not verdict.ok:
            name = names[index] if index < len(names) else ""
            if name:
                lines.append(texts.REFUSED_NAMED.format(name=name, reason=refusal(verdict)))
            elif len(batch) > 1:
                lines.append(texts.REFUSED_NUMBERED.format(number=verdict.number, reason=refusal(verdict)))
            else:
                lines.append(texts.REFUSED_ONE.format(reason=refusal(verdict)))
    report = result.report
    min_photos = ctx.intake.min_photos
    if report.mixed_people:
        lines.append(texts.MIXED_PEOPLE)
    if report.ready_to_train:
        lines.append(texts.SET_READY_COUNT.format(accepted=report.accepted) + texts.SET_READY.format(
            minutes=texts.TRAIN_MINUTES_ESTIMATE, cost=texts.CREDIT_COUNT(ctx.settings.train_cost)))
        if painting:  # a returning user: what a new model means for the one they have
            lines.append(texts.NEXT_MODEL_REPLACES)
        return Reply("\n".join(map(str, lines)), ((Button(texts.BUTTON_TRAIN, actions.TRAIN),
                                         Button(texts.BUTTON_ADD_MORE, actions.ADD_MORE)),), private=True)
    missing = max(0, min_photos - report.accepted)
    if missing and next_model:  # beside a first model still learning: no "current model" yet
        template = texts.NEXT_MODEL_PHOTOS if painting else texts.PHOTOS_WHILE_FIRST_TRAINING
        lines.append(template.format(accepted=report.accepted, min_photos=min_photos, missing=missing))
    elif missing:
        lines.append(texts.PHOTOS_SO_FAR.format(accepted=report.accepted, min_photos=min_photos, missing=missing))
    if len(batch) - good:
        return Reply("\n".join(map(str, lines)), ((Button(texts.BUTTON_TIPS, actions.TIPS),),), private=True)
    return Reply("\n".join(map(str, lines)), private=True)
