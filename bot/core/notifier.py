"""Watches the jobs of one platform: edits each job's progress message in place (throttled to
the chat's rate limits) and delivers finished jobs exactly once, also after a restart.

Delivery is claimed in the database before anything is sent and marked done after, so two bot
processes never both deliver, and a bot that died mid-delivery is retried after a timeout rather
than leaving the user with nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from i18n import Audience, percent, speaking
from bot.core import texts
from bot.core.delivery import album_reply, failure_reply, model_ready_after_preview, preview_album
from bot.core.messenger import Messenger, Unreachable
from bot.core.preview import shown, shown_preview, training_of
from bot.core.replies import Reply, UserRef
from bot.core.retention import RetentionSweeper
from bot.core.studio import Studio
from bot.core.progress import progress_reply
from bot.core.usecases.menus import style_picker
from bot.core.usecases.painting import style_title
from db import credits, trainings
from db.delivery import DELIVERY_RETRY_SECONDS, claim_delivery, mark_delivered, undelivered_jobs
from db.job_status import CANCELLED_WHILE_WAITING, queue_position
from db.models import Job, JobKind, JobState, PostedMessage, User
from telemetry import metrics

log = logging.getLogger(__name__)


class JobWatcher:
    def __init__(
        self,
        studio: Studio,
        messenger: Messenger,
        *,
        poll_seconds: float = 1.0,
        edit_interval_seconds: float = 3.0,
        delivery_retry_seconds: float = DELIVERY_RETRY_SECONDS,
    ) -> None:
        self.studio = studio
        self.messenger = messenger
        self.platform = messenger.platform
        self.poll_seconds = poll_seconds
        self.edit_interval = edit_interval_seconds
        self.delivery_retry = delivery_retry_seconds
        self._shown: dict[int, str] = {}
        self._edited_at: dict[int, float] = {}
        self._owners: dict[int, str] = {}  # account id -> the platform user id its job messages address
        self.retention = RetentionSweeper(studio, messenger)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("job watcher tick failed; retrying")
            try:
                await self.retention.maybe_run()
            except Exception:
                log.exception("retention sweep failed; trying again at the next one")
            try:
                await asyncio.wait_for(stop.wait(), self.poll_seconds)
            except TimeoutError:
                pass

    async def tick(self) -> None:
        await self._update_progress()
        await self._deliver_finished()

    # ------------------------------------------------------------------ progress
    def _title(self, job: Job) -> str:
        if job.kind == JobKind.train:
            return texts.TRAIN_QUEUED
        return texts.GENERATE_QUEUED.format(count=job.payload.get("count", ""), title=style_title(self.studio.ctx, job))

    async def _update_progress(self) -> None:
        async with self.studio.database.read() as session:
            active = list(await session.scalars(
                select(Job).where(Job.reply_platform == self.platform, Job.state.in_((JobState.queued, JobState.running)),
                                  Job.reply_message_id.is_not(None))
            ))
            updates = []
            for job in active:
                await self._load_owner(session, job.user_id)
                position = await queue_position(session, job.id) if job.state == JobState.queued else None
                with speaking(await self._audience(job.user_id)):  # each progress line in its owner's language
                    updates.append((job, progress_reply(job, self._title(job),
                                                        (position or 0) + 1 if position is not None else None)))
        now = time.monotonic()
        for job, reply in updates:
            if self._shown.get(job.id) == reply.text or now - self._edited_at.get(job.id, 0.0) < self.edit_interval:
                continue
            await self._edit(job, reply)

    async def _load_owner(self, session: AsyncSession, user_id: int) -> None:
        if user_id not in self._owners:
            owner = await session.scalar(select(User.platform_user_id).where(User.id == user_id))
            if owner is not None:
                self._owners[user_id] = owner

    async def _audience(self, user_id: int) -> Audience:
        """How the job's owner is spoken to: their language, not that of whoever started the work."""
        owner = self._owners.get(user_id)
        if owner is None:
            return Audience()
        return await self.studio.ctx.audiences.of(UserRef(self.platform, owner, ""))

    def _to_owner(self, job: Job, reply: Reply) -> Reply:
        """The reply addressed to the job's owner (named where others read the chat too)."""
        return replace(reply, addressee=self._owners.get(job.user_id, ""))

    async def _edit(self, job: Job, reply: Reply) -> None:
        try:
            await self.messenger.edit(job.reply_chat_id, str(job.reply_message_id), self._to_owner(job, reply))
        except Exception:
            log.warning("could not edit progress message of job %s", job.id, exc_info=True)
        self._shown[job.id] = reply.text
        self._edited_at[job.id] = time.monotonic()

    # ------------------------------------------------------------------ delivery
    async def _deliver_finished(self) -> None:
        async with self.studio.database.read() as session:
            owed = [job.id for job in await undelivered_jobs(session, platforms=[self.platform],
                                                               retry_after_seconds=self.delivery_retry)]
        for job_id in owed:
            await self.deliver(job_id)

    async def deliver(self, job_id: int) -> bool:
        async with self.studio.database.transaction() as session:
            if not await claim_delivery(session, job_id, retry_after_seconds=self.delivery_retry):
                return False
            job = await session.get(Job, job_id, populate_existing=True)
            assert job is not None
            balance = await credits.balance(session, job.user_id)
            await self._load_owner(session, job.user_id)
            # a preview goes with its training; a model that is ready follows its preview
            related = (await training_of(session, job) if job.kind == JobKind.preview
                       else await shown_preview(session, job) if job.kind == JobKind.train else None)
        log.info("delivering job %s (%s, %s) to %s:%s", job.id, job.kind, job.state, self.platform, job.reply_chat_id)
        try:
            with speaking(await self._audience(job.user_id)):
                await self._send_outcome(job, balance, related)
        except Unreachable as error:  # retrying forever would not help: it ends here, the results are kept
            log.warning("delivery of job %s given up: %s (its results stay in storage until /delete)", job.id, error)
        except Exception:
            log.exception("delivery of job %s failed; it will be retried", job.id)
            return False
        async with self.studio.database.transaction() as session:
            await mark_delivered(session, job.id)
        self._shown.pop(job.id, None)
        self._edited_at.pop(job.id, None)
        return True

    async def _send_album(self, job: Job, reply: Reply) -> None:
        """The album; where the platform lets the bot take messages back (Discord), the ones that
        carry portraits are recorded so that /delete removes them from the chat too."""
        reply = self._to_owner(job, reply)
        send_tracked = getattr(self.messenger, "send_tracked", None)
        if send_tracked is None:
            await self.messenger.send(job.reply_chat_id, reply)
            return
        _, posted = await send_tracked(job.reply_chat_id, reply)
        try:
            async with self.studio.database.transaction() as session:
                if await session.get(User, job.user_id) is None:
                    raise LookupError(job.user_id)
                session.add_all(PostedMessage(user_id=job.user_id, job_id=job.id, platform=self.platform,
                                              chat_id=job.reply_chat_id, message_id=message_id) for message_id in posted)
        except (LookupError, IntegrityError):
            # the owner's /delete ran while the album was on its way: it can't be recorded for the
            # next /delete to take back, so it is taken back now
            log.info("job %s's album arrived after its owner's /delete: taking it back", job.id)
            retract = getattr(self.messenger, "retract")  # a messenger that tracks messages can take them back
            for message_id in posted:
                await retract(job.reply_chat_id, message_id)

    async def _send_outcome(self, job: Job, balance: int, related: Job | None = None) -> None:
        chat = job.reply_chat_id
        if job.kind == JobKind.preview:
            await self._send_preview(job, related)
            return
        if job.state == JobState.succeeded:
            final = f"{self._title(job)}  {texts.progress_bar(1.0)} {percent(100)} ✅"
            if job.reply_message_id:
                await self._edit(job, Reply(final))
            if job.kind == JobKind.train:
                await self.messenger.send(chat, self._to_owner(job, self._model_ready(related, job)))
            else:
                result = job.result or {}
                refunded = credits.shortfall_refund(job.credits_reserved, int(result.get("below_likeness") or 0),
                                                    len({image.get("index") for image in result.get("images", [])}))
                observe_delivered(result, refunded)
                await self._send_album(job, await album_reply(self.studio.storage, job, style_title(self.studio.ctx, job),
                                                              balance, refunded))
            return
        outcome = failure_reply(job, model_paints=job.kind == JobKind.train and await self._model_paints(job.user_id))
        if job.reply_message_id:  # the progress message never stays "working…"
            await self._edit(job, Reply(outcome.text if job.state == JobState.cancelled else f"{self._title(job)} {texts.STOPPED}"))
        # a cancel answered at once ("Stopped", it was waiting, also after a restart had put it back in
        # line) has had its say; one that stopped a running job was promised a confirmation ("I'll
        # confirm here once it has stopped")
        if job.state != JobState.cancelled or not job.reply_message_id or job.error_message != CANCELLED_WHILE_WAITING:
            await self.messenger.send(chat, self._to_owner(job, outcome))

    async def _model_paints(self, user_id: int) -> bool:
        async with self.studio.database.read() as session:
            return await trainings.painting_model(session, user_id) is not None

    # ------------------------------------------------------------------ preview
    def _model_ready(self, preview: Job | None, training: Job) -> Reply:
        figure = (training.result or {}).get("likeness")
        picker = style_picker(self.studio.ctx, 
            texts.MODEL_READY if figure is None else texts.MODEL_LIKENESS.format(likeness=percent(figure)))
        style_id = (preview.payload or {}).get("style_id", "") if preview is not None else ""
        if not style_id or style_id not in self.studio.catalogue:
            return picker
        return model_ready_after_preview(picker, style_id, style_title(self.studio.ctx, preview), figure)

    async def _send_preview(self, job: Job, training: Job | None) -> None:
        """The preview's album while its training runs, then the training's progress moved below it.
        Nothing when no preview was painted (no adapter on the worker, failed, cancelled) or the
        model is already done: the chat then goes on as without previews."""
        if not shown(job) or training is None or training.state not in (JobState.queued, JobState.running):
            why = (job.result or {}).get("skipped") or job.error_code or ("model done" if shown(job) else "no portraits")
            log.info("preview %s not shown (%s: %s)", job.id, job.state, why)
            return
        await self._send_album(job, await preview_album(self.studio.storage, job, style_title(self.studio.ctx, job)))
        await self._move_progress_below(training)

    async def _move_progress_below(self, training: Job) -> None:
        if not training.reply_message_id:
            return
        old = str(training.reply_message_id)
        title = self._title(training)
        message_id = await self.messenger.send(training.reply_chat_id,
                                               self._to_owner(training, progress_reply(training, title)))
        if message_id is None:
            return
        await self.studio.remember_progress_message(training.id, str(message_id))
        self._shown.pop(training.id, None)
        self._edited_at.pop(training.id, None)
        try:
            await self.messenger.edit(training.reply_chat_id, old,
                                      self._to_owner(training, Reply(texts.PROGRESS_BELOW.format(title=title))))
        except Exception:
            log.warning("could not retire the old progress message of job %s", training.id, exc_info=True)


def observe_delivered(result: dict, refunded: int) -> None:
    """``studio_delivered_portrait_likeness_ratio``: each delivered portrait once (not once per
    aspect); a shortfall refund counts as ``studio_job_refunds_total{reason="likeness_shortfall"}``."""
    figures = {image.get("index"): image.get("likeness") for image in result.get("images", [])}
    for figure in figures.values():
        if figure is not None:
            metrics.PORTRAIT_LIKENESS.observe(float(figure) / 100)
    if refunded:
        metrics.JOB_REFUNDS.labels(JobKind.generate.value, "likeness_shortfall").inc()
