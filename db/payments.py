"""The payments ledger: every charge a platform reports becomes one ``payments`` row and its credits,
in one transaction, exactly once.

A charge is known by (platform, external id): Telegram's ``telegram_payment_charge_id``, Discord's
entitlement id. The row is unique on that pair, so a payment delivered twice, or by two processes
at once, is credited once: the second insert fails (on PostgreSQL it waits for the first to commit,
then fails), its savepoint takes it back, and the existing row answers. The credits go through
``db.credits`` (a ledger row keyed ``payment:<id>``), so ``credit_ledger`` explains every purchase.

Refunds: the balance never goes below zero (the CHECK on ``users.credits``). A refund takes back
the pack's credits; when the buyer has already spent some, it is refused unless the operator
allows it, and then it takes back what is left and keeps the shortfall on the payment row
(``credits - credits_taken_back``), shown by ``studio payments``. The buyer hears of a refund
once (``refund_told_at``), from whichever path tells them first: an operator's refund is recorded
before the platform's notice of it arrives, and leaves the telling to that notice.

A payment that matches no pack (another amount or currency than its invoice asked, an invoice that
is not ours) is recorded as ``unmatched``, with no credits, once: the operator sees it in
``studio payments`` and can refund it like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db import credits
from db.models import Payment, PaymentState, utcnow

log = logging.getLogger(__name__)

TAKE_BACK_TRIES = 5


@dataclass(frozen=True)
class Charge:
    """A payment as the platform reported it."""

    platform: str
    external_id: str
    platform_user_id: str
    pack_id: str
    credits: int
    amount: int = 0
    currency: str = ""
    provider_charge_id: str = ""


@dataclass(frozen=True)
class Credited:
    payment_id: int
    credits: int
    balance: int
    new: bool
    """False: this charge had been credited before (a redelivered update, a reconciliation)."""


class RefundRefused(Exception):
    """Base of the reasons a refund is not made."""


class NoSuchPayment(RefundRefused):
    def __init__(self, platform: str, external_id: str) -> None:
        super().__init__(f"no {platform} payment {external_id}")


class AlreadyRefunded(RefundRefused):
    def __init__(self, external_id: str, when: datetime | None) -> None:
        super().__init__(f"payment {external_id} was refunded already ({when:%Y-%m-%d %H:%M} UTC)" if when else
                         f"payment {external_id} was refunded already")


class CreditsSpent(RefundRefused):
    """The buyer has fewer credits than the payment gave: refunding needs the operator's say-so."""

    def __init__(self, external_id: str, credits_bought: int, balance: int) -> None:
        super().__init__(f"payment {external_id} gave {credits_bought} credit(s) but the buyer has {balance} left; "
                         f"refunding takes back {balance} and records a shortfall of {credits_bought - balance} "
                         "(allow it with --allow-negative)")
        self.credits_bought = credits_bought
        self.balance = balance


@dataclass(frozen=True)
class RefundPlan:
    payment_id: int
    platform: str
    external_id: str
    platform_user_id: str
    credits: int
    balance: int


@dataclass(frozen=True)
class Refunded:
    payment_id: int
    user_id: int | None
    credits: int
    taken_back: int
    balance: int

    @property
    def shortfall(self) -> int:
        return self.credits - self.taken_back


async def find(session: AsyncSession, platform: str, external_id: str) -> Payment | None:
    return await session.scalar(select(Payment).where(Payment.platform == platform, Payment.external_id == external_id))


async def recorded(session: AsyncSession, platform: str, external_ids: Collection[str]) -> set[str]:
    """Which of these charges have their row already (one query for a page of them)."""
    if not external_ids:
        return set()
    found = await session.scalars(select(Payment.external_id).where(Payment.platform == platform,
                                                                    Payment.external_id.in_(list(external_ids))))
    return set(found.all())


async def _balance_of(session: AsyncSession, user_id: int | None) -> int:
    if user_id is None:
        return 0
    try:
        return await credits.balance(session, user_id)
    except LookupError:
        return 0


async def credit(session: AsyncSession, charge: Charge, *, user_id: int) -> Credited:
    """Record ``charge`` and grant its credits to ``user_id``, once per (platform, external id)."""
    existing = await find(session, charge.platform, charge.external_id)
    if existing is not None:
        return Credited(existing.id, existing.credits, await _balance_of(session, existing.user_id), new=False)
    try:
        async with session.begin_nested():
            payment = Payment(
                platform=charge.platform, external_id=charge.external_id, provider_charge_id=charge.provider_charge_id,
                user_id=user_id, platform_user_id=charge.platform_user_id, pack_id=charge.pack_id,
                amount=charge.amount, currency=charge.currency, credits=charge.credits, state=PaymentState.paid,
            )
            session.add(payment)
            await session.flush()
            balance = await credits.grant(session, user_id, charge.credits, reason="purchase", key=f"payment:{payment.id}",
                                          note=f"{charge.platform} {charge.pack_id} {charge.external_id}"[:256])
    except IntegrityError:
        existing = await find(session, charge.platform, charge.external_id)
        if existing is None:
            raise
        return Credited(existing.id, existing.credits, await _balance_of(session, existing.user_id), new=False)
    log.info("payment %s: %s %s credited %d credit(s) to user %s (%s %s)", payment.id, charge.platform,
             charge.external_id, charge.credits, user_id, charge.amount, charge.currency)
    return Credited(payment.id, charge.credits, balance, new=True)


