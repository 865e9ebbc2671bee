"""The Discord bot end to end without the engine: the real discord.py client (gateway, command
tree, DynamicItem buttons, modal) against the fake Discord, with the real core, database,
storage and photo checks."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from db.models import CreditState, Job, JobState, LoraModel, LoraStatus, Photo, User
from tests.discord.helpers import agree, attach, press, slash
from tests.support.discord_server import (
    DEFAULT_UPLOAD_LIMIT, GUILD_CHANNEL_ID, GUILD_THREAD_ID, FakeDiscord, user_json,
)
from tests.support.selfies import obama_selfies, read
from tests.support.accounts import account_of

ALEX = 501
EVERY_PERMISSION = 2251799813685247
BEA = 502


async def test_upload_window_in_a_server_gives_private_verdicts(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory():
        await agree(discord, ALEX, guild=True)
        command = await slash(discord, ALEX, "upload", guild=True)
        window = await discord.wait_for_callback(command)
        assert window.type == 9  # a modal is the first response: nothing deferred before it
        label = window.data["components"][0]
        assert label["type"] == 18 and label["component"]["type"] == 19
        assert (label["component"]["min_values"], label["component"]["max_values"]) == (1, 10)

        photos = [discord.add_attachment(data, f"s{n}.jpg") for n, data in enumerate(obama_selfies(8), 1)]
        photos.append(discord.add_attachment(read("two_people.jpg"), "party.jpg"))
        submit = discord.modal_submit_payload(ALEX, window, photos, guild=True)
        await discord.dispatch(submit)
        assert (await discord.wait_for_callback(submit)).type == 5  # deferred within the 3 seconds
        summary = await discord.wait_for_text("look great", timeout=60)
        assert summary.content.startswith("Got 9 photos — 8 look great ✅")
        assert "✖ party.jpg: There is more than one person in this photo" in summary.content  # named as sent
        assert summary.ephemeral and summary.token == submit["token"]  # only Alex sees the verdicts
        assert summary.button_labels == ["🚀 Train my model", "➕ Add more photos"]
        assert summary.button("Train")["custom_id"] == "studio:train"
        assert not discord.in_channel(GUILD_CHANNEL_ID) or all(m.ephemeral for m in discord.in_channel(GUILD_CHANNEL_ID))

        more = await press(discord, ALEX, summary, "Add more photos", guild=True)
        assert (await discord.wait_for_callback(more)).type == 9  # "Add more" opens the upload window again


async def test_attachments_on_the_slash_command_in_a_dm(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory() as bot:
        await agree(discord, ALEX)
        photos = obama_selfies(3) + [read("biden.jpg")]
        options = attach(discord, photos)
        options["photo5"] = discord.add_attachment(b"GIF89a...", "dance.gif", "image/gif")
        command = await slash(discord, ALEX, "upload", **options)
        assert (await discord.wait_for_callback(command)).type == 5
        await discord.wait_for_text("That's an animation")
        summary = await discord.wait_for_text("look great", timeout=60)
        assert summary.content.startswith("Got 4 photos — 3 look great ✅")
        assert "doesn't look like the one in your other photos" in summary.content
        assert "3 of 8 good photos so far — send 5 more" in summary.content
        assert not summary.ephemeral  # a DM is private already
        status = await slash(discord, ALEX, "status")
        await discord.wait_for_text("Photos: 3 good of 4 sent", timeout=30)
        assert discord.answers_to(status)
        async with bot.services.database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Photo).where(Photo.accepted)) == 3


async def test_out_of_credits_is_refused_politely(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory(free_credits=0):
        await agree(discord, ALEX, guild=True)
        await slash(discord, ALEX, "upload", guild=True, **attach(discord, obama_selfies(8)))
        summary = await discord.wait_for_text("ready to train", timeout=60)
        await press(discord, ALEX, summary, "Train my model", guild=True)
        refusal = await discord.wait_for_text("out of credits")
        assert "needs 1 credit and you have 0 credits" in refusal.content and refusal.ephemeral
        await slash(discord, ALEX, "generate", guild=True, style="linkedin-headshot")
        await discord.wait_for_text("First I need to learn your face")
        await slash(discord, ALEX, "credits", guild=True)
        balance = await discord.wait_for_text("You have 0 credits")
        assert balance.ephemeral


async def test_buttons_keep_working_after_a_restart(tmp_path, discord: FakeDiscord) -> None:
    from tests.discord.conftest import running_bot

    async with running_bot(tmp_path, discord):
        await slash(discord, ALEX, "styles")
        picker = await discord.wait_for_text("Pick a style")
        assert [label.split(" ", 1)[1] for label in picker.button_labels] == [
            "Professional", "Instagram", "Dating", "Gym", "Art", "Looks"]
    async with running_bot(tmp_path, discord):  # a new process: no view was ever registered for that message
        pressed = await press(discord, ALEX, picker, "Gym")
        assert (await discord.wait_for_callback(pressed)).type == 6  # acknowledged (deferred update)
        gym = await discord.wait_for_text("Gym — pick one")
        assert len(gym.button_labels) == 5 and gym.button_labels[-1] == "« Back"
        assert all(b["custom_id"].startswith("studio:style:") for b in gym.buttons[:-1])


async def test_styles_and_generate_autocomplete(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory():
        asked = discord.autocomplete_payload(ALEX, "generate", "style", "linked")
        await discord.dispatch(asked)
        choices = (await discord.wait_for_callback(asked)).data["choices"]
        assert choices == [{"name": "👔 LinkedIn Headshot", "value": "linkedin-headshot"}]
        everything = discord.autocomplete_payload(ALEX, "generate", "style", "")
        await discord.dispatch(everything)
        assert 1 < len((await discord.wait_for_callback(everything)).data["choices"]) <= 25
        await slash(discord, ALEX, "styles", category="gym")
        await discord.wait_for_text("Gym — pick one")


async def test_delete_leaves_nothing_behind(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory() as bot:
        await agree(discord, ALEX, guild=True)
        await slash(discord, ALEX, "upload", guild=True, **attach(discord, obama_selfies(3)))
        await discord.wait_for_text("look great", timeout=60)
        storage_root = bot.settings.resolved_storage_dir
        assert any(p.is_file() for p in storage_root.rglob("*"))
        await slash(discord, ALEX, "delete", guild=True)
        confirm = await discord.wait_for_text("erases everything")
        assert confirm.ephemeral and confirm.button("Yes, delete")["style"] == 4  # red
        pressed = await press(discord, ALEX, confirm, "Yes, delete", guild=True)
        done = await discord.wait_for_text("everything of yours is gone")
        assert done.ephemeral
        assert (await discord.wait_for_callback(pressed)).type == 7 and confirm.buttons == []  # answered, buttons gone
        assert not any(p.is_file() for p in storage_root.rglob("*"))
        async with bot.services.database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(User)) == 0
            assert await session.scalar(select(func.count()).select_from(Photo)) == 0


async def test_a_double_tap_on_yes_deletes_once_and_both_taps_hear_the_truth(bot_factory, discord: FakeDiscord) -> None:
    """A double click on "Yes, delete everything" (both taps reach the bot before its buttons go): one
    deletion runs, and both taps are told everything is gone, never "some files could not be removed"."""
    from bot.core.replies import Reply
    from db.models import PostedMessage

    async with bot_factory() as bot:
        await agree(discord, ALEX, guild=True)
        await slash(discord, ALEX, "upload", guild=True, **attach(discord, obama_selfies(3)))
        await discord.wait_for_text("look great", timeout=60)
        portraits = await bot.front_end.messenger.send(str(GUILD_CHANNEL_ID), Reply("Here you go!"))
        async with bot.services.database.transaction() as session:
            alex = await session.scalar(select(User))
            session.add(PostedMessage(user_id=alex.id, platform="discord", chat_id=str(GUILD_CHANNEL_ID),
                                      message_id=str(portraits)))
        studio = bot.front_end.studio
        retract, delete_user = studio.seam("discord").retract, bot.services.storage.delete_user
        deletions: list[int] = []

        async def slow_retract(chat_id: str, message_id: str) -> None:  # taking messages back takes a moment
            await asyncio.sleep(0.5)
            await retract(chat_id, message_id)

        async def counted_delete(user_id: int) -> int:
            deletions.append(user_id)
            return await delete_user(user_id)

        studio.seam("discord").retract = slow_retract
        bot.services.storage.delete_user = counted_delete  # type: ignore[method-assign]
        await slash(discord, ALEX, "delete", guild=True)
        confirm = await discord.wait_for_text("erases everything")
        taps = [discord.press_payload(ALEX, confirm, "Yes, delete", guild=True) for _ in range(2)]
        for tap in taps:
            await discord.dispatch(tap)
        await discord.wait_until(lambda: all(discord.answers_to(tap) for tap in taps), 30, "an answer to both taps")
        answers = [m.content for tap in taps for m in discord.answers_to(tap)]
        assert answers == ["🗑 Done — everything of yours is gone. Send /start whenever you want to begin again."] * 2
        assert discord.deleted.count(int(portraits)) == 1  # taken back once, not tried again (a 404)
        assert not [path for path, status, _ in discord.refused if "messages" in path]
        assert len(deletions) == 1  # one deletion ran; the second tap waited for it
        assert not any(p.is_file() for p in bot.settings.resolved_storage_dir.rglob("*"))


async def finished_portraits(bot) -> str:
    """The only user's finished portrait job (one portrait, stored): its button reference."""
    from bot.core.job_refs import job_ref
    from db.models import JobKind

    async with bot.services.database.transaction() as session:
        user = await session.scalar(select(User))
        key = f"users/{user.id}/outputs/1/0.jpg"
        job = Job(user_id=user.id, kind=JobKind.generate, state=JobState.succeeded, correlation_id="ab" * 16,
                  payload={"style_id": "linkedin-headshot"}, result={"images": [{"key": key, "index": 0}]})
        session.add(job)
        await session.flush()
        ref = job_ref(job)
    await bot.services.storage.put(key, obama_selfies(1)[0])
    return ref


