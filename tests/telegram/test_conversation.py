"""The Telegram bot end to end: the real python-telegram-bot Application against a fake Bot
API server on 127.0.0.1, the real conversation core, database, storage and photo checks."""

from __future__ import annotations

import asyncio
import re
import logging

import pytest
from sqlalchemy import func, select

from db.models import Photo, User
from tests.support.selfies import obama_selfies, read
from tests.support.telegram_server import FakeTelegram
from tests.telegram.conftest import agree, running_webhook_bot

ALEX = 501


async def test_start_explains_the_product_and_registers_commands(bot_factory) -> None:
    async with bot_factory(free_credits=3) as bot:
        await bot.telegram.send_text(ALEX, "/start")
        welcome = await bot.telegram.wait_for_text(ALEX, "Hi Alex")
        assert "3 credits" in welcome.text and "/privacy" in welcome.text and "/delete" in welcome.text
        assert welcome.button_labels == ["📸 How to take good selfies", "🎨 See styles"]
        await bot.telegram.press(ALEX, welcome, "See styles")
        picker = await bot.telegram.wait_for_text(ALEX, "Pick a style")
        assert [label.split(" ", 1)[1] for label in picker.button_labels] == [
            "Professional", "Instagram", "Dating", "Gym", "Art", "Looks"]
        await bot.telegram.press(ALEX, picker, "Gym")
        gym = await bot.telegram.wait_for_text(ALEX, "Gym — pick one")
        assert len(gym.button_labels) == 5 and gym.button_labels[-1] == "« Back"
        assert {c["command"] for c in bot.telegram.commands} >= {"start", "styles", "status", "credits", "cancel",
                                                                  "delete", "help", "privacy"}
        assert bot.telegram.callback_answers  # every button press is answered (no spinning button)


async def test_an_album_gets_one_summary_with_every_rejection(bot_factory) -> None:
    photos = obama_selfies(8) + [read("two_people.jpg"), read("biden.jpg")]
    async with bot_factory() as bot:
        await agree(bot.telegram, ALEX)
        for data in photos:
            await bot.telegram.send_photo(ALEX, data, media_group_id="album-1")
        for _ in range(2):  # an album may mix in videos: explained once
            await bot.telegram.send_video(ALEX, media_group_id="album-1")
        summary = await bot.telegram.wait_for_text(ALEX, "look great", timeout=60)
        assert summary.text.startswith("Got 10 photos — 8 look great ✅")
        assert "✖ Photo 9: There is more than one person in this photo" in summary.text
        assert "✖ Photo 10: This person doesn't look like the one in your other photos" in summary.text
        assert "ready to train" in summary.text
        assert summary.button_labels == ["🚀 Train my model", "➕ Add more photos"]
        await bot.settled(ALEX)  # every photo handled, nothing left to answer: a second summary would be here
        assert sum("look great" in t for t in bot.telegram.texts_to(ALEX)) == 1  # one answer per album
        assert sum("can't learn from videos" in t for t in bot.telegram.texts_to(ALEX)) == 1
        async with bot.services.database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Photo).where(Photo.accepted)) == 8


async def test_the_chat_shows_typing_while_an_album_is_checked(bot_factory) -> None:
    """"typing…" went out just before "📥 Got 4 photos — checking them all…", and a message clears it:
    the chat showed nothing while the photos were checked. It goes after that message now."""
    async with bot_factory() as bot:
        await agree(bot.telegram, ALEX)
        for data in obama_selfies(4):
            await bot.telegram.send_photo(ALEX, data, media_group_id="album-1")
        await bot.telegram.wait_for_text(ALEX, "look great", timeout=60)
        said = [(method, params.get("text") or params.get("action")) for method, params in bot.telegram.calls
                if method in ("sendMessage", "sendChatAction") and str(params.get("chat_id")) == str(ALEX)]
        got = next(i for i, (_, text) in enumerate(said) if text and text.startswith("📥 Got 4 photos"))
        assert said[got + 1] == ("sendChatAction", "typing"), said[got - 1:]
        assert "look great" in said[got + 2][1]


async def test_a_bad_file_is_explained(bot_factory) -> None:
    async with bot_factory() as bot:
        await agree(bot.telegram, ALEX)
        await bot.telegram.send_document(ALEX, b"this is not a photo", "selfie.jpg")
        reply = await bot.telegram.wait_for_text(ALEX, "Got your photo")
        assert "isn't a photo" in reply.text
        await bot.telegram.send_photo(ALEX, read("obama_small.jpg"))
        assert "too small" in (await bot.telegram.wait_for_text(ALEX, "✖ This photo is too small")).text


