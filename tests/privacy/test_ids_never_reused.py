"""Ids reach scratch folders, storage keys, buttons and remote jobs: none may ever be handed out twice."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from alembic import command
from sqlalchemy import select

from db.migrate import alembic_config
from db.models import Job, JobKind, SelfieSet, User
from db.session import Database
from db.users import delete_user, get_or_create_user


async def _user_with_job(database: Database, platform_id: str) -> tuple[int, int, int]:
    async with database.transaction() as session:
        user, _ = await get_or_create_user(session, "telegram", platform_id)
        selfie_set = SelfieSet(user_id=user.id)
        job = Job(user_id=user.id, kind=JobKind.train, correlation_id="ab" * 16)
        session.add_all([selfie_set, job])
        await session.flush()
        return user.id, selfie_set.id, job.id


async def test_a_deleted_users_ids_go_to_nobody_else(database):
    alice = await _user_with_job(database, "1")
    async with database.transaction() as session:
        assert await delete_user(session, alice[0])
    bob = await _user_with_job(database, "2")
    assert all(new > old for new, old in zip(bob, alice, strict=True)), (alice, bob)


def _old_database(path: Path) -> None:
    """A database at revision 0004 (before AUTOINCREMENT) with Alice's rows, her last ones deleted."""
    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{path}"), "0004")
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA foreign_keys = ON")
    connection.executescript("""
        INSERT INTO users (id, platform, platform_user_id, display_name, language, credits, created_at)
            VALUES (1, 'telegram', '1', 'Alice', '', 3, '2026-11-01'), (2, 'telegram', '2', 'Carol', '', 0, '2026-11-01');
        INSERT INTO jobs (id, user_id, kind, state, priority, payload, correlation_id, attempts, max_attempts,
                          cancel_requested, stage, progress, step, total_steps, credits_reserved, credit_state,
                          reply_platform, reply_chat_id, created_at)
            VALUES (1, 1, 'train', 'queued', 0, '{}', 'c1', 0, 3, 0, 'queued', 0, 0, 0, 0, 'none', '', '', '2026-11-01'),
                   (2, 2, 'train', 'queued', 0, '{}', 'c2', 0, 3, 0, 'queued', 0, 0, 0, 0, 'none', '', '', '2026-11-01');
        INSERT INTO credit_ledger (user_id, delta, balance_after, reason, job_id, note, created_at)
            VALUES (1, 3, 3, 'welcome', 1, '', '2026-11-01');
    """)
    connection.commit()
    connection.close()


async def test_the_migration_keeps_every_row_and_stops_reuse_on_an_old_sqlite_database(tmp_path):
    path = tmp_path / "old.db"
    await asyncio.to_thread(_old_database, path)  # alembic's env runs its own event loop
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await database.migrate()
        async with database.transaction() as session:
            users = (await session.scalars(select(User).order_by(User.id))).all()
            assert [(u.id, u.display_name, u.credits) for u in users] == [(1, "Alice", 3), (2, "Carol", 0)]
            jobs = (await session.scalars(select(Job).order_by(Job.id))).all()
            assert [(j.id, j.user_id, j.correlation_id) for j in jobs] == [(1, 1, "c1"), (2, 2, "c2")]
            # the cascades still hold after the rebuild: Carol's job goes with her
            assert await delete_user(session, 2)
        async with database.transaction() as session:
            assert [j.id for j in (await session.scalars(select(Job))).all()] == [1]
        dave = await _user_with_job(database, "4")
        assert dave[0] == 3 and dave[2] == 3  # not Carol's 2
    finally:
        await database.dispose()
    connection = sqlite3.connect(path)
    schema = "\n".join(row[0] for row in connection.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
    assert "uq_jobs_one_active_training" in schema and "WHERE kind = 'train'" in schema  # partial index kept
    assert "ck_users_credits_not_negative" in schema and "ON DELETE CASCADE" in schema
    assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    assert connection.execute("SELECT count(*) FROM credit_ledger WHERE job_id = 1").fetchone() == (1,)
    connection.close()


async def test_the_migrations_build_exactly_what_the_models_describe(database):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from db.models import Base

    def differences(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
