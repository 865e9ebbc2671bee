"""Buying credits for Telegram Stars through the Bot API stand-in, as a user does it: /buy, a pack,
the invoice, Pay (pre-checkout), the payment; Telegram delivering it twice; the bot restarting
in between; a pack withdrawn meanwhile; refunds by an admin and from the command line."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time

import pytest
from sqlalchemy import select

from bot.core.shop import InvoicePayload
from bot.telegram import payments as stars
from db import credits
from db.models import CreditEntry, Payment, PaymentState, User
from tests.telegram.conftest import TOKEN
from tests.support.accounts import account_of

ALEX = 501
BEA = 502
ADMIN = 900
PACKS = "small:10:250,big:50:1000"


async def balance_of(bot, telegram_user_id: int) -> int:
    user = await account_of(bot, "telegram", telegram_user_id)
    async with bot.services.database.transaction() as session:
        user = await session.get(User, user.id)
        assert await credits.ledger_sum(session, user.id) == user.credits  # the books balance
        return user.credits


async def payment_rows(bot) -> list[Payment]:
    async with bot.services.database.transaction() as session:
        return list((await session.scalars(select(Payment).order_by(Payment.id))).all())


async def open_invoice(telegram, title: str = "10 credits", user_id: int = ALEX, packs: int = 2):
    """/buy: the bot sends one invoice per pack; the one titled ``title``."""
    before = len(telegram.invoices_to(user_id))
    await telegram.send_text(user_id, "/buy")
    await telegram.wait_for(lambda m: m.chat_id == user_id and len(telegram.invoices_to(user_id)) >= before + packs,
                            what="the invoices")
    return next(m for m in telegram.invoices_to(user_id)[before:] if m.invoice["title"] == title)


async def test_a_purchase_end_to_end(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=3) as bot:
        telegram = bot.telegram
        invoice = await open_invoice(telegram)
        assert "pick a pack below" in telegram.texts_to(ALEX)[0]
        sent = next(params for method, params in telegram.calls if method == "sendInvoice")
        assert not sent.get("provider_token")  # Stars take no provider token
        assert invoice.invoice["currency"] == "XTR" and invoice.invoice["total_amount"] == 250
        assert invoice.invoice["title"] == "10 credits"
        payment = await telegram.pay(ALEX, invoice)
        receipt = await telegram.wait_for_text(ALEX, "Payment received")
        assert "10 credits added; you now have 13 credits" in receipt.text
        assert payment["telegram_payment_charge_id"] in receipt.text and "250 ⭐" in receipt.text
        assert await balance_of(bot, ALEX) == 13
        rows = await payment_rows(bot)
        assert [(p.platform, p.external_id, p.pack_id, p.amount, p.currency, p.credits, p.state) for p in rows] == [
            ("telegram", payment["telegram_payment_charge_id"], "small", 250, "XTR", 10, PaymentState.paid)]
        await telegram.send_text(ALEX, "/credits")
        assert "You have 13 credits" in (await telegram.wait_for_text(ALEX, "You have 13")).text


async def test_the_same_payment_delivered_twice_credits_once(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        telegram = bot.telegram
        payment = await telegram.pay(ALEX, await open_invoice(telegram, "50 credits"))
        await telegram.wait_for_text(ALEX, "Payment received")
        await telegram.deliver_payment(ALEX, payment)  # Telegram delivers the update again
        await bot.settled(ALEX)
        assert await balance_of(bot, ALEX) == 50
        assert len(await payment_rows(bot)) == 1
        assert sum("Payment received" in text for text in telegram.texts_to(ALEX)) == 1
        async with bot.services.database.transaction() as session:
            entries = (await session.scalars(select(CreditEntry).where(CreditEntry.reason == "purchase"))).all()
            assert [e.delta for e in entries] == [50]


async def test_a_restart_between_pre_checkout_and_payment(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        telegram = bot.telegram
        invoice = await open_invoice(telegram)
        query_id = await telegram.pre_checkout(ALEX, invoice)
        assert (await telegram.checkout_answer(query_id))["ok"]
    payment = telegram.successful_payment(query_id)
    await telegram.deliver_payment(ALEX, payment)  # arrives while the bot is down
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        receipt = await telegram.wait_for_text(ALEX, "Payment received")
        assert "you now have 10 credits" in receipt.text
        assert await balance_of(bot, ALEX) == 10
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:  # and once more, redelivered after a restart
        await telegram.deliver_payment(ALEX, payment)
        await bot.settled(ALEX)
        assert await balance_of(bot, ALEX) == 10
        assert sum("Payment received" in text for text in telegram.texts_to(ALEX)) == 1


async def test_a_pre_checkout_for_a_pack_no_longer_on_sale_is_refused(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS) as bot:
        small = await open_invoice(bot.telegram, "10 credits")
        big = await open_invoice(bot.telegram, "50 credits")
    async with bot_factory(credit_packs="big:50:1200") as bot:  # small withdrawn, big dearer
        telegram = bot.telegram
        withdrawn = await telegram.checkout_answer(await telegram.pre_checkout(ALEX, small))
        assert not withdrawn["ok"] and "isn't on sale any more" in withdrawn["error_message"]
        repriced = await telegram.checkout_answer(await telegram.pre_checkout(ALEX, big))
        assert not repriced["ok"] and "price or size has changed" in repriced["error_message"]
        assert await payment_rows(bot) == []


async def test_a_banned_account_is_refused_at_pre_checkout(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS) as bot:
        invoice = await open_invoice(bot.telegram)
    async with bot_factory(credit_packs=PACKS, banned_users=f"telegram:{ALEX}") as bot:
        answer = await bot.telegram.checkout_answer(await bot.telegram.pre_checkout(ALEX, invoice))
        assert not answer["ok"] and "can't sell credits to this account" in answer["error_message"]
        await bot.telegram.send_text(ALEX, "/buy")
        await bot.telegram.wait_for_text(ALEX, "can't sell credits to this account")


async def test_selling_off_leaves_the_bot_as_it_was(bot_factory) -> None:
    async with bot_factory() as bot:
        telegram = bot.telegram
        assert "buy" not in [c["command"] for c in telegram.commands]
        await telegram.send_text(ALEX, "/credits")
        balance = await telegram.wait_for_text(ALEX, "You have")
        assert balance.buttons == []
        await telegram.send_text(ALEX, "/buy")
        await telegram.wait_for_text(ALEX, "I don't know /buy")
        await telegram.send_text(ALEX, "/help")
        help_text = await telegram.wait_for_text(ALEX, "Here's what I can do")
        assert "Terms of sale" not in help_text.text and "/paysupport" not in help_text.text


async def test_selling_on_shows_buy_terms_and_pay_support(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS, payment_support="@studio_help") as bot:
        telegram = bot.telegram
        assert {"buy", "paysupport"} <= {c["command"] for c in telegram.commands}
        polls = [params for method, params in telegram.calls if method == "getUpdates"]
        assert all("pre_checkout_query" in params.get("allowed_updates", []) for params in polls)
        await telegram.send_text(ALEX, "/help")
        help_text = await telegram.wait_for_text(ALEX, "Here's what I can do")
        assert "/buy" in help_text.text and "/paysupport" in help_text.text and "Terms of sale" in help_text.text
        await telegram.send_text(ALEX, "/paysupport")
        assert "@studio_help" in (await telegram.wait_for_text(ALEX, "Help with a payment")).text
        await telegram.send_text(ALEX, "/credits")
        balance = await telegram.wait_for_text(ALEX, "You have")
        await telegram.press(ALEX, balance, "Buy credits")
        await telegram.wait_for_text(ALEX, "pick a pack below")
        await telegram.wait_for(lambda m: len(telegram.invoices_to(ALEX)) == 2, what="two invoices")
        assert [(m.invoice["title"], m.invoice["total_amount"], m.invoice["currency"])
                for m in telegram.invoices_to(ALEX)] == [("10 credits", 250, "XTR"), ("50 credits", 1000, "XTR")]
        await telegram.send_text(ALEX, "/privacy")
        privacy = (await telegram.wait_for_text(ALEX, "Privacy")).text
        assert "Purchases: a record of each payment" in privacy
        assert "Selfies you send but never train a model on are deleted 30 days after the last one arrived" in privacy
        # Telegram does not let the bot take its messages back later: said so, and who sees what
        assert "Portraits I already sent stay in this chat until you delete those messages" in privacy
        assert "In a server channel or a group, everyone there sees the progress and portraits" in privacy


async def test_out_of_credits_offers_to_buy(bot_factory) -> None:
    from tests.telegram.test_commands import give_ready_model, tap_dating

    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        telegram = bot.telegram
        await telegram.send_text(ALEX, "/start")
        await telegram.wait_for_text(ALEX, "Hi Alex")
        await give_ready_model(bot, ALEX)
        await tap_dating(telegram)
        refusal = await telegram.wait_for_text(ALEX, "You're out of credits")
        await telegram.press(ALEX, refusal, "Buy credits")
        await telegram.wait_for(lambda m: len(telegram.invoices_to(ALEX)) == 2, what="two invoices")


async def test_an_admin_refund_gives_the_stars_back_and_takes_the_credits_once(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=2, admins=f"telegram:{ADMIN}") as bot:
        telegram = bot.telegram
        payment = await telegram.pay(ALEX, await open_invoice(telegram))
        await telegram.wait_for_text(ALEX, "Payment received")
        charge = payment["telegram_payment_charge_id"]
        await telegram.send_text(ALEX, f"/refund {charge}")
        await telegram.wait_for_text(ALEX, "That command is for admins")
        await telegram.send_text(ADMIN, f"/refund {charge}")
        done = await telegram.wait_for_text(ADMIN, "Refunded")
        assert f"went back to telegram:{ALEX}" in done.text and "10 credits taken back" in done.text
        assert [(int(c["user_id"]), c["telegram_payment_charge_id"]) for c in telegram.refund_calls] == [(ALEX, charge)]
        assert telegram.charges[charge]["refunded"]
        await bot.settled(ALEX)  # Telegram's refunded_payment notice is handled: nothing taken twice
        assert await balance_of(bot, ALEX) == 2
        assert sum("was refunded" in text for text in telegram.texts_to(ALEX)) == 1  # the buyer hears of it once
        [row] = await payment_rows(bot)
        assert row.state == PaymentState.refunded and row.refunded_at is not None and row.credits_taken_back == 10
        await telegram.send_text(ADMIN, f"/refund {charge}")
        assert "refunded already" in (await telegram.wait_for_text(ADMIN, "Not refunded")).text


async def test_a_refund_of_spent_credits_needs_the_operators_say_so(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=0, admins=f"telegram:{ADMIN}") as bot:
        telegram = bot.telegram
        charge = (await telegram.pay(ALEX, await open_invoice(telegram)))["telegram_payment_charge_id"]
        await telegram.wait_for_text(ALEX, "Payment received")
        async with bot.services.database.transaction() as session:
            user = await session.scalar(select(User).where(User.platform_user_id == str(ALEX)))
            await credits.grant(session, user.id, -6, reason="spent")
        await telegram.send_text(ADMIN, f"/refund {charge}")
        refused = await telegram.wait_for_text(ADMIN, "Not refunded")
        assert "has 4 left" in refused.text and "--allow-negative" in refused.text
        assert telegram.refund_calls == [] and not telegram.charges[charge]["refunded"]
        await telegram.send_text(ADMIN, f"/refund {charge} --allow-negative")
        done = await telegram.wait_for_text(ADMIN, "Refunded")
        assert "4 credits taken back (they had spent 6 credits: recorded as a shortfall)" in done.text
        assert await balance_of(bot, ALEX) == 0


def _cli(*args: str):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from studio.cli import app

    root = logging.getLogger()
    handlers, level, hooks = list(root.handlers), root.level, (sys.excepthook, threading.excepthook)
    try:  # the command sets up logging on CliRunner's stream, closed once it returns
        return CliRunner().invoke(app, list(args))
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        sys.excepthook, threading.excepthook = hooks


async def test_studio_refund_and_studio_payments(bot_factory, tmp_path, monkeypatch) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        telegram = bot.telegram
        first = (await telegram.pay(ALEX, await open_invoice(telegram)))["telegram_payment_charge_id"]
        await telegram.wait_for_text(ALEX, "you now have 10 credits")
        second = (await telegram.pay(ALEX, await open_invoice(telegram, "50 credits")))["telegram_payment_charge_id"]
        await telegram.wait_for_text(ALEX, "you now have 60 credits")
        for name, value in {"DATA_DIR": str(tmp_path / "data"), "TELEGRAM_TOKEN": TOKEN,
                            "TELEGRAM_BASE_URL": telegram.base_url}.items():
            monkeypatch.setenv(f"STUDIO_{name}", value)
        result = await asyncio.to_thread(_cli, "refund", first)
        assert result.exit_code == 0, result.output
        assert f"refunded {first}: 10 of 10 credit(s) taken back" in result.output
        again = await asyncio.to_thread(_cli, "refund", first)
        assert again.exit_code == 1 and "refunded already" in again.output
        await bot.settled(ALEX)
        assert await balance_of(bot, ALEX) == 50
        assert sum("was refunded" in text for text in telegram.texts_to(ALEX)) == 1  # the buyer hears of it once
        report = await asyncio.to_thread(_cli, "payments")
        assert report.exit_code == 0, report.output
        lines = report.output.splitlines()
        assert any(first in line and "refunded" in line and "10 cr taken back" in line for line in lines)
        assert any(second in line and "1000 XTR" in line and line.endswith("paid") for line in lines)
        assert ("telegram XTR: sold 2 for 1250 XTR (60 credits); refunded 1 for 250 XTR (10 credits taken back); "
                "net 1000 XTR") in lines
        later = await asyncio.to_thread(_cli, "payments", "--since", "2999-01-01")
        assert "no payments since 2999-01-01" in later.output


async def test_a_payment_whose_update_was_lost_is_found_at_the_next_start(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        telegram = bot.telegram
        query_id = await telegram.pre_checkout(ALEX, await open_invoice(telegram))
        assert (await telegram.checkout_answer(query_id))["ok"]
        telegram.successful_payment(query_id)  # charged, but the update never reaches the bot
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        receipt = await bot.telegram.wait_for_text(ALEX, "Payment received")
        assert "you now have 10 credits" in receipt.text
        assert await balance_of(bot, ALEX) == 10
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:  # the next start finds nothing new
        await bot.settled(ALEX)
        assert await balance_of(bot, ALEX) == 10
        assert sum("Payment received" in text for text in bot.telegram.texts_to(ALEX)) == 1


def star_payment(charge: str, user_id: int, name: str) -> dict:
    """A Stars payment for the 10-credit pack as getStarTransactions lists it."""
    return {"id": charge, "amount": 250, "date": int(time.time()),
            "source": {"type": "user", "transaction_type": "invoice_payment",
                       "user": {"id": user_id, "is_bot": False, "first_name": name, "language_code": "en"},
                       "invoice_payload": InvoicePayload("small", 10, 250, str(user_id)).encode()}}


def withdrawal(number: int) -> dict:
    """A transaction that is none of the bot's sales (Stars withdrawn to Fragment)."""
    return {"id": f"withdrawal-{number}", "amount": 1, "date": int(time.time()), "receiver": {"type": "fragment"}}


