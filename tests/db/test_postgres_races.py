"""PostgreSQL under racing processes: migrations started at once, keyed grants applied at once."""

from __future__ import annotations

import asyncio

import pytest

from db import credits
from db.session import Database
from tests.conftest import _fresh_postgres_url
from tests.runtime.helpers import balance, make_user

pytestmark = pytest.mark.postgres


async def test_eight_processes_may_migrate_a_fresh_database_at_once(postgres_server):
    url = await _fresh_postgres_url(postgres_server)
    databases = [Database(url) for _ in range(8)]  # eight engines: eight processes' connections
    try:
        results = await asyncio.gather(*(d.migrate() for d in databases), return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
    finally:
        await asyncio.gather(*(d.dispose() for d in databases))


async def test_racing_keyed_grants_apply_once_and_fail_nobody(postgres_server):
    url = await _fresh_postgres_url(postgres_server)
    first = Database(url)
    await first.migrate()
    user = await make_user(first, free=0)
    databases = [Database(url) for _ in range(8)]

    async def grant(database: Database) -> int:
        async with database.transaction() as session:
            return await credits.grant(session, user, 5, reason="purchase", key="payment:abc")

    try:
        results = await asyncio.gather(*(grant(d) for d in databases), return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert await balance(first, user) == 5
    finally:
        await asyncio.gather(*(d.dispose() for d in databases))
        await first.dispose()
