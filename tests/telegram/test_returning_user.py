"""A user who comes back over days and weeks: retrains with new photos, presses buttons of old
messages, runs out of credits on the way, and reads /status, /credits and /help at each stage."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Job, JobKind
from tests.support.telegram_server import FakeTelegram, Sent
from tests.telegram.conftest import agree, start_training
from tests.telegram.test_commands import ALEX, give_ready_model


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
    return await telegram.wait_for(lambda m: m.chat_id == ALEX and m.message_id > dating.message_id, what="an answer")


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