def offsets_read(telegram, since: int) -> list[int]:
    """The offsets of the whole-page getStarTransactions calls made after call number ``since``."""
    return [int(params.get("offset") or 0) for method, params in telegram.calls[since:]
            if method == "getStarTransactions" and int(params.get("limit") or 100) == 100]


@pytest.fixture
def passes(monkeypatch) -> list[str]:
    """The start-up passes over the Stars transactions that have ended (the bot runs each in a task)."""
    ended: list[str] = []
    original = stars.StarsTill.reconcile

    async def reconcile(self) -> None:  # type: ignore[no-untyped-def]
        try:
            await original(self)
        finally:
            ended.append("ended")

    monkeypatch.setattr(stars.StarsTill, "reconcile", reconcile)
    return ended


async def until_ended(passes: list[str], count: int) -> None:
    deadline = time.monotonic() + 30
    while len(passes) < count:
        assert time.monotonic() < deadline, "the start-up pass over the Stars transactions never ended"
        await asyncio.sleep(0.05)


async def test_payments_missed_behind_a_long_history_are_all_credited_and_a_restart_reads_on(
        bot_factory, telegram, monkeypatch, passes) -> None:
    # 300 transactions a start, and the newest 100 on top while behind (10,000 and 1,000 in production)
    monkeypatch.setattr(stars, "MAX_STAR_PAGES", 3)
    monkeypatch.setattr(stars, "NEWEST_STAR_PAGES", 1)
    history = telegram.star_transactions
    history += [withdrawal(n) for n in range(320)]
    history.append(star_payment("stxMISSEDold", ALEX, "Alex"))  # offset 320: past the first start's 300
    history += [withdrawal(n) for n in range(320, 520)]
    history.append(star_payment("stxMISSEDnew", BEA, "Bea"))  # the newest (521): paid while the bot was down
    calls = len(telegram.calls)
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:  # 300 from the start, and the newest 100
        receipt = await telegram.wait_for_text(BEA, "Payment received")
        assert "you now have 10 credits" in receipt.text and "stxMISSEDnew" in receipt.text
        await until_ended(passes, 1)
        assert offsets_read(telegram, calls) == [0, 100, 200, 422]
        star_calls = sum(method == "getStarTransactions" for method, _ in telegram.calls[calls:])
        assert star_calls <= 4 + 20  # the pages, and finding the newest with a few one-transaction probes
        assert not any("Payment received" in text for text in telegram.texts_to(ALEX))  # not reached yet
    calls = len(telegram.calls)
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:  # on from 300 (one page back), not from 0
        receipt = await telegram.wait_for_text(ALEX, "Payment received")
        assert "you now have 10 credits" in receipt.text and "stxMISSEDold" in receipt.text
        await until_ended(passes, 2)
        assert offsets_read(telegram, calls) == [200, 300, 400, 500]  # the last 22: nothing left in between
    calls = len(telegram.calls)
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:  # caught up: one page back, then the end
        await until_ended(passes, 3)
        await bot.settled(ALEX)
        await bot.settled(BEA)
        assert offsets_read(telegram, calls) == [422, 522]
        assert await balance_of(bot, ALEX) == 10 and await balance_of(bot, BEA) == 10
        for user in (ALEX, BEA):  # credited once each, over three starts that read some pages twice
            assert sum("Payment received" in text for text in telegram.texts_to(user)) == 1
        assert sorted(p.external_id for p in await payment_rows(bot)) == ["stxMISSEDnew", "stxMISSEDold"]


