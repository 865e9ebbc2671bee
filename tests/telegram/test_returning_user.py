"""A user who comes back over days and weeks: retrains with new photos, presses buttons of old
messages, runs out of credits on the way, and reads /status, /credits and /help at each stage."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.core.job_refs import job_ref
from db import job_results, jobs, queue
from db.models import Job, JobKind, JobState, LoraModel, utcnow
from tests.support.selfies import obama_selfies
from tests.support.telegram_server import FakeTelegram, Sent
from tests.telegram.conftest import agree, start_training
from tests.telegram.test_commands import ALEX, give_ready_model


def answer_after(telegram: FakeTelegram, since: Sent):  # type: ignore[no-untyped-def]
    """The first message to Alex after ``since``, whatever it says."""
    return telegram.wait_for(lambda m: m.chat_id == ALEX and m.message_id > since.message_id, what="an answer")


def after(telegram: FakeTelegram, part: str, since: int | Sent):  # type: ignore[no-untyped-def]
    """The first message to Alex containing ``part`` sent after message ``since``."""
    since_id = since.message_id if isinstance(since, Sent) else since
    return telegram.wait_for(lambda m: m.chat_id == ALEX and part in (m.text or m.caption) and m.message_id > since_id,
                             what=repr(part))


async def paint_dating(telegram: FakeTelegram, since: int | Sent) -> Sent:
    """/styles → Dating → Dating; the answer to the tap."""
    await telegram.send_text(ALEX, "/styles")
    picker = await after(telegram, "Pick a style", since)
    await telegram.press(ALEX, picker, "Dating")
    dating = await after(telegram, "Dating — pick one", picker)
    await telegram.press(ALEX, dating, "Dating")
    return await answer_after(telegram, dating)


async def test_the_old_model_paints_while_a_new_one_trains_and_after_that_training_stops(bot_factory) -> None:
    """Before: once new selfies were training, /styles answered "Your model is still training" to a
    user whose model had painted yesterday; after that training was cancelled (or failed) it said
    "First I need to learn your face", and /status "Model: not trained": the model they had was
    unreachable until a new one trained."""
    async with bot_factory(free_credits=5) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        await give_ready_model(bot, ALEX)
        progress = await start_training(telegram, ALEX)
        summary = await telegram.wait_for_text(ALEX, "ready to train")  # and what a new model means for the one there
        assert "your current one keeps painting until then" in summary.text, summary.text

        answer = await paint_dating(telegram, progress)
        assert "Painting 4" in answer.text, answer.text
        await telegram.send_text(ALEX, "/status")
        status = await after(telegram, "Your status", answer)
        assert "Model: ready" in status.text and "New model: training" in status.text, status.text

        await telegram.press(ALEX, progress, "Cancel")
        stopped = await after(telegram, "Stopped", status)
        answer = await paint_dating(telegram, stopped)
        assert "Painting 4" in answer.text, answer.text
        await telegram.send_text(ALEX, "/status")
        status = await after(telegram, "Your status", answer)
        assert "Model: ready" in status.text and "not trained" not in status.text, status.text
        async with bot.services.database.transaction() as session:
            paintings = list(await session.scalars(select(Job).where(Job.kind == JobKind.generate)))
            # both painted with the model that was ready
            assert [job.payload["lora_key"].rsplit("/", 1)[-1] for job in paintings] == ["1.safetensors"] * 2


async def finish_training(bot, *, preview: bool = True) -> None:  # type: ignore[no-untyped-def]
    """The worker's part: the preview skipped (no adapter), the training done. ``preview``: a first
    training has one queued with it; a retrain beside a ready model has none."""
    async with bot.services.database.transaction() as session:
        lease = await queue.claim(session, "w1", lease_seconds=30, kinds=["preview"])
        assert (lease is not None) == preview
        if lease is not None:
            assert await queue.complete(session, lease, JobState.succeeded,
                                        result={"images": [], "skipped": "no adapter"})
        lora = await session.scalar(select(LoraModel).order_by(LoraModel.id.desc()))
        lease = await queue.claim(session, "w1", lease_seconds=30, kinds=["train"])
        assert lease is not None and lora is not None
        result = {"lora_key": f"users/{lora.user_id}/loras/{lora.id}.safetensors", "base_model": "tiny",
                  "token": "ohwx", "class_word": "man", "steps": 8, "final_loss": 0.1, "seconds": 1.0}
        assert await queue.complete(session, lease, JobState.succeeded, result=result)
        await job_results.record_success(session, lease.job_id, lease.user_id, "train", result)


async def fail_training(bot, training: Job) -> None:  # type: ignore[no-untyped-def]
    """The worker's part of a training that failed: the job, its model and its set, in one transaction."""
    async with bot.services.database.transaction() as session:
        assert await jobs.finish(session, training.id, JobState.failed, error_code="engine_error")
        await job_results.record_failure(session, training.id, "train", judge=bot.front_end.studio.selfies.judge)


