"""A first visit makes the account in as few statements as it can: under load every statement is a
round trip that waits for the event loop (and, on SQLite, holds the write lock), and a new user's
/start was the slowest text command of the forty-users bench (bench/RESULTS.md)."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, func, select

from db import credits
from db.models import AllowanceClaim, CreditEntry, User
from db.users import delete_user, get_or_create_user

KEY = b"k" * 32


def _statements(database) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")):
            seen.append(statement.split(None, 3)[:3])
        elif statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE")):
            seen.append(["SAVEPOINT"])

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_a_new_account_with_its_welcome_credits_is_five_statements(database) -> None:
    seen = _statements(database)
    async with database.transaction() as session:
        user, created = await get_or_create_user(session, "telegram", "501", display_name="Ann", free_credits=3,
                                                 allowance_key=KEY)
        assert created and user.credits == 3  # the balance the update returned, not read back
    # find, insert the account, claim the allowance, add the credits, write the ledger entry (it was
    # 14 with three savepoints: a look-up and a savepoint before each insert, and a read-back)
    assert len(seen) == 5, seen
    async with database.read() as session:
        assert await credits.balance(session, user.id) == 3
        entries = (await session.execute(select(CreditEntry.reason, CreditEntry.idempotency_key))).all()
        assert [tuple(e) for e in entries] == [("welcome", f"welcome:{user.id}")]


async def test_two_first_visits_at_once_make_one_account_with_one_allowance(database) -> None:
    async def visit() -> tuple[int, bool]:
        async with database.transaction() as session:
            user, created = await get_or_create_user(session, "discord", "77", free_credits=3, allowance_key=KEY)
            return user.id, created

    results = await asyncio.gather(*(visit() for _ in range(4)))
    assert len({user_id for user_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    async with database.read() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 1
        assert await session.scalar(select(func.sum(CreditEntry.delta))) == 3


async def test_the_allowance_is_not_granted_again_after_delete(database) -> None:
    async with database.transaction() as session:
        user, _ = await get_or_create_user(session, "telegram", "9", free_credits=3, allowance_key=KEY)
        assert await delete_user(session, user.id)
    async with database.transaction() as session:
        again, created = await get_or_create_user(session, "telegram", "9", free_credits=3, allowance_key=KEY)
        assert created and again.id != user.id and again.credits == 0
    async with database.read() as session:
        assert await session.scalar(select(func.count()).select_from(AllowanceClaim)) == 1
        assert await credits.balance(session, again.id) == 0
