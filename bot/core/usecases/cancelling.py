"""/cancel, and the Cancel button under one job's progress message."""

from __future__ import annotations

from bot.core import texts
from bot.core.context import Context, say
from bot.core.job_refs import names, parse_job_ref
from bot.core.replies import Reply, UserRef
from bot.core.usecases.painting import NotYours, own_job
from db import jobs, trainings
from db.job_status import CancelOutcome, request_cancel
from telemetry import metrics


async def cancel(ctx: Context, user: UserRef, _args: list[str], *, button: str | None = None) -> list[Reply]:
    """Every active job of the user (``/cancel``), or with a progress message's ``button`` just
    the job it names, when that is one of them (in a Discord channel others see it too)."""
    async with ctx.database.transaction() as session:
        account = await ctx.account(session, user)
        active = await jobs.active_jobs(session, account.id)
        if button is not None:
            try:
                await own_job(ctx, session, user, button)
            except NotYours:  # in a Discord channel everyone sees every progress message's Cancel
                return say(texts.NOT_YOUR_JOB, private=True)
            ref = parse_job_ref(button)
            active = [job for job in active if ref is not None and job.id == ref[0] and names(job, ref[1])]
        if not active:
            if button is None:
                return say(texts.NOTHING_TO_CANCEL)
            return say(texts.NOT_YOUR_RUNNING_JOB, private=True)
        refunded = stopping = 0
        waiting: list[str] = []  # the kinds of the paid jobs cancelled while they waited
        for job in active:
            outcome = await request_cancel(session, job.id, user_id=account.id)
            if outcome == CancelOutcome.cancelled:  # it was waiting: refunded in this transaction
                refunded += job.credits_reserved
                if job.credits_reserved:
                    waiting.append(str(job.kind))
                await trainings.training_failed(session, job.id, ctx.selfies.judge)
            elif outcome == CancelOutcome.requested:  # its worker stops it and refunds, unless it finishes first
                stopping += 1
    for kind in waiting:  # committed: their credits are back
        metrics.JOB_REFUNDS.labels(kind, "cancelled").inc()
    if stopping and not refunded:
        return say(texts.CANCEL_STOPPING)
    refund = texts.refunded(refunded) if refunded else ""
    text = texts.CANCELLED.format(refund=refund).strip()
    return say(f"{text}\n{texts.CANCEL_STOPPING}" if stopping else text)


async def cancel_button(ctx: Context, user: UserRef, arg: str) -> list[Reply]:
    """The button under one job's progress message stops that job only."""
    return await cancel(ctx, user, [], button=arg)
