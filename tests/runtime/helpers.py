"""Shared helpers of the runtime tests: users, jobs, books, the worker's heartbeats."""

from __future__ import annotations

import logging
import re
from types import TracebackType
from typing import Any

from sqlalchemy import event, func, select

from db import credits, jobs
from db.models import Job
from db.session import Database
from db.users import get_or_create_user
from engine.jobs import NoopJob


async def make_user(database: Database, uid: str = "100", free: int = 10) -> int:
    async with database.transaction() as session:
        user, _ = await get_or_create_user(session, "telegram", uid, display_name=f"user {uid}", free_credits=free)
        return user.id


async def enqueue_noop(database: Database, user_id: int, *, cost: int = 1, max_attempts: int = 3, **spec: Any) -> int:
    async with database.transaction() as session:
        queued = await jobs.enqueue(
            session, user_id=user_id, kind="noop", payload=NoopJob(**spec).to_payload(),  # type: ignore[arg-type]
            cost=cost, max_attempts=max_attempts, reply_platform="telegram", reply_chat_id="1",
        )
        return queued.job.id


async def get(database: Database, job_id: int) -> Job:
    async with database.transaction() as session:
        job = await jobs.get_job(session, job_id)
        assert job is not None
        return job


async def balance(database: Database, user_id: int) -> int:
    async with database.transaction() as session:
        return await credits.balance(session, user_id)


async def assert_books_balance(database: Database, user_id: int) -> None:
    async with database.transaction() as session:
        assert await credits.ledger_sum(session, user_id) == await credits.balance(session, user_id)


async def count_jobs(database: Database, *conditions: Any) -> int:
    async with database.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(Job).where(*conditions)) or 0)


class Heartbeats:
    """Records, in order, the heartbeats a worker in this process sends (the lease-guarded
    ``UPDATE jobs … RETURNING cancel_requested``, seen through SQLAlchemy's before_cursor_execute),
    the moment its monitor logs that a heartbeat returned a cancel request, and the step at which
    the handler then stopped (the ``Cancelled`` error the worker logs). All of it happens on the
    event loop's thread, so the order is exact: no clocks involved.

    ``steps[i]`` is the progress step heartbeat ``i`` wrote, or None when it wrote no progress
    (nothing new since the previous one)."""

    _STOPPED = re.compile(r"cancelled by the user after .* \(\w+ cancelled at step (\d+)\)")

    def __init__(self, database: Database) -> None:
        self._engine = database.engine.sync_engine
        self._logger = logging.getLogger("engine.runtime.worker")
        self._level = self._logger.level
        self._handler = logging.Handler()
        self._handler.emit = self._on_log  # type: ignore[method-assign]
        self.steps: list[int | None] = []
        #: how many heartbeats had been sent when the worker logged "cancel requested"
        self.cancel_seen_after: int | None = None
        #: the step the handler stopped at (``Cancelled.step``), from the worker's log
        self.stopped_at: int | None = None

    def __enter__(self) -> Heartbeats:
        event.listen(self._engine, "before_cursor_execute", self._on_statement)
        self._logger.addHandler(self._handler)
        self._logger.setLevel(logging.INFO)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        event.remove(self._engine, "before_cursor_execute", self._on_statement)
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(self._level)

    def _on_statement(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                      executemany: bool) -> None:
        if statement.startswith("UPDATE jobs SET") and statement.rstrip().endswith("cancel_requested"):
            compiled = context.compiled_parameters[0] if context is not None and context.compiled_parameters else {}
            if "heartbeat_at" in compiled:
                self.steps.append(compiled.get("step"))

    def _on_log(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.endswith(": cancel requested") and self.cancel_seen_after is None:
            self.cancel_seen_after = len(self.steps)
        if (stopped := self._STOPPED.search(message)) is not None:
            self.stopped_at = int(stopped.group(1))

    def step_when_cancel_was_seen(self) -> int:
        """The handler's step as sent by the heartbeat that returned the cancel request: the last
        step written by that heartbeat or one before it."""
        assert self.cancel_seen_after, "the worker never logged that a heartbeat returned the cancel"
        written = [step for step in self.steps[: self.cancel_seen_after] if step is not None]
        assert written, "no heartbeat wrote progress before the cancel was seen"
        return written[-1]
