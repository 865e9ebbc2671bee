"""Selling credits, once for every platform: which packs a platform sells, the invoice a pack
becomes, the pre-checkout verdict, the payment's own check against its invoice (a payment that
matches no pack is credited nothing and kept for the operator), and a refund from the platform's
money back to the ledger.

A platform sells a pack when the pack names its price there: Telegram in Stars (``stars``),
Discord by a consumable SKU (``discord_sku_id``). No pack for a platform: nothing is sold there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.core import texts
from bot.core.replies import Invoice, Reply, UserRef
from db import payments
from db.session import Database
from db.users import find_user
from config.settings import CreditPack, Settings

log = logging.getLogger(__name__)

STARS = "XTR"  # Telegram's currency code for Stars
PAYLOAD_PREFIX = "pack"
#: how a platform prices a pack; a pack without it is not sold there
PRICED_ON: dict[str, Callable[[CreditPack], object]] = {
    "telegram": lambda pack: pack.stars,
    "discord": lambda pack: pack.discord_sku_id,
}


#: where a pack is paid for with an invoice in the chat (elsewhere the platform's store sells it)
INVOICED_ON = frozenset({"telegram"})


def packs_on(settings: Settings, platform: str) -> list[CreditPack]:
    price = PRICED_ON.get(platform)
    return [pack for pack in settings.credit_packs if price is not None and price(pack) is not None]


def pack_by_sku(settings: Settings, sku_id: int) -> CreditPack | None:
    return next((pack for pack in settings.credit_packs if pack.discord_sku_id == sku_id), None)


@dataclass(frozen=True)
class InvoicePayload:
    """What an invoice was made for, carried by Telegram from the invoice to the payment: the pack
    with the size and price it had then, and the buyer (≤ 128 bytes)."""

    pack_id: str
    credits: int
    stars: int
    buyer: str

    def encode(self) -> str:
        return f"{PAYLOAD_PREFIX}:{self.pack_id}:{self.credits}:{self.stars}:{self.buyer}"

    @classmethod
    def decode(cls, text: str) -> InvoicePayload | None:
        parts = text.split(":")
        if len(parts) != 5 or parts[0] != PAYLOAD_PREFIX or not parts[2].isdigit() or not parts[3].isdigit():
            return None
        return cls(parts[1], int(parts[2]), int(parts[3]), parts[4])


def invoice_for(pack: CreditPack, buyer: str, settings: Settings) -> Invoice:
    assert pack.stars is not None
    payload = InvoicePayload(pack.id, pack.credits, pack.stars, buyer)
    return Invoice(
        title=texts.INVOICE_TITLE.format(credits=texts.CREDIT_COUNT(pack.credits)),
        description=texts.INVOICE_DESCRIPTION.format(
            credits=texts.CREDIT_COUNT(pack.credits), train_cost=texts.CREDIT_COUNT(settings.train_cost),
            generate_cost=texts.CREDIT_COUNT(settings.generate_cost)),
        payload=payload.encode(), currency=STARS, amount=pack.stars,
        label=texts.INVOICE_LABEL.format(credits=texts.CREDIT_COUNT(pack.credits)),
    )


class CheckoutRefusal(StrEnum):
    """Why a pre-checkout query is answered no (each has its sentence in texts.CHECKOUT_REFUSED)."""

    not_selling = "not_selling"
    unknown_pack = "unknown_pack"
    pack_changed = "pack_changed"
    not_the_buyer = "not_the_buyer"
    banned = "banned"


def checkout_refusal(settings: Settings, platform: str, buyer: str, payload: str, currency: str,
                     total: int) -> CheckoutRefusal | None:
    """The verdict on a pre-checkout query: None to take the payment. Settings only, no database:
    Telegram wants the answer within 10 seconds."""
    if settings.is_banned(platform, buyer):
        return CheckoutRefusal.banned
    on_sale = packs_on(settings, platform)
    if not on_sale:
        return CheckoutRefusal.not_selling
    ordered = InvoicePayload.decode(payload)
    if ordered is None:
        return CheckoutRefusal.unknown_pack
    if ordered.buyer != buyer:
        return CheckoutRefusal.not_the_buyer
    pack = next((p for p in on_sale if p.id == ordered.pack_id), None)
    if pack is None:
        return CheckoutRefusal.unknown_pack
    if (pack.credits, pack.stars, STARS) != (ordered.credits, total, currency) or ordered.stars != total:
        return CheckoutRefusal.pack_changed
    return None


class PaymentMismatch(StrEnum):
    """Why a payment is credited nothing (each has its sentence in texts.PAYMENT_NOT_CREDITED)."""

    not_our_invoice = "not_our_invoice"
    wrong_amount = "wrong_amount"


def payment_mismatch(ordered: InvoicePayload | None, currency: str, total: int) -> PaymentMismatch | None:
    """The payment against the invoice it paid for: None to credit the invoice's pack. The
    pre-checkout compared the same, but the payment is what was charged: it is checked again."""
    if ordered is None:
        return PaymentMismatch.not_our_invoice
    if currency != STARS or total != ordered.stars:
        return PaymentMismatch.wrong_amount
    return None


async def not_credited(database: Database, buyer: UserRef, charge: payments.Charge, why: PaymentMismatch,
                       detail: str = "") -> list[Reply]:
    """A payment that matched no pack: recorded for the operator (an 'unmatched' payment with no
    credits, shown by ``studio payments``, and a warning in the log), once per charge; the buyer is
    told what happened and where to get help. ``detail``: what it was matched against, for the log."""
    async with database.transaction() as session:
        account = await find_user(session, buyer.platform, buyer.user_id)
        new = await payments.record_unmatched(session, charge, user_id=account.id if account else None)
    if not new:
        log.info("payment %s %s delivered again: recorded (unmatched) once already", charge.platform,
                 charge.external_id)
        return []
    log.warning("payment %s %s of %s:%s not credited (%s): paid %s %s%s; recorded as unmatched for the operator "
                "(studio payments; refund it or grant the credits)", charge.platform, charge.external_id,
                buyer.platform, buyer.user_id, why, charge.amount, charge.currency, f", {detail}" if detail else "")
    return [Reply(texts.PAYMENT_NOT_CREDITED[why].format(charge=charge.external_id), private=True)]


class PlatformRefused(Exception):
    """The platform would not give the money back (the message says what it answered)."""


GiveBack = Callable[[str, str], Awaitable[None]]
"""The platform's refund: (buyer's platform user id, charge id); succeeds also when the platform
had refunded that charge already; raises ``PlatformRefused`` when it won't."""


async def refund(database: Database, platform: str, external_id: str, give_back: GiveBack, *,
                 allow_negative: bool = False) -> payments.Refunded:
    """Give a payment's money back, then take its credits back. The money goes first, outside any
    transaction: should the second step not happen (a crash), the payment is still 'paid' and
    running the refund again finishes it (the platform answers "already refunded")."""
    async with database.transaction() as session:
        plan = await payments.plan_refund(session, platform, external_id, allow_negative=allow_negative)
    await give_back(plan.platform_user_id, external_id)
    async with database.transaction() as session:
        # the buyer hears of it from the platform's notice of the refund (or the start-up pass): its
        # handler finds the refund recorded and not yet told, and tells them once
        done = await payments.record_refund(session, platform, external_id, tell_buyer=False)
        if done is None:  # recorded meanwhile (the platform's own notice of it, a second operator)
            done = await payments.outcome(session, platform, external_id)
    log.info("%s payment %s refunded: %d credit(s) taken back, shortfall %d", platform, external_id, done.taken_back,
             done.shortfall)
    return done
