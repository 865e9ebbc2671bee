"""The conversation, once for every platform: each user event becomes one call here and comes
back as platform-neutral replies. Nothing in this module knows Telegram or Discord."""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import texts
from bot.core.delivery import originals_reply
from bot.core.job_refs import job_ref, names, parse_job_ref
from bot.core.limits import RateLimiter
from bot.core.preview import preview_style, queue_preview
from bot.core.replies import Button, IncomingFile, Reply, UserRef
from bot.core.selfies import AccountGone, BatchResult, SelfieBook, clean_filename, training_crops
from bot.core.shop import (INVOICED_ON, STARS, CheckoutRefusal, GiveBack, PlatformRefused, checkout_refusal, invoice_for,
                           packs_on)
from bot.core.shop import refund as refund_payment
from bot.core.style_sheet import StyleSheets
from db import credits, held_notices, jobs, payments, trainings
from db.job_status import CancelOutcome, request_cancel
from db.models import (FINAL_JOB_STATES, Job, JobKind, JobState, LoraModel, LoraStatus, PostedMessage, SelfieSet,
                       SetStatus, User)
from db.storage import ObjectNotFound, user_prefix
from db.allowance import load_key
from db.users import delete_user, find_user, get_or_create_user, is_account_id, record_consent
from engine.intake import IntakeConfig
from engine.jobs import GenerateJob, TrainJob
from studio.services import Services
from studio.settings import Platform
from styles import Style
from styles.prompt_fit import PERSONAL_TOKEN  # the rare token a personal LoRA binds the face to

log = logging.getLogger(__name__)
T = TypeVar("T")

PHOTO_REFUSAL_EVERY_SECONDS = 5.0  # photos refused by the rate limit: told at most this often
RETRACT_TRIES = 3
RETRACT_PAUSE_SECONDS = 1.0


@dataclass(frozen=True)
class DeleteOutcome:
    """What /delete could not finish at once: files the sweep removes later, messages left in a chat."""

    files_pending: bool = False
    messages_left: int = 0

MAX_REFERENCES = 12  # selfie embeddings sent with a generation to rank its outputs by likeness
TRAIN_MINUTES_ESTIMATE = "about 5 minutes"
#: the stage each kind of job spends most of its time in: its progress title already names it
MAIN_STAGE = {JobKind.train: "training", JobKind.generate: "generating"}
PAYMENT_TRIES = 4  # a payment is credited even through a few seconds of database trouble


class NotYours(Exception):
    """A button of somebody else's portraits."""


