from __future__ import annotations

from bot.core.studio import Studio
from db import queue
from tests.core.conftest import ALEX, SAM, agreed, text_of, with_model


async def test_cancel_with_nothing_running_says_so(studio: Studio) -> None:
    await agreed(studio)
    assert "nothing" in text_of(await studio.command(ALEX, "cancel")).lower()


async def test_a_waiting_job_is_cancelled_and_refunded_at_once(studio: Studio) -> None:
    await with_model(studio)
    await studio.action(ALEX, "style:dating-profile", source_message_id="1")
    reply = text_of(await studio.command(ALEX, "cancel"))
    assert "went back to your balance" in reply, reply
    assert "You have 3 credits" in text_of(await studio.command(ALEX, "credits"))


async def test_a_running_job_is_stopped_by_its_worker_and_no_refund_is_promised_yet(studio: Studio) -> None:
    await with_model(studio)
    await studio.action(ALEX, "style:dating-profile", source_message_id="1")
    async with studio.database.transaction() as session:
        assert await queue.claim(session, "w", lease_seconds=60) is not None
    reply = text_of(await studio.command(ALEX, "cancel"))
    assert "Stopping it now" in reply and "went back" not in reply


async def test_the_cancel_button_of_another_users_job_stops_nothing(studio: Studio) -> None:
    await with_model(studio)
    progress = await studio.action(ALEX, "style:dating-profile", source_message_id="1")
    cancel = progress[0].buttons[0][0].action
    await agreed(studio, SAM)
    refused = await studio.action(SAM, cancel)
    assert refused[0].private and "went back" not in text_of(refused)
    assert "went back" in text_of(await studio.action(ALEX, cancel))