async def test_delete_takes_back_the_full_resolution_files_sent_only_to_the_user(bot_factory, discord: FakeDiscord) -> None:
    """In a server the "Full-resolution files" answer is ephemeral: Discord keeps it out of the channel,
    so only its interaction token (15 minutes) can delete it; /delete does, like the portraits' album."""
    from bot.core import texts
    from bot.core.replies import Button, Reply

    async with bot_factory() as bot:
        await agree(discord, ALEX, guild=True)
        ref = await finished_portraits(bot)
        await bot.front_end.messenger.send(str(GUILD_CHANNEL_ID), Reply("Here you go!", (
            (Button(texts.BUTTON_FILES, f"files:{ref}"),),)))
        album = await discord.wait_for_text("Here you go!")
        pressed = await press(discord, ALEX, album, "Full-resolution files", guild=True)
        await discord.wait_until(lambda: any(m.files for m in discord.answers_to(pressed)), 30, "the files")
        (files,) = [m for m in discord.answers_to(pressed) if m.files]
        assert files.ephemeral and files.via == "followup"

        await slash(discord, ALEX, "delete", guild=True)
        confirm = await discord.wait_for_text("erases everything")
        await press(discord, ALEX, confirm, "Yes, delete", guild=True)
        await discord.wait_for_text("everything of yours is gone")
        assert files.message_id in discord.deleted and files not in discord.history