async def test_old_train_buttons_after_the_model_is_ready_say_it_learnt_from_those_photos(bot_factory) -> None:
    """Before: "Train my model" of the old photo summary, pressed a week later (or /train), said "I
    need 8 more good photos before I can learn your face" to a user whose face was learnt."""
    async with bot_factory(free_credits=5) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        progress = await start_training(telegram, ALEX)
        summary = await telegram.wait_for_text(ALEX, "ready to train")
        await finish_training(bot)
        ready = await after(telegram, "Your model is ready", progress)

        await telegram.press(ALEX, summary, "Train my model")
        answer = await answer_after(telegram, ready)
        assert "already learnt" in answer.text and "8 more new selfies" in answer.text, answer.text
        assert "See styles" in " ".join(answer.button_labels)
        await telegram.send_text(ALEX, "/train")
        again = await answer_after(telegram, answer)
        assert "already learnt" in again.text, again.text
        async with bot.services.database.transaction() as session:
            assert len(list(await session.scalars(select(Job).where(Job.kind == JobKind.train)))) == 1


async def test_start_tells_a_returning_user_their_model_is_ready(bot_factory) -> None:
    """Before: /start, what a user types when they come back weeks later, only told them to send
    8–20 selfies, as if they had to begin again."""
    async with bot_factory() as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        first = await telegram.wait_for_text(ALEX, "Hi Alex")
        assert "Welcome back" not in first.text
        await give_ready_model(bot, ALEX)
        await telegram.send_text(ALEX, "/start")
        welcome = await after(telegram, "Hi Alex", first)
        assert "your model is ready" in welcome.text, welcome.text
        assert "See styles" in " ".join(welcome.button_labels)


async def test_a_failed_job_offers_to_try_again(bot_factory) -> None:
    """Before: "😔 Training didn't work this time" and "I couldn't paint those portraits" ended the
    conversation: no button, no word of what to do next (/train is not in the menu)."""
    async with bot_factory(free_credits=5) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        progress = await start_training(telegram, ALEX)
        async with bot.services.database.transaction() as session:
            training = await session.scalar(select(Job).where(Job.kind == JobKind.train))
            assert training is not None
        await fail_training(bot, training)
        failed = await after(telegram, "Training didn't work", progress)
        await telegram.press(ALEX, failed, "Try again")
        question = await after(telegram, "Who is in the photos", failed)
        await telegram.press(ALEX, question, "A man")
        await after(telegram, "Learning your face", question)
        await finish_training(bot)
        ready = await after(telegram, "Your model is ready", question)

        answer = await paint_dating(telegram, ready)
        assert "Painting 4" in answer.text
        async with bot.services.database.transaction() as session:
            painting = await session.scalar(select(Job).where(Job.kind == JobKind.generate))
            assert painting is not None
            assert await jobs.finish(session, painting.id, JobState.failed, error_code="engine_error")
        failed = await after(telegram, "I couldn't paint those portraits", answer)
        assert "Another style" in " ".join(failed.button_labels)
        await telegram.press(ALEX, failed, "Try again")
        again = await after(telegram, "Painting 4 Dating", failed)
        assert again
        async with bot.services.database.transaction() as session:
            paintings = list(await session.scalars(select(Job).where(Job.kind == JobKind.generate)))
            assert [job.payload["style_id"] for job in paintings] == ["dating-profile"] * 2


async def test_status_offers_the_next_step_at_each_stage(bot_factory) -> None:
    """Before: /status listed "Photos: 8 good of 8 sent" and "Model: ready" with no button: the way on
    (train, paint) was in an old message somewhere up the chat."""
    async with bot_factory(free_credits=5) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        for data in obama_selfies(8):
            await telegram.send_photo(ALEX, data, media_group_id="set")
        summary = await telegram.wait_for_text(ALEX, "ready to train", timeout=60)
        await telegram.send_text(ALEX, "/status")
        status = await after(telegram, "Your status", summary)
        await telegram.press(ALEX, status, "Train my model")
        question = await after(telegram, "Who is in the photos", status)
        await telegram.press(ALEX, question, "A man")
        progress = await after(telegram, "Learning your face", question)
        await telegram.send_text(ALEX, "/status")
        status = await after(telegram, "Your status", progress)
        assert not any("Train" in label for label in status.button_labels), status.button_labels
        await finish_training(bot)
        ready = await after(telegram, "Your model is ready", status)
        await telegram.send_text(ALEX, "/status")
        status = await after(telegram, "Your status", ready)
        await telegram.press(ALEX, status, "See styles")
        await after(telegram, "Pick a style", status)


