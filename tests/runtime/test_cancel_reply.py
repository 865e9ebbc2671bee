"""What /cancel says matches the books: a waiting job is refunded there and then; a running one only
when its worker has stopped it, and if it finishes first it is paid for and delivered."""

from __future__ import annotations

from pathlib import Path

from bot.core.replies import UserRef
from bot.core.studio import Studio
from db import queue
from db.models import JobState
from db.session import Database
from db.storage import LocalStorage
from bot.core.services import Services
from config.settings import Settings
from styles import load_catalogue
from tests.runtime.helpers import balance, enqueue_noop, make_user


def studio_on(database: Database, tmp_path: Path) -> Studio:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    return Studio(Services(settings, database, LocalStorage(tmp_path / "storage"), load_catalogue()))


async def test_cancelling_a_running_job_promises_no_refund_before_it_stops(database: Database, tmp_path: Path) -> None:
    studio = studio_on(database, tmp_path)
    user_id = await make_user(database, "100", free=5)
    await enqueue_noop(database, user_id, cost=1)
    async with database.transaction() as session:
        lease = await queue.claim(session, "w", lease_seconds=60)
    assert lease is not None
    reply = await studio.command(UserRef("telegram", "100", "100"), "cancel")
    assert "Stopping it now" in reply[0].text and "went back" not in reply[0].text
    async with database.transaction() as session:  # it was past its last cancel check: it finishes
        assert await queue.complete(session, lease, JobState.succeeded, result={})
    assert await balance(database, user_id) == 4  # paid for, as the reply allowed


async def test_cancelling_waiting_and_running_jobs_says_which_is_which(database: Database, tmp_path: Path) -> None:
    studio = studio_on(database, tmp_path)
    user_id = await make_user(database, "100", free=5)
    await enqueue_noop(database, user_id, cost=1)
    async with database.transaction() as session:
        assert await queue.claim(session, "w", lease_seconds=60) is not None
    await enqueue_noop(database, user_id, cost=2)
    reply = await studio.command(UserRef("telegram", "100", "100"), "cancel")
    assert "Your 2 credits went back to your balance" in reply[0].text and "Stopping it now" in reply[0].text
    assert await balance(database, user_id) == 4  # the waiting job's 2 back; the running one's 1 still reserved
