"""A statement on SQLite is one trip to aiosqlite's thread (db/sqlite_driver.py).

Every trip waits for a turn of the event loop, and a writer holds SQLite's lock through all of its
trips: a new user's account (find, savepoint, insert, allowance, welcome credits, read-back) made 52
of them with SQLAlchemy's adapter as it comes, so under load /start held the lock ~180 ms (p99)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aiosqlite
import pytest
from sqlalchemy import select, text

from db import credits
from db.models import User
from db.session import Database
from db.users import get_or_create_user


@contextmanager
def counted_trips() -> Iterator[list[str]]:
    """Each call that aiosqlite hands to its thread, by the name of the function it runs."""
    trips: list[str] = []
    original = aiosqlite.Connection._execute

    async def counting(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    aiosqlite.Connection._execute = counting  # type: ignore[method-assign]
    try:
        yield trips
    finally:
        aiosqlite.Connection._execute = original  # type: ignore[method-assign]


@pytest.fixture
async def sqlite_db(tmp_path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'studio.db'}")
    await database.migrate()
    async with database.transaction() as session:  # the pool's connection is open and set up
        await session.execute(text("SELECT 1"))
    yield database
    await database.dispose()


async def test_a_new_account_is_made_in_one_trip_a_statement(sqlite_db: Database) -> None:
    with counted_trips() as trips:
        async with sqlite_db.transaction() as session:
            user, created = await get_or_create_user(session, "telegram", "501", display_name="Ann", free_credits=3,
                                                     allowance_key=b"k" * 32)
    assert created
    # 16 statements made 52 trips with SQLAlchemy's adapter as it comes; now 6 statements
    # (tests/db/test_accounts.py), one trip each, and the commit and the pool's reset
    assert len(trips) <= 8, trips
    async with sqlite_db.read() as session:
        assert await credits.balance(session, user.id) == 3
        assert (await session.scalar(select(User.display_name).where(User.id == user.id))) == "Ann"


async def test_what_a_statement_says_comes_back_whole(sqlite_db: Database) -> None:
    """Rows, row counts, RETURNING, executemany and errors, as the adapter as it comes gives them."""
    async with sqlite_db.transaction() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
        inserted = await session.execute(text("INSERT INTO t (name) VALUES (:n)"), [{"n": f"n{i}"} for i in range(5)])
        assert inserted.rowcount == 5
        result = await session.execute(text("INSERT INTO t (name) VALUES ('x') RETURNING id"))
        assert result.scalar_one() == 6
        updated = await session.execute(text("UPDATE t SET name = name || '!' WHERE id <= 3"))
        assert updated.rowcount == 3
        rows = (await session.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
        assert [tuple(r) for r in rows][:4] == [(1, "n0!"), (2, "n1!"), (3, "n2!"), (4, "n3")]
        assert list((await session.execute(text("SELECT name FROM t WHERE id > 4 ORDER BY id"))).scalars()) == ["n4", "x"]
    with pytest.raises(Exception, match="UNIQUE"):
        async with sqlite_db.transaction() as session:
            await session.execute(text("INSERT INTO t (name) VALUES ('x')"))
    async with sqlite_db.read() as session:  # the failed transaction left nothing behind
        assert await session.scalar(text("SELECT count(*) FROM t")) == 6