async def training_refused_for_credits(telegram: FakeTelegram) -> Sent:
    """A set of 8 good selfies, Train my model tapped with too few credits: the refusal."""
    for data in obama_selfies(8):
        await telegram.send_photo(ALEX, data, media_group_id="set")
    summary = await telegram.wait_for_text(ALEX, "ready to train", timeout=60)
    await telegram.press(ALEX, summary, "Train my model")
    return await after(telegram, "out of credits", summary)


async def test_out_of_credits_for_a_first_model_does_not_speak_of_a_model(bot_factory) -> None:
    """Before: a user without a model, refused a training for want of credits, was told "your photos
    and model stay here, ready"."""
    async with bot_factory(free_credits=0) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        refusal = await training_refused_for_credits(telegram)
        assert "needs 1 credit and you have 0 credits" in refusal.text
        assert "model" not in refusal.text and "your photos stay here" in refusal.text, refusal.text


async def test_the_expiry_notice_offers_the_styles_it_asks_for(bot_factory) -> None:
    """Before: "Paint any style before then to keep it" came without a button: the way to the styles
    was a command to remember, or an old message weeks up the chat."""
    async with bot_factory(model_retention_days=90, expiry_notice_days=7) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        await give_ready_model(bot, ALEX)
        await bot.front_end.watcher.retention.run(utcnow() + timedelta(days=85))
        notice = await telegram.wait_for_text(ALEX, "I'll delete it, with its portraits")
        await telegram.press(ALEX, notice, "See styles")
        await after(telegram, "Pick a style", notice)


async def buy_from(telegram: FakeTelegram, refusal: Sent) -> Sent:
    """Buy credits from an out-of-credits refusal: its Buy button, the first pack's invoice paid; the receipt."""
    await telegram.press(ALEX, refusal, "Buy credits")
    await telegram.wait_for(lambda m: len(telegram.invoices_to(ALEX)) == 2, what="two invoices")
    await telegram.pay(ALEX, telegram.invoices_to(ALEX)[0])
    return await after(telegram, "Payment received", refusal)


async def test_the_receipt_of_credits_bought_mid_flow_leads_back_to_it(bot_factory) -> None:
    """Before: out of credits, Buy, Pay: the receipt said how many credits came and stopped there;
    the style the user wanted was an old message up the chat."""
    from tests.telegram.test_payments import PACKS

    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        await give_ready_model(bot, ALEX)
        refusal = await paint_dating(telegram, 0)
        assert "out of credits" in refusal.text
        receipt = await buy_from(telegram, refusal)
        await telegram.press(ALEX, receipt, "See styles")
        await after(telegram, "Pick a style", receipt)


async def test_the_receipt_of_a_user_ready_to_train_offers_the_training(bot_factory) -> None:
    from tests.telegram.test_payments import PACKS

    async with bot_factory(credit_packs=PACKS, free_credits=0) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        refusal = await training_refused_for_credits(telegram)
        receipt = await buy_from(telegram, refusal)
        await telegram.press(ALEX, receipt, "Train my model")
        await after(telegram, "Who is in the photos", receipt)


async def test_a_message_typed_beside_a_ready_model_is_answered_with_the_styles(bot_factory) -> None:
    """Before: a user back for more portraits who typed "more pictures please" was told "I was
    expecting photos 🙂 Send me selfies", as if their model were not there."""
    async with bot_factory() as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        await telegram.send_text(ALEX, "hello")
        first = await telegram.wait_for_text(ALEX, "I was expecting photos")  # no model yet: selfies are what's next
        await give_ready_model(bot, ALEX)
        await telegram.send_text(ALEX, "more pictures please")
        answer = await answer_after(telegram, first)
        assert "expecting photos" not in answer.text and "Pick a style" in answer.text, answer.text
        await telegram.press(ALEX, answer, "Dating")
        await after(telegram, "Dating — pick one", answer)


