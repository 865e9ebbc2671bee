"""Database engine and sessions.

SQLite (the embedded default) is opened in WAL mode with a busy timeout and foreign keys on,
and every transaction starts with ``BEGIN IMMEDIATE``: Python's sqlite3 module does not open a
transaction before a SELECT, so a select-then-update would otherwise silently lose updates under
concurrency (SQLAlchemy's documented recipe for pysqlite/aiosqlite). Any other SQLAlchemy async
URL (PostgreSQL via asyncpg at scale) is used as it is.

SQLite lets one writer in at a time and hands a freed lock to whichever waiting connection polls
first: under load an early writer can lose to later ones again and again (a new user's /start waited
5 s behind others' albums). So the writers of one process queue in the process first, first come
first served, a waiting command before waiting bulk work (``db/write_queue.py``), and only the one at
the head asks SQLite for the lock; between
processes (the bot and a worker) SQLite's busy handler still decides, with one connection each.

What only reads (``Database.read``) takes no write lock: on SQLite it runs on connections of its own
that may not write (``PRAGMA query_only``), in a deferred transaction over one WAL snapshot, so a
reader never waits for the writer nor the writer for it; on PostgreSQL it is a READ ONLY transaction.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from db.sqlite_driver import one_trip_dbapi
from db.write_queue import WriteQueue

if TYPE_CHECKING:  # the GPU image runs the engine without pydantic-settings (bench/gpu_check.sh)
    from config.settings import Settings

log = logging.getLogger(__name__)

LOCK_PATIENCE_SECONDS = 60.0  # how long a transaction waits for SQLite's write lock, beyond the busy timeout


def _is_lock_error(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return "database is locked" in text or "database is busy" in text


def _install_sqlite_pragmas(engine: AsyncEngine, busy_timeout_ms: int, *, foreign_keys: bool = True,
                            read_only: bool = False) -> None:
    """Every connection: WAL, the busy timeout, foreign keys, and ``BEGIN IMMEDIATE`` (the write lock
    first). ``read_only``: connections that read only: a deferred BEGIN (a WAL snapshot, no lock on
    the writer) and ``query_only``, so a write sent down that path fails loudly instead of taking
    the lock; the database's settings (WAL, foreign keys) are the writer's to make."""
    pragmas = ["PRAGMA query_only=ON"] if read_only else [
        "PRAGMA journal_mode=WAL", f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}", "PRAGMA synchronous=NORMAL"]
    begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


ONE_TRIP_STATEMENTS = True  # db/sqlite_driver.py; False only to measure the adapter as it comes (bench.load)


def _create_engine(url: str, **options: Any) -> AsyncEngine:
    if ONE_TRIP_STATEMENTS and make_url(url).get_driver_name() == "aiosqlite":
        options["module"] = one_trip_dbapi()
    return create_async_engine(url, **options)


class DatabaseUnavailable(Exception):
    """The database can't be opened at all (server unreachable, credentials refused, the SQLite file's
    folder not writable): an operator's set-up to fix, not a bug. The message carries no password."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"can't open the database {where}: {reason}")
        self.where, self.reason = where, reason


def _reason(error: BaseException) -> str:
    orig = getattr(error, "orig", None)
    text = str(orig if orig is not None else error).strip().splitlines()
    return (text[0] if text else "") or type(error).__name__