async def test_stickers_videos_text_and_huge_files_get_helpful_answers(bot_factory) -> None:
    async with bot_factory() as bot:
        await bot.telegram.send_sticker(ALEX)
        await bot.telegram.wait_for_text(ALEX, "Cute sticker")
        await bot.telegram.send_video(ALEX)
        await bot.telegram.wait_for_text(ALEX, "can't learn from videos")
        await bot.telegram.send_text(ALEX, "hello?")
        await bot.telegram.wait_for_text(ALEX, "I was expecting photos")
        await bot.telegram.send_document(ALEX, b"x", "huge.jpg", file_size=22_000_000)  # Telegram's servers refuse it
        await bot.telegram.wait_for_text(ALEX, "larger than the 20 MB")
        await bot.telegram.send_document(ALEX, b"x", "huger.jpg", file_size=26_000_000)  # over this install's 25 MB
        await bot.telegram.wait_for_text(ALEX, "larger than the 25 MB")


async def test_a_file_over_this_installs_limit_is_refused_with_that_limit_before_any_download(bot_factory) -> None:
    """With a limit below Telegram's 20 MB, a file between the two is not downloaded (to be refused
    vaguely after); the refusal names the limit that holds."""
    from dataclasses import replace

    from tests.telegram.conftest import TEST_INTAKE

    async with bot_factory(intake=replace(TEST_INTAKE, max_file_bytes=10_000_000)) as bot:
        await agree(bot.telegram, ALEX)
        await bot.telegram.send_document(ALEX, b"x", "big.jpg", file_size=15_000_000)
        await bot.telegram.wait_for_text(ALEX, "larger than the 10 MB I can download")
        assert not any(method == "getFile" for method, _ in bot.telegram.calls)


async def test_out_of_credits_is_refused_politely(bot_factory) -> None:
    async with bot_factory(free_credits=0) as bot:
        await agree(bot.telegram, ALEX)
        for data in obama_selfies(8):
            await bot.telegram.send_photo(ALEX, data, media_group_id="a")
        summary = await bot.telegram.wait_for_text(ALEX, "ready to train", timeout=60)
        await bot.telegram.press(ALEX, summary, "Train my model")
        refusal = await bot.telegram.wait_for_text(ALEX, "out of credits")
        assert "needs 1 credit and you have 0 credits" in refusal.text


async def test_an_unknown_command_says_so_and_shows_the_help(bot_factory) -> None:
    async with bot_factory() as bot:
        await bot.telegram.send_text(ALEX, "/foo")
        answer = await bot.telegram.wait_for_text(ALEX, "I don't know /foo")
        assert "Here's what I can do" in answer.text and "/styles" in answer.text


async def test_an_edited_message_is_not_a_new_request(bot_factory) -> None:
    async with bot_factory() as bot:
        await bot.telegram.send_text(ALEX, "/credits")
        await bot.telegram.wait_for_text(ALEX, "You have 3 credits")
        await bot.telegram.edit_text(ALEX, 1, "/credits")  # the user edits old messages
        await bot.telegram.edit_text(ALEX, 2, "hello there")
        await bot.settled(ALEX)
        texts = bot.telegram.texts_to(ALEX)
        assert sum("You have 3 credits" in t for t in texts) == 1 and not any("expecting photos" in t for t in texts)
        polls = [params for method, params in bot.telegram.calls if method == "getUpdates"]
        assert polls and all(params.get("allowed_updates") == ["message", "callback_query"] for params in polls)