async def test_once_the_new_model_is_ready_it_paints(bot_factory) -> None:
    async with bot_factory(free_credits=5) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        await give_ready_model(bot, ALEX)
        progress = await start_training(telegram, ALEX)
        await finish_training(bot, preview=False)
        ready = await after(telegram, "Your model is ready", progress)
        answer = await paint_dating(telegram, ready)
        assert "Painting 4" in answer.text
        await telegram.send_text(ALEX, "/status")
        status = await after(telegram, "Your status", answer)
        assert "Model: ready" in status.text and "New model" not in status.text, status.text
        async with bot.services.database.transaction() as session:
            painting = await session.scalar(select(Job).where(Job.kind == JobKind.generate))
            assert painting is not None and painting.payload["lora_key"].endswith("/loras/2.safetensors")


async def test_more_like_this_of_an_album_from_before_a_delete_says_those_portraits_are_gone(bot_factory) -> None:
    """Before: the old album's "More like this", pressed after /delete and /start, answered a bare
    "Pick a style:", as if the button had done what it says."""
    async with bot_factory(free_credits=5) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        await give_ready_model(bot, ALEX)
        answer = await paint_dating(telegram, 0)
        async with bot.services.database.transaction() as session:
            old = await session.scalar(select(Job).where(Job.kind == JobKind.generate))
            assert old is not None
            old_button = f"more:{job_ref(old)}"
        await telegram.send_text(ALEX, "/delete")
        confirm = await after(telegram, "erases everything", answer)
        await telegram.press(ALEX, confirm, "Yes, delete")
        gone = await after(telegram, "everything of yours is gone", confirm)
        await telegram.send_text(ALEX, "/start")
        welcome = await after(telegram, "Hi Alex", gone)
        await telegram.press(ALEX, welcome, "See styles", forged_data=old_button)  # the album's button, as sent then
        reply = await telegram.wait_for(lambda m: m.chat_id == ALEX and m.message_id > welcome.message_id
                                        and "Before your first photo" not in m.text, what="an answer")
        assert "aren't here any more" in reply.text, reply.text


async def test_a_style_after_a_failed_first_training_offers_that_training_again(bot_factory) -> None:
    """Before: with 8 good photos whose training had failed, a style answered "First I need to learn
    your face: send 8+ selfies and tap “Train my model”": photos they had sent, a button they no
    longer had."""
    async with bot_factory(free_credits=5) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        progress = await start_training(telegram, ALEX)
        await telegram.press(ALEX, progress, "Cancel")
        stopped = await after(telegram, "Stopped", progress)
        answer = await paint_dating(telegram, stopped)
        assert "learn your face" in answer.text and "send 8+ selfies" not in answer.text, answer.text
        await telegram.press(ALEX, answer, "Train my model")
        await after(telegram, "Who is in the photos", answer)


async def test_a_photo_sent_while_the_first_model_trains_does_not_speak_of_a_current_model(bot_factory) -> None:
    """Before: a photo sent while the first model was still learning was answered "Your current model
    keeps the photos it learnt from": there was no model yet, and should that training fail the
    photo joins the ones it learns from."""
    async with bot_factory(free_credits=5) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        progress = await start_training(telegram, ALEX)
        await telegram.send_photo(ALEX, obama_selfies(9)[8])
        answer = await after(telegram, "Got your photo", progress)
        assert "current model" not in answer.text, answer.text
        assert "still learning your face" in answer.text and "1 of 8" in answer.text, answer.text


async def test_a_user_back_after_their_model_expired_is_told_why_it_is_gone(bot_factory) -> None:
    """Before: back months later, after the retention sweep had deleted their unused model, a user
    was told "First I need to learn your face" and /status said "Model: not trained yet", as if it
    had never been."""
    async with bot_factory(free_credits=5, model_retention_days=90) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        progress = await start_training(telegram, ALEX)
        await finish_training(bot)
        ready = await after(telegram, "Your model is ready", progress)
        await bot.front_end.watcher.retention.run(utcnow() + timedelta(days=91))
        async with bot.services.database.transaction() as session:
            assert await session.scalar(select(LoraModel)) is None
        answer = await paint_dating(telegram, ready)
        assert "deleted after 90 days without use" in answer.text and "send 8+ selfies" in answer.text, answer.text
        await telegram.send_text(ALEX, "/status")
        status = await after(telegram, "Your status", answer)
        assert "deleted after 90 days without use" in status.text and "not trained yet" not in status.text, status.text


