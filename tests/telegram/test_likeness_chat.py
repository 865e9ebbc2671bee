"""The model's likeness figure in the chat: in the "model ready" message and in /status."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Job, JobKind, JobState, LoraModel, LoraStatus, User, utcnow
from tests.telegram.conftest import agree

ALEX = 501


async def finished_training(bot, result: dict) -> None:
    async with bot.services.database.transaction() as session:
        alex = await session.scalar(select(User))
        job = Job(user_id=alex.id, kind=JobKind.train, state=JobState.succeeded, correlation_id="ab" * 16,
                  payload={}, result=result, reply_platform="telegram", reply_chat_id=str(ALEX), finished_at=utcnow())
        session.add(job)
        await session.flush()
        session.add(LoraModel(user_id=alex.id, job_id=job.id, base_model="tiny", token="ohwx", class_word="man",
                              status=LoraStatus.ready, storage_key=f"users/{alex.id}/loras/1.safetensors"))


async def test_the_model_ready_message_and_status_show_its_likeness(bot_factory) -> None:
    async with bot_factory() as bot:
        await agree(bot.telegram, ALEX)
        await finished_training(bot, {"likeness": 92, "validation_faces": 2, "lora_key": "x"})
        ready = await bot.telegram.wait_for_text(ALEX, "Your model is ready")
        assert ready.text == ("✨ Your model is ready! Its test portraits look 92% like you (100% = as close as your "
                              "own photos are to each other). Pick a style:")
        await bot.telegram.send_text(ALEX, "/status")
        status = await bot.telegram.wait_for_text(ALEX, "Your status")
        assert "🧠 Model: ready ✅ · likeness 92%" in status.text


async def test_no_figure_is_made_up_when_none_was_measured(bot_factory) -> None:
    async with bot_factory() as bot:
        await agree(bot.telegram, ALEX)
        await finished_training(bot, {"likeness": None, "validation_faces": 0, "lora_key": "x"})
        ready = await bot.telegram.wait_for_text(ALEX, "Your model is ready")
        assert ready.text == "✨ Your model is ready! Pick a style:"
        await bot.telegram.send_text(ALEX, "/status")
        status = await bot.telegram.wait_for_text(ALEX, "Your status")
        assert "🧠 Model: ready ✅\n" in status.text and "likeness" not in status.text
