from __future__ import annotations

from sqlalchemy import text

from bot.core.studio import Studio
from tests.core.conftest import ALEX, actions_of, agreed, text_of, with_model


COUNTS = text("SELECT 'sets', count(*) FROM selfie_sets UNION ALL SELECT 'users', count(*) FROM users")


async def test_a_new_user_reads_no_photos_no_model_and_the_balance(studio: Studio) -> None:
    reply = text_of(await studio.command(ALEX, "status"))
    assert "0 of 8" in reply or "0/" in reply or "0 good" in reply, reply
    assert "not trained" in reply and "3" in reply


async def test_a_user_with_a_model_is_offered_the_styles(studio: Studio) -> None:
    await with_model(studio)
    reply = await studio.command(ALEX, "status")
    assert "ready" in text_of(reply).lower() and actions_of(reply) == ["styles"]


async def test_status_writes_nothing_for_a_known_user(studio: Studio) -> None:
    """A read: /status opens no set and settles nothing (it takes no write lock: tests/db/test_reads.py)."""
    await agreed(studio)
    async with studio.database.read() as session:
        before = dict((await session.execute(COUNTS)).all())
    await studio.command(ALEX, "status")
    async with studio.database.read() as session:
        after = dict((await session.execute(COUNTS)).all())
    assert after == before