async def test_a_running_job_stopped_on_request_is_confirmed_in_a_new_message(bot_factory) -> None:
    """Before: /cancel of a running job answered "Stopping it now. I'll confirm here once it has
    stopped, and its credits go back then", and the confirmation was only an edit of the progress
    message further up the chat: nothing new arrived, nothing said the credit was back."""
    async with bot_factory(free_credits=5) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        await give_ready_model(bot, ALEX)
        progress = await paint_dating(telegram, 0)
        async with bot.services.database.transaction() as session:  # a worker takes it
            lease = await queue.claim(session, "w1", lease_seconds=30)
            assert lease is not None
        await telegram.send_text(ALEX, "/cancel")
        stopping = await after(telegram, "Stopping it now", progress)
        async with bot.services.database.transaction() as session:  # the worker stops at its next step
            assert await queue.complete(session, lease, JobState.cancelled, error_code="cancelled")
        confirmed = await after(telegram, "Stopped", stopping)
        assert confirmed.method == "sendMessage" and "Your 1 credit went back to your balance" in confirmed.text, confirmed
        await telegram.send_text(ALEX, "/credits")
        assert "You have 5 credits" in (await after(telegram, "💳", confirmed)).text


async def test_a_retrain_beside_a_ready_model_queues_no_quick_preview(bot_factory) -> None:
    """The train-free preview is there for a first portrait while a first model learns; beside a
    model that paints it would arrive as "a quick preview… It isn't your personal model yet" to a
    user who has one (and take GPU time ahead of everyone's trainings)."""
    async with bot_factory(free_credits=5) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        await give_ready_model(bot, ALEX)
        await start_training(telegram, ALEX)
        async with bot.services.database.transaction() as session:
            kinds = [job.kind for job in await session.scalars(select(Job).where(Job.state == JobState.queued))]
        assert kinds == [JobKind.train]


async def test_a_failed_retrain_says_the_model_there_still_paints(bot_factory) -> None:
    """Before: "😔 Training didn't work this time" alone, to a user whose model paints: it read as if
    the face learnt before were lost too."""
    async with bot_factory(free_credits=5) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        await give_ready_model(bot, ALEX)
        progress = await start_training(telegram, ALEX)
        async with bot.services.database.transaction() as session:
            training = await session.scalar(select(Job).where(Job.kind == JobKind.train, Job.state == JobState.queued))
            assert training is not None
        await fail_training(bot, training)
        failed = await after(telegram, "Training didn't work", progress)
        assert "your current model still paints" in failed.text, failed.text
        assert failed.button_labels == ["🔁 Try again", "🎨 See styles"]


async def test_a_job_put_back_in_line_by_a_restart_then_cancelled_is_confirmed_once(bot_factory) -> None:
    """A painting had started, a deploy restarted its worker and it waits in line again; the user
    cancels. /cancel answers "Stopped" at once (it was waiting): before, the watcher then sent a second
    "Stopped. Your credit is back", as for a running job, so the refund read as made twice."""
    async with bot_factory(free_credits=5) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        await give_ready_model(bot, ALEX)
        progress = await paint_dating(telegram, 0)
        async with bot.services.database.transaction() as session:  # a worker takes it...
            lease = await queue.claim(session, "w1", lease_seconds=30)
            assert lease is not None
        async with bot.services.database.transaction() as session:  # ...and is restarted: back in line
            assert await queue.give_back(session, lease) == JobState.queued
        await telegram.send_text(ALEX, "/cancel")
        stopped = await after(telegram, "Stopped", progress)
        assert "Your 1 credit went back to your balance" in stopped.text
        await bot.watcher_ticks(2)  # every chance to deliver the job's outcome
        await bot.settled(ALEX)
        later = [m.text for m in telegram.sent_to(ALEX) if m.message_id > stopped.message_id]
        assert not any("Stopped" in text for text in later), later


async def test_status_offers_buy_when_the_training_it_offers_costs_more_than_the_balance(bot_factory) -> None:
    """A balance that pays for a painting but not for a training: /status offered Train and See styles
    without Buy (it compared the balance with the cheaper step), and Train was then refused."""
    from tests.telegram.test_payments import PACKS

    async with bot_factory(credit_packs=PACKS, free_credits=1, train_cost=3, generate_cost=1) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        await give_ready_model(bot, ALEX)
        for data in obama_selfies(8):
            await telegram.send_photo(ALEX, data, media_group_id="new set")
        summary = await telegram.wait_for_text(ALEX, "ready to train", timeout=60)
        await telegram.send_text(ALEX, "/status")
        status = await after(telegram, "Your status", summary)
        assert status.button_labels == ["🚀 Train my model", "🎨 See styles", "💳 Buy credits"], status.button_labels