async def test_delete_takes_back_the_full_resolution_files_in_a_dm_also_after_15_minutes(bot_factory,
                                                                                         discord: FakeDiscord) -> None:
    """In a DM the "Full-resolution files" answer is an ordinary message of the bot's: /delete takes it
    back through the channel, also once its interaction token has died."""
    from bot.core import texts
    from bot.core.replies import Button, Reply

    async with bot_factory() as bot:
        await agree(discord, ALEX)
        ref = await finished_portraits(bot)
        dm = discord.dm_channel_id(ALEX)
        await bot.front_end.messenger.send(str(dm), Reply("Here you go!", ((Button(texts.BUTTON_FILES, f"files:{ref}"),),)))
        pressed = await press(discord, ALEX, await discord.wait_for_text("Here you go!"), "Full-resolution files")
        await discord.wait_until(lambda: any(m.files for m in discord.answers_to(pressed)), 30, "the files")
        (files,) = [m for m in discord.answers_to(pressed) if m.files]
        assert not files.ephemeral and files.channel_id == dm
        discord.expire_tokens()  # Discord's 15 minutes pass

        await slash(discord, ALEX, "delete")
        await press(discord, ALEX, await discord.wait_for_text("erases everything"), "Yes, delete")
        await discord.wait_for_text("everything of yours is gone")
        assert files.message_id in discord.deleted


