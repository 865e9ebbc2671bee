"""The whole product through Telegram: selfies → personal model (tiny SDXL on the CPU, trained by
the real `studio worker` process) → a style → the album, and a bot restart mid-job."""

from __future__ import annotations


import pytest
from sqlalchemy import select

from db import credits
from db.models import Job, JobState
from tests.support.selfies import obama_selfies, read
from tests.support.telegram_server import FakeTelegram
from tests.support.worker import studio_worker
from tests.telegram.conftest import agree, running_bot

ALEX = 501
pytestmark = pytest.mark.slow


async def send_selfies(telegram: FakeTelegram) -> None:
    for data in obama_selfies(9) + [read("two_people.jpg")]:
        await telegram.send_photo(ALEX, data, media_group_id="selfies")


async def test_from_start_to_album(tmp_path, telegram: FakeTelegram) -> None:
    async with running_bot(tmp_path, telegram, free_credits=3) as bot:
        with studio_worker(bot.settings.data_dir):
            await telegram.send_text(ALEX, "/start")
            await telegram.wait_for_text(ALEX, "Hi Alex")
            consent = await telegram.wait_for_text(ALEX, "Before your first photo")
            assert "are of you" in consent.text and "18 or older" in consent.text
            await telegram.press(ALEX, consent, "I confirm")
            await telegram.wait_for_text(ALEX, "Thank you!")
            await send_selfies(telegram)
            summary = await telegram.wait_for_text(ALEX, "look great", timeout=90)
            assert summary.text.startswith("Got 10 photos — 9 look great ✅")
            await telegram.press(ALEX, summary, "Train my model")
            await telegram.press(ALEX, await telegram.wait_for_text(ALEX, "Who is in the photos"), "A man")

            first_progress = await telegram.wait_for_text(ALEX, "Learning your face")
            assert first_progress.button_labels == ["🛑 Cancel"]
            # While the model trains, a free quick preview in the first style, marked as one ...
            preview = await telegram.wait_for(lambda m: m.chat_id == ALEX and m.media and m.media[0]["type"] == "photo",
                                              timeout=300, what="the preview")
            assert preview.media[0]["caption"] == "⚡ Quick preview · LinkedIn Headshot · 1 of 1"
            said = await telegram.wait_for_text(ALEX, "quick preview of you")
            assert "free" in said.text and "look much more like you" in said.text and not said.buttons
            # ... with the training's progress moved below it (the old message says so, without buttons)
            progress = await telegram.wait_for(lambda m: m.chat_id == ALEX and "Learning your face" in m.text
                                               and m.message_id > said.message_id, what="the progress below")
            assert progress.button_labels == ["🛑 Cancel"]
            ready = await telegram.wait_for_text(ALEX, "Your model is ready", timeout=300)
            assert ready.message_id > progress.message_id > preview.message_id
            assert "look much more like you than the quick preview" in ready.text
            assert ready.button_labels[0] == "✨ LinkedIn Headshot with my model"
            old = [m for m in telegram.edits if m.message_id == first_progress.message_id]
            assert old and old[-1].text.endswith("progress below ⬇️") and not old[-1].buttons
            edits = [m.text for m in telegram.edits if m.message_id == progress.message_id]
            assert edits and edits[-1].endswith("100% ✅")  # the progress message, edited to its final state
            assert any("%" in text and "▰" in text for text in [m.text for m in old[:-1]] + edits[:-1])
            assert ("%d" % ALEX, "typing") in [(str(c), a) for c, a in telegram.chat_actions]

            await telegram.press(ALEX, ready, "Professional")
            await telegram.press(ALEX, await telegram.wait_for_text(ALEX, "Professional — pick one"), "LinkedIn")
            await telegram.wait_for_text(ALEX, "Painting 4 LinkedIn Headshot portraits")
            album = await telegram.wait_for(lambda m: m.method == "sendMediaGroup" and m.chat_id == ALEX, timeout=300,
                                            what="the album")
            assert len(album.media) == 4 and all(item["type"] == "photo" and item["data"] for item in album.media)
            assert album.media[0]["caption"] == "LinkedIn Headshot · 1 of 4 · best match first"
            done = await telegram.wait_for_text(ALEX, "Here you go")
            assert done.button_labels == ["⬇️ Full-resolution files", "🔁 More like this", "🎨 Another style"]
            assert "1 credit left" in done.text

            await telegram.press(ALEX, done, "Full-resolution")
            files = await telegram.wait_for(lambda m: m.chat_id == ALEX and m.media and m.media[0]["type"] == "document",
                                            timeout=30, what="the original files")
            # Every portrait in each of the style's aspects (LinkedIn: square and 4:5), as files, uncompressed.
            assert [item["filename"] for item in files.media] == [
                f"portrait-3-{n}-{aspect}.jpg" for n in range(1, 5) for aspect in ("1x1", "4x5")]
            squares = [item["data"] for item in files.media if "-1x1." in item["filename"]]
            assert squares == [item["data"] for item in album.media]
            async with bot.services.database.transaction() as session:
                jobs = list(await session.scalars(select(Job).order_by(Job.id)))
                assert [(j.kind, j.state) for j in jobs] == [
                    ("train", JobState.succeeded), ("preview", JobState.succeeded), ("generate", JobState.succeeded)]
                assert all(j.delivered_at is not None for j in jobs)
                assert jobs[1].credits_reserved == 0  # the preview is free
                user_id = jobs[0].user_id
                assert await credits.balance(session, user_id) == 1 == await credits.ledger_sum(session, user_id)

            await telegram.press(ALEX, done, "More like this")  # the same style again, as a new batch
            await telegram.wait_for(lambda m: "Painting 4 LinkedIn Headshot" in m.text and m.message_id > done.message_id,
                                    what="a second batch")
            async with bot.services.database.transaction() as session:
                again = await session.get(Job, 4)
                assert again is not None and again.payload["style_id"] == "linkedin-headshot"
                assert again.payload["seed"] != jobs[2].payload["seed"]  # more like this, not the same again
                assert await credits.balance(session, user_id) == 0


async def test_a_bot_restart_while_training_still_delivers_once(tmp_path, telegram: FakeTelegram) -> None:
    async with running_bot(tmp_path, telegram) as bot:
        await agree(telegram, ALEX)
        await send_selfies(telegram)
        summary = await telegram.wait_for_text(ALEX, "look great", timeout=90)
        await telegram.press(ALEX, summary, "Train my model")
        await telegram.press(ALEX, await telegram.wait_for_text(ALEX, "Who is in the photos"), "A woman")
        await telegram.wait_for_text(ALEX, "Learning your face")
        data_dir = bot.settings.data_dir
    # The bot is down; the worker trains meanwhile and the job finishes with nobody to tell.
    with studio_worker(data_dir):
        async with running_bot(tmp_path, telegram) as restarted:
            await telegram.wait_for_text(ALEX, "Your model is ready", timeout=300)
            await restarted.watcher_ticks(8)  # eight more chances to deliver again: no second delivery
            assert sum("Your model is ready" in t for t in telegram.texts_to(ALEX)) == 1
            async with restarted.services.database.transaction() as session:
                job = await session.scalar(select(Job))
                assert job is not None and job.delivered_at is not None
