"""Reads take no write lock: /start, /status and /credits answer while another writer holds
SQLite's write lock (an album being stored, a worker's heartbeat), and a read cannot write."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from bot.core.replies import UserRef
from bot.core.studio import Studio
from db.models import User
from db.session import Database
from db.storage import LocalStorage
from bot.core.services import Services
from config.settings import Settings
from styles import load_catalogue
from tests.runtime.helpers import make_user

ALEX = UserRef("telegram", "100", "100", "Alex")


def studio_on(database: Database, tmp_path: Path) -> Studio:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    return Studio(Services(settings, database, LocalStorage(tmp_path / "storage"), load_catalogue()))


@contextmanager
def write_lock_held(database: Database) -> Iterator[None]:
    """Another connection (another process, as the worker is) holds the write lock throughout."""
    path = database.engine.url.database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize("command", ["start", "status", "credits"])
async def test_a_text_command_is_answered_while_another_writer_holds_the_lock(
        sqlite_database: Database, tmp_path: Path, command: str) -> None:
    """Before: every command began with BEGIN IMMEDIATE and waited behind the writer (up to the busy
    timeout and a minute of patience); with 40 users at once, p99 went to seconds."""
    studio = studio_on(sqlite_database, tmp_path)
    await make_user(sqlite_database, ALEX.user_id, free=3)
    with write_lock_held(sqlite_database):
        replies = await asyncio.wait_for(studio.command(ALEX, command), timeout=2)
    assert replies and "error" not in replies[0].text.lower(), replies


async def test_a_first_visit_still_makes_the_account(sqlite_database: Database, tmp_path: Path) -> None:
    studio = studio_on(sqlite_database, tmp_path)
    replies = await studio.command(ALEX, "credits")
    assert "You have 3 credits" in replies[0].text, replies[0].text
    async with sqlite_database.read() as session:
        assert await session.scalar(select(User.credits).where(User.platform_user_id == ALEX.user_id)) == 3


async def test_a_read_sees_one_snapshot_and_the_writer_goes_on_beside_it(sqlite_database: Database) -> None:
    user_id = await make_user(sqlite_database, free=3)
    async with sqlite_database.read() as session:
        before = await session.scalar(select(User.credits).where(User.id == user_id))
        async with sqlite_database.transaction() as writer:  # the writer is not kept waiting by the reader
            (await writer.get(User, user_id)).credits = 7  # type: ignore[union-attr]
        assert await session.scalar(select(User.credits).where(User.id == user_id)) == before == 3
    async with sqlite_database.read() as session:
        assert await session.scalar(select(User.credits).where(User.id == user_id)) == 7


async def test_a_read_cannot_write(database: Database) -> None:
    """SQLite (query_only) and PostgreSQL (READ ONLY) refuse a statement that writes; a changed
    object is refused too, rather than silently dropped."""
    user_id = await make_user(database, free=3)
    with pytest.raises(DBAPIError):
        async with database.read() as session:
            await session.execute(text("UPDATE users SET credits = 99"))
    with pytest.raises(RuntimeError, match="read-only"):
        async with database.read() as session:
            (await session.get(User, user_id)).credits = 99  # type: ignore[union-attr]
    async with database.read() as session:
        assert (await session.get(User, user_id)).credits == 3  # type: ignore[union-attr]
