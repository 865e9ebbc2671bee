"""Shared helpers of the runtime tests: users, jobs, books."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

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
