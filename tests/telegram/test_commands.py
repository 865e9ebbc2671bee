"""Commands and limits through Telegram: status, credits, cancel, quotas, styles without a model,
admin grants, and an unexpected failure that ends in an apology carrying an error id."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import func, select

from db import credits, jobs
from db.models import Job, JobState, LoraModel, LoraStatus, SelfieSet, User
from db.users import find_user
from tests.support.selfies import obama_selfies
from tests.telegram.conftest import agree, start_training
from tests.support.accounts import account_of

ALEX = 501
ADMIN = 900


async def give_ready_model(bot, telegram_user_id: int) -> None:
    """A user whose personal model is trained (as the worker leaves it)."""
    user = await account_of(bot, "telegram", telegram_user_id)
    async with bot.services.database.transaction() as session:
        session.add(LoraModel(user_id=user.id, base_model="tiny", token="ohwx", class_word="man",
                              status=LoraStatus.ready, storage_key=f"users/{user.id}/loras/1.safetensors"))


async def start_with_a_model(bot) -> None:
    """Alex has said /start and has a trained model."""
    await bot.telegram.send_text(ALEX, "/start")
    await bot.telegram.wait_for_text(ALEX, "Hi Alex")
    await give_ready_model(bot, ALEX)


async def tap_dating(telegram, taps: int = 1) -> None:
    """/styles → Dating → the Dating style, tapped ``taps`` times (once per test: the first match)."""
    await telegram.send_text(ALEX, "/styles")
    await telegram.press(ALEX, await telegram.wait_for_text(ALEX, "Pick a style"), "Dating")
    dating = await telegram.wait_for_text(ALEX, "Dating — pick one")
    for _ in range(taps):
        await telegram.press(ALEX, dating, "Dating")


async def test_the_fourth_queued_job_is_refused(bot_factory) -> None:
    async with bot_factory(free_credits=10, max_queued_jobs_per_user=3) as bot:
        telegram = bot.telegram
        await telegram.send_text(ALEX, "/start")
        await telegram.wait_for_text(ALEX, "Hi Alex")
        await give_ready_model(bot, ALEX)
        last = 0
        for _ in range(4):
            await telegram.send_text(ALEX, "/styles")
            picker = await telegram.wait_for(lambda m: "Pick a style" in m.text and m.message_id > last, what="a picker")
            await telegram.press(ALEX, picker, "Dating")
            dating = await telegram.wait_for(lambda m: "Dating — pick one" in m.text and m.message_id > picker.message_id,
                                             what="the dating styles")
            await telegram.press(ALEX, dating, "Dating")
            last = dating.message_id
        refusal = await telegram.wait_for_text(ALEX, "You already have 3 jobs waiting")
        assert refusal
        assert sum("Painting 4" in t for t in telegram.texts_to(ALEX)) == 3
        await telegram.send_text(ALEX, "/credits")
        assert "You have 7 credits" in (await telegram.wait_for_text(ALEX, "💳")).text

        await telegram.send_text(ALEX, "/status")
        status = await telegram.wait_for_text(ALEX, "Your status")
        assert "Model: ready" in status.text and status.text.count("Portraits: Waiting in line") == 3
        assert "Photos:" not in status.text  # no "0 good of 0 sent (need 8)" once the model is trained

        # The Cancel button under one progress message stops that job only...
        first = next(m for m in telegram.sent_to(ALEX) if "Painting 4" in m.text)
        await telegram.press(ALEX, first, "Cancel")
        one = await telegram.wait_for_text(ALEX, "Your 1 credit went back")
        async with bot.services.database.transaction() as session:
            states = list(await session.scalars(select(Job.state).order_by(Job.id)))
            assert states == [JobState.cancelled, JobState.queued, JobState.queued]
        # ...and /cancel stops everything still waiting.
        await telegram.send_text(ALEX, "/cancel")
        assert await telegram.wait_for_text(ALEX, "Your 2 credits went back")
        async with bot.services.database.transaction() as session:
            states = list(await session.scalars(select(Job.state)))
            assert states == [JobState.cancelled] * 3
        await telegram.send_text(ALEX, "/credits")
        await telegram.wait_for_text(ALEX, "You have 10 credits")


async def test_styles_before_a_model_explain_what_to_do(bot_factory) -> None:
    async with bot_factory() as bot:
        await bot.telegram.send_text(ALEX, "/styles")
        picker = await bot.telegram.wait_for_text(ALEX, "Pick a style")
        await bot.telegram.press(ALEX, picker, "Art")
        art = await bot.telegram.wait_for_text(ALEX, "Art — pick one")
        await bot.telegram.press(ALEX, art, "Ghibli")
        await bot.telegram.wait_for_text(ALEX, "First I need to learn your face")


async def test_train_before_enough_photos(bot_factory) -> None:
    async with bot_factory() as bot:
        await agree(bot.telegram, ALEX)
        for data in obama_selfies(2):
            await bot.telegram.send_photo(ALEX, data, media_group_id="a")
        summary = await bot.telegram.wait_for_text(ALEX, "look great", timeout=60)
        assert "2 of 8 good photos so far — send 6 more" in summary.text
        await bot.telegram.send_text(ALEX, "/train")
        await bot.telegram.wait_for_text(ALEX, "I need 6 more good photos")


async def test_admin_grant(bot_factory) -> None:
    async with bot_factory(admins=f"telegram:{ADMIN}") as bot:
        await bot.telegram.send_text(ALEX, "/grant 501 5")
        await bot.telegram.wait_for_text(ALEX, "That command is for admins")
        await bot.telegram.send_text(ADMIN, "/grant 501 5", name="Root")
        granted = await bot.telegram.wait_for_text(ADMIN, "Granted 5 credits to telegram:501")
        assert "balance is 8" in granted.text  # 3 free + 5
        await bot.telegram.send_text(ADMIN, "/grant 501 -9", name="Root")  # more than there is: said, nothing taken
        await bot.telegram.wait_for_text(ADMIN, "Not granted: telegram:501 has 8 credits, so 9 can't be taken away")
        await bot.telegram.send_text(ADMIN, "/grant 501 -3", name="Root")
        await bot.telegram.wait_for_text(ADMIN, "balance is 5")
        await bot.telegram.send_text(ADMIN, "/grant 777 -1", name="Root")  # nobody to take from: not "has 3 credits"
        await bot.telegram.wait_for_text(ADMIN, "Not granted: telegram:777 has no account here")
        for typo in ("/grant telegrm:501 5", "/grant @alice 5"):  # credited accounts nobody has
            await bot.telegram.send_text(ADMIN, typo, name="Root")
            await bot.telegram.wait_for_text(ADMIN, "Usage: /grant")
        async with bot.services.database.transaction() as session:
            assert await find_user(session, "telegrm", "501") is None
            assert await find_user(session, "telegram", "@alice") is None


async def test_an_unexpected_failure_gets_an_apology_with_an_error_id(bot_factory, caplog: pytest.LogCaptureFixture) -> None:
    async with bot_factory() as bot:
        await agree(bot.telegram, ALEX)
        blocked = bot.settings.resolved_storage_dir / "users"
        blocked.parent.mkdir(parents=True, exist_ok=True)
        blocked.write_text("a file where the users' folder should be")  # storage is broken
        with caplog.at_level(logging.ERROR):
            await bot.telegram.send_photo(ALEX, obama_selfies(1)[0])
            apology = await bot.telegram.wait_for_text(ALEX, "Something went wrong on my side", timeout=60)
        error_id = apology.text.rsplit("error id ", 1)[1].rstrip(")")
        logged = [r for r in caplog.records if getattr(r, "error_id", None) == error_id]
        assert logged and logged[0].exc_info is not None  # the traceback is in the log, under the same id


async def test_after_a_cancelled_training_the_same_photos_train_again(bot_factory) -> None:
    async with bot_factory(free_credits=2) as bot:
        await agree(bot.telegram, ALEX)
        telegram = bot.telegram
        progress = await start_training(telegram, ALEX)
        await telegram.send_photo(ALEX, obama_selfies(9)[8])  # one more while it waits: kept for later
        await bot.settled(ALEX)
        await telegram.press(ALEX, progress, "Cancel")  # no worker runs: the job is still waiting
        assert "1 credit went back" in (await telegram.wait_for_text(ALEX, "Stopped")).text
        await telegram.send_text(ALEX, "/train")
        again = await telegram.wait_for(lambda m: "Who is in the photos" in m.text and m.message_id > progress.message_id,
                                        what="the class question again")
        await telegram.press(ALEX, again, "A man")
        await telegram.wait_for(lambda m: "Learning your face" in m.text and m.message_id > again.message_id,
                                what="a second training")
        async with bot.services.database.transaction() as session:
            trainings = list(await session.scalars(select(Job).where(Job.kind == "train").order_by(Job.id)))
            assert [job.state for job in trainings] == [JobState.cancelled, JobState.queued]
            previews = list(await session.scalars(select(Job).where(Job.kind == "preview").order_by(Job.id)))
            # one preview per training, free; the cancelled training's went with it
            assert [(job.state, job.credits_reserved) for job in previews] == [(JobState.cancelled, 0), (JobState.queued, 0)]
            assert [job.payload["training_job_id"] for job in previews] == [job.id for job in trainings]
            assert len(trainings[1].payload["photo_keys"]) == 9  # the photo sent meanwhile joined the set
            assert await session.scalar(select(func.count()).select_from(SelfieSet)) == 1


async def test_a_user_who_blocked_the_bot_is_not_retried_forever(bot_factory, caplog) -> None:
    """Telegram answers 403 for good: the delivery ends there (logged) instead of every few minutes."""
    async with bot_factory() as bot:
        telegram = bot.telegram
        await start_with_a_model(bot)
        await tap_dating(telegram)
        await telegram.wait_for_text(ALEX, "Painting 4")
        telegram.blocked.add(ALEX)  # the user blocks the bot while the job waits, and the job fails
        async with bot.services.database.transaction() as session:
            job_id = await session.scalar(select(Job.id))
            assert await jobs.finish(session, job_id, JobState.failed, error_code="engine_error")
        await bot.watcher_ticks(3)
        async with bot.services.database.transaction() as session:
            job = await session.get(Job, job_id)
            assert job is not None and job.delivered_at is not None
        assert f"delivery of job {job_id} given up" in caplog.text and "bot was blocked by the user" in caplog.text
        calls = len(telegram.calls)
        await asyncio.sleep(bot.front_end.watcher.delivery_retry + 0.5)  # past the retry time of a failed delivery
        await bot.watcher_ticks(3)
        assert [m for m, params in telegram.calls[calls:] if str(params.get("chat_id")) == str(ALEX)] == []


async def test_a_style_without_credits_is_refused_and_queues_nothing(bot_factory) -> None:
    async with bot_factory(free_credits=0) as bot:
        telegram = bot.telegram
        await start_with_a_model(bot)
        await tap_dating(telegram)
        refusal = await telegram.wait_for_text(ALEX, "out of credits")
        assert "needs 1 credit and you have 0 credits" in refusal.text
        async with bot.services.database.transaction() as session:
            assert list(await session.scalars(select(Job))) == []  # nothing painted for free
        await telegram.send_text(ALEX, "/cancel")  # and nothing to cancel into a free credit
        await telegram.wait_for_text(ALEX, "Nothing is running")
        await telegram.send_text(ALEX, "/credits")
        assert "You have 0 credits" in (await telegram.wait_for_text(ALEX, "💳")).text


async def test_a_double_tap_on_a_style_makes_one_job_and_one_progress_message(bot_factory) -> None:
    async with bot_factory() as bot:
        telegram = bot.telegram
        await start_with_a_model(bot)
        await tap_dating(telegram, taps=2)
        await bot.settled(ALEX)
        sent = [params["text"] for method, params in telegram.calls if method == "sendMessage"]
        assert sum("Painting 4" in text for text in sent) == 1  # no second progress message that never moves
        async with bot.services.database.transaction() as session:
            queued = list(await session.scalars(select(Job)))
            assert len(queued) == 1
            # the style's sampler reaches the engine: Dating asks for DPM++ 2M Karras and no refiner (a
            # large face: the refiner, which the user's LoRA never reaches, would repaint the likeness)
            payload = queued[0].payload
            assert (payload["scheduler"], payload["use_refiner"], payload["refiner_split"]) == ("dpmpp_2m_karras", False, None)
            assert payload["min_likeness"] == 70 and payload["likeness_retries"] == 1
        await telegram.send_text(ALEX, "/credits")
        assert "You have 2 credits" in (await telegram.wait_for_text(ALEX, "💳")).text


async def test_an_old_button_does_not_reach_a_new_job_after_delete(bot_factory) -> None:
    async with bot_factory() as bot:
        telegram = bot.telegram
        await start_with_a_model(bot)
        await tap_dating(telegram)
        old = await telegram.wait_for_text(ALEX, "Painting 4")
        async with bot.services.database.transaction() as session:
            old_job = await session.scalar(select(Job))
            assert old_job is not None
        await telegram.send_text(ALEX, "/delete")
        await telegram.press(ALEX, await telegram.wait_for_text(ALEX, "erases everything"), "Yes, delete")
        gone = await telegram.wait_for_text(ALEX, "everything of yours is gone")

        def after(part: str, since: int):  # type: ignore[no-untyped-def]
            return telegram.wait_for(lambda m: part in m.text and m.message_id > since, what=repr(part))

        await telegram.send_text(ALEX, "/start")
        await after("Hi Alex", gone.message_id)
        await give_ready_model(bot, ALEX)
        async with bot.services.database.transaction() as session:  # no second free allowance: an admin's
            user = await session.scalar(select(User).where(User.platform_user_id == str(ALEX)))
            await credits.grant(session, user.id, 1, reason="admin_grant")
        await telegram.send_text(ALEX, "/styles")
        picker = await after("Pick a style", gone.message_id)
        await telegram.press(ALEX, picker, "Dating")
        dating = await after("Dating — pick one", picker.message_id)
        await telegram.press(ALEX, dating, "Dating")
        await after("Painting 4", dating.message_id)
        async with bot.services.database.transaction() as session:
            new_job = await session.scalar(select(Job))
            assert new_job is not None and new_job.id > old_job.id  # ids are never handed out twice now
        await telegram.press(ALEX, old, "Cancel")  # the button of the deleted job
        await telegram.wait_for_text(ALEX, "isn't yours to stop")
        async with bot.services.database.transaction() as session:
            assert (await session.get(Job, new_job.id, populate_existing=True)).state == JobState.queued  # type: ignore[union-attr]


async def test_photos_sent_beside_a_trained_model_are_for_a_next_one(bot_factory) -> None:
    """A photo sent once the model was trained was answered "1 of 8 good photos so far", and /status
    showed "Photos: 1 good of 1 sent" beside "Model: ready": as if the model's photos were lost."""
    async with bot_factory() as bot:
        await agree(bot.telegram, ALEX)
        await give_ready_model(bot, ALEX)
        await bot.telegram.send_photo(ALEX, obama_selfies(1)[0])
        answer = await bot.telegram.wait_for_text(ALEX, "Got your photo")
        assert "These start a new set, for your next model: 1 of 8 good photos so far" in answer.text
        assert "Your current model keeps the photos it learnt from" in answer.text
        await bot.telegram.send_text(ALEX, "/status")
        status = await bot.telegram.wait_for_text(ALEX, "Your status")
        assert "New photos for your next model: 1 good of 1 sent" in status.text and "Model: ready" in status.text
