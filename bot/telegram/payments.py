"""Selling for Telegram Stars: the pre-checkout answer, the payment and its refund notices as they
arrive, the start-up pass over the bot's Stars transactions (on from where the last start stopped),
and refundStarPayment. The decisions
are the core's (bot/core/shop.py, Studio.paid and .refunded); this turns Telegram's updates into them."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot, StarTransaction, TransactionPartnerUser, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, ContextTypes, MessageHandler, PreCheckoutQueryHandler, filters

from bot.core import texts
from bot.core.replies import Reply, UserRef
from bot.core.shop import STARS, InvoicePayload, PlatformRefused, not_credited, payment_mismatch
from bot.core.studio import Studio
from bot.telegram.speaking import PLATFORM, audience_of, buyer_of, spoken, user_of
from db import cursors
from db.payments import Charge, recorded
from i18n import speaking

log = logging.getLogger(__name__)

ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"
STAR_PAGE = 100  # getStarTransactions gives at most 100 at a time
MAX_STAR_PAGES = 100
"""Pages read on from the cursor at one start; a longer backlog is read over the next starts."""
NEWEST_STAR_PAGES = 10
"""With a backlog: the newest pages, read at every start until the cursor catches up (a payment
made while the bot was down waits for no backlog)."""


def receipt_to(update: Update) -> UserRef:
    """Whose payment it is, and where its receipt goes: the buyer's private chat with the bot. An
    invoice an older version posted in a group is paid there, but a receipt names a balance."""
    chat = update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE and update.effective_user is not None:
        return buyer_of(update.effective_user)
    return user_of(update)


class StarsTill:
    def __init__(self, studio: Studio, bot: Callable[[], Bot],
                 send: Callable[[UserRef, list[Reply]], Awaitable[None]]) -> None:
        self.studio = studio
        self.bot = bot
        self.send = send

    def register(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        # the pre-checkout query is not wrapped: an approval waits for nothing (not even a database
        # read of the buyer's language); a refusal reads it
        app.add_handler(PreCheckoutQueryHandler(self._on_pre_checkout))
        app.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, spoken(self.studio, self._on_paid)))
        app.add_handler(MessageHandler(filters.StatusUpdate.REFUNDED_PAYMENT, spoken(self.studio, self._on_refunded)))

    async def _on_pre_checkout(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answered at once (Telegram waits 10 seconds): the pack still on sale at the invoice's price."""
        query = update.pre_checkout_query
        assert query is not None
        buyer = buyer_of(query.from_user)
        refusal = self.studio.pre_checkout(buyer, query.invoice_payload, query.currency, query.total_amount)
        if refusal is None:
            await query.answer(ok=True)
            return
        with speaking(await audience_of(self.studio, buyer)):  # Telegram shows it to the buyer as it is
            await query.answer(ok=False, error_message=str(texts.CHECKOUT_REFUSED[refusal]))

    async def _on_paid(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and message.successful_payment is not None
        payment = message.successful_payment
        user = receipt_to(update)
        ordered = InvoicePayload.decode(payment.invoice_payload)
        charge = Charge(PLATFORM, payment.telegram_payment_charge_id, user.user_id,
                        ordered.pack_id if ordered else "unknown", ordered.credits if ordered else 0,
                        amount=payment.total_amount, currency=payment.currency,
                        provider_charge_id=payment.provider_payment_charge_id or "")
        # what was charged must be what the invoice asked (pre-checkout compared it too): else no
        # credits, the payment is kept for the operator, and the buyer is sent to /paysupport
        mismatch = payment_mismatch(ordered, payment.currency, payment.total_amount)
        if mismatch is not None:
            detail = (f"its invoice ({ordered.pack_id}) asked {ordered.stars} {STARS}" if ordered
                      else f"its payload {payment.invoice_payload[:64]!r} is none of our invoices")
            await self.send(user, await not_credited(self.studio.database, user, charge, mismatch, detail))
            return
        await self.send(user, await self.studio.paid(user, charge))

    async def _on_refunded(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and message.refunded_payment is not None
        user = receipt_to(update)
        await self.send(user, await self.studio.refunded(user, message.refunded_payment.telegram_payment_charge_id))

    async def reconcile(self) -> None:
        """At start: every Stars payment Telegram holds for the bot is credited, and every refund
        taken back, once (a payment whose update was lost while the bot was down, or whose
        recording failed, is found here). Telegram lists them oldest first ("in chronological
        order", an offset counting from the oldest; the Bot API server's TDLib asks for ascending
        order for bots), so a cursor in the database remembers how
        many have been settled and each start reads on from there, at most ``MAX_STAR_PAGES``
        pages. Behind by more than that (a first start over a long history), it also settles the
        newest ``NEWEST_STAR_PAGES`` pages, and the cursor catches up over the next starts."""
        done: Counter[str] = Counter()
        try:
            bot = self.bot()
            name = cursor_name(bot)
            async with self.studio.database.transaction() as session:
                offset = await cursors.position(session, name)
            # one page back: re-settling it costs little and survives a history that shifted a little
            offset = max(0, offset - STAR_PAGE)
            for _ in range(MAX_STAR_PAGES):
                batch = await self._page(bot, offset)
                await self._settle(batch, done)
                offset += len(batch)
                async with self.studio.database.transaction() as session:
                    await cursors.advance(session, name, offset)
                if len(batch) < STAR_PAGE:
                    break
            else:
                await self._settle_newest(bot, name, offset, done)
        except Exception as error:  # TelegramError, or a Bot API server without getStarTransactions
            log.warning("could not read the bot's Stars transactions (%s: %s); payments are credited as they arrive",
                        type(error).__name__, error)
            return
        if done["credited"] or done["refunded"] or done["unmatched"]:
            log.warning("reconciled Stars transactions: %d payment(s) credited, %d refund(s) recorded or told late, "
                        "%d payment(s) matching no pack recorded", done["credited"], done["refunded"],
                        done["unmatched"])

    async def _settle_newest(self, bot: Bot, name: str, read: int, done: Counter[str]) -> None:
        """The cursor stopped at ``read`` with more to come: settle the newest pages now (in order,
        oldest of them first); those in between wait for the next starts (a refund among the newest
        of a payment among them is settled again then, after its payment). Where nothing lies in
        between, this simply reads on, and the cursor with it."""
        end = await self._count(bot, read)
        offset = max(read, end - NEWEST_STAR_PAGES * STAR_PAGE)
        if offset > read:
            log.warning("%d Stars transaction(s) not read yet; the newest %d now, the rest over the next starts",
                        end - read, end - offset)
        for _ in range(NEWEST_STAR_PAGES):
            batch = await self._page(bot, offset)
            await self._settle(batch, done)
            offset += len(batch)
            if offset - len(batch) == read:  # no gap behind this page
                read = offset
                async with self.studio.database.transaction() as session:
                    await cursors.advance(session, name, read)
            if len(batch) < STAR_PAGE:
                break

    async def _count(self, bot: Bot, known: int) -> int:
        """How many transactions there are, knowing there are at least ``known``: one-transaction
        probes, doubling the step until one finds nothing, then halving (about 2·log2 of the
        backlog calls)."""
        low, step = known, STAR_PAGE  # low: no fewer than this many
        while await self._page(bot, low + step - 1, limit=1):
            low, step = low + step, step * 2
        high = low + step - 1  # nothing at this offset: at most this many
        while low < high:
            middle = (low + high) // 2
            if await self._page(bot, middle, limit=1):
                low = middle + 1
            else:
                high = middle
        return low

    @staticmethod
    async def _page(bot: Bot, offset: int, limit: int = STAR_PAGE) -> list[StarTransaction]:
        return list((await bot.get_star_transactions(offset=offset, limit=limit)).transactions)

    async def _settle(self, batch: list[StarTransaction], done: Counter[str]) -> None:
        """Each transaction, oldest first; a payment recorded before is passed over without a word
        (re-reading it must not bring back the account of a buyer who has since used /delete)."""
        async with self.studio.database.transaction() as session:
            known = await recorded(session, PLATFORM, [t.id for t in batch if _payment_source(t) is not None])
        for transaction in batch:
            if transaction.id in known and _payment_source(transaction) is not None:
                continue
            done[await self._reconcile(transaction)] += 1

    async def _reconcile(self, transaction: StarTransaction) -> str:
        source, receiver = _payment_source(transaction), transaction.receiver
        if source is not None:
            ordered = InvoicePayload.decode(source.invoice_payload or "")
            if ordered is None:
                return ""
            buyer = buyer_of(source.user)
            charge = Charge(PLATFORM, transaction.id, buyer.user_id, ordered.pack_id, ordered.credits,
                            amount=transaction.amount, currency=STARS)
            if (mismatch := payment_mismatch(ordered, STARS, transaction.amount)) is not None:
                with speaking(await audience_of(self.studio, buyer)):  # no update of theirs set it
                    replies = await not_credited(self.studio.database, buyer, charge, mismatch,
                                                 f"its invoice ({ordered.pack_id}) asked {ordered.stars} {STARS}")
                await self._tell(buyer, replies)
                return "unmatched" if replies else ""
            replies = await self.studio.paid(buyer, charge)
            await self._tell(buyer, replies)
            return "credited" if replies else ""
        if isinstance(receiver, TransactionPartnerUser):  # a refund to a user: its id is the payment's
            buyer = buyer_of(receiver.user)
            replies = await self.studio.refunded(buyer, transaction.id)
            await self._tell(buyer, replies)
            return "refunded" if replies else ""
        return ""

    async def _tell(self, user: UserRef, replies: list[Reply]) -> None:
        try:
            await self.send(user, replies)
        except Exception:
            log.warning("could not tell %s:%s about their payment", user.platform, user.user_id, exc_info=True)

    async def give_back(self, buyer: str, charge_id: str) -> None:
        """refundStarPayment; a charge Telegram had refunded already counts as done."""
        await refund_stars(self.bot(), buyer, charge_id)


def _payment_source(transaction: StarTransaction) -> TransactionPartnerUser | None:
    """The buyer's side of a payment for an invoice (None: a refund, a withdrawal, anything else)."""
    source = transaction.source
    if isinstance(source, TransactionPartnerUser) and source.invoice_payload:
        return source
    return None


def cursor_name(bot: object) -> str:
    """The read cursor of this bot's Stars transactions: another bot (a new token) starts afresh.
    The bot id is the public part of the token, before the colon."""
    token = getattr(bot, "token", "") or ""
    return f"telegram-stars:{token.partition(':')[0]}"


async def refund_stars(bot: object, buyer: str, charge_id: str) -> None:
    """Give a Stars payment back (``studio refund`` too); already refunded counts as done."""
    try:
        await bot.refund_star_payment(int(buyer), charge_id)  # type: ignore[attr-defined]
    except BadRequest as error:
        if ALREADY_REFUNDED in str(error).upper():
            log.info("payment %s had been refunded already", charge_id)
            return
        raise PlatformRefused(str(error)) from error
    except TelegramError as error:
        raise PlatformRefused(str(error)) from error