async def test_admin_grant_and_help(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory(admins=[f"discord:{ALEX}"]):
        await slash(discord, ALEX, "grant", credits=5, user=user_json(777, "Sam"))
        granted = await discord.wait_for_text("Granted 5 credits to discord:777")
        assert "their balance is 8" in granted.content
        await slash(discord, 778, "grant", credits=5, account="telegram:42")
        await discord.wait_for_text("That command is for admins")
        await slash(discord, ALEX, "help")
        assert "/upload" in (await discord.wait_for_text("Here's what I can do")).content


async def test_a_429_is_waited_out(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory():
        discord.fail_next("webhooks/", retry_after=0.3)
        await slash(discord, ALEX, "privacy")
        await discord.wait_for_text("Privacy", timeout=30)
        assert [status for _, status, _ in discord.refused] == [429]
        privacy = (await discord.wait_for_text("Privacy")).content
        # on Discord /delete takes the bot's portrait messages back; a server channel is not private
        assert "/delete also takes back the messages in which I sent you portraits" in privacy
        assert "stay in this chat" not in privacy and "Nothing is shared" not in privacy
        assert "In a server channel or a group, everyone there sees the progress and portraits" in privacy


async def give_ready_model(bot, discord_user_id: int) -> None:
    """A user whose personal model is trained (as the worker leaves it)."""
    user = await account_of(bot, "discord", discord_user_id)
    async with bot.services.database.transaction() as session:
        session.add(LoraModel(user_id=user.id, base_model="tiny", token="ohwx", class_word="man",
                              status=LoraStatus.ready, storage_key=f"users/{user.id}/loras/1.safetensors"))


async def test_in_a_server_progress_and_results_name_whose_they_are(bot_factory, discord: FakeDiscord) -> None:
    """Everyone in a channel sees every member's progress and results: each names its owner (a mention),
    results notify the owner and no one else, progress names them without a notification; a DM is as before."""
    from db.models import JobKind, utcnow

    async with bot_factory() as bot:
        await slash(discord, ALEX, "start", guild=True)
        await discord.wait_for_text("Hi")
        await give_ready_model(bot, ALEX)
        await slash(discord, ALEX, "generate", guild=True, style="linkedin-headshot")
        progress = await discord.wait_for_text("Painting 4 LinkedIn Headshot portraits")
        assert progress.via == "channel" and progress.channel_id == GUILD_CHANNEL_ID
        assert progress.content.startswith(f"<@{ALEX}> 🎨 Painting 4 LinkedIn Headshot portraits…")
        assert progress.allowed_mentions is not None and not progress.allowed_mentions.get("users")  # no ping
        assert "everyone" not in progress.allowed_mentions["parse"]

        async with bot.services.database.transaction() as session:  # a training of Alex's ends in the channel
            alex = await session.scalar(select(User))
            session.add(Job(user_id=alex.id, kind=JobKind.train, state=JobState.succeeded, correlation_id="cd" * 16,
                            payload={}, result={}, reply_platform="discord", reply_chat_id=str(GUILD_CHANNEL_ID),
                            finished_at=utcnow()))
        ready = await discord.wait_for_text("Your model is ready", timeout=30)
        assert ready.channel_id == GUILD_CHANNEL_ID and ready.content.startswith(f"<@{ALEX}> ✨ Your model is ready!")
        mentions = ready.allowed_mentions
        assert mentions is not None and mentions["parse"] == [] and [str(u) for u in mentions["users"]] == [str(ALEX)]

        await slash(discord, ALEX, "generate", style="linkedin-headshot")  # in his DM: nobody else to tell apart
        mine = await discord.wait_for(lambda m: "Painting" in m.content and m.channel_id == discord.dm_channel_id(ALEX),
                                      what="the progress in the DM")
        assert mine.content.startswith("🎨 Painting")


async def test_results_in_a_server_channel_keep_the_balance_to_the_owner(bot_factory, discord: FakeDiscord) -> None:
    """Portraits delivered in a channel say "Here you go!" to their owner without the balance everyone
    there would read; in the owner's DM the balance is there as before."""
    from db.models import JobKind, utcnow

    async with bot_factory() as bot:
        await agree(discord, ALEX, guild=True)
        async with bot.services.database.transaction() as session:
            alex = await session.scalar(select(User))
            for number, chat in enumerate((GUILD_CHANNEL_ID, discord.dm_channel_id(ALEX)), start=1):
                key = f"users/{alex.id}/outputs/{number}/0.jpg"
                await bot.services.storage.put(key, obama_selfies(1)[0])
                session.add(Job(user_id=alex.id, kind=JobKind.generate, state=JobState.succeeded,
                                correlation_id=f"{number:02d}" * 16, payload={"style_id": "linkedin-headshot"},
                                result={"images": [{"key": key, "index": 0}]}, reply_platform="discord",
                                reply_chat_id=str(chat), finished_at=utcnow()))
        public = await discord.wait_for(lambda m: m.channel_id == GUILD_CHANNEL_ID and "Here you go" in m.content,
                                        timeout=30, what="the portraits in the channel")
        assert public.content == f"<@{ALEX}> Here you go!" and "credit" not in public.content
        private = await discord.wait_for(lambda m: m.channel_id == discord.dm_channel_id(ALEX) and "Here you go" in m.content,
                                         timeout=30, what="the portraits in the DM")
        assert private.content == "Here you go! 3 credits left on your balance."


async def test_the_placeholder_never_dangles(bot_factory, discord: FakeDiscord) -> None:
    """The "thinking…" response goes away: the first answer is written into it (an edit of
    ``@original``), and when every answer goes to the channel (a progress message) it is deleted."""
    async with bot_factory() as bot:
        cancel = await slash(discord, ALEX, "cancel", guild=True)
        assert (await discord.wait_for_callback(cancel)).type == 5
        answer = await discord.wait_for_text("Nothing is running")
        assert answer is discord.placeholder_of(cancel) and answer.ephemeral  # the answer took the placeholder's place

        await give_ready_model(bot, ALEX)
        generate = await slash(discord, ALEX, "generate", style="linkedin-headshot")  # in a DM
        assert (await discord.wait_for_callback(generate)).type == 5
        placeholder = discord.placeholder_of(generate)
        assert placeholder is not None
        progress = await discord.wait_for_text("Painting 4 LinkedIn Headshot portraits")
        assert progress.via == "channel" and progress.channel_id != GUILD_CHANNEL_ID
        await discord.wait_until(lambda: placeholder.message_id in discord.deleted, 30,
                                 "the generate command's \"thinking…\" to be deleted")
        assert all(m is not placeholder for m in discord.history) and not discord.dangling()

        # in a server channel the progress is public and the "thinking…" becomes the private word
        # that everyone there sees the job
        generate = await slash(discord, ALEX, "generate", guild=True, style="dating-profile")
        assert (await discord.wait_for_callback(generate)).type == 5
        placeholder = discord.placeholder_of(generate)
        progress = await discord.wait_for(lambda m: m.via == "channel" and m.channel_id == GUILD_CHANNEL_ID
                                          and "Painting" in m.content, what="the progress in the channel")
        assert not progress.ephemeral
        notice = await discord.wait_for_text("Everyone in this channel sees")
        assert notice is placeholder and notice.ephemeral and not discord.dangling()


async def test_training_in_a_server_shows_progress_in_the_channel_and_cancels(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory() as bot:
        await agree(discord, ALEX, guild=True)
        await slash(discord, ALEX, "upload", guild=True, **attach(discord, obama_selfies(8)))
        summary = await discord.wait_for_text("ready to train", timeout=60)
        await slash(discord, ALEX, "train", guild=True)
        who = await discord.wait_for_text("Who is in the photos")
        assert who.ephemeral and who.button_labels == ["👨 A man", "👩 A woman", "🧑 Prefer not to say"]
        await press(discord, ALEX, who, "A woman", guild=True)
        progress = await discord.wait_for_text("Learning your face")
        assert progress.via == "channel" and progress.channel_id == GUILD_CHANNEL_ID and not progress.ephemeral
        told = await discord.wait_for_text("Everyone in this channel sees")  # before their portraits are posted
        assert told.ephemeral and "talk to me in a DM" in told.content
        await press(discord, ALEX, summary, "Train my model", guild=True)  # a second try while it waits
        assert (await discord.wait_for_text("already learning your face")).ephemeral
        await press(discord, BEA, progress, "Cancel", guild=True)  # the progress message is public
        refusal = await discord.wait_for_text("someone else's job")
        assert refusal.ephemeral and refusal.content == (
            "That's someone else's job — only they can stop it. /status shows what is running for you.")
        assert not any("already finished" in m.content for m in discord.history)  # it has not
        async with bot.services.database.transaction() as session:
            # Alex's training goes on (with its preview)
            assert list(await session.scalars(select(Job.kind).where(Job.state == JobState.queued))) == ["train", "preview"]
            assert list(await session.scalars(select(Job.state).where(Job.kind == "train"))) == [JobState.queued]
        cancel = await press(discord, ALEX, progress, "Cancel", guild=True)
        stopped = await discord.wait_for(lambda m: m.message_id == progress.message_id and "Stopped" in m.content,
                                         timeout=15, what="the progress message edited to its final state")
        assert stopped.buttons == [] and "Your 1 credit went back to your balance" in stopped.content
        assert (await discord.wait_for_callback(cancel)).type == 6


async def test_an_unexpected_error_gets_an_id(bot_factory, discord: FakeDiscord, caplog) -> None:
    async with bot_factory():
        broken = discord.add_attachment(b"", "gone.jpg")
        broken["url"] = broken["url"].replace("/cdn/", "/cdn/missing-")
        await agree(discord, ALEX, guild=True)
        await slash(discord, ALEX, "upload", guild=True, photo=broken)
        apology = await discord.wait_for_text("Something went wrong on my side")
        assert apology.ephemeral and not discord.dangling()  # the apology took the "thinking…" message's place
        error_id = apology.content.rsplit("error id ", 1)[1].rstrip(")")
        assert any(getattr(r, "error_id", None) == error_id for r in caplog.records)


async def test_without_the_gateway_payloads_can_be_fed_directly(tmp_path, discord: FakeDiscord) -> None:
    import asyncio as aio

    from bot.core.studio import Studio
    from bot.discord.app import DiscordFrontEnd
    from bot.core.services import open_services
    from config.settings import Settings
    from tests.discord.conftest import TEST_INTAKE, TOKEN

    settings = Settings(_env_file=None, data_dir=tmp_path / "data", discord_token=TOKEN)  # type: ignore[call-arg]
    services = await open_services(settings)
    front_end = DiscordFrontEnd(settings, Studio(services, intake_config=TEST_INTAKE), api_base_url=discord.api_base_url,
                                connect_gateway=False)
    stop = aio.Event()
    task = aio.create_task(front_end.run(stop))
    task.add_done_callback(lambda _: aio.ensure_future(discord.poke()))
    try:
        await discord.wait_until(lambda: task.done() or "global" in discord.commands, 60, "the command sync")
        assert not task.done(), task
        payload = discord.command_payload(ALEX, "credits")
        discord.sent(payload)  # its 3 seconds start now
        await front_end.feed(payload)
        await discord.wait_for_text("You have 3 credits")
    finally:
        stop.set()
        await aio.wait_for(task, 30)
        await services.close()


@pytest.mark.parametrize("where", ["user-installed", "thread"])
async def test_where_the_bot_cannot_post_progress_goes_to_the_dm(bot_factory, discord: FakeDiscord, where: str) -> None:
    if where == "thread":  # every permission but SEND_MESSAGES_IN_THREADS, which threads need
        context = {"thread": True, "app_permissions": str(EVERY_PERMISSION & ~(1 << 38))}
    else:  # e.g. only user-installed in this server
        context = {"app_permissions": "0"}
    async with bot_factory() as bot:
        await agree(discord, ALEX, guild=True)
        await slash(discord, ALEX, "upload", guild=True, **attach(discord, obama_selfies(8)))
        summary = await discord.wait_for_text("ready to train", timeout=60)
        await press(discord, ALEX, summary, "Train my model", guild=True)
        who = await discord.wait_for_text("Who is in the photos")
        nitro = 500 * 1024 * 1024  # the user's own upload limit, which the bot does not share
        chosen = discord.press_payload(ALEX, who, "A man", guild=True, upload_limit=nitro, **context)
        await discord.dispatch(chosen)
        progress = await discord.wait_for_text("Learning your face")
        dm = discord.dm_channel_id(ALEX)
        assert progress.via == "channel" and progress.channel_id == dm
        told = await discord.wait_for_text("to your DMs")  # where Alex is looking, not only in the DM itself
        assert told.content == "📬 I can't post in this channel, so I'll send the progress and your portraits to your DMs."
        assert told.ephemeral and told.token == chosen["token"]
        for channel in (GUILD_CHANNEL_ID, GUILD_THREAD_ID):
            assert all(m.ephemeral for m in discord.in_channel(channel))
        assert bot.front_end.limits.get(str(dm)) == DEFAULT_UPLOAD_LIMIT


async def test_no_posting_in_the_channel_and_closed_dms_stop_the_job_and_say_why(bot_factory, discord: FakeDiscord) -> None:
    discord.closed_dms.add(ALEX)
    async with bot_factory() as bot:
        await agree(discord, ALEX, guild=True)
        await slash(discord, ALEX, "upload", guild=True, **attach(discord, obama_selfies(8)))
        summary = await discord.wait_for_text("ready to train", timeout=60)
        await press(discord, ALEX, summary, "Train my model", guild=True)
        who = await discord.wait_for_text("Who is in the photos")
        await discord.dispatch(discord.press_payload(ALEX, who, "A man", guild=True, app_permissions="0"))
        why = await discord.wait_for_text("your direct messages are closed to me")
        stopped = await discord.wait_for_text("Your 1 credit went back")
        assert why.ephemeral and stopped.ephemeral
        async with bot.services.database.transaction() as session:
            job = await session.scalar(select(Job))
            assert job is not None and (job.state, job.credit_state) == (JobState.cancelled, CreditState.refunded)
            user = await session.scalar(select(User))
            assert user is not None and user.credits == 3  # nothing spent
        # The watcher's own try to say "stopped" in the closed DM ends at the 403 instead of retrying.
        for _ in range(300):
            async with bot.services.database.transaction() as session:
                if (await session.get(Job, job.id, populate_existing=True)).delivered_at is not None:  # type: ignore[union-attr]
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the cancelled job's delivery never ended")


async def test_the_bot_uploads_within_its_own_limit_not_the_users_nitro(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory() as bot:
        nitro = 500 * 1024 * 1024
        await discord.dispatch(discord.command_payload(ALEX, "credits", guild=True, upload_limit=nitro))
        await discord.wait_for_text("You have 3 credits")
        await discord.dispatch(discord.command_payload(ALEX, "credits", upload_limit=nitro))
        await discord.wait_for(lambda m: "You have 3 credits" in m.content and m.channel_id == discord.dm_channel_id(ALEX),
                               what="the answer in the DM")
        limits = bot.front_end.limits
        assert limits.get(str(GUILD_CHANNEL_ID)) == limits.get(str(discord.dm_channel_id(ALEX))) == DEFAULT_UPLOAD_LIMIT
        smaller = 4 * 1024 * 1024  # an interaction's own limit still counts when it is the smaller one
        await discord.dispatch(discord.command_payload(ALEX, "credits", guild=True, upload_limit=smaller))
        await discord.wait_until(lambda: limits.get(str(GUILD_CHANNEL_ID)) == smaller, 30, "the smaller limit")


async def test_someone_elses_portrait_buttons_say_whose_they_are(bot_factory, discord: FakeDiscord) -> None:
    """In a server everyone sees every button: Bea pressing Alex's "Full-resolution files" or "More
    like this" is told plainly they are not hers (not "gone", not a style picker)."""
    from bot.core.job_refs import job_ref
    from bot.core.replies import UserRef
    from db.models import JobKind

    async with bot_factory() as bot:
        await slash(discord, ALEX, "start", guild=True)
        await discord.wait_for_text("Hi")
        alex = await account_of(bot, "discord", ALEX)
        async with bot.services.database.transaction() as session:
            job = Job(user_id=alex.id, kind=JobKind.generate, state=JobState.succeeded, correlation_id="ef" * 16,
                      payload={"style_id": "linkedin-headshot"}, result={"images": []})
            session.add(job)
            await session.flush()
            ref = job_ref(job)
        bea = 777
        for action in (f"files:{ref}", f"more:{ref}"):
            answers = await bot.front_end.studio.action(
                UserRef("discord", str(bea), str(GUILD_CHANNEL_ID), "Bea"), action)
            assert [a.text for a in answers] == [
                "That button belongs to someone else's portraits — only they can use it. Use /styles to paint your own."]
            assert answers[0].private


async def test_the_upload_window_asks_for_consent_first(bot_factory, discord: FakeDiscord) -> None:
    async with bot_factory():
        command = await slash(discord, ALEX, "upload", guild=True)
        assert (await discord.wait_for_callback(command)).type == 5  # no window (9): an answer instead
        request = await discord.wait_for_text("I can't take photos yet")
        assert request.ephemeral and request.button_labels == ["✅ I confirm"]
        await press(discord, ALEX, request, "I confirm", guild=True)
        await discord.wait_for_text("Thank you!")
        again = await slash(discord, ALEX, "upload", guild=True)
        assert (await discord.wait_for_callback(again)).type == 9  # now the upload window opens
