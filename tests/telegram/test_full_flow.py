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

            progress = await telegram.wait_for_text(ALEX, "Learning your face")
            assert progress.button_labels == ["🛑 Cancel"]
            ready = await telegram.wait_for_text(ALEX, "Your model is ready", timeout=300)
            edits = [m.text for m in telegram.edits if m.message_id == progress.message_id]
            assert edits and edits[-1].endswith("100% ✅")  # one progress message, edited to its final state
            assert any("%" in text and "▰" in text for text in edits[:-1])
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
                f"portrait-2-{n}-{aspect}.jpg" for n in range(1, 5) for aspect in ("1x1", "4x5")]
            squares = [item["data"] for item in files.media if "-1x1." in item["filename"]]
            assert squares == [item["data"] for item in album.media]
            async with bot.services.database.transaction() as session:
                jobs = list(await session.scalars(select(Job).order_by(Job.id)))
                assert [(j.kind, j.state) for j in jobs] == [("train", JobState.succeeded), ("generate", JobState.succeeded)]
                assert all(j.delivered_at is not None for j in jobs)
                user_id = jobs[0].user_id
                assert await credits.balance(session, user_id) == 1 == await credits.ledger_sum(session, user_id)

            await telegram.press(ALEX, done, "More like this")  # the same style again, as a new batch
            await telegram.wait_for(lambda m: "Painting 4 LinkedIn Headshot" in m.text and m.message_id > done.message_id,
                                    what="a second batch")
            async with bot.services.database.transaction() as session:
                again = await session.get(Job, 3)
                assert again is not None and again.payload["style_id"] == "linkedin-headshot"
                assert again.payload["seed"] != jobs[1].payload["seed"]  # more like this, not the same again
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