async def test_a_restart_does_not_bring_back_a_buyer_who_deleted_their_account(bot_factory, passes) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        telegram = bot.telegram
        await telegram.pay(ALEX, await open_invoice(telegram))
        await telegram.wait_for_text(ALEX, "Payment received")
        await telegram.send_text(ALEX, "/delete")
        await telegram.press(ALEX, await telegram.wait_for_text(ALEX, "erases everything"), "Yes, delete")
        await telegram.wait_for_text(ALEX, "everything of yours is gone")
    calls = len(telegram.calls)
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:  # reads its one Stars payment again
        await until_ended(passes, 2)
        assert offsets_read(telegram, calls) == [0]
        async with bot.services.database.transaction() as session:
            assert await session.scalar(select(User).where(User.platform_user_id == str(ALEX))) is None
        assert [p.user_id for p in await payment_rows(bot)] == [None]  # the payment stays, for the accounts


async def test_a_refund_made_while_the_bot_was_down_is_taken_back_once(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=1) as bot:
        telegram = bot.telegram
        charge = (await telegram.pay(ALEX, await open_invoice(telegram)))["telegram_payment_charge_id"]
        await telegram.wait_for_text(ALEX, "you now have 11 credits")
    await telegram._m_refundStarPayment({"user_id": str(ALEX), "telegram_payment_charge_id": charge})
    async with bot_factory(credit_packs=PACKS, free_credits=1) as bot:
        notice = await bot.telegram.wait_for_text(ALEX, "was refunded")
        assert "10 credits taken back; you have 1 credit" in notice.text
        await bot.settled(ALEX)
        assert await balance_of(bot, ALEX) == 1
        assert sum("was refunded" in text for text in bot.telegram.texts_to(ALEX)) == 1


