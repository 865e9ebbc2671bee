"""An answer to everything a Discord user sends that the slash commands can't take (issue 24): a
direct message to the bot — a text, a selfie attached to a message, a sticker, a poll, an embed, a
forward, a kind of message discord.py does not know — is told what the bot takes (``/upload``),
or, once a model paints, shown the styles; a command the bot no longer has says so. The bot never
answers its own messages, a pin or another bot."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from tests.discord.helpers import slash
from tests.discord.test_conversation import give_ready_model
from tests.support.discord_server import APPLICATION_ID, DIRECT_MESSAGES, FakeDiscord, user_json
from tests.support.selfies import obama_selfies

ALEX = 601
CLIPPY = 602
SECRET = "my secret plans"


def odd_messages(discord: FakeDiscord) -> dict[str, dict]:
    """What a person may send the bot in a DM, by the kind the bot logs, with Discord's fields."""
    expiry = (datetime.now(UTC) + timedelta(hours=24)).isoformat()
    return {
        "text": {"content": SECRET},
        "image": {"attachments": [discord.add_attachment(obama_selfies(1)[0], "selfie.jpg")]},
        "sticker": {"sticker_items": [{"id": "749054660769218631", "name": "Wave", "format_type": 1}]},
        "poll": {"poll": {"question": {"text": "Which style?"}, "expiry": expiry, "allow_multiselect": False,
                          "layout_type": 1, "answers": [{"answer_id": 1, "poll_media": {"text": "Gym"}},
                                                        {"answer_id": 2, "poll_media": {"text": "Ghibli"}}]}},
        "embed": {"embeds": [{"type": "rich", "title": "Look at this", "description": SECRET}]},
        "audio": {"attachments": [discord.add_attachment(b"OggS...", "voice-message.ogg", "audio/ogg")], "flags": 8192},
        "file": {"attachments": [discord.add_attachment(b"%PDF-1.4", "cv.pdf", "application/pdf")]},
        "forward": {"message_reference": {"type": 1, "channel_id": "930000000000000999", "message_id": "1"},
                    "message_snapshots": [{"message": {"type": 0, "content": SECRET, "embeds": [], "attachments": [],
                                                       "timestamp": datetime.now(UTC).isoformat(), "flags": 0,
                                                       "edited_timestamp": None, "mentions": [], "mention_roles": []}}]},
        "unknown": {"hologram": {"id": "h-1", "depth": 3}},  # a kind of message discord.py does not know
    }


def dm_answers(discord: FakeDiscord, user_id: int) -> list:
    return [m for m in discord.in_channel(discord.dm_channel_id(user_id)) if m.via == "channel"]


async def test_every_direct_message_gets_one_answer_saying_what_the_bot_takes(bot_factory, discord: FakeDiscord,
                                                                             caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot.discord.app")
    async with bot_factory():
        sent = odd_messages(discord)
        for fields in sent.values():
            await discord.dispatch(discord.direct_message(ALEX, **fields), "MESSAGE_CREATE")
        await discord.wait_until(lambda: len(dm_answers(discord, ALEX)) >= len(sent), what="an answer to each message",
                                 details=lambda: f"; answers: {[m.content for m in dm_answers(discord, ALEX)]}")
        await asyncio.sleep(0.5)  # the answers are the bot's own DMs, which reach it too: none is answered
        answers = dm_answers(discord, ALEX)
        assert len(answers) == len(sent) and len({m.content for m in answers}) == 1
        assert "/upload" in answers[0].content and "/help" in answers[0].content
        noted = [r.getMessage() for r in caplog.records if "told them what I take" in r.getMessage()]
        assert len(noted) == len(sent)
        for line, kind in zip(noted, sent):
            assert f"discord:{ALEX} sent a direct message ({kind})" in line
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert SECRET not in logged and "Which style" not in logged and "selfie.jpg" not in logged


async def test_with_a_model_ready_a_direct_message_is_answered_with_the_styles(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory() as bot:
        await slash(discord, ALEX, "start")
        await discord.wait_for_text("Hi")
        await give_ready_model(bot, ALEX)
        await discord.dispatch(discord.direct_message(ALEX, "paint me"), "MESSAGE_CREATE")
        picker = await discord.wait_for_text("Your model is ready", via="channel")
        assert "Pick a style" in picker.content and any("Gym" in label for label in picker.button_labels)


async def test_a_pin_another_bot_and_the_bot_itself_get_no_answer(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory():
        await discord.dispatch(discord.direct_message(ALEX, type_=6), "MESSAGE_CREATE")  # Alex pinned a message
        clippy = user_json(CLIPPY, "Clippy") | {"bot": True}
        await discord.dispatch(discord.direct_message(ALEX, "beep", author=clippy), "MESSAGE_CREATE")
        me = user_json(APPLICATION_ID, "Portrait Studio") | {"bot": True}
        await discord.dispatch(discord.direct_message(ALEX, "an old answer", author=me), "MESSAGE_CREATE")
        await discord.dispatch(discord.direct_message(ALEX, "hello?"), "MESSAGE_CREATE")  # answered last
        await discord.wait_until(lambda: bool(dm_answers(discord, ALEX)), what="the answer to the last message")
        await asyncio.sleep(0.5)
        assert len(dm_answers(discord, ALEX)) == 1


async def test_the_bot_asks_for_direct_messages_and_no_privileged_intent(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory():
        [intents] = discord.intents.values()
    assert intents & DIRECT_MESSAGES
    assert not intents & (1 << 1 | 1 << 8 | 1 << 15)  # members, presences, message content: privileged
    assert not intents & (1 << 9)  # a server's messages are none of its business


async def test_a_command_the_bot_no_longer_has_says_so_and_shows_the_help(bot_factory, discord: FakeDiscord,
                                                                         caplog) -> None:
    """A client that still shows a command from an earlier sync (say /buy after selling stopped)."""
    async with bot_factory():
        command = await slash(discord, ALEX, "paint")
        await discord.wait_until(lambda: any(m.content for m in discord.answers_to(command)), what="an answer")
        [answer] = [m for m in discord.answers_to(command) if m.content]
        assert answer.content.startswith("I don't know /paint")
        assert "`/upload`" in answer.content and "went wrong" not in answer.content
        assert discord.dangling() == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_flood_of_direct_messages_is_told_to_slow_down_once(bot_factory, discord: FakeDiscord) -> None:
    """Before: Discord answers every refusal past the rate limit (an interaction left unanswered shows
    "thinking…"), and a DM took that rule too: ten DMs past the limit got ten "too fast" replies."""
    async with bot_factory(commands_per_minute=2):
        for number in range(12):
            await discord.dispatch(discord.direct_message(ALEX, f"hello {number}"), "MESSAGE_CREATE")
        await discord.wait_until(lambda: len(dm_answers(discord, ALEX)) >= 3, what="the answers and one refusal")
        await asyncio.sleep(0.5)
        answers = [m.content for m in dm_answers(discord, ALEX)]
        assert len(answers) == 3 and sum("/upload" in a for a in answers) == 2, answers
