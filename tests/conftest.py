from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from db.session import Database
from config.settings import Settings
from tests.support.postgres import PostgresServer, find_bin_dir

# Tests never read the developer's own .env or STUDIO_* settings. The STUDIO_TEST_* variables
# are the test suite's own switches (`make test` sets STUDIO_TEST_REQUIRE_POSTGRES) and stay.
TEST_ENV_PREFIX = "STUDIO_TEST_"
for _name in [n for n in os.environ if n.startswith("STUDIO_") and not n.startswith(TEST_ENV_PREFIX)]:
    del os.environ[_name]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        if os.environ.get("STUDIO_TEST_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL binaries not found but STUDIO_TEST_REQUIRE_POSTGRES is set")
        pytest.skip("PostgreSQL is not installed (.ci/run installs it)")
    server = PostgresServer.start(bin_dir)
    yield server
    server.stop()


async def _fresh_postgres_url(server: PostgresServer) -> str:
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(host="127.0.0.1", port=server.port, user="postgres", database="postgres")
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:{server.port}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database: the SQLite default and a real PostgreSQL, same tests for both."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'studio.db'}"
    else:
        url = await _fresh_postgres_url(request.getfixturevalue("postgres_server"))
    db = Database(url)
    await db.migrate()
    yield db
    await db.dispose()


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'studio.db'}")
    await db.migrate()
    yield db
    await db.dispose()