async def test_a_bot_api_server_without_star_transactions_still_sells(bot_factory, caplog, passes) -> None:
    caplog.set_level(logging.WARNING, logger="bot.telegram.app")
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        telegram = bot.telegram
        telegram._m_getStarTransactions = None  # a Bot API server that lacks the method: 404
        payment = await telegram.pay(ALEX, await open_invoice(telegram))
        await telegram.wait_for_text(ALEX, "Payment received")
        await telegram.deliver_payment(ALEX, payment)
        await bot.settled(ALEX)
        assert await balance_of(bot, ALEX) == 10
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        await bot.settled(ALEX)
        await until_ended(passes, 2)  # the start-up pass runs in a task of its own: wait for its end
        assert any("could not read the bot's Stars transactions" in r.getMessage() for r in caplog.records)
        assert await balance_of(bot, ALEX) == 10


def told(telegram, user_id: int, part: str) -> list[str]:
    return [text for text in telegram.texts_to(user_id) if text and part in text]


# ---------------------------------------------------------------- payments that check what was paid
async def approved_payment(telegram, title: str = "10 credits", user_id: int = ALEX, **paid) -> dict:
    """A payment for the pack of the invoice titled ``title`` (pre-checkout approved), with ``paid``
    changed from what the invoice asked (e.g. ``total_amount=1``): Telegram's own record of the
    charge (a Stars transaction) says the same. Not delivered yet."""
    query_id = await telegram.pre_checkout(user_id, await open_invoice(telegram, title, user_id))
    assert (await telegram.checkout_answer(query_id))["ok"]
    payment = telegram.successful_payment(query_id)
    payment.update(paid)
    if "total_amount" in paid:
        telegram.star_transactions[-1]["amount"] = paid["total_amount"]
    return payment


