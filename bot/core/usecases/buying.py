"""Credits and the shop: /credits, /buy, /paysupport, a payment about to be made and one made, and a
refund the platform reports. The rules of packs and invoices are ``bot.core.shop``'s."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import actions, texts
from bot.core.context import Context, say
from bot.core.replies import Button, Reply, UserRef
from bot.core.shop import INVOICED_ON, STARS, CheckoutRefusal, checkout_refusal, invoice_for, packs_on
from db import jobs, payments, trainings
from db.models import JobKind, User
from db.users import find_user
from telemetry import metrics

log = logging.getLogger(__name__)

PAYMENT_TRIES = 4  # a payment is credited even through a few seconds of database trouble


async def balance(ctx: Context, user: UserRef, _args: list[str]) -> list[Reply]:
    async def read(_session: AsyncSession, account: User) -> int:
        return account.credits

    credits_now = await ctx.read_account(user, read)
    rows = ((Button(texts.BUTTON_BUY, actions.BUY),),) if ctx.selling(user.platform) else ()
    return say(texts.CREDITS.format(
        credits=texts.CREDIT_COUNT(credits_now), train_cost=texts.CREDIT_COUNT(ctx.settings.train_cost),
        generate_cost=texts.CREDIT_COUNT(ctx.settings.generate_cost),
    ), *rows, private=True)


def out_of_credits(ctx: Context, user: UserRef, needed: int, balance: int, *, has_model: bool = True) -> Reply:
    """The refusal for want of credits; ``has_model``: the user has a model that paints (a first
    training's refusal does not speak of one)."""
    kept = texts.KEPT_PHOTOS_AND_MODEL if has_model else texts.KEPT_PHOTOS
    if ctx.selling(user.platform) and not ctx.settings.is_banned(user.platform, user.user_id):
        return Reply(texts.OUT_OF_CREDITS_BUY.format(needed=texts.CREDIT_COUNT(needed),
                                                              balance=texts.CREDIT_COUNT(balance), kept=kept),
                     ((Button(texts.BUTTON_BUY, actions.BUY),),), private=True)
    return Reply(texts.OUT_OF_CREDITS.format(needed=texts.CREDIT_COUNT(needed), balance=texts.CREDIT_COUNT(balance),
                                                     kept=kept), private=True)


async def buy(ctx: Context, user: UserRef, _args: list[str]) -> list[Reply]:
    """``/buy`` (or a Buy button): the packs on sale here, as invoices where the platform takes
    payment in the chat, else as its store's buttons."""
    settings = ctx.settings
    on_sale = packs_on(settings, user.platform)
    if not on_sale:
        return say(texts.NOT_SELLING, private=True)
    if settings.is_banned(user.platform, user.user_id):
        return say(texts.NOT_SOLD_TO_YOU, private=True)
    intro = texts.BUY_PICK.format(train_cost=texts.CREDIT_COUNT(settings.train_cost),
                                  generate_cost=texts.CREDIT_COUNT(settings.generate_cost))
    if user.platform in INVOICED_ON:
        return [Reply(intro, private=True),
                *(Reply(invoice=invoice_for(p, user.user_id, settings)) for p in on_sale if p.stars)]
    buttons = [Button(texts.CREDIT_COUNT(p.credits), actions.buy_pack(p.id), sku_id=p.discord_sku_id) for p in on_sale]
    return say(intro, *((b,) for b in buttons), private=True)


async def pay_support(ctx: Context, _user: UserRef, _args: list[str]) -> list[Reply]:
    contact = ctx.settings.payment_support or texts.PAY_SUPPORT_CONTACT
    return say(texts.PAY_SUPPORT.format(contact=contact), private=True)


def pre_checkout(ctx: Context, user: UserRef, payload: str, currency: str, total: int) -> CheckoutRefusal | None:
    """Whether to take a payment about to be made (no database: it must answer within seconds)."""
    refusal = checkout_refusal(ctx.settings, user.platform, user.user_id, payload, currency, total)
    if refusal is not None:
        log.info("pre-checkout of %s:%s refused: %s (%s %s, %r)", user.platform, user.user_id, refusal, total,
                 currency, payload)
    return refusal


async def paid(ctx: Context, user: UserRef, charge: payments.Charge, *, price: str = "") -> list[Reply]:
    """A payment went through: its credits, once per charge, and a receipt; a charge credited
    before (the platform delivered it again, a reconciliation found it) gets no second one. Not
    rate limited; the database is tried again for a few seconds, then the error is the caller's
    (the platform's own record of the charge is then the way back: the front ends reconcile)."""
    pause = 0.5
    for attempt in range(1, PAYMENT_TRIES + 1):
        try:
            async with ctx.database.transaction() as session:
                account = await ctx.account(session, user)
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
    metrics.PAYMENTS.labels(charge.platform).inc()
    metrics.CREDITS_SOLD.labels(charge.platform).inc(credited.credits)
    if charge.currency == STARS:
        metrics.STARS_RECEIVED.inc(charge.amount)
    if not price:
        price = texts.PRICE_STARS.format(stars=charge.amount) if charge.currency == STARS else charge.currency
    return [Reply(texts.RECEIPT.format(credits=texts.CREDIT_COUNT(credited.credits),
                                       balance=texts.CREDIT_COUNT(credited.balance),
                                       pack=texts.CREDIT_COUNT(credited.credits), price=price,
                                       charge=charge.external_id), await _after_purchase(ctx, user),
                  private=True)]


async def _after_purchase(ctx: Context, user: UserRef) -> tuple[tuple[Button, ...], ...]:
    """The receipt's way back to what the credits were bought for: the styles where a model
    paints, else the training of a set that is ready. Nothing where that can't be read now (the
    payment is recorded: the receipt goes all the same)."""
    try:
        async with ctx.database.read() as session:
            account = await find_user(session, user.platform, user.user_id)
            if account is None:
                return ()
            if await trainings.painting_model(session, account.id) is not None:
                return ((Button(texts.BUTTON_SEE_STYLES, actions.STYLES),),)
            if await jobs.active_jobs(session, account.id, JobKind.train):
                return ()
            selfie_set = await ctx.selfies.collecting_set(session, account.id)
            if selfie_set is not None and await ctx.selfies.ready_to_train(session, selfie_set):
                return ((Button(texts.BUTTON_TRAIN, actions.TRAIN),),)
    except Exception:
        log.warning("no next step for the receipt of %s:%s", user.platform, user.user_id, exc_info=True)
    return ()


async def refunded(ctx: Context, user: UserRef, external_id: str) -> list[Reply]:
    """The platform says it gave a payment back (also when the operator did it here): the
    credits go, what is left of them, once."""
    async with ctx.database.transaction() as session:
        done = await payments.record_refund(session, user.platform, external_id)
    if done is None:
        return []
    metrics.PAYMENT_REFUNDS.labels(user.platform).inc()
    metrics.CREDITS_TAKEN_BACK.labels(user.platform).inc(done.taken_back)
    return [Reply(texts.REFUND_NOTICE.format(charge=external_id, taken=texts.CREDIT_COUNT(done.taken_back),
                                             balance=texts.CREDIT_COUNT(done.balance)), private=True)]