async def test_rate_limit(bot_factory, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot.core.studio")
    async with bot_factory(commands_per_minute=3) as bot:
        for _ in range(6):
            await bot.telegram.send_text(ALEX, "/help")
        await bot.telegram.wait_for_text(ALEX, "that's fast")
        # The fourth to sixth are refused; the user is told once, not once per message of the flood.
        for _ in range(600):
            if sum("rate limited telegram:" in r.getMessage() for r in caplog.records) == 3:
                break
            await asyncio.sleep(0.05)
        texts = bot.telegram.texts_to(ALEX)
        assert sum("that's fast" in t for t in texts) == 1 and sum("/styles" in t for t in texts) == 3
        assert sum("rate limited telegram:" in r.getMessage() for r in caplog.records) == 3
        told = next(t for t in texts if "that's fast" in t)
        assert re.search(r"Please wait \d+ s and try again", told)  # how long, not "a few seconds"


async def test_selfies_sent_one_by_one_are_not_a_flood(bot_factory) -> None:
    """Twenty selfies sent one at a time counted as twenty commands: the last ones were dropped
    without a word and the user's later /status went unanswered."""
    async with bot_factory(commands_per_minute=5, photos_per_minute=12) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        selfies = obama_selfies(12) + obama_selfies(2)  # the last two again: answered as duplicates
        for data in selfies[:10]:
            await telegram.send_photo(ALEX, data)
        await bot.settled(ALEX)
        assert sum("Got your photo" in t for t in telegram.texts_to(ALEX)) == 10
        for data in selfies[10:]:  # 14 in a minute: past the photo allowance, and told so, with when
            await telegram.send_photo(ALEX, data)
        refusal = await telegram.wait_for_text(ALEX, "That's a lot of photos at once")
        assert re.search(r"In \d+ s, send again the photos I haven't answered", refusal.text)
        await telegram.wait_for(lambda m: sum("Got your photo" in t for t in telegram.texts_to(ALEX)) == 12,
                                what="the 11th and 12th photos answered")
        await telegram.send_text(ALEX, "/status")  # commands are still answered
        await telegram.wait_for_text(ALEX, "Your status")


async def test_delete_leaves_nothing_behind(bot_factory) -> None:
    async with bot_factory() as bot:
        await agree(bot.telegram, ALEX)
        for data in obama_selfies(3):
            await bot.telegram.send_photo(ALEX, data, media_group_id="a")
        await bot.telegram.wait_for_text(ALEX, "look great", timeout=60)
        storage_root = bot.settings.resolved_storage_dir
        assert any(p.is_file() for p in storage_root.rglob("*"))
        await bot.telegram.send_text(ALEX, "/delete")
        confirm = await bot.telegram.wait_for_text(ALEX, "erases everything")
        await bot.telegram.press(ALEX, confirm, "Yes, delete")
        await bot.telegram.wait_for_text(ALEX, "everything of yours is gone")
        assert bot.telegram.messages[confirm.message_id].buttons == []  # answered: "Yes" can't be pressed twice
        assert not any(p.is_file() for p in storage_root.rglob("*"))
        async with bot.services.database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(User)) == 0
            assert await session.scalar(select(func.count()).select_from(Photo)) == 0


async def test_flood_control_is_retried_not_lost(bot_factory) -> None:
    async with bot_factory() as bot:
        bot.telegram.fail_once("sendMessage", retry_after=1)  # Telegram's 429 "Too Many Requests"
        await bot.telegram.send_text(ALEX, "/help")
        await bot.telegram.wait_for_text(ALEX, "Here's what I can do", timeout=20)
        assert [m for m, _ in bot.telegram.calls].count("sendMessage") == 2


async def test_webhook_mode(tmp_path, telegram: FakeTelegram) -> None:
    import aiohttp

    async with running_webhook_bot(tmp_path, telegram, telegram_webhook_url="https://bot.example.test/") as bot:
        # running_webhook_bot returns once the webhook server listens (it has set the webhook before).
        assert bot.telegram.webhook["url"] == "https://bot.example.test/telegram"
        secret = bot.telegram.webhook["secret_token"]
        update = {"update_id": 1, "message": {
            "message_id": 1, "date": 0, "chat": {"id": ALEX, "type": "private", "first_name": "Alex"},
            "from": {"id": ALEX, "is_bot": False, "first_name": "Alex"}, "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{bot.settings.telegram_webhook_port}/telegram"
            async with session.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as refused:
                assert refused.status == 403
            async with session.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as accepted:
                assert accepted.status == 200
        await bot.telegram.wait_for_text(ALEX, "Here's what I can do")
        assert not any(method == "getUpdates" for method, _ in bot.telegram.calls)


async def test_a_taken_webhook_port_stops_start_up_with_that_error_and_the_bot_stopped(
    tmp_path, telegram: FakeTelegram
) -> None:
    import errno
    import socket

    from tests.telegram.conftest import PortTaken, running_bot

    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortTaken) as raised:
            async with running_bot(tmp_path, telegram, telegram_webhook_url="https://bot.example.test/",
                                   telegram_webhook_port=port):
                pytest.fail("the bot came up on a port that is taken")
    # the address-in-use error itself, not PTB's "This Application is still running!" on the way out
    cause = raised.value.__cause__
    assert isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE
