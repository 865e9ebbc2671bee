"""The whole product through Discord: selfies → personal model (tiny SDXL on the CPU, trained by
the real `studio worker` process) → a style → portraits in the channel, all deliveries long after
the interaction tokens died: once each interaction's immediate answers are in, the test expires
every token issued so far (Discord's 15 minutes), so whatever a job delivers later must go to the
channel by its stored ids, and any use of a dead token is a 401 the test fails on."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from db import credits
from db.models import Job, JobState
from tests.discord.conftest import running_bot
from tests.discord.helpers import agree, attach, press, slash
from tests.support.discord_server import FakeDiscord
from tests.support.selfies import obama_selfies, read
from tests.support.worker import studio_worker

ALEX = 501
SMALL_LIMIT = 32 * 1024  # a tight upload limit: the album is re-encoded, the originals split across messages
pytestmark = pytest.mark.slow


async def test_from_selfies_to_portraits_in_a_dm(tmp_path, discord: FakeDiscord) -> None:
    channel = discord.dm_channel_id(ALEX)
    async with running_bot(tmp_path, discord, free_credits=3) as bot:
        with studio_worker(bot.settings.data_dir):
            await agree(discord, ALEX)
            await slash(discord, ALEX, "upload", **attach(discord, obama_selfies(9) + [read("two_people.jpg")]))
            summary = await discord.wait_for_text("look great", timeout=120)
            assert summary.content.startswith("Got 10 photos — 9 look great ✅")
            await press(discord, ALEX, summary, "Train my model")
            await press(discord, ALEX, await discord.wait_for_text("Who is in the photos"), "A man")

            progress = await discord.wait_for_text("Learning your face")
            assert progress.via == "channel" and progress.channel_id == channel  # editable after the token dies
            assert not discord.dangling()  # the upload's, the presses' answers are all in: nothing more for their tokens
            discord.expire_tokens()  # Discord's 15 minutes pass while the model trains
            assert progress.button_labels == ["🛑 Cancel"]
            # "typing…" after the progress message (a message ends it): the first in the channel is a message
            for _ in range(100):
                if channel in discord.typing:
                    break
                await asyncio.sleep(0.05)
            typed = discord.calls.index(("POST", f"channels/{channel}/typing"))
            assert ("POST", f"channels/{channel}/messages") in discord.calls[:typed], discord.calls[:typed]
            # a free quick preview, marked as one, arrives while the model trains, the progress below it
            preview = await discord.wait_for(lambda m: m.files and m.via == "channel", timeout=300, what="the preview")
            assert preview.files[0]["description"] == "⚡ Quick preview · LinkedIn Headshot · 1 of 1"
            assert "quick preview of you" in preview.content or (
                await discord.wait_for_text("quick preview of you")).message_id >= preview.message_id
            below = await discord.wait_for(lambda m: "Learning your face" in m.content
                                           and m.message_id > preview.message_id, what="the progress below")
            ready = await discord.wait_for_text("Your model is ready", timeout=300)
            assert ready.via == "channel" and ready.message_id > below.message_id
            assert ready.button_labels[0] == "✨ LinkedIn Headshot with my model"
            old = [m for m in discord.edits if m.message_id == progress.message_id]
            assert old and old[-1].content.endswith("progress below ⬇️") and old[-1].buttons == []
            edits = [m for m in discord.edits if m.message_id == below.message_id]
            assert edits and edits[-1].content.endswith("100% ✅") and edits[-1].buttons == []
            assert any("%" in m.content and "▰" in m.content for m in old[:-1] + edits[:-1])

            generate = discord.command_payload(ALEX, "generate", style="linkedin-headshot", upload_limit=SMALL_LIMIT)
            discord.upload_limit = SMALL_LIMIT
            await discord.dispatch(generate)
            painting = await discord.wait_for_text("Painting 4 LinkedIn Headshot portraits")
            assert painting.via == "channel"
            placeholder = discord.placeholder_of(generate)
            assert placeholder is not None  # "thinking…": every answer went to the channel, so it is deleted
            await discord.wait_until(lambda: placeholder.message_id in discord.deleted, 30, "the placeholder's DELETE")
            discord.expire_tokens()  # and Discord's 15 minutes pass while the portraits are painted
            done = await discord.wait_for_text("Here you go", timeout=300)
            assert done.via == "channel" and "1 credit left" in done.content
            assert done.button_labels == ["⬇️ Full-resolution files", "🔁 More like this", "🎨 Another style"]
            album = [m for m in discord.in_channel(channel) if m.files and m.message_id <= done.message_id
                     and m.message_id > painting.message_id]
            assert sum(len(m.files) for m in album) == 4
            assert all(len(m.files) <= 10 and sum(len(f["data"]) for f in m.files) <= SMALL_LIMIT for m in album)
            assert album[0].files[0]["description"] == "LinkedIn Headshot · 1 of 4 · best match first"
            assert all(f["filename"].endswith(".jpg") for m in album for f in m.files)  # re-encoded to fit
            assert not [r for r in discord.refused if r[1] in (401, 413)]  # no expired token, nothing too large

            wanted = await press(discord, ALEX, done, "Full-resolution")
            await discord.wait_for(lambda m: sum(len(a.files) for a in discord.answers_to(wanted)) == 8, timeout=60,
                                   what="the eight originals (four portraits, two aspects)")
            originals = discord.answers_to(wanted)
            assert len(originals) >= 2 and all(sum(len(f["data"]) for f in m.files) <= SMALL_LIMIT for m in originals)
            files = [f for m in originals for f in m.files]
            assert [f["filename"] for f in files] == [f"portrait-3-{n}-{a}.jpg" for n in range(1, 5) for a in ("1x1", "4x5")]
            async with bot.services.database.transaction() as session:
                generated = await session.get(Job, 3)
                assert generated is not None
                keys = [image["key"] for image in sorted(generated.result["images"], key=lambda i: i.get("index", 0))]
            assert [f["data"] for f in files] == [await bot.services.storage.get(key) for key in keys]  # byte for byte
            async with bot.services.database.transaction() as session:
                jobs = list(await session.scalars(select(Job).order_by(Job.id)))
                assert [(j.kind, j.state) for j in jobs] == [
                    ("train", JobState.succeeded), ("preview", JobState.succeeded), ("generate", JobState.succeeded)]
                assert jobs[1].credits_reserved == 0  # the preview is free
                assert all(j.delivered_at is not None and j.reply_chat_id == str(channel) for j in jobs)
                user_id = jobs[0].user_id
                assert await credits.balance(session, user_id) == 1 == await credits.ledger_sum(session, user_id)

            # /delete takes back the messages that carry the portraits, and leaves no file behind
            await slash(discord, ALEX, "delete")
            confirm = await discord.wait_for_text("erases everything")
            await press(discord, ALEX, confirm, "Yes, delete")
            await discord.wait_for_text("everything of yours is gone")
            assert {m.message_id for m in album} | {preview.message_id} <= set(discord.deleted)
            data_dir = bot.settings.data_dir
            left = [p for p in data_dir.rglob("*") if p.is_file() and p.suffix in {".jpg", ".png", ".safetensors"}]
            assert left == []
