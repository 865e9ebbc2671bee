"""An answer to every message (issue 24): whatever a person sends the bot in a private chat — a
location, a contact, a poll, a dice, a venue, a story, a game, or a kind of message Telegram adds
after this bot's library was written — gets one short answer saying what the bot expects now.
What has its own answer (photos, files, text, commands, stickers, payments) gets that one alone,
service messages get none, and a group still hears nothing but the way to the private chat."""

from __future__ import annotations

import logging

from tests.support.selfies import obama_selfies
from tests.telegram.conftest import agree
from tests.telegram.test_commands import give_ready_model

ALEX = 501
ADMIN = 900
FRIENDS = -1001234567890
EXPECTING = "I was expecting photos"
LOCATION = {"latitude": 52.5200, "longitude": 13.4050}
PHONE = "+49 30 1234567"

#: every kind of message Telegram lets a person send that the bot has no use for, as Telegram sends it
#: (``hologram``: a field python-telegram-bot does not know, as when Telegram adds a kind of message)
ODD_MESSAGES: dict[str, dict] = {
    "location": {"location": LOCATION},
    "contact": {"contact": {"phone_number": PHONE, "first_name": "Sam", "user_id": 502}},
    "poll": {"poll": {"id": "poll-1", "question": "Which style?", "total_voter_count": 0, "is_closed": False,
                      "is_anonymous": True, "type": "regular", "allows_multiple_answers": False,
                      "allows_revoting": False, "members_only": False,
                      "options": [{"text": "Gym", "voter_count": 0, "persistent_id": "o1"},
                                  {"text": "Ghibli", "voter_count": 0, "persistent_id": "o2"}]}},
    "dice": {"dice": {"emoji": "🎲", "value": 4}},
    "venue": {"venue": {"location": LOCATION, "title": "Brandenburger Tor", "address": "Pariser Platz"},
              "location": LOCATION},
    "story": {"story": {"chat": {"id": 502, "type": "private", "first_name": "Sam"}, "id": 7}},
    "game": {"game": {"title": "Tetris", "description": "Blocks",
                      "photo": [{"file_id": "g1", "file_unique_id": "g1", "width": 64, "height": 64}]}},
    "hologram": {"hologram": {"id": "h-1", "depth": 3}},
}


