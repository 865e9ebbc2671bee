"""``INSERT … ON CONFLICT DO NOTHING`` in the dialect of the session's database (SQLite or PostgreSQL).

One statement where a look-up, a savepoint, an insert and its release were four: with ``RETURNING``,
no row back means the row was there already (or another transaction has just made it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_unless_present(session: AsyncSession, model: Any, **values: Any) -> Any:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(model).values(**values).on_conflict_do_nothing()