async def test_a_payment_of_the_wrong_amount_or_currency_credits_nothing_and_the_buyer_is_told_where_to_get_help(
        bot_factory, caplog) -> None:
    caplog.set_level(logging.WARNING)
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        telegram = bot.telegram
        one_star = await approved_payment(telegram, total_amount=1)  # 1 ⭐ for the 250 ⭐ pack
        await telegram.deliver_payment(ALEX, one_star)
        notice = await telegram.wait_for_text(ALEX, "/paysupport")
        assert one_star["telegram_payment_charge_id"] in notice.text and "no credits" in notice.text
        in_dollars = await approved_payment(telegram, currency="USD")  # 250 cents for the 250 ⭐ pack
        await telegram.deliver_payment(ALEX, in_dollars)
        await telegram.wait_for_text(ALEX, in_dollars["telegram_payment_charge_id"])
        await telegram.deliver_payment(ALEX, one_star)  # delivered again: recorded and told once
        await bot.settled(ALEX)
        await telegram.send_text(ALEX, "/credits")
        await telegram.wait_for_text(ALEX, "You have 0 credits")
        assert await balance_of(bot, ALEX) == 0
        assert not told(telegram, ALEX, "Payment received")
        assert len(told(telegram, ALEX, one_star["telegram_payment_charge_id"])) == 1
        rows = await payment_rows(bot)
        assert [(p.external_id, p.pack_id, p.amount, p.currency, p.credits, p.state) for p in rows] == [
            (one_star["telegram_payment_charge_id"], "small", 1, "XTR", 0, PaymentState.unmatched),
            (in_dollars["telegram_payment_charge_id"], "small", 250, "USD", 0, PaymentState.unmatched)]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        for payment in (one_star, in_dollars):
            assert any(payment["telegram_payment_charge_id"] in line and "not credited" in line for line in warnings)
        assert not any("credited 10 credit(s)" in r.getMessage() for r in caplog.records)
        assert TOKEN not in caplog.text


