"""Buying credits on Discord through the stand-in: /buy shows the store's premium buttons, a
purchase (ENTITLEMENT_CREATE) is credited once per entitlement and consumed, purchases made while
the bot was away are found at start, a refund (ENTITLEMENT_DELETE) takes the credits back."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from db import credits
from db.models import HeldNotice, Payment, PaymentState, User
from tests.discord.helpers import press, slash
from tests.support.discord_server import FakeDiscord
from tests.support.accounts import account_of

ALEX = 601
SMALL_SKU, BIG_SKU = 1300000000000000001, 1300000000000000002
PACKS = f"small:10::{SMALL_SKU},big:50:1000:{BIG_SKU}"


async def balance_of(bot, discord_user_id: int) -> int:
    user = await account_of(bot, "discord", discord_user_id)
    async with bot.services.database.transaction() as session:
        user = await session.get(User, user.id)
        assert await credits.ledger_sum(session, user.id) == user.credits  # the books balance
        return user.credits


async def payment_rows(bot) -> list[Payment]:
    async with bot.services.database.transaction() as session:
        return list((await session.scalars(select(Payment).order_by(Payment.id))).all())


async def held_receipts(bot, count: int) -> None:
    """Until ``count`` notices are held for ALEX in the database."""
    async def held() -> int:
        async with bot.services.database.transaction() as session:
            return len((await session.scalars(select(HeldNotice).where(HeldNotice.platform_user_id == str(ALEX)))).all())

    for _ in range(300):
        if await held() == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{await held()} held notices, not {count}")


def receipts(discord: FakeDiscord, text: str) -> list[str]:
    dm = discord.dm_channel_id(ALEX)
    return [m.content for m in discord.in_channel(dm) if text in m.content]


async def test_buy_shows_the_stores_premium_buttons(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory(credit_packs=PACKS):
        assert "buy" in {c["name"] for c in discord.commands["global"]}
        await slash(discord, ALEX, "buy")
        picker = await discord.wait_for_text("Buy credits — pick a pack")
        assert [(b["style"], int(b["sku_id"])) for b in picker.buttons] == [(6, SMALL_SKU), (6, BIG_SKU)]
        assert all("custom_id" not in b and "label" not in b for b in picker.buttons)


async def test_a_purchase_is_credited_once_and_consumed(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=3) as bot:
        await slash(discord, ALEX, "start")
        await discord.wait_for_text("Hi Alex")
        entitlement = discord.buy(ALEX, BIG_SKU)
        await discord.dispatch(entitlement, "ENTITLEMENT_CREATE")
        receipt = await discord.wait_for_text("Payment received", channel_id=discord.dm_channel_id(ALEX))
        assert "50 credits added; you now have 53 credits" in receipt.content and entitlement["id"] in receipt.content
        await discord.wait_until(lambda: int(entitlement["id"]) in discord.consumed, what="the entitlement consumed")
        await discord.dispatch(entitlement, "ENTITLEMENT_CREATE")  # delivered twice
        await slash(discord, ALEX, "credits")
        await discord.wait_for_text("You have 53 credits")
        assert await balance_of(bot, ALEX) == 53
        assert discord.consumed == [int(entitlement["id"])]
        [row] = await payment_rows(bot)
        assert (row.platform, row.external_id, row.pack_id, row.credits, row.state) == (
            "discord", entitlement["id"], "big", 50, PaymentState.paid)
        assert len(receipts(discord, "Payment received")) == 1


async def test_purchases_made_while_the_bot_was_away_are_credited_at_start(bot_factory, discord: FakeDiscord) -> None:
    first = discord.buy(ALEX, SMALL_SKU)
    second = discord.buy(ALEX, BIG_SKU)
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        await discord.wait_until(lambda: len(discord.consumed) == 2, what="both entitlements consumed")
        assert await balance_of(bot, ALEX) == 60
        assert {p.external_id for p in await payment_rows(bot)} == {first["id"], second["id"]}
        await discord.wait_until(lambda: len(receipts(discord, "Payment received")) == 2, what="two receipts")
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:  # the next start finds nothing new
        await slash(discord, ALEX, "credits")
        await discord.wait_for_text("You have 60 credits")
        assert await balance_of(bot, ALEX) == 60 and len(await payment_rows(bot)) == 2


async def test_a_purchase_credited_but_not_consumed_is_consumed_later_not_credited_again(bot_factory,
                                                                                      discord: FakeDiscord) -> None:
    entitlement = discord.buy(ALEX, SMALL_SKU)
    discord.fail_next(f"entitlements/{entitlement['id']}/consume", status=400)  # (a 5xx is retried by discord.py)
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        await discord.wait_until(lambda: len(receipts(discord, "Payment received")) == 1, what="a receipt")
        assert discord.consumed == [] and await balance_of(bot, ALEX) == 10
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        await discord.wait_until(lambda: discord.consumed == [int(entitlement["id"])], what="the entitlement consumed")
        assert await balance_of(bot, ALEX) == 10
        assert len(receipts(discord, "Payment received")) == 1


async def test_a_refund_takes_the_credits_back_once(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=1) as bot:
        entitlement = discord.buy(ALEX, SMALL_SKU)
        await discord.dispatch(entitlement, "ENTITLEMENT_CREATE")
        await discord.wait_for_text("you now have 11 credits")
        refunded = discord.refund(int(entitlement["id"]))
        await discord.dispatch(refunded, "ENTITLEMENT_DELETE")
        notice = await discord.wait_for_text("was refunded")
        assert "10 credits taken back; you have 1 credit" in notice.content
        await discord.dispatch(refunded, "ENTITLEMENT_DELETE")
        await slash(discord, ALEX, "credits")
        await discord.wait_for_text("You have 1 credit")
        assert await balance_of(bot, ALEX) == 1
        [row] = await payment_rows(bot)
        assert row.state == PaymentState.refunded and row.credits_taken_back == 10
        assert len(receipts(discord, "was refunded")) == 1


async def test_a_sku_no_pack_sells_is_left_unconsumed(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        stranger = discord.buy(ALEX, 1300000000000000099)
        await discord.dispatch(stranger, "ENTITLEMENT_CREATE")
        entitlement = discord.buy(ALEX, SMALL_SKU)  # the next event: the unknown one was handled before it
        await discord.dispatch(entitlement, "ENTITLEMENT_CREATE")
        await discord.wait_for_text("Payment received")
        assert discord.consumed == [int(entitlement["id"])]
        assert [p.external_id for p in await payment_rows(bot)] == [entitlement["id"]]


async def test_the_buy_button_under_credits_opens_the_store(bot_factory, discord: FakeDiscord) -> None:

    async with bot_factory(credit_packs=PACKS):
        await slash(discord, ALEX, "credits")
        balance = await discord.wait_for_text("You have")
        await press(discord, ALEX, balance, "Buy credits")
        picker = await discord.wait_for_text("Buy credits — pick a pack")
        assert [int(b["sku_id"]) for b in picker.buttons] == [SMALL_SKU, BIG_SKU]


async def test_selling_off_syncs_no_buy_command(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory():
        await slash(discord, ALEX, "credits")
        balance = await discord.wait_for_text("You have")
        assert balance.buttons == []
    assert "buy" not in {c["name"] for c in discord.commands["global"]}


async def test_a_purchase_of_a_sku_no_pack_sells_is_announced_to_the_buyer_and_the_admins_once(
        bot_factory, discord: FakeDiscord) -> None:
    admin = 777
    stranger = discord.buy(ALEX, 1300000000000000099)  # e.g. a pack taken out of the settings, still in the store
    async with bot_factory(credit_packs=PACKS, free_credits=0, admins=[f"discord:{admin}"],
                           payment_support="help@studio.example"):
        await slash(discord, ALEX, "start")
        await discord.wait_for_text("Hi Alex")
        await discord.dispatch(stranger, "ENTITLEMENT_CREATE")
        notice = await discord.wait_for_text("isn't a credit pack I sell", channel_id=discord.dm_channel_id(ALEX))
        assert stranger["id"] in notice.content and "added no credits" in notice.content
        assert "refund" in notice.content and "help@studio.example" in notice.content
        alert = await discord.wait_for_text("STUDIO_CREDIT_PACKS", channel_id=discord.dm_channel_id(admin))
        assert stranger["id"] in alert.content and f"discord:{ALEX}" in alert.content
        await discord.dispatch(stranger, "ENTITLEMENT_CREATE")  # delivered twice
        await slash(discord, ALEX, "credits")
        await discord.wait_for_text("You have 0 credits")
    async with bot_factory(credit_packs=PACKS, free_credits=0, admins=[f"discord:{admin}"]) as bot:  # a restart
        await bot.front_end.till.reconcile()  # (the start's own pass may still be under way)
        await slash(discord, ALEX, "credits")
        await discord.wait_until(lambda: len([m for m in discord.history if "You have 0 credits" in m.content]) == 2,
                                 what="the balance after the restart")
        assert discord.consumed == [] and await payment_rows(bot) == []
    assert len(receipts(discord, "isn't a credit pack I sell")) == 1
    assert len([m for m in discord.in_channel(discord.dm_channel_id(admin)) if "STUDIO_CREDIT_PACKS" in m.content]) == 1


async def test_a_buyer_whose_dms_are_closed_gets_the_receipt_with_their_next_command(bot_factory,
                                                                                   discord: FakeDiscord) -> None:
    discord.closed_dms.add(ALEX)
    async with bot_factory(credit_packs=PACKS, free_credits=3) as bot:
        entitlement = discord.buy(ALEX, SMALL_SKU)
        await discord.dispatch(entitlement, "ENTITLEMENT_CREATE")
        await discord.wait_until(lambda: int(entitlement["id"]) in discord.consumed, what="the entitlement consumed")
        await held_receipts(bot, count=1)  # the DM was refused: the receipt waits
        status = await slash(discord, ALEX, "status", guild=True)
        receipt = await discord.wait_for_text("Payment received")
        assert receipt.token == status["token"] and receipt.ephemeral  # only the buyer sees it, in the server
        assert "10 credits added; you now have 13 credits" in receipt.content and entitlement["id"] in receipt.content
        await discord.wait_for_text("Your status")
        again = await slash(discord, ALEX, "credits", guild=True)
        await discord.wait_for_text("You have 13 credits")
        assert not [m for m in discord.answers_to(again) if "Payment received" in m.content]  # shown once
        assert len([m for m in discord.history if "Payment received" in m.content]) == 1


async def test_a_receipt_held_for_closed_dms_survives_a_restart_and_goes_with_delete(bot_factory,
                                                                                   discord: FakeDiscord) -> None:
    """Before: the receipt waited in the bot's memory, and a restart before the buyer's next command
    lost it. Now it is held in the database until shown; /delete takes it with the rest."""
    discord.closed_dms.add(ALEX)
    async with bot_factory(credit_packs=PACKS, free_credits=3) as bot:
        first = discord.buy(ALEX, SMALL_SKU)
        await discord.dispatch(first, "ENTITLEMENT_CREATE")
        await held_receipts(bot, count=1)
    async with bot_factory(credit_packs=PACKS, free_credits=3) as bot:  # a restart
        status = await slash(discord, ALEX, "status", guild=True)
        receipt = await discord.wait_for_text("Payment received")
        assert receipt.token == status["token"] and receipt.ephemeral and first["id"] in receipt.content
        await held_receipts(bot, count=0)

        await slash(discord, ALEX, "delete", guild=True)
        confirm = await discord.wait_for_text("erases everything")
        second = discord.buy(ALEX, SMALL_SKU)  # bought while the confirmation waits: its receipt is held
        await discord.dispatch(second, "ENTITLEMENT_CREATE")
        await held_receipts(bot, count=1)
        await press(discord, ALEX, confirm, "Yes, delete", guild=True)
        await discord.wait_for_text("everything of yours is gone")
        await held_receipts(bot, count=0)  # nothing of the account is left, its receipts neither
    async with bot_factory(credit_packs=PACKS, free_credits=3):
        await slash(discord, ALEX, "start", guild=True)
        await discord.wait_for_text("Hi Alex")
    assert not [m for m in discord.history if second["id"] in m.content]


async def test_a_failing_read_of_held_receipts_costs_the_answer_nothing_and_the_receipt_comes_later(
        bot_factory, discord: FakeDiscord, monkeypatch) -> None:
    from db import held_notices

    discord.closed_dms.add(ALEX)
    async with bot_factory(credit_packs=PACKS, free_credits=3) as bot:
        purchase = discord.buy(ALEX, SMALL_SKU)
        await discord.dispatch(purchase, "ENTITLEMENT_CREATE")
        await held_receipts(bot, count=1)
        take = held_notices.take

        async def broken(*args, **kwargs):
            raise RuntimeError("database is locked")

        monkeypatch.setattr(held_notices, "take", broken)
        await slash(discord, ALEX, "status", guild=True)
        await discord.wait_for_text("Your status")  # the answer, not an apology
        assert not [m for m in discord.history if "went wrong" in m.content or "Payment received" in m.content]
        monkeypatch.setattr(held_notices, "take", take)
        credits_command = await slash(discord, ALEX, "credits", guild=True)
        receipt = await discord.wait_for_text("Payment received")  # still held: shown with the next one
        assert receipt.token == credits_command["token"] and purchase["id"] in receipt.content


async def test_a_notice_held_past_ninety_days_is_dropped(database) -> None:
    from datetime import timedelta

    from db import held_notices
    from db.models import utcnow

    async with database.transaction() as session:
        await held_notices.hold(session, "discord", "1", [{"text": "old", "buttons": []}])
        await held_notices.hold(session, "discord", "2", [{"text": "new", "buttons": []}])
    async with database.transaction() as session:
        assert await held_notices.holders(session, "discord", now=utcnow() + timedelta(days=91)) == set()
    async with database.transaction() as session:
        await held_notices.hold(session, "discord", "2", [{"text": "new", "buttons": []}])
        assert await held_notices.holders(session, "discord") == {"2"}
        assert await held_notices.take(session, "discord", "2") == [{"text": "new", "buttons": []}]


async def test_an_entitlement_of_another_application_is_not_credited(bot_factory, discord: FakeDiscord, caplog) -> None:
    """An entitlement is credited only when it is this application's (its SKU being a pack's is not
    enough): defence in depth, as Telegram's payments are checked against their invoice."""
    import logging

    from tests.support.discord_server import APPLICATION_ID

    caplog.set_level(logging.WARNING)
    foreign = discord.buy(ALEX, SMALL_SKU)
    foreign["application_id"] = str(APPLICATION_ID + 1)
    discord.entitlements[int(foreign["id"])]["application_id"] = foreign["application_id"]
    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        await bot.front_end.till.reconcile()  # the start-up pass lists it
        await discord.dispatch(foreign, "ENTITLEMENT_CREATE")
        ours = discord.buy(ALEX, SMALL_SKU)  # the next event: the foreign one was handled before it
        await discord.dispatch(ours, "ENTITLEMENT_CREATE")
        await discord.wait_for_text("Payment received")
        await slash(discord, ALEX, "credits")
        await discord.wait_for_text("You have 10 credits")
        assert await balance_of(bot, ALEX) == 10
        assert [p.external_id for p in await payment_rows(bot)] == [ours["id"]]
        assert discord.consumed == [int(ours["id"])]
        assert len(receipts(discord, "Payment received")) == 1
        assert any(foreign["id"] in r.getMessage() and "another application" in r.getMessage()
                   for r in caplog.records if r.levelno >= logging.WARNING)