async def record_unmatched(session: AsyncSession, charge: Charge, *, user_id: int | None) -> bool:
    """Record a payment that is credited nothing (it matched no pack), once per (platform, external
    id): True when recorded now, False when the charge had its row already."""
    if await find(session, charge.platform, charge.external_id) is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(Payment(
                platform=charge.platform, external_id=charge.external_id, provider_charge_id=charge.provider_charge_id,
                user_id=user_id, platform_user_id=charge.platform_user_id, pack_id=charge.pack_id[:32],
                amount=charge.amount, currency=charge.currency[:8], credits=0, state=PaymentState.unmatched,
            ))
            await session.flush()
    except IntegrityError:
        if await find(session, charge.platform, charge.external_id) is None:
            raise
        return False
    return True


async def plan_refund(session: AsyncSession, platform: str, external_id: str, *, allow_negative: bool) -> RefundPlan:
    """What refunding the payment would do; raises ``RefundRefused`` when it is not to be done."""
    payment = await find(session, platform, external_id)
    if payment is None:
        raise NoSuchPayment(platform, external_id)
    if payment.state == PaymentState.refunded:
        raise AlreadyRefunded(external_id, payment.refunded_at)
    balance = await _balance_of(session, payment.user_id)
    if balance < payment.credits and not allow_negative and payment.user_id is not None:
        raise CreditsSpent(external_id, payment.credits, balance)
    return RefundPlan(payment.id, platform, external_id, payment.platform_user_id, payment.credits, balance)


REFUNDABLE = (PaymentState.paid, PaymentState.unmatched)


async def record_refund(session: AsyncSession, platform: str, external_id: str, *, now: datetime | None = None,
                        tell_buyer: bool = True) -> Refunded | None:
    """The platform gave the money back: mark the payment refunded and take its credits back (what
    is left of them), once.

    ``tell_buyer`` (the platform's notice of the refund, the start-up pass): the caller tells the
    buyer; the refund is returned once per payment, whether recorded now or before (by an
    operator's refund, which tells nobody), None when the buyer was told already (or the payment is
    unknown). Without it (the operator's refund): returned when recorded now, else None."""
    moment = now or utcnow()
    statement = (
        update(Payment)
        .where(Payment.platform == platform, Payment.external_id == external_id, Payment.state.in_(REFUNDABLE))
        .values(state=PaymentState.refunded, refunded_at=moment, **({"refund_told_at": moment} if tell_buyer else {}))
        .returning(Payment.id, Payment.user_id, Payment.credits)
    )
    row = (await session.execute(statement)).one_or_none()
    if row is None:
        return await _tell_refund(session, platform, external_id, moment) if tell_buyer else None
    payment_id, user_id, bought = row
    taken, balance = await _take_back(session, payment_id, user_id, bought, external_id)
    await session.execute(update(Payment).where(Payment.id == payment_id).values(credits_taken_back=taken))
    if taken < bought:
        log.warning("payment %s refunded: %d of its %d credit(s) were spent, shortfall %d recorded", payment_id,
                    bought - taken, bought, bought - taken)
    return Refunded(payment_id, user_id, bought, taken, balance)


async def _tell_refund(session: AsyncSession, platform: str, external_id: str, now: datetime) -> Refunded | None:
    """A refund recorded before whose buyer nobody has told: claimed for telling now (one claimer
    wins: the row is updated only while ``refund_told_at`` is empty)."""
    statement = (
        update(Payment)
        .where(Payment.platform == platform, Payment.external_id == external_id,
               Payment.state == PaymentState.refunded, Payment.refund_told_at.is_(None))
        .values(refund_told_at=now)
        .returning(Payment.id, Payment.user_id, Payment.credits, Payment.credits_taken_back)
    )
    row = (await session.execute(statement)).one_or_none()
    if row is None:
        return None
    payment_id, user_id, bought, taken = row
    return Refunded(payment_id, user_id, bought, taken, await _balance_of(session, user_id))


async def outcome(session: AsyncSession, platform: str, external_id: str) -> Refunded:
    """How a refunded payment's refund went, as recorded."""
    payment = await find(session, platform, external_id)
    if payment is None or payment.state != PaymentState.refunded:
        raise LookupError(f"no refunded {platform} payment {external_id}")
    return Refunded(payment.id, payment.user_id, payment.credits, payment.credits_taken_back,
                    await _balance_of(session, payment.user_id))


async def _take_back(session: AsyncSession, payment_id: int, user_id: int | None, bought: int,
                     external_id: str) -> tuple[int, int]:
    """Take back up to ``bought`` credits, never below zero; returns (taken, balance after)."""
    if user_id is None:  # the buyer deleted their account: nothing to take back
        return 0, 0
    for _ in range(TAKE_BACK_TRIES):
        balance = await _balance_of(session, user_id)
        take = min(bought, balance)
        if take == 0:
            return 0, balance
        try:
            after = await credits.grant(session, user_id, -take, reason="purchase_refund", key=f"payment:{payment_id}:refund",
                                        note=f"refund of {external_id}"[:256])
            return take, after
        except credits.InsufficientCredits:  # spent meanwhile: take what is left now
            continue
    raise RuntimeError(f"payment {payment_id}: the balance kept changing while its credits were taken back")


async def since(session: AsyncSession, start: datetime | None = None) -> list[Payment]:
    """Payments made, or refunded, at or after ``start`` (every one without it), oldest first."""
    query = select(Payment).order_by(Payment.created_at, Payment.id)
    if start is not None:
        query = query.where(or_(Payment.created_at >= start, Payment.refunded_at >= start))
    return list((await session.scalars(query)).all())