async def test_a_payment_for_an_invoice_not_ours_is_recorded_and_the_buyer_told_what_happened(bot_factory,
                                                                                              caplog) -> None:
    caplog.set_level(logging.WARNING)
    async with bot_factory(credit_packs=PACKS, free_credits=0, payment_support="@studio_help") as bot:
        telegram = bot.telegram
        foreign = {"currency": "XTR", "total_amount": 250, "invoice_payload": "another-shop:order-42",
                   "telegram_payment_charge_id": "stxFOREIGN000001", "provider_payment_charge_id": ""}
        await telegram.deliver_payment(ALEX, foreign)
        notice = await telegram.wait_for_text(ALEX, "stxFOREIGN000001")
        assert "couldn't match it to a credit pack" in notice.text and "/paysupport" in notice.text
        assert "Payment received" not in notice.text and "0 credits added" not in notice.text
        await telegram.deliver_payment(ALEX, foreign)  # delivered again
        await bot.settled(ALEX)
        assert len(told(telegram, ALEX, "stxFOREIGN000001")) == 1
        [row] = await payment_rows(bot)
        assert (row.external_id, row.amount, row.currency, row.credits, row.state) == (
            "stxFOREIGN000001", 250, "XTR", 0, PaymentState.unmatched)
        assert any("stxFOREIGN000001" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


async def test_a_payment_of_the_wrong_amount_found_at_start_credits_nothing(bot_factory, passes) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        telegram = bot.telegram
        one_star = await approved_payment(telegram, total_amount=1)  # charged, but the update never reaches the bot
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        notice = await telegram.wait_for_text(ALEX, one_star["telegram_payment_charge_id"])
        assert "/paysupport" in notice.text and "no credits" in notice.text
        await until_ended(passes, 2)
        [row] = await payment_rows(bot)
        assert (row.amount, row.credits, row.state) == (1, 0, PaymentState.unmatched)
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:  # the next start: nothing new
        await until_ended(passes, 3)
        await telegram.send_text(ALEX, "/credits")
        await telegram.wait_for_text(ALEX, "You have 0 credits")
        assert len(told(telegram, ALEX, one_star["telegram_payment_charge_id"])) == 1


async def test_an_unmatched_payment_can_be_refunded_by_an_admin(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=0, admins=f"telegram:{ADMIN}") as bot:
        telegram = bot.telegram
        one_star = await approved_payment(telegram, total_amount=1)
        await telegram.deliver_payment(ALEX, one_star)
        await telegram.wait_for_text(ALEX, "/paysupport")
        await telegram.send_text(ADMIN, f"/refund {one_star['telegram_payment_charge_id']}")
        await telegram.wait_for_text(ADMIN, "Refunded")
        assert telegram.charges[one_star["telegram_payment_charge_id"]]["refunded"]
        await telegram.wait_for_text(ALEX, "was refunded")
        [row] = await payment_rows(bot)
        assert row.state == PaymentState.refunded and row.credits_taken_back == 0


# ---------------------------------------------------------------- the buyer hears of a refund once
class RefundNotices:
    """While open, Telegram's refunded_payment notices are held back (so the operator's refund is
    recorded before its notice arrives, or the notice is lost), and delivered when the test says so."""

    def __init__(self, telegram) -> None:
        self.telegram = telegram
        self.held: list[dict] = []
        self._push = telegram._push

    def __enter__(self) -> RefundNotices:
        async def holding(update: dict) -> int:
            if "refunded_payment" in update.get("message", {}):
                self.held.append(update)
                return 0
            return await self._push(update)

        self.telegram._push = holding
        return self

    def __exit__(self, *exc: object) -> None:
        del self.telegram._push  # the server's own again

    async def deliver(self, times: int = 1) -> None:
        assert self.held, "no refund notice was held"
        for _ in range(times):
            for update in self.held:
                await self._push(dict(update))


async def test_an_admin_refund_in_the_chat_tells_the_buyer_once(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=2, admins=f"telegram:{ADMIN}") as bot:
        telegram = bot.telegram
        charge = (await telegram.pay(ALEX, await open_invoice(telegram)))["telegram_payment_charge_id"]
        await telegram.wait_for_text(ALEX, "you now have 12 credits")
        with RefundNotices(telegram) as notices:
            await telegram.send_text(ADMIN, f"/refund {charge}")
            await telegram.wait_for_text(ADMIN, "Refunded")  # recorded before Telegram's notice arrives
        await notices.deliver(times=2)  # the notice, and the notice again
        notice = await telegram.wait_for_text(ALEX, "was refunded")
        assert charge in notice.text and "10 credits taken back; you have 2 credits" in notice.text
        await bot.settled(ALEX)
        assert len(told(telegram, ALEX, "was refunded")) == 1
        assert await balance_of(bot, ALEX) == 2


async def test_a_refund_notice_first_then_again_and_then_the_admin_tells_the_buyer_once(bot_factory) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=2, admins=f"telegram:{ADMIN}") as bot:
        telegram = bot.telegram
        charge = (await telegram.pay(ALEX, await open_invoice(telegram)))["telegram_payment_charge_id"]
        await telegram.wait_for_text(ALEX, "you now have 12 credits")
        with RefundNotices(telegram) as notices:  # a refund made elsewhere (e.g. Telegram's support)
            await telegram._m_refundStarPayment({"user_id": str(ALEX), "telegram_payment_charge_id": charge})
        await notices.deliver(times=2)  # Telegram's notice arrives twice
        await telegram.wait_for_text(ALEX, "was refunded")
        await telegram.send_text(ADMIN, f"/refund {charge}")
        assert "refunded already" in (await telegram.wait_for_text(ADMIN, "Not refunded")).text
        await bot.settled(ALEX)
        assert len(told(telegram, ALEX, "was refunded")) == 1
        assert await balance_of(bot, ALEX) == 2


