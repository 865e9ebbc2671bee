"""The upload window (a modal with a file picker) is answered whenever it is submitted: after a
restart of the bot, after a long time open, from several users at once; a window the bot can't
serve any more is answered with what to do, never with silence."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.discord.conftest import running_bot
from tests.discord.helpers import agree, press, slash
from tests.support.discord_server import FakeDiscord
from tests.support.selfies import obama_selfies

ALEX = 501
BEA = 502


async def agree_as(discord: FakeDiscord, user_id: int) -> None:
    """``agree`` for a second user: their own consent request, not the first one in the history."""
    start = await slash(discord, user_id, "start")
    request = await discord.wait_for(lambda m: m.token == start["token"] and "Before your first photo" in m.content)
    pressed = await press(discord, user_id, request, "I confirm")
    await discord.wait_for(lambda m: m.token == pressed["token"] and "Thank you!" in m.content)


async def test_upload_window_submitted_after_a_restart_is_served(tmp_path: Path, discord: FakeDiscord) -> None:
    async with running_bot(tmp_path, discord):
        await agree(discord, ALEX)
        command = await slash(discord, ALEX, "upload")
        window = await discord.wait_for_callback(command)
        assert window.type == 9
    # the bot restarts (a deploy, a crash) while Alex picks their selfies; then Alex presses Submit
    async with running_bot(tmp_path, discord):
        photos = [discord.add_attachment(data, f"s{n}.jpg") for n, data in enumerate(obama_selfies(8), 1)]
        submit = discord.modal_submit_payload(ALEX, window, photos)
        await discord.dispatch(submit)
        assert (await discord.wait_for_callback(submit)).type == 5  # answered within the 3 seconds
        summary = await discord.wait_for_text("look great", timeout=60)
        assert summary.content.startswith("Got 8 photos — 8 look great ✅")
        assert summary.token == submit["token"]
        status = await slash(discord, ALEX, "status")
        await discord.wait_for_text("Photos: 8 good of 8 sent", timeout=30)
        assert discord.answers_to(status)
        assert not discord.dangling()


async def test_every_open_upload_window_works_after_another_was_submitted(tmp_path: Path,
                                                                              discord: FakeDiscord) -> None:
    """One window serves every user: Alex's submit must not close Bea's window, nor his next one."""
    async with running_bot(tmp_path, discord):
        await agree_as(discord, ALEX)
        await agree_as(discord, BEA)
        windows = {}
        for user in (ALEX, BEA):
            windows[user] = await discord.wait_for_callback(await slash(discord, user, "upload"))
        photos = obama_selfies(4)
        alex = discord.modal_submit_payload(ALEX, windows[ALEX], [discord.add_attachment(p, "a.jpg") for p in photos[:3]])
        bea = discord.modal_submit_payload(BEA, windows[BEA], [discord.add_attachment(photos[3], "b.jpg")])
        await discord.dispatch(alex)
        await discord.wait_until(lambda: any("look great" in m.content for m in discord.answers_to(alex)), 60,
                                 "Alex's verdicts")
        await discord.dispatch(bea)  # Bea's window, opened before Alex submitted his, still works
        await discord.wait_until(lambda: any("looks great" in m.content for m in discord.answers_to(bea)), 60,
                                 "Bea's verdict")
        assert any(m.content.startswith("Got 3 photos — 3 look great ✅") for m in discord.answers_to(alex))
        assert any("1 of 8 good photos so far" in m.content for m in discord.answers_to(bea))
        reopened = await discord.wait_for_callback(await slash(discord, ALEX, "upload"))  # a second window
        again = discord.modal_submit_payload(ALEX, reopened, [discord.add_attachment(photos[3], "c.jpg")])
        await discord.dispatch(again)
        await discord.wait_until(lambda: any("4 of 8 good photos so far" in m.content for m in discord.answers_to(again)),
                                 60, "Alex's second verdict")


async def test_a_window_the_bot_cannot_serve_is_answered_with_what_to_do(tmp_path: Path, discord: FakeDiscord) -> None:
    """A window opened by an older version of the bot (its id unknown now): the user is told their
    photos did not arrive and to open /upload again, instead of "This interaction failed"."""
    async with running_bot(tmp_path, discord):
        await agree(discord, ALEX)
        window = await discord.wait_for_callback(await slash(discord, ALEX, "upload"))
        old = replace(window, data=window.data | {"custom_id": "5f2b9c0e41d7a3b86c1e0f9a2d4b7c31"})
        photos = [discord.add_attachment(data, f"s{n}.jpg") for n, data in enumerate(obama_selfies(2), 1)]
        submit = discord.modal_submit_payload(ALEX, old, photos, guild=True)
        await discord.dispatch(submit)
        answer = await discord.wait_for(lambda m: m.token == submit["token"] and "upload window has expired" in m.content,
                                        what="an answer to the submit")
        assert "2 photos" in answer.content and "/upload" in answer.content
        assert answer.ephemeral  # in a server, only Alex sees it
        assert not discord.dangling()