async def test_every_kind_of_message_gets_one_answer_saying_what_is_expected(bot_factory, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot.telegram.app")
    async with bot_factory() as bot:
        telegram = bot.telegram
        for fields in ODD_MESSAGES.values():
            await telegram.send_message(ALEX, **fields)
        await bot.settled(ALEX)  # each of Alex's updates is handled in order: every answer is here
        answers = [text for text in telegram.texts_to(ALEX) if "Here's what I can do" not in text]
        assert len(answers) == len(ODD_MESSAGES) and len(set(answers)) == 1  # one each, the same
        assert answers[0].startswith(EXPECTING) and "selfies" in answers[0]
        noted = [r.getMessage() for r in caplog.records if r.name == "bot.telegram.app" and r.levelno == logging.INFO
                 and "answered with what I expect" in r.getMessage()]
        assert len(noted) == len(ODD_MESSAGES)  # one line per message, naming its kind and nothing of it
        for line, kind in zip(noted, ODD_MESSAGES):
            assert f"a {kind} message" in line and f"telegram:{ALEX}" in line
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert PHONE not in logged and "Brandenburger" not in logged and "Which style" not in logged


async def test_voice_audio_video_notes_live_photos_and_animations_get_their_own_answer_once(bot_factory) -> None:
    async with bot_factory() as bot:
        telegram = bot.telegram
        media = {"file_id": "m-1", "file_unique_id": "m1", "duration": 2}
        await telegram.send_message(ALEX, voice=media)
        await telegram.send_message(ALEX, audio=media)
        await telegram.send_message(ALEX, video_note=media | {"length": 240})
        await telegram.send_message(ALEX, live_photo=media | {"width": 1080, "height": 1440})
        animation = media | {"width": 320, "height": 240, "file_name": "dance.gif"}
        await telegram.send_message(ALEX, animation=animation, document=media | {"file_name": "dance.gif"})
        await bot.settled(ALEX)
        answers = [text for text in telegram.texts_to(ALEX) if "Here's what I can do" not in text]
        assert len(answers) == 5 and not any(EXPECTING in text for text in answers)
        assert sum("audio or voice" in text for text in answers) == 2
        assert sum("can't learn from videos" in text for text in answers) == 2
        assert sum("That's an animation" in text for text in answers) == 1


async def test_with_a_model_ready_the_answer_is_the_styles(bot_factory) -> None:
    async with bot_factory() as bot:
        telegram = bot.telegram
        await telegram.send_text(ALEX, "/start")
        await telegram.wait_for_text(ALEX, "Hi Alex")
        await give_ready_model(bot, ALEX)
        await telegram.send_message(ALEX, **ODD_MESSAGES["location"])
        picker = await telegram.wait_for_text(ALEX, "Your model is ready")
        assert "Pick a style" in picker.text and "Gym" in " ".join(picker.button_labels)


async def test_a_photo_a_text_and_a_command_still_get_only_their_own_answer(bot_factory) -> None:
    async with bot_factory() as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        await telegram.send_photo(ALEX, obama_selfies(1)[0])
        await telegram.send_text(ALEX, "hello?")
        await telegram.send_text(ALEX, "/credits")
        await telegram.send_text(ALEX, "/foo")
        await bot.settled(ALEX)
        texts = telegram.texts_to(ALEX)
        assert sum("Got your photo" in text for text in texts) == 1
        assert sum(EXPECTING in text for text in texts) == 1  # the text's own answer, nothing for the photo
        assert sum("💳 You have 3 credits" in text for text in texts) == 1
        assert sum("I don't know /foo" in text for text in texts) == 1


async def test_payments_and_service_messages_get_no_second_answer(bot_factory) -> None:
    async with bot_factory(credit_packs="small:10:250", free_credits=2, admins=f"telegram:{ADMIN}") as bot:
        telegram = bot.telegram
        await telegram.send_text(ALEX, "/buy")
        await telegram.wait_for(lambda m: bool(telegram.invoices_to(ALEX)), what="the invoice")
        payment = await telegram.pay(ALEX, telegram.invoices_to(ALEX)[0])
        await telegram.wait_for_text(ALEX, "Payment received")
        await telegram.send_text(ADMIN, f"/refund {payment['telegram_payment_charge_id']}")
        await telegram.wait_for_text(ADMIN, "Refunded")  # Telegram's refunded_payment notice follows in Alex's chat
        pinned = {"message_id": 1, "date": 0, "chat": {"id": ALEX, "type": "private", "first_name": "Alex"}, "text": "hi"}
        await telegram.send_message(ALEX, pinned_message=pinned)  # Alex pins a message
        await telegram.send_message(ALEX, write_access_allowed={"from_request": True})  # Alex let the bot write first
        await telegram.send_message(ALEX, web_app_data={"data": "{}", "button_text": "Open"})
        await bot.settled(ALEX)
        texts = telegram.texts_to(ALEX)
        assert sum("Payment received" in text for text in texts) == 1
        assert not any(EXPECTING in text for text in texts)


async def test_in_a_group_an_odd_message_gets_no_answer(bot_factory) -> None:
    async with bot_factory() as bot:
        telegram = bot.telegram
        for fields in ODD_MESSAGES.values():
            await telegram.send_message(ALEX, group=FRIENDS, **fields)
        await telegram.send_text(ALEX, "/help", group=FRIENDS)  # answered last: everything before it was handled
        await telegram.wait_for_text(FRIENDS, "private chat")
        assert len(telegram.sent_to(FRIENDS)) == 1  # only the way to the private chat
