"""The conversation, once for every platform: each user event becomes one call here and comes
back as platform-neutral replies. Nothing in this module knows Telegram or Discord.

This is the front door only: the rate limits, the apology for the unexpected, and the tables that
send each command and button to its use case (``bot.core.usecases``)."""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from bot.core import actions, texts
from bot.core.actions import Verb
from bot.core.audiences import Audiences
from bot.core.context import Context
from bot.core.limits import RateLimiter
from bot.core.posted import remember_posted, remember_progress_message
from bot.core.replies import IncomingFile, Reply, UserRef
from bot.core.seams import PlatformSeam
from bot.core.selfies import SelfieBook
from bot.core.shop import CheckoutRefusal
from bot.core.style_sheet import StyleSheets
from bot.core.usecases import (admin, buying, cancelling, erasure, gallery, language, menus, painting, photos,
                                status, training, welcome)
from bot.core.usecases.erasure import DeleteOutcome
from db import payments
from db.allowance import load_key
from engine.intake import IntakeConfig
from bot.core.services import Services
from i18n import Audience, speaking
from telemetry import metrics

log = logging.getLogger(__name__)

PHOTO_REFUSAL_EVERY_SECONDS = 5.0  # photos refused by the rate limit: told at most this often

Command = Callable[[Context, UserRef, list[str]], Awaitable[list[Reply]]]
Action = Callable[[Context, UserRef, str, str], Awaitable[list[Reply]]]
"""action(context, user, the button's argument, the id of the message the button was on)"""

COMMANDS: dict[str, Command] = {
    "start": welcome.start, "help": welcome.help_text, "privacy": welcome.privacy, "styles": menus.styles,
    "status": status.status, "credits": buying.balance, "cancel": cancelling.cancel, "delete": erasure.ask,
    "grant": admin.grant, "train": training.ask_class_word, "refund": admin.refund, "gallery": gallery.gallery,
    "language": language.ask,
}
SELLING_COMMANDS: dict[str, Command] = {"buy": buying.buy, "paysupport": buying.pay_support}

ACTIONS: dict[Verb, Action] = {
    Verb.tips: lambda ctx, user, arg, source: welcome_tips(),
    Verb.add_more: lambda ctx, user, arg, source: welcome_tips(),
    Verb.consent: lambda ctx, user, arg, source: welcome.consent(ctx, user),
    Verb.styles: lambda ctx, user, arg, source: menus.styles_button(ctx, arg),
    Verb.category: lambda ctx, user, arg, source: menus.category(ctx, arg),
    Verb.browse: lambda ctx, user, arg, source: menus.typed_category(ctx, arg),
    Verb.named: painting.named_style,
    Verb.style: painting.style_button,
    Verb.more: painting.more_like,
    Verb.files: lambda ctx, user, arg, source: painting.originals(ctx, user, arg),
    Verb.train: lambda ctx, user, arg, source: training.ask_class_word(ctx, user),
    Verb.class_word: lambda ctx, user, arg, source: training.train(ctx, user, arg),
    Verb.delete: lambda ctx, user, arg, source: erasure.answer(ctx, user, arg),
    Verb.cancel: lambda ctx, user, arg, source: cancelling.cancel_button(ctx, user, arg),
    Verb.buy: lambda ctx, user, arg, source: buying.buy(ctx, user, []),
    Verb.language: lambda ctx, user, arg, source: language.choose(ctx, user, arg),
}


async def welcome_tips() -> list[Reply]:
    return [Reply(texts.SELFIE_TIPS)]


def new_error_id() -> str:
    return secrets.token_hex(4)