def _folded(name: str) -> str:
    """A name as compared with what a user typed: lower case, letters and digits only."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def new_error_id() -> str:
    return secrets.token_hex(4)


class Studio:
    def __init__(self, services: Services, *, intake_config: IntakeConfig | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.database = services.database
        self.storage = services.storage
        self.catalogue = services.catalogue
        self.style_sheets = StyleSheets(self.catalogue)
        self.intake = intake_config or IntakeConfig.from_settings(self.settings)
        self.selfies = SelfieBook(self.database, self.storage, self.intake,
                                  check_workers=self.settings.photo_check_workers)
        self.limiter = RateLimiter(self.settings.commands_per_minute)
        self.photo_limiter = RateLimiter(self.settings.photos_per_minute)
        #: per platform, how to delete a message the bot posted (set by front ends that can)
        self.retractors: dict[str, Callable[[str, str], Awaitable[None]]] = {}
        #: per platform, how to take back what the front end sent a user (by their platform id) that no
        #: row records (Discord: messages sent through an interaction token, while the token lives)
        self.unrecorded_retractors: dict[str, Callable[[str], Awaitable[None]]] = {}
        #: platform -> edit(chat id, message id, reply): /delete closes the progress messages of the jobs it stops
        self.editors: dict[str, Callable[[str, str, Reply], Awaitable[None]]] = {}
        #: platforms where every request must get an answer, a refusal past the rate limit included
        #: (Discord: an interaction left unanswered shows "thinking…", then vanishes)
        self.answer_every_request: set[str] = set()
        #: per platform, how to give a payment's money back (set by front ends that sell)
        self.refunders: dict[str, GiveBack] = {}
        #: the /delete running per account: a second one at the same time (a double tap) waits for it
        self._deleting: dict[tuple[str, str], asyncio.Task[DeleteOutcome]] = {}
        configured = self.settings.account_hash_key
        self.allowance_key = load_key(configured.get_secret_value() if configured else None, self.settings.data_dir)

    # ------------------------------------------------------------------ entry points
    async def command(self, user: UserRef, name: str, args: list[str] | None = None) -> list[Reply]:
        handlers: dict[str, Callable[[UserRef, list[str]], Awaitable[list[Reply]]]] = {
            "start": self._start, "help": self._help, "privacy": self._privacy, "styles": self._styles,
            "status": self._status, "credits": self._credits, "cancel": self._cancel, "delete": self._delete,
            "grant": self._grant, "train": self._train_command, "refund": self._refund,
        }
        if self.selling(user.platform):
            handlers |= {"buy": self._buy, "paysupport": self._pay_support}
        handler = handlers.get(name.lower())
        if handler is None:
            unknown = texts.UNKNOWN_COMMAND.format(name=name[:32])
            return await self._guard(user, lambda: self._reply(f"{unknown}\n\n{texts.HELP}"))
        return await self._guard(user, lambda: handler(user, args or []))

    async def photos(self, user: UserRef, files: list[IncomingFile]) -> list[Reply]:
        """Photos have their own, larger allowance (each file counts): a user sending twenty selfies
        one by one is not a flood of commands. A batch that does not fit is refused whole, and the
        user is told which to send again, and when; never dropped without a word."""
        refused = self._over_limit(user, self.photo_limiter, texts.PHOTOS_TOO_FAST, count=len(files),
                                   warn_every=PHOTO_REFUSAL_EVERY_SECONDS)
        if refused is not None:
            return refused
        return await self._guard(user, lambda: self._photos(user, files), counted=False)

    async def action(self, user: UserRef, action: str, *, source_message_id: str = "") -> list[Reply]:
        return await self._guard(user, lambda: self._action(user, action, source_message_id))

    async def text(self, user: UserRef, text: str) -> list[Reply]:
        return await self._guard(user, lambda: self._typed(user))

    async def _typed(self, user: UserRef) -> list[Reply]:
        """A message typed to the bot: selfies are what it wants, unless a model paints already
        (a user back for more portraits): then the styles."""
        async with self.database.read() as session:
            account = await find_user(session, user.platform, user.user_id)
            painter = await trainings.painting_model(session, account.id) if account is not None else None
        if painter is not None:
            return [self.style_picker(texts.TYPED_WITH_MODEL)]
        return await self._reply(texts.NOT_A_PHOTO_TEXT)

    async def private_chat_only(self, user: UserRef, private_chat_link: str) -> list[Reply]:
        """A command said where others read along (a Telegram group): selfies, portraits and balances are
        the user's alone, so nothing is started there (no account, no consent); the answer is the way
        to the private chat."""
        button = Button(texts.BUTTON_OPEN_PRIVATE_CHAT, "", url=private_chat_link)
        return await self._guard(user, lambda: self._reply(texts.PRIVATE_CHAT_ONLY, (button,)))

    async def unsupported(self, user: UserRef, kind: str, *, limit_mb: int | str = 20) -> list[Reply]:
        """A sticker, video, animation, voice message or a file too large to download."""
        message = {
            "sticker": texts.STICKER, "video": texts.VIDEO, "animation": texts.ANIMATION, "audio": texts.AUDIO,
            "file_too_big": texts.FILE_TOO_BIG.format(limit_mb=limit_mb),
        }.get(kind, texts.NOT_A_PHOTO_TEXT)
        return await self._guard(user, lambda: self._reply(message))

    async def remember_progress_message(self, job_id: int, message_id: str) -> None:
        async with self.database.transaction() as session:
            job = await session.get(Job, job_id)
            if job is not None:
                job.reply_message_id = str(message_id)

    async def remember_posted(self, user: UserRef, chat_id: str, message_id: str) -> None:
        """A message with the user's pictures that the front end posted where the bot can delete it
        later (a Discord DM): /delete takes it back with the portraits' albums."""
        async with self.database.transaction() as session:
            account = await find_user(session, user.platform, user.user_id)
            if account is not None:
                session.add(PostedMessage(user_id=account.id, platform=user.platform, chat_id=chat_id,
                                          message_id=message_id))

    # ------------------------------------------------------------------ plumbing
    async def _guard(self, user: UserRef, run: Callable[[], Awaitable[list[Reply]]], *,
                     counted: bool = True) -> list[Reply]:
        """Rate limit (unless ``counted`` is False), then run; an unexpected error becomes an apology
        carrying an error id."""
        if counted and (refused := self._over_limit(user, self.limiter, texts.RATE_LIMITED,
                                                    again=texts.RATE_LIMITED_AGAIN)) is not None:
            return refused
        try:
            return await run()
        except Exception:
            error_id = new_error_id()
            log.exception("error %s while serving %s:%s", error_id, user.platform, user.user_id,
                          extra={"error_id": error_id})
            return [Reply(texts.APOLOGY.format(error_id=error_id), private=True)]

    def _over_limit(self, user: UserRef, limiter: RateLimiter, template: str, *, count: int = 1,
                    warn_every: float | None = None, again: str | None = None) -> list[Reply] | None:
        """None when ``count`` more events of the user fit ``limiter``; else the refusal: ``template``
        with the seconds to wait, once per burst of refusals (nothing for the rest of the burst, except
        where every request must be answered: there ``again``, or ``template``, each time)."""
        key = f"{user.platform}:{user.user_id}"
        if limiter.allow(key, count):
            return None
        log.info("rate limited %s (%d event(s))", key, count)
        wait = max(1, math.ceil(limiter.retry_after(key, count)))
        if not limiter.warn_once(key, every=warn_every):
            if user.platform not in self.answer_every_request:
                return []
            template = again or template
        return [Reply(template.format(seconds=wait), private=True)]

    @staticmethod
    async def _reply(text: str, *rows: tuple[Button, ...], private: bool = False) -> list[Reply]:
        return [Reply(text, tuple(rows), private=private)]

    async def _read_account(self, user: UserRef, read: Callable[[AsyncSession, User], Awaitable[T]]) -> T:
        """``read`` over the user's account in a read-only snapshot, which neither takes nor waits for
        the write lock (``Database.read``); a first visit makes the account first (that one writes)."""
        for _ in range(3):
            async with self.database.read() as session:
                account = await find_user(session, user.platform, user.user_id)
                if account is not None:
                    return await read(session, account)
            async with self.database.transaction() as session:
                await self.account(session, user)
        raise RuntimeError(f"the account of {user.platform}:{user.user_id} went as soon as it was made")

    async def account(self, session: AsyncSession, user: UserRef) -> User:
        account, _ = await get_or_create_user(
            session, user.platform, user.user_id, display_name=user.display_name, free_credits=self.settings.free_credits,
            allowance_key=self.allowance_key,
        )
        return account

    # ------------------------------------------------------------------ commands
    async def _start(self, user: UserRef, _args: list[str]) -> list[Reply]:
        async def read(session: AsyncSession, account: User) -> tuple[User, LoraModel | None, LoraModel | None]:
            return account, *await trainings.models(session, account.id)

        account, newest, painter = await self._read_account(user, read)
        balance, consented = account.credits, account.consented_at is not None
        text = texts.welcome(user.display_name, balance, self.intake.min_photos, self._max_photos)
        if painter is not None:  # a returning user: not "send me selfies" alone, as if they began again
            text += "\n\n" + texts.WELCOME_BACK_READY
        elif newest is not None and newest.status == LoraStatus.training:
            text += "\n\n" + texts.WELCOME_BACK_TRAINING
        replies = await self._reply(text, (Button(texts.BUTTON_TIPS, "tips"), Button(texts.BUTTON_SEE_STYLES, "styles")))
        return replies if consented else [*replies, self.consent_request(texts.CONSENT)]

    @property
    def _max_photos(self) -> int:
        return max(self.intake.min_photos, 20)

    @staticmethod
    def consent_request(text: str) -> Reply:
        return Reply(text, ((Button(texts.BUTTON_CONSENT, "consent"),),), private=True)

    async def consent_first(self) -> list[Reply]:
        return [self.consent_request(f"{texts.CONSENT_FIRST}\n\n{texts.CONSENT}")]

    async def has_consented(self, user: UserRef) -> bool:
        async with self.database.read() as session:
            account = await find_user(session, user.platform, user.user_id)
            return account is not None and account.consented_at is not None

    async def _consent(self, user: UserRef) -> list[Reply]:
        async with self.database.transaction() as session:
            recorded = await record_consent(session, await self.account(session, user))
        if not recorded:
            return await self._reply(texts.CONSENT_ALREADY, private=True)
        log.info("consent recorded for %s:%s", user.platform, user.user_id)
        return await self._reply(texts.CONSENT_THANKS.format(min_photos=self.intake.min_photos,
                                                             max_photos=self._max_photos), private=True)

    async def _help(self, user: UserRef, _args: list[str]) -> list[Reply]:
        if self.selling(user.platform):
            head, _, tail = texts.HELP.partition("\n\n")
            return await self._reply(f"{head}\n{texts.HELP_BUY}\n\n{tail}\n\n{texts.TERMS}")
        return await self._reply(texts.HELP)

    async def _privacy(self, user: UserRef, _args: list[str]) -> list[Reply]:
        settings = self.settings
        return await self._reply(texts.privacy(settings.selfie_retention_days, settings.model_retention_days,
                                               settings.expiry_notice_days, selling=self.selling(user.platform),
                                               unused_selfie_days=settings.unused_selfie_retention_days,
                                               takes_back_messages=user.platform in self.retractors))

    async def _credits(self, user: UserRef, _args: list[str]) -> list[Reply]:
        async def read(_session: AsyncSession, account: User) -> int:
            return account.credits

        balance = await self._read_account(user, read)
        rows = ((Button(texts.BUTTON_BUY, "buy"),),) if self.selling(user.platform) else ()
        return await self._reply(texts.CREDITS.format(
            credits=texts.plural(balance, "credit"), train_cost=texts.plural(self.settings.train_cost, "credit"),
            generate_cost=texts.plural(self.settings.generate_cost, "credit"),
        ), *rows, private=True)

    def out_of_credits(self, user: UserRef, needed: int, balance: int, *, has_model: bool = True) -> Reply:
        """The refusal for want of credits; ``has_model``: the user has a model that paints (a first
        training's refusal does not speak of one)."""
        kept = texts.KEPT_PHOTOS_AND_MODEL if has_model else texts.KEPT_PHOTOS
        if self.selling(user.platform) and not self.settings.is_banned(user.platform, user.user_id):
            return Reply(texts.OUT_OF_CREDITS_BUY.format(needed=needed, balance=balance, kept=kept),
                         ((Button(texts.BUTTON_BUY, "buy"),),), private=True)
        return Reply(texts.OUT_OF_CREDITS.format(needed=needed, balance=balance, kept=kept), private=True)

    async def _styles(self, user: UserRef, _args: list[str]) -> list[Reply]:
        return [await self._style_overview()]

    async def _style_overview(self) -> Reply:
        """The categories, under a sheet of one sample per category where every one has a sample."""
        return replace(self.style_picker(texts.PICK_STYLE), illustration=await self.style_sheets.overview())

    def style_picker(self, text: str) -> Reply:
        categories = self.catalogue.used_categories()
        buttons = [Button(f"{c.emoji} {c.title}".strip(), f"cat:{c.id}") for c in categories]
        rows = tuple(tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3))
        return Reply(text, rows)

    async def _status(self, user: UserRef, _args: list[str]) -> list[Reply]:
        async def read(session: AsyncSession, account: User) -> tuple[Any, ...]:
            lora, painter = await trainings.models(session, account.id)
            selfie_set = await self.selfies.collecting_set(session, account.id)
            photos = await self.selfies.photos(session, selfie_set.id) if selfie_set is not None else []
            active = await jobs.active_jobs(session, account.id)
            figure = await self._model_likeness(session, painter) if painter is not None else None
            ready_to_train = selfie_set is not None and await self._ready_to_train(session, selfie_set)
            expired = lora is None and await self._model_expired(session, account.id)
            return account, lora, painter, photos, active, figure, ready_to_train, expired

        account, lora, painter, photos, active, figure, ready_to_train, expired = await self._read_account(user, read)
        accepted = sum(p.accepted for p in photos)
        lines = [texts.STATUS_HEADER]
        if photos or lora is None:  # a trained model's photos are not a set in the making
            first_model = painter is None and (lora is None or lora.status == LoraStatus.failed)
            template = texts.STATUS_PHOTOS if first_model else texts.STATUS_NEXT_PHOTOS
            lines.append(template.format(accepted=accepted, total=len(photos), min_photos=self.intake.min_photos))
        if expired:
            lines.append(texts.STATUS_MODEL_EXPIRED.format(days=self.settings.model_retention_days))
        elif painter is None:
            lines.append(texts.STATUS_MODEL[lora.status if lora else "none"])
        else:  # the model that paints; a newer one training, or whose training stopped, beside it
            model_line = texts.STATUS_MODEL[LoraStatus.ready]
            if figure is not None:
                model_line += texts.STATUS_LIKENESS.format(likeness=figure)
            lines.append(model_line)
            if lora is not None and lora.id != painter.id:
                lines.append(texts.STATUS_NEW_MODEL_TRAINING if lora.status == LoraStatus.training
                             else texts.STATUS_NEW_MODEL_STOPPED)
        for job in active:
            stage = texts.STAGE_NAMES.get(job.stage, job.stage)
            lines.append(texts.STATUS_JOB.format(kind=job.kind.capitalize(), stage=stage, percent=round(job.progress * 100)))
        lines.append(texts.STATUS_CREDITS.format(credits=account.credits))
        return await self._reply("\n".join(lines), *self._status_next_step(user, account.credits, painter, lora, active,
                                                                          ready_to_train), private=True)

    def _status_next_step(self, user: UserRef, balance: int, painter: LoraModel | None, newest: LoraModel | None,
                          active: Sequence[Job], ready_to_train: bool) -> tuple[tuple[Button, ...], ...]:
        """/status's way on: train a set that is ready, paint with a model that is, buy what that needs."""
        training = any(job.kind == JobKind.train for job in active) or (
            newest is not None and newest.status == LoraStatus.training)
        buttons: list[Button] = []
        costs: list[int] = []
        if ready_to_train and not training:
            buttons.append(Button(texts.BUTTON_TRAIN, "train"))
            costs.append(self.settings.train_cost)
        if painter is not None:
            buttons.append(Button(texts.BUTTON_SEE_STYLES, "styles"))
            costs.append(self.settings.generate_cost)
        # Buy where any step offered needs more than the balance (a painting affordable, a training not)
        if any(balance < cost for cost in costs) and self.selling(user.platform) and not self.settings.is_banned(
                user.platform, user.user_id):
            buttons.append(Button(texts.BUTTON_BUY, "buy"))
        return (tuple(buttons),) if buttons else ()

    async def _cancel(self, user: UserRef, _args: list[str], *, button: str | None = None) -> list[Reply]:
        """Every active job of the user (``/cancel``), or with a progress message's ``button`` just
        the job it names, when that is one of them (in a Discord channel others see it too)."""
        async with self.database.transaction() as session:
            account = await self.account(session, user)
            active = await jobs.active_jobs(session, account.id)
            if button is not None:
                try:
                    await self._own_job(session, user, button)
                except NotYours:  # in a Discord channel everyone sees every progress message's Cancel
                    return await self._reply(texts.NOT_YOUR_JOB, private=True)
                ref = parse_job_ref(button)
                active = [job for job in active if ref is not None and job.id == ref[0] and names(job, ref[1])]
            if not active:
                if button is None:
                    return await self._reply(texts.NOTHING_TO_CANCEL)
                return await self._reply(texts.NOT_YOUR_RUNNING_JOB, private=True)
            refunded = stopping = 0
            for job in active:
                outcome = await request_cancel(session, job.id, user_id=account.id)
                if outcome == CancelOutcome.cancelled:  # it was waiting: refunded in this transaction
                    refunded += job.credits_reserved
                    await trainings.training_ended(session, job.id, succeeded=False, judge=self.selfies.judge)
                elif outcome == CancelOutcome.requested:  # its worker stops it and refunds, unless it finishes first
                    stopping += 1
        if stopping and not refunded:
            return await self._reply(texts.CANCEL_STOPPING)
        refund = texts.refunded(refunded) if refunded else ""
        text = texts.CANCELLED.format(refund=refund).strip()
        return await self._reply(f"{text}\n{texts.CANCEL_STOPPING}" if stopping else text)

    async def _delete(self, user: UserRef, _args: list[str]) -> list[Reply]:
        # The button names the account it deletes: a confirmation left over from before an earlier
        # /delete must not delete the account the user has made since.
        async with self.database.read() as session:
            account = await find_user(session, user.platform, user.user_id)
        ref = account.id if account is not None else 0
        return await self._reply(
            texts.DELETE_CONFIRM,
            (Button(texts.BUTTON_DELETE_YES, f"delete:yes:{ref}"), Button(texts.BUTTON_DELETE_NO, "delete:no")),
            private=True,
        )

    async def _confirmed_delete(self, user: UserRef, ref: str) -> list[Reply]:
        async with self.database.read() as session:
            account = await find_user(session, user.platform, user.user_id)
        if account is not None and ref != str(account.id):
            return await self._reply(texts.DELETE_BUTTON_OLD, private=True)
        outcome = await self.delete_everything(user)
        text = texts.DELETED_FILES_PENDING if outcome.files_pending else texts.DELETED
        if outcome.messages_left:
            text += "\n\n" + texts.DELETED_MESSAGES_LEFT.format(messages=texts.plural(outcome.messages_left, "message"))
        return await self._reply(text, private=True)

    async def delete_everything(self, user: UserRef) -> DeleteOutcome:
        """Every copy: the messages with portraits the bot can take back, the rows (a running job
        notices at its next heartbeat, stops and removes what it wrote: engine.runtime.worker), storage.
        Where storage could not remove every file now, the account is gone all the same and the
        retention sweep removes what is left (db/orphans.py). A second /delete of the account while
        one runs (a double tap on "Yes") runs nothing itself: it waits for that one and gets its outcome."""
        key = (user.platform, user.user_id)
        running = self._deleting.get(key)
        if running is None:
            running = asyncio.create_task(self._delete_everything(user), name=f"delete {user.platform}:{user.user_id}")
            self._deleting[key] = running
            running.add_done_callback(lambda _: self._deleting.pop(key, None))
        return await asyncio.shield(running)  # a caller that goes away does not stop the deletion half way

    async def _delete_everything(self, user: UserRef) -> DeleteOutcome:
        async with self.database.transaction() as session:
            account = await find_user(session, user.platform, user.user_id)
            await held_notices.forget(session, user.platform, user.user_id)  # receipts waiting for them
            if account is None:
                return DeleteOutcome()
            user_id = account.id
            posted = (await session.scalars(select(PostedMessage).where(PostedMessage.user_id == user_id))).all()
            progress = [(job.reply_platform, job.reply_chat_id, job.reply_message_id)
                        for job in await jobs.active_jobs(session, user_id) if job.reply_message_id]
        taken_back, left_in_chat = await self._take_back(posted)  # outside the transaction: it talks to the platform
        if (take_back_unrecorded := self.unrecorded_retractors.get(user.platform)) is not None:
            try:
                await take_back_unrecorded(user.user_id)
            except Exception:
                log.warning("could not take back the unrecorded messages of %s:%s", user.platform, user.user_id,
                            exc_info=True)
        async with self.database.transaction() as session:
            await delete_user(session, user_id)
        await self._close_progress(progress)
        try:
            removed = await self.storage.delete_user(user_id)
        except Exception:  # storage refused or timed out: the sweep of files without a user finishes it
            log.warning("deleted user %s, but not all of their stored files yet; the retention sweep removes "
                        "the rest", user_id, exc_info=True)
            return DeleteOutcome(files_pending=True, messages_left=left_in_chat)
        log.info("deleted user %s, %d stored objects and %d posted messages (%d could not be)", user_id, removed,
                 taken_back, left_in_chat)
        return DeleteOutcome(messages_left=left_in_chat)

    async def _close_progress(self, messages: Sequence[tuple[str | None, str | None, str | None]]) -> None:
        """The progress messages of the jobs a /delete stopped: their jobs are gone with the account,
        so no watcher will ever edit them; they say so now and lose their Cancel button."""
        for platform, chat_id, message_id in messages:
            edit = self.editors.get(platform or "")
            if edit is None or not chat_id or not message_id:
                continue
            try:
                await edit(chat_id, message_id, Reply(texts.DELETED_JOB_STOPPED))
            except Exception:
                log.info("could not close progress message %s in %s:%s", message_id, platform, chat_id, exc_info=True)

    async def _take_back(self, posted: Sequence[PostedMessage]) -> tuple[int, int]:
        """(taken back, left in the chat): each message is tried up to ``RETRACT_TRIES`` times (a 5xx or
        a rate limit passes); once the rows are gone nothing could try again."""
        done = left = 0
        for message in posted:
            retract = self.retractors.get(message.platform)
            if retract is None:
                log.warning("message %s in %s:%s can't be deleted from this process", message.message_id,
                            message.platform, message.chat_id)
                left += 1
                continue
            for attempt in range(1, RETRACT_TRIES + 1):
                try:
                    await retract(message.chat_id, message.message_id)
                    done += 1
                    break
                except Exception:
                    log.warning("could not delete message %s in %s:%s (try %d of %d)", message.message_id,
                                message.platform, message.chat_id, attempt, RETRACT_TRIES, exc_info=True)
                    if attempt < RETRACT_TRIES:
                        await asyncio.sleep(RETRACT_PAUSE_SECONDS * attempt)
            else:
                left += 1
        return done, left

    async def _grant(self, user: UserRef, args: list[str]) -> list[Reply]:
        if not self.settings.is_admin(user.platform, user.user_id):
            return await self._reply(texts.NOT_ADMIN, private=True)
        if len(args) < 2 or not args[1].lstrip("-").isdigit():
            return await self._reply(texts.GRANT_USAGE, private=True)
        platform, _, target = args[0].rpartition(":")
        platform = platform or user.platform
        if platform not in set(Platform) or not is_account_id(platform, target):
            return await self._reply(texts.GRANT_USAGE, private=True)  # a typo would credit an account nobody has
        amount = int(args[1])
        try:
            async with self.database.transaction() as session:
                if amount < 0 and await find_user(session, platform, target) is None:  # not made to be taken from
                    return await self._reply(texts.GRANT_NO_ACCOUNT.format(platform=platform, user_id=target),
                                             private=True)
                account, _ = await get_or_create_user(session, platform, target, free_credits=self.settings.free_credits,
                                                      allowance_key=self.allowance_key)
                balance = await credits.grant(session, account.id, amount, reason="admin_grant",
                                              note=f"by {user.platform}:{user.user_id}")
        except credits.InsufficientCredits as short:  # nothing written: the transaction rolled back
            return await self._reply(texts.GRANT_MORE_THAN_BALANCE.format(
                platform=platform, user_id=target, balance=short.balance, taken=short.needed), private=True)
        return await self._reply(texts.GRANTED.format(amount=amount, platform=platform, user_id=target, balance=balance),
                                 private=True)

    # ------------------------------------------------------------------ buying credits
    def selling(self, platform: str) -> bool:
        return bool(packs_on(self.settings, platform))

    async def _buy(self, user: UserRef, _args: list[str]) -> list[Reply]:
        """``/buy`` (or a Buy button): the packs on sale here, as invoices where the platform takes
        payment in the chat, else as its store's buttons."""
        on_sale = packs_on(self.settings, user.platform)
        if not on_sale:
            return await self._reply(texts.NOT_SELLING, private=True)
        if self.settings.is_banned(user.platform, user.user_id):
            return await self._reply(texts.NOT_SOLD_TO_YOU, private=True)
        intro = texts.BUY_PICK.format(train_cost=texts.plural(self.settings.train_cost, "credit"),
                                      generate_cost=texts.plural(self.settings.generate_cost, "credit"))
        if user.platform in INVOICED_ON:
            return [Reply(intro, private=True),
                    *(Reply(invoice=invoice_for(p, user.user_id, self.settings)) for p in on_sale if p.stars)]
        buttons = [Button(texts.plural(p.credits, "credit"), f"buy:{p.id}", sku_id=p.discord_sku_id) for p in on_sale]
        return await self._reply(intro, *((b,) for b in buttons), private=True)

    async def _pay_support(self, user: UserRef, _args: list[str]) -> list[Reply]:
        contact = self.settings.payment_support or texts.PAY_SUPPORT_CONTACT
        return await self._reply(texts.PAY_SUPPORT.format(contact=contact), private=True)

    def pre_checkout(self, user: UserRef, payload: str, currency: str, total: int) -> CheckoutRefusal | None:
        """Whether to take a payment about to be made (no database: it must answer within seconds)."""
        refusal = checkout_refusal(self.settings, user.platform, user.user_id, payload, currency, total)
        if refusal is not None:
            log.info("pre-checkout of %s:%s refused: %s (%s %s, %r)", user.platform, user.user_id, refusal, total,
                     currency, payload)
        return refusal

    async def paid(self, user: UserRef, charge: payments.Charge, *, price: str = "") -> list[Reply]:
        """A payment went through: its credits, once per charge, and a receipt; a charge credited
        before (the platform delivered it again, a reconciliation found it) gets no second one. Not
        rate limited; the database is tried again for a few seconds, then the error is the caller's
        (the platform's own record of the charge is then the way back: the front ends reconcile)."""
        pause = 0.5
        for attempt in range(1, PAYMENT_TRIES + 1):
            try:
                async with self.database.transaction() as session:
                    account = await self.account(session, user)
                    credited = await payments.credit(session, charge, user_id=account.id)
                break
            except Exception:
                if attempt == PAYMENT_TRIES:
                    log.error("payment %s %s of %s:%s (%d credit(s)) could NOT be recorded", charge.platform,
                              charge.external_id, user.platform, user.user_id, charge.credits)
                    raise
                log.warning("recording payment %s failed (try %d); trying again", charge.external_id, attempt,
                            exc_info=True)
                await asyncio.sleep(pause)
                pause *= 2
        if not credited.new:
            log.info("payment %s %s delivered again: credited once already", charge.platform, charge.external_id)
            return []
        if not price:
            price = texts.PRICE_STARS.format(stars=charge.amount) if charge.currency == STARS else charge.currency
        return [Reply(texts.RECEIPT.format(credits=texts.plural(credited.credits, "credit"),
                                           balance=texts.plural(credited.balance, "credit"),
                                           pack=texts.plural(credited.credits, "credit"), price=price,
                                           charge=charge.external_id), await self._after_purchase(user),
                      private=True)]

    async def _after_purchase(self, user: UserRef) -> tuple[tuple[Button, ...], ...]:
        """The receipt's way back to what the credits were bought for: the styles where a model
        paints, else the training of a set that is ready. Nothing where that can't be read now (the
        payment is recorded: the receipt goes all the same)."""
        try:
            async with self.database.transaction() as session:
                account = await find_user(session, user.platform, user.user_id)
                if account is None:
                    return ()
                if await trainings.painting_model(session, account.id) is not None:
                    return ((Button(texts.BUTTON_SEE_STYLES, "styles"),),)
                if await jobs.active_jobs(session, account.id, JobKind.train):
                    return ()
                selfie_set = await self.selfies.open_set(session, account.id)
                if await self._ready_to_train(session, selfie_set):
                    return ((Button(texts.BUTTON_TRAIN, "train"),),)
        except Exception:
            log.warning("no next step for the receipt of %s:%s", user.platform, user.user_id, exc_info=True)
        return ()

    async def refunded(self, user: UserRef, external_id: str) -> list[Reply]:
        """The platform says it gave a payment back (also when the operator did it here): the
        credits go, what is left of them, once."""
        async with self.database.transaction() as session:
            done = await payments.record_refund(session, user.platform, external_id)
        if done is None:
            return []
        return [Reply(texts.REFUND_NOTICE.format(charge=external_id, taken=texts.plural(done.taken_back, "credit"),
                                                 balance=texts.plural(done.balance, "credit")), private=True)]

    async def _refund(self, user: UserRef, args: list[str]) -> list[Reply]:
        if not self.settings.is_admin(user.platform, user.user_id):
            return await self._reply(texts.NOT_ADMIN, private=True)
        allow_negative = "--allow-negative" in args
        charges = [a for a in args if not a.startswith("--")]
        give_back = self.refunders.get(user.platform)
        if len(charges) != 1 or give_back is None:
            return await self._reply(texts.REFUND_USAGE, private=True)
        try:
            done = await refund_payment(self.database, user.platform, charges[0], give_back,
                                        allow_negative=allow_negative)
        except payments.RefundRefused as refused:
            return await self._reply(texts.REFUND_REFUSED.format(reason=refused), private=True)
        except PlatformRefused as error:
            return await self._reply(texts.REFUND_FAILED.format(error=error), private=True)
        async with self.database.transaction() as session:
            payment = await payments.find(session, user.platform, charges[0])
        buyer = payment.platform_user_id if payment else "?"
        shortfall = texts.REFUND_SHORTFALL.format(shortfall=texts.plural(done.shortfall, "credit")) if done.shortfall else ""
        return await self._reply(texts.REFUND_DONE.format(
            charge=charges[0], platform=user.platform, user_id=buyer, taken=texts.plural(done.taken_back, "credit"),
            shortfall=shortfall), private=True)

    # ------------------------------------------------------------------ photos
    async def _photos(self, user: UserRef, files: list[IncomingFile]) -> list[Reply]:
        async with self.database.transaction() as session:
            account = await self.account(session, user)
            user_id = account.id
            if account.consented_at is None:  # no photo is looked at, let alone kept, before consent
                return await self.consent_first()
            lora, painter = await trainings.models(session, user_id)
        try:
            result = await self.selfies.add(user_id, files)
        except AccountGone:
            return await self._reply(texts.PHOTOS_NOT_KEPT)
        # a file the user named (a document, a Discord attachment) is called by its name in the verdicts
        names = [clean_filename(f.filename) if f.sent_as_document else "" for f in files]
        # with a model trained or training, new photos start a set for a next one: say so, or "1 of 8
        # so far" reads as if the photos the model learnt from were lost
        next_model = painter is not None or (lora is not None and lora.status == LoraStatus.training)
        return [self.batch_summary(result, names, next_model=next_model, painting=painter is not None)]

    def batch_summary(self, result: BatchResult, names: Sequence[str] = (), *, next_model: bool = False,
                      painting: bool = False) -> Reply:
        """``next_model``: a model is trained or training; ``painting``: one is ready and paints."""
        batch = result.batch
        good = sum(v.ok for v in batch)
        if len(batch) == 1:
            head = "Got your photo — looks great ✅" if good else "Got your photo, but I can't use it:"
        else:
            looks = "looks" if good == 1 else "look"
            head = f"Got {len(batch)} photos — {good} {looks} great ✅" if good else f"Got {len(batch)} photos, but I can't use them:"
        lines = [head]
        for index, verdict in enumerate(batch):
            if not verdict.ok:
                name = names[index] if index < len(names) else ""
                prefix = f"✖ {name}: " if name else f"✖ Photo {verdict.number}: " if len(batch) > 1 else "✖ "
                lines.append(prefix + verdict.message)
        report = result.report
        if report.mixed_people:
            lines.append("These photos seem to show more than one person. Please send photos of only yourself.")
        if report.ready_to_train:
            lines.append(f"You have {report.accepted} good photos. " + texts.SET_READY.format(
                minutes=TRAIN_MINUTES_ESTIMATE, cost=texts.plural(self.settings.train_cost, "credit")))
            if painting:  # a returning user: what a new model means for the one they have
                lines.append(texts.NEXT_MODEL_REPLACES)
            return Reply("\n".join(lines), ((Button(texts.BUTTON_TRAIN, "train"), Button(texts.BUTTON_ADD_MORE, "add_more")),),
                         private=True)
        missing = max(0, self.intake.min_photos - report.accepted)
        if missing and next_model:  # beside a first model still learning: no "current model" yet
            template = texts.NEXT_MODEL_PHOTOS if painting else texts.PHOTOS_WHILE_FIRST_TRAINING
            lines.append(template.format(accepted=report.accepted, min_photos=self.intake.min_photos, missing=missing))
        elif missing:
            lines.append(f"{report.accepted} of {self.intake.min_photos} good photos so far — send {missing} more.")
        if len(batch) - good:
            return Reply("\n".join(lines), ((Button(texts.BUTTON_TIPS, "tips"),),), private=True)
        return Reply("\n".join(lines), private=True)

    # ------------------------------------------------------------------ buttons
    async def _action(self, user: UserRef, action: str, source_message_id: str) -> list[Reply]:
        verb, _, arg = action.partition(":")
        if verb == "tips":
            return await self._reply(texts.SELFIE_TIPS)
        if verb == "consent":
            return await self._consent(user)
        if verb == "styles":  # "styles:back" from a category: the categories again, without their sheet
            return [await self._style_overview()] if arg != "back" else [self.style_picker(texts.PICK_STYLE)]
        if verb == "cat":
            return await self._category(arg)
        if verb == "browse":  # a category's name as typed (Discord's /styles category: takes free text)
            return await self._typed_category(arg)
        if verb == "named":  # a style's name as typed (Discord's /generate takes free text)
            return await self._named_style(user, arg, source_message_id)
        if verb == "style":
            return await self._generate(user, arg, key_base=f"gen:{user.platform}:{user.user_id}:{user.chat_id}:{source_message_id}:{arg}")
        if verb == "more":
            return await self._more_like(user, arg, source_message_id)
        if verb == "files":
            return await self.originals(user, arg)
        if verb == "train":
            return await self._ask_class_word(user)
        if verb == "class":
            return await self._train(user, arg)
        if verb == "add_more":
            return await self._reply(texts.SELFIE_TIPS)
        if verb == "delete":
            answer, _, ref = arg.partition(":")
            if answer == "yes":
                return await self._confirmed_delete(user, ref)
            return await self._reply(texts.DELETE_KEPT, private=True)
        if verb == "cancel":  # the button under one job's progress message stops that job only
            return await self._cancel(user, [], button=arg)
        if verb == "buy":
            return await self._buy(user, [])
        log.warning("unknown action %r", action)
        return [self.style_picker(texts.UNKNOWN_STYLE)]

    async def _named_style(self, user: UserRef, typed: str, source_message_id: str) -> list[Reply]:
        """A style named by id or title (any case, spacing or punctuation) is painted; a category's
        name shows that category's styles; anything else is said to be unknown, with the picker."""
        wanted = _folded(typed)
        style = next((s for s in self.catalogue if wanted in (_folded(s.id), _folded(s.title))), None)
        if style is not None:
            return await self._generate(user, style.id, key_base=f"gen:{user.platform}:{user.user_id}:{user.chat_id}:"
                                                                  f"{source_message_id}:{style.id}")
        return await self._typed_category(typed, unknown=texts.UNKNOWN_STYLE_NAMED)

    async def _typed_category(self, typed: str, unknown: str = texts.UNKNOWN_CATEGORY_NAMED) -> list[Reply]:
        """A category named by id or title (any case, spacing or punctuation), or the picker with
        the typed name said to be unknown (``unknown``, with ``{name}``)."""
        wanted = _folded(typed)
        category = next((c for c in self.catalogue.used_categories() if wanted in (_folded(c.id), _folded(c.title))), None)
        if category is not None:
            return await self._category(category.id)
        name = " ".join(typed.split())[:40]
        return [replace(self.style_picker(unknown.format(name=name)), private=True)]

    async def _category(self, category_id: str) -> list[Reply]:
        """The category's styles as buttons, under a sheet of their sample portraits where the styles
        folders have samples."""
        category = self.catalogue.categories.get(category_id)
        styles = self.catalogue.in_category(category_id)
        if category is None or not styles:
            return [self.style_picker(texts.UNKNOWN_STYLE)]
        buttons = [Button(f"{s.emoji} {s.title}".strip(), f"style:{s.id}") for s in styles]
        rows = [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]
        rows.append((Button(texts.BUTTON_BACK, "styles:back"),))
        sheet = await self.style_sheets.for_category(category_id)
        return [Reply(texts.PICK_IN_CATEGORY.format(emoji=category.emoji, title=category.title), tuple(rows),
                      illustration=sheet)]

    # ------------------------------------------------------------------ training
    async def _train_command(self, user: UserRef, _args: list[str]) -> list[Reply]:
        return await self._ask_class_word(user)

    async def _ask_class_word(self, user: UserRef) -> list[Reply]:
        async with self.database.transaction() as session:
            account = await self.account(session, user)
            problem = await self._training_problem(session, account)
        if problem:
            return [problem]
        buttons = tuple(Button(label, f"class:{word}") for word, label in texts.CLASS_WORDS.items())
        return await self._reply(texts.CHOOSE_CLASS, buttons)

    async def _training_problem(self, session: AsyncSession, account: User) -> Reply | None:
        # first: a set whose training ended is collecting again
        has_model = await trainings.painting_model(session, account.id) is not None
        if await jobs.active_jobs(session, account.id, JobKind.train):
            return Reply(texts.TRAIN_ALREADY)
        selfie_set = await self.selfies.open_set(session, account.id)
        accepted = await self.selfies.accepted(session, selfie_set.id)
        if len(accepted) < self.intake.min_photos:
            missing = self.intake.min_photos - len(accepted)
            if has_model:  # e.g. an old summary's Train button
                return Reply(texts.TRAIN_NEW_NOT_READY.format(missing=missing),
                             ((Button(texts.BUTTON_SEE_STYLES, "styles"),),), private=True)
            return Reply(texts.TRAIN_NOT_READY.format(missing=missing), private=True)
        if account.credits < self.settings.train_cost:
            return self.out_of_credits(UserRef(account.platform, account.platform_user_id, ""), self.settings.train_cost,
                                       account.credits, has_model=has_model)
        return None

    async def _train(self, user: UserRef, class_word: str) -> list[Reply]:
        if class_word not in texts.CLASS_WORDS:
            class_word = "person"
        async with self.database.transaction() as session:
            account = await self.account(session, user)
            if (problem := await self._training_problem(session, account)) is not None:
                return [problem]
            selfie_set = await self.selfies.open_set(session, account.id)
            photos = await self.selfies.accepted(session, selfie_set.id)
            try:
                enqueued = await jobs.enqueue(
                    session, user_id=account.id, kind=JobKind.train, cost=self.settings.train_cost,
                    payload={}, idempotency_key=await self._fresh_key(session, f"train:set:{selfie_set.id}"), max_attempts=self.settings.job_max_attempts,
                    max_active_per_user=self.settings.max_queued_jobs_per_user,
                    reply_platform=user.platform, reply_chat_id=user.chat_id,
                )
            except credits.InsufficientCredits as error:
                has_model = await trainings.painting_model(session, account.id) is not None
                return [self.out_of_credits(user, error.needed, error.balance, has_model=has_model)]
            except jobs.TrainingAlreadyRunning:
                return [Reply(texts.TRAIN_ALREADY)]
            except jobs.QueueLimitReached as error:
                return [Reply(texts.QUEUE_FULL.format(limit=error.limit), private=True)]
            if not enqueued.created:
                return []  # a racing second tap: its twin's job already has its progress message
            job = enqueued.job
            lora = LoraModel(user_id=account.id, set_id=selfie_set.id, job_id=job.id, base_model=self.settings.base_model,
                             token=PERSONAL_TOKEN, class_word=class_word)
            session.add(lora)
            await session.flush()
            selfie_set.status = SetStatus.training
            selfie_set.class_word = class_word
            job.payload = TrainJob(
                user_id=account.id, set_id=selfie_set.id, photo_keys=[p.storage_key for p in photos],
                crops=training_crops(photos, token=PERSONAL_TOKEN, class_word=class_word, config=self.intake),
                reference_embeddings=[np.frombuffer(p.face_embedding, dtype=np.float64).tolist()
                                      for p in photos if p.face_embedding][:MAX_REFERENCES],
                lora_key=f"{user_prefix(account.id)}loras/{lora.id}.safetensors", base_model=self._base_model(),
                token=PERSONAL_TOKEN, class_word=class_word, seed=lora.id,
            ).to_payload()
            if await trainings.painting_model(session, account.id) is None:  # a first portrait while a first model learns
                await queue_preview(session, user, preview_style(self.catalogue), lora, job, photos,
                                    count=self.settings.preview_images, base_model=self._base_model(),
                                    references=await self._references(session, lora))
        return [self.progress_reply(job, texts.TRAIN_QUEUED)]

    def progress_reply(self, job: Job, title: str, position: int | None = None) -> Reply:
        return Reply(self.progress_text(job, title, position), ((Button(texts.BUTTON_CANCEL, f"cancel:{job_ref(job)}"),),),
                     progress_of_job=job.id, typing=True)

    @staticmethod
    def progress_text(job: Job, title: str, position: int | None = None) -> str:
        line = f"{title}  {texts.progress_bar(job.progress)} {round(job.progress * 100)}%"
        if job.state == JobState.queued and position:
            line += f" · {texts.QUEUE_POSITION.format(position=position)}"
        elif eta := texts.duration(job.eta_seconds):
            line += f" · {eta} left"
        stage = texts.STAGE_NAMES.get(job.stage)
        if not stage or job.stage in {"queued", "done"} or MAIN_STAGE.get(job.kind) == job.stage:
            return line  # the title already says it ("🧠 Learning your face…" while training)
        return f"{line}\n{stage}…"

    async def _ready_to_train(self, session: AsyncSession, selfie_set: SelfieSet) -> bool:
        return len(await self.selfies.accepted(session, selfie_set.id)) >= self.intake.min_photos

    # ------------------------------------------------------------------ generation
    async def _generate(self, user: UserRef, style_id: str, *, key_base: str, seed: int | None = None) -> list[Reply]:
        if style_id not in self.catalogue:
            return [self.style_picker(texts.UNKNOWN_STYLE)]
        style = self.catalogue.get(style_id)
        async with self.database.transaction() as session:
            account = await self.account(session, user)
            newest, lora = await trainings.models(session, account.id)
            if lora is None and newest is not None and newest.status == LoraStatus.training:
                return [Reply(texts.MODEL_TRAINING)]
            if lora is None:
                return [await self._no_model(session, account.id)]
            key = await self._fresh_key(session, key_base)
            try:
                enqueued = await jobs.enqueue(
                    session, user_id=account.id, kind=JobKind.generate, cost=self.settings.generate_cost,
                    payload=self.generation_payload(style, lora, account.id, seed, await self._references(session, lora)),
                    idempotency_key=key,
                    max_attempts=self.settings.job_max_attempts, max_active_per_user=self.settings.max_queued_jobs_per_user,
                    reply_platform=user.platform, reply_chat_id=user.chat_id,
                )
            except credits.InsufficientCredits as error:
                return [self.out_of_credits(user, error.needed, error.balance)]
            except jobs.QueueLimitReached as error:
                return [Reply(texts.QUEUE_FULL.format(limit=error.limit), private=True)]
            if not enqueued.created:
                return []  # a second tap on the same button: its job already has its progress message
            # every job's portraits in a folder of their own
            enqueued.job.payload = {**enqueued.job.payload, "output_prefix": f"{user_prefix(account.id)}outputs/{enqueued.job.id}/"}
        title = texts.GENERATE_QUEUED.format(count=self.settings.images_per_generation, title=style.title)
        return [self.progress_reply(enqueued.job, title)]

    async def _no_model(self, session: AsyncSession, user_id: int) -> Reply:
        """A style asked for before any model paints: send selfies, or (the photos are there, their
        training failed or was stopped) train them."""
        selfie_set = await self.selfies.open_set(session, user_id)
        if await self._ready_to_train(session, selfie_set):
            return Reply(texts.NO_MODEL_PHOTOS_READY, ((Button(texts.BUTTON_TRAIN, "train"),),))
        if await self._model_expired(session, user_id):
            return Reply(texts.MODEL_EXPIRED.format(days=self.settings.model_retention_days,
                                                    min_photos=self.intake.min_photos))
        return Reply(texts.NO_MODEL.format(min_photos=self.intake.min_photos))

    async def _model_expired(self, session: AsyncSession, user_id: int) -> bool:
        """A model of the user was trained and none is left: the retention sweep deleted it for disuse
        (/delete deletes the account, jobs and all)."""
        if not self.settings.model_retention_days or await session.scalar(
                select(LoraModel.id).where(LoraModel.user_id == user_id).limit(1)) is not None:
            return False
        trained = select(Job.id).where(Job.user_id == user_id, Job.kind == JobKind.train,
                                       Job.state == JobState.succeeded).limit(1)
        return await session.scalar(trained) is not None

    @staticmethod
    async def _fresh_key(session: AsyncSession, base: str) -> str:
        """A double tap on one button makes one job; a later tap on the same button makes a new one."""
        key, n = base, 1
        while (job := await jobs.find_by_key(session, key)) is not None and job.state in FINAL_JOB_STATES:
            n += 1
            key = f"{base}#{n}"
        return key[:128]

    def _base_model(self) -> str:
        return "" if self.settings.base_model == "auto" else self.settings.base_model

    def style_title(self, job: Job) -> str:
        style_id = job.payload.get("style_id", "")
        return self.catalogue.get(style_id).title if style_id in self.catalogue else "Portrait"

    @staticmethod
    async def _model_likeness(session: AsyncSession, lora: LoraModel) -> int | None:
        """The likeness figure measured when the model was trained (its training job's result)."""
        if lora.job_id is None:
            return None
        job = await session.get(Job, lora.job_id)
        figure = (job.result or {}).get("likeness") if job is not None else None
        return int(figure) if figure is not None else None

    async def _references(self, session: AsyncSession, lora: LoraModel) -> list[list[float]]:
        """The face embeddings of the selfies the model learnt from, to rank its portraits by likeness."""
        if lora.set_id is None:
            return []
        # the accepted photos' face prints, also once retention has deleted the photo files
        photos = [p for p in await self.selfies.photos(session, lora.set_id) if p.accepted]
        return [np.frombuffer(p.face_embedding, dtype=np.float64).tolist() for p in photos if p.face_embedding][:MAX_REFERENCES]

    def generation_payload(self, style: Style, lora: LoraModel, user_id: int, seed: int | None,
                           references: list[list[float]]) -> dict[str, Any]:
        count = self.settings.images_per_generation
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
            min_likeness=self.settings.min_likeness if style.min_likeness is None else style.min_likeness,
            likeness_retries=self.settings.likeness_retries,
        ).to_payload()

    async def _own_job(self, session: AsyncSession, user: UserRef, button: str) -> Job | None:
        """The user's job a button names (None: gone, or an id since reused); raises NotYours when
        it is somebody else's (in a Discord channel everyone sees, and can press, every button)."""
        account = await self.account(session, user)
        ref = parse_job_ref(button)
        job = await session.get(Job, ref[0]) if ref is not None else None
        if job is None or ref is None or not names(job, ref[1]):
            return None
        if job.user_id != account.id:
            raise NotYours
        return job

    async def _more_like(self, user: UserRef, button: str, source_message_id: str) -> list[Reply]:
        async with self.database.transaction() as session:
            try:
                job = await self._own_job(session, user, button)
            except NotYours:
                return [Reply(texts.NOT_YOUR_BUTTON, private=True)]
            if job is None:  # gone with a /delete or the retention sweep: not a bare picker, as if it worked
                return [self.style_picker(texts.PORTRAITS_GONE)]
            if job.kind != JobKind.generate:
                return [self.style_picker(texts.PICK_STYLE)]
            style_id = job.payload.get("style_id", "")
        return await self._generate(user, style_id, key_base=f"more:{job.id}:{source_message_id}")

    async def originals(self, user: UserRef, button: str) -> list[Reply]:
        async with self.database.transaction() as session:
            try:
                job = await self._own_job(session, user, button)
            except NotYours:
                return [Reply(texts.NOT_YOUR_BUTTON, private=True)]
            if job is None or job.state != JobState.succeeded:
                return [self.style_picker(texts.PORTRAITS_GONE)]
        try:
            return [await originals_reply(self.storage, job, self.style_title(job))]
        except ObjectNotFound:  # deleted by the retention sweep
            return [self.style_picker(texts.PORTRAITS_GONE)]
