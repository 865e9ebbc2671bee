"""The bot in a Telegram group: selfies, portraits and balances are no one else's business, so the
conversation happens only in the user's private chat with the bot. In a group it answers its own
commands with a way there, and nothing else: no account is made, no photo kept, no button acts."""

from __future__ import annotations

from sqlalchemy import func, select

from db.models import Photo, User
from tests.support.selfies import obama_selfies
from tests.support.telegram_server import BOT_USERNAME, Sent
from tests.telegram.conftest import agree

ALEX, SAM = 501, 502
FRIENDS = -1001234567890


async def test_a_command_in_a_group_points_to_the_private_chat_and_starts_nothing(bot_factory) -> None:
    async with bot_factory(free_credits=3) as bot:
        telegram = bot.telegram
        await telegram.send_text(ALEX, "/start", group=FRIENDS)
        pointer = await telegram.wait_for_text(FRIENDS, "private chat")
        assert "Hi Alex" not in pointer.text and "credits" not in pointer.text  # no greeting with a balance
        button = pointer.buttons[0][0]
        assert button["url"] == f"https://t.me/{BOT_USERNAME}?start=group" and "callback_data" not in button
        await telegram.send_text(SAM, f"/styles@{BOT_USERNAME}", group=FRIENDS)
        await telegram.wait_for(lambda m: m.chat_id == FRIENDS and "private chat" in m.text
                                and m.message_id > pointer.message_id, what="the pointer for Sam")
        async with bot.services.database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(User)) == 0

        await telegram.send_text(ALEX, "/start group")  # the button's deep link opens the private chat
        welcome = await telegram.wait_for_text(ALEX, "Hi Alex")
        assert "3 credits" in welcome.text


async def test_photos_text_and_other_bots_commands_in_a_group_get_no_answer(bot_factory) -> None:
    async with bot_factory() as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)  # Alex uses the bot in private too: nothing of the group reaches it
        for data in obama_selfies(2):
            await telegram.send_photo(ALEX, data, group=FRIENDS)
        await telegram.send_text(ALEX, "look at these", group=FRIENDS)
        await telegram.send_text(ALEX, "/roll@dice_bot", group=FRIENDS)
        await telegram.send_text(ALEX, "/help", group=FRIENDS)  # answered last: everything before it was handled
        await telegram.wait_for_text(FRIENDS, "private chat")
        await bot.settled(ALEX)
        assert len(telegram.sent_to(FRIENDS)) == 1  # only the pointer
        async with bot.services.database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Photo)) == 0


async def test_a_button_on_a_group_message_acts_for_no_one(bot_factory) -> None:
    """A message with buttons posted in a group by an older version of the bot: any member could press
    them. The press is answered (no spinning button) with the way to the private chat, and the buttons stay."""
    async with bot_factory() as bot:
        telegram = bot.telegram
        old = Sent("sendMessage", FRIENDS, 999_001, text="Erase everything?",
                   buttons=[[{"text": "Yes, delete", "callback_data": "delete:1"}]])
        telegram.messages[old.message_id] = old
        await telegram.press(SAM, old, "Yes, delete")
        await bot.settled(SAM)
        answer = telegram.callback_answers[-1]
        assert answer.get("show_alert") and "private chat" in answer["text"]
        assert old.buttons and telegram.sent_to(FRIENDS) == []
        assert not any(method == "editMessageReplyMarkup" for method, _ in telegram.calls)


async def test_the_group_command_menu_has_only_the_way_to_the_private_chat(bot_factory) -> None:
    async with bot_factory() as bot:
        await bot.settled(ALEX)
        assert [c["command"] for c in bot.telegram.commands_by_scope["all_group_chats"]] == ["start"]
        assert {"styles", "delete", "privacy"} <= {c["command"] for c in bot.telegram.commands}


async def test_an_invoice_paid_in_a_group_is_credited_and_its_receipt_goes_to_the_private_chat(bot_factory) -> None:
    """An invoice an older version posted in a group can still be paid there: the credits are the
    buyer's all the same, and the receipt, which names their balance, is for them alone."""
    from tests.telegram.test_payments import PACKS, balance_of, open_invoice

    async with bot_factory(credit_packs=PACKS, free_credits=3) as bot:
        telegram = bot.telegram
        invoice = await open_invoice(telegram)
        query_id = await telegram.pre_checkout(ALEX, invoice)
        assert (await telegram.checkout_answer(query_id))["ok"]
        await telegram.deliver_payment(ALEX, telegram.successful_payment(query_id), group=FRIENDS)
        receipt = await telegram.wait_for_text(ALEX, "Payment received")
        assert "you now have 13 credits" in receipt.text
        assert await balance_of(bot, ALEX) == 13
        assert telegram.sent_to(FRIENDS) == []