def cli_env(monkeypatch, tmp_path, telegram) -> None:
    for name, value in {"DATA_DIR": str(tmp_path / "data"), "TELEGRAM_TOKEN": TOKEN,
                        "TELEGRAM_BASE_URL": telegram.base_url}.items():
        monkeypatch.setenv(f"STUDIO_{name}", value)


async def test_studio_refund_while_the_bot_is_down_reaches_the_buyer_once(bot_factory, telegram, tmp_path,
                                                                         monkeypatch, passes) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=1) as bot:
        charge = (await telegram.pay(ALEX, await open_invoice(telegram)))["telegram_payment_charge_id"]
        await telegram.wait_for_text(ALEX, "you now have 11 credits")
    cli_env(monkeypatch, tmp_path, telegram)
    result = await asyncio.to_thread(_cli, "refund", charge)  # no bot running: Telegram's notice waits for it
    assert result.exit_code == 0, result.output
    async with bot_factory(credit_packs=PACKS, free_credits=1) as bot:
        notice = await telegram.wait_for_text(ALEX, "was refunded")
        assert charge in notice.text and "10 credits taken back; you have 1 credit" in notice.text
        await until_ended(passes, 2)  # the start-up pass reads the refund too
        await bot.settled(ALEX)
        assert await balance_of(bot, ALEX) == 1
    async with bot_factory(credit_packs=PACKS, free_credits=1) as bot:
        await until_ended(passes, 3)
        await bot.settled(ALEX)
    assert len(told(telegram, ALEX, "was refunded")) == 1


async def test_studio_refund_whose_notice_never_reaches_the_bot_is_told_at_the_next_start(
        bot_factory, telegram, tmp_path, monkeypatch, passes) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=1) as bot:
        charge = (await telegram.pay(ALEX, await open_invoice(telegram)))["telegram_payment_charge_id"]
        await telegram.wait_for_text(ALEX, "you now have 11 credits")
    cli_env(monkeypatch, tmp_path, telegram)
    with RefundNotices(telegram) as notices:  # Telegram keeps an update for 24 hours: this one is lost
        result = await asyncio.to_thread(_cli, "refund", charge)
    assert result.exit_code == 0, result.output
    assert notices.held
    async with bot_factory(credit_packs=PACKS, free_credits=1) as bot:  # its start-up pass finds the refund
        notice = await telegram.wait_for_text(ALEX, "was refunded")
        assert "10 credits taken back; you have 1 credit" in notice.text
        await until_ended(passes, 2)
        await bot.settled(ALEX)
    assert len(told(telegram, ALEX, "was refunded")) == 1