class Database:
    """An async engine plus its session factory."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, echo: bool = False,
                 lock_patience_seconds: float = LOCK_PATIENCE_SECONDS) -> None:
        self.url = url
        self.lock_patience_seconds = lock_patience_seconds
        self.busy_timeout_ms = busy_timeout_ms
        parsed = make_url(url)
        self.where = parsed.render_as_string(hide_password=True)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise DatabaseUnavailable(self.where, f"its folder can't be made ({_reason(error)})") from error
        self.engine = _create_engine(url, echo=echo, pool_pre_ping=not self.is_sqlite)
        if self.is_sqlite:
            _install_sqlite_pragmas(self.engine, busy_timeout_ms)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # An in-memory SQLite database lives in one connection: its reads share the writer's.
        self.read_engine = self.engine
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            self.read_engine = _create_engine(url, echo=echo)
            _install_sqlite_pragmas(self.read_engine, busy_timeout_ms, read_only=True)
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False)
        # SQLite's writers of this process, first come first served (module docstring); one queue per
        # event loop, as a Database may outlive the loop it was first used in (tests, `studio` commands)
        self._write_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteQueue] = (
            weakref.WeakKeyDictionary())

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.resolved_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)

    @asynccontextmanager
    async def transaction(self, *, bulk: bool = False) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error.

        On SQLite the write lock is taken when the transaction begins (``BEGIN IMMEDIATE``), before
        anything is read or written; so "database is locked" can only come from that beginning,
        where trying again is always safe. It is tried again here, with a growing pause, for up to
        ``lock_patience_seconds`` beyond the busy timeout: no caller sees a transient lock. Before
        that, SQLite's writers of this process wait their turn in the process (module docstring);
        ``bulk`` work (an album's record) lets the commands that are waiting go first."""
        async with self._write_turn(bulk), self.sessions() as session:
            await self._begin(session)
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    @asynccontextmanager
    async def _write_turn(self, bulk: bool = False) -> AsyncIterator[None]:
        if not self.is_sqlite:  # PostgreSQL locks rows, not the database: writers run side by side
            yield
            return
        loop = asyncio.get_running_loop()
        queue = self._write_queues.get(loop)
        if queue is None:
            queue = self._write_queues[loop] = WriteQueue()
        patience = self.busy_timeout_ms / 1000 + self.lock_patience_seconds  # as long as SQLite's own wait
        try:
            async with asyncio.timeout(patience):  # in this task: a cancelled wait holds nothing
                await queue.acquire(bulk=bulk)
        except TimeoutError:
            raise TimeoutError(f"no turn to write to SQLite in {patience:.0f} s: another transaction of this "
                               "process held it all that time") from None
        try:
            yield
        finally:
            queue.release()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads: one consistent snapshot, no write lock taken or waited for
        (module docstring). Nothing is committed; a write raises (SQLite: "attempt to write a readonly
        database"; PostgreSQL: "read-only transaction"), so a use case that may write uses
        ``transaction``."""
        async with self.read_sessions() as session:
            await session.begin()
            try:
                if not self.is_sqlite:
                    await session.execute(text("SET TRANSACTION READ ONLY"))
                yield session
                if session.new or session.dirty or session.deleted:
                    raise RuntimeError("a read-only session was given changes to write")
            except BaseException:
                await session.rollback()
                raise
            await session.commit()  # ends the snapshot; writes nothing, and keeps what was loaded loaded

    async def _begin(self, session: AsyncSession) -> None:
        await session.begin()
        if not self.is_sqlite:
            return
        deadline = time.monotonic() + self.lock_patience_seconds
        pause = 0.01
        for attempt in itertools.count(1):
            try:
                await session.connection()  # BEGIN IMMEDIATE: the write lock, or "database is locked"
                return
            except OperationalError as error:
                if not _is_lock_error(error) or time.monotonic() + pause > deadline:
                    raise
                await session.rollback()
                if attempt in (1, 10, 100):
                    log.info("SQLite is busy (attempt %d); waiting for the write lock", attempt)
                await asyncio.sleep(pause * (0.5 + random.random()))
                pause = min(pause * 2, 0.5)
                await session.begin()

    async def reachable(self, engine: AsyncEngine | None = None) -> None:
        """Open one connection, or raise DatabaseUnavailable saying why (every start does this first)."""
        try:
            async with (engine or self.engine).connect():
                pass
        except (OSError, DBAPIError) as error:  # refused, unknown host, timeout, bad password, unwritable file
            raise DatabaseUnavailable(self.where, _reason(error)) from error

    async def migrate(self) -> str:
        """Bring the schema to the newest migration; returns its revision."""
        from db.migrate import upgrade_to_head

        if not self.is_sqlite:
            await self.reachable()
            return await upgrade_to_head(self.engine)
        # SQLite's way to change a table is to rebuild it, which needs foreign keys off (dropping a
        # parent table would cascade into its children); migrations check them themselves.
        engine = create_async_engine(self.url)
        _install_sqlite_pragmas(engine, self.busy_timeout_ms, foreign_keys=False)
        try:
            await self.reachable(engine)
            return await upgrade_to_head(engine)
        finally:
            await engine.dispose()

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