class Studio:
    def __init__(self, services: Services, *, intake_config: IntakeConfig | None = None) -> None:
        settings = services.settings
        intake = intake_config or IntakeConfig.from_settings(settings)
        configured = settings.account_hash_key
        self.ctx = Context(
            services=services, intake=intake,
            selfies=SelfieBook(services.database, services.storage, intake, check_workers=settings.photo_check_workers,
                               check_niceness=settings.photo_check_niceness),
            style_sheets=StyleSheets(services.catalogue),
            allowance_key=load_key(configured.get_secret_value() if configured else None, settings.data_dir),
            audiences=Audiences(services.database),
        )
        self.services = services
        self.settings = settings
        self.database = services.database
        self.storage = services.storage
        self.catalogue = services.catalogue
        self.intake = intake
        self.selfies = self.ctx.selfies
        self.limiter = RateLimiter(settings.commands_per_minute)
        self.photo_limiter = RateLimiter(settings.photos_per_minute)

    def connect(self, seam: PlatformSeam) -> None:
        """A front end's way of letting the core edit, take back and refund on its platform."""
        self.ctx.seams[seam.platform] = seam

    def seam(self, platform: str) -> PlatformSeam:
        return self.ctx.seam(platform)

    def connect_gallery(self, link: Callable[[UserRef], Awaitable[str | None]]) -> None:
        """Where a gallery is served (web/): how ``/gallery`` makes a user's private link."""
        self.ctx.gallery_link = link

    # ------------------------------------------------------------------ entry points
    async def command(self, user: UserRef, name: str, args: list[str] | None = None) -> list[Reply]:
        commands = COMMANDS | SELLING_COMMANDS if self.selling(user.platform) else COMMANDS
        handler = commands.get(name.lower())
        if handler is None:
            return await self._guard(user, lambda: _now(welcome.unknown_command(name)))
        return await self._guard(user, lambda: handler(self.ctx, user, args or []))

    async def photos(self, user: UserRef, files: list[IncomingFile]) -> list[Reply]:
        """Photos have their own, larger allowance (each file counts): a user sending twenty selfies
        one by one is not a flood of commands. A batch that does not fit is refused whole, and the
        user is told which to send again, and when; never dropped without a word."""
        refused = self._over_limit(user, self.photo_limiter, texts.PHOTOS_TOO_FAST, count=len(files),
                                   warn_every=PHOTO_REFUSAL_EVERY_SECONDS)
        if refused is not None:
            return refused
        return await self._guard(user, lambda: photos.photos(self.ctx, user, files), counted=False)

    async def action(self, user: UserRef, action: str, *, source_message_id: str = "") -> list[Reply]:
        return await self._guard(user, lambda: self._action(user, action, source_message_id))

    async def text(self, user: UserRef, text: str, *, expecting: str = texts.NOT_A_PHOTO_TEXT,
                   answer_when_limited: bool | None = None) -> list[Reply]:
        """A message the bot can't use (typed text, a location, a DM): what it expects from there;
        ``expecting``: the front end's way of saying "send me selfies". ``answer_when_limited``
        overrides the platform's rule for refusals past the rate limit (a Discord DM needs no answer
        each time, an interaction does)."""
        return await self._guard(user, lambda: welcome.typed(self.ctx, user, expecting=expecting),
                                 answer_when_limited=answer_when_limited)

    async def _action(self, user: UserRef, data: str, source_message_id: str) -> list[Reply]:
        parsed = actions.parse(data)
        handler = ACTIONS.get(parsed.verb) if parsed.verb is not None else None
        if handler is None:
            log.warning("unknown action %r", data)
            return [menus.style_picker(self.ctx, texts.UNKNOWN_STYLE)]
        return await handler(self.ctx, user, parsed.arg, source_message_id)

    async def private_chat_only(self, user: UserRef, private_chat_link: str) -> list[Reply]:
        return await self._guard(user, lambda: _now(welcome.private_chat_only(private_chat_link)))

    async def unsupported(self, user: UserRef, kind: str, *, limit_mb: int | str = 20) -> list[Reply]:
        return await self._guard(user, lambda: _now(welcome.unsupported(kind, limit_mb=limit_mb)))

    # ------------------------------------------------------------------ what front ends ask outside a turn
    def selling(self, platform: str) -> bool:
        return self.ctx.selling(platform)

    async def has_consented(self, user: UserRef) -> bool:
        return await welcome.has_consented(self.ctx, user)

    async def consent_first(self, user: UserRef) -> list[Reply]:
        async with self.ctx.audiences.speaking_to(user):
            return welcome.consent_first()

    async def audience_of(self, user: UserRef) -> Audience:
        """How to speak to ``user``; never fails (the app's language where the account can't be read)."""
        return await self.ctx.audiences.of_or_app(user)

    def speaking_to(self, user: UserRef) -> AbstractAsyncContextManager[Audience]:
        """What a front end says by itself (its help, its upload window, a refused checkout) is said in
        the user's language inside this."""
        return self.ctx.audiences.speaking_to(user)

    def pre_checkout(self, user: UserRef, payload: str, currency: str, total: int) -> CheckoutRefusal | None:
        return buying.pre_checkout(self.ctx, user, payload, currency, total)

    async def paid(self, user: UserRef, charge: payments.Charge, *, price: str = "") -> list[Reply]:
        async with self.ctx.audiences.speaking_to(user):
            return await buying.paid(self.ctx, user, charge, price=price)

    async def refunded(self, user: UserRef, external_id: str) -> list[Reply]:
        async with self.ctx.audiences.speaking_to(user):
            return await buying.refunded(self.ctx, user, external_id)

    async def delete_everything(self, user: UserRef) -> DeleteOutcome:
        async with self.ctx.audiences.speaking_to(user):
            return await erasure.delete_everything(self.ctx, user)

    async def remember_progress_message(self, job_id: int, message_id: str) -> None:
        await remember_progress_message(self.database, job_id, message_id)

    async def remember_posted(self, user: UserRef, chat_id: str, message_id: str) -> None:
        await remember_posted(self.database, user, chat_id, message_id)

    # ------------------------------------------------------------------ plumbing
    async def _guard(self, user: UserRef, run: Callable[[], Awaitable[list[Reply]]], *,
                     counted: bool = True, answer_when_limited: bool | None = None) -> list[Reply]:
        """In the user's language: rate limit (unless ``counted`` is False), then run; an unexpected
        error becomes an apology carrying an error id."""
        with speaking(await self.ctx.audiences.of_or_app(user)):
            return await self._served(user, run, counted=counted, answer_when_limited=answer_when_limited)

    async def _served(self, user: UserRef, run: Callable[[], Awaitable[list[Reply]]], *,
                      counted: bool, answer_when_limited: bool | None) -> list[Reply]:
        if counted and (refused := self._over_limit(user, self.limiter, texts.RATE_LIMITED, again=texts.RATE_LIMITED_AGAIN,
                                                    answer_every=answer_when_limited)) is not None:
            return refused
        try:
            return await run()
        except Exception:
            error_id = new_error_id()
            log.exception("error %s while serving %s:%s", error_id, user.platform, user.user_id,
                          extra={"error_id": error_id})
            return [Reply(texts.APOLOGY.format(error_id=error_id), private=True)]

    def _over_limit(self, user: UserRef, limiter: RateLimiter, template: str, *, count: int = 1,
                    warn_every: float | None = None, again: str | None = None,
                    answer_every: bool | None = None) -> list[Reply] | None:
        """None when ``count`` more events of the user fit ``limiter``; else the refusal: ``template``
        with the seconds to wait, once per burst of refusals (nothing for the rest of the burst, except
        where every request must be answered: there ``again``, or ``template``, each time)."""
        key = f"{user.platform}:{user.user_id}"
        if limiter.allow(key, count):
            return None
        log.info("rate limited %s (%d event(s))", key, count)
        metrics.RATE_LIMITED.labels(user.platform, "photos" if limiter is self.photo_limiter else "commands").inc()
        wait = max(1, math.ceil(limiter.retry_after(key, count)))
        if not limiter.warn_once(key, every=warn_every):
            if not (self.seam(user.platform).answers_every_request if answer_every is None else answer_every):
                return []
            template = again or template
        return [Reply(template.format(seconds=wait), private=True)]


async def _now(replies: list[Reply]) -> list[Reply]:
    return replies
