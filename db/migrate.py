"""Apply Alembic migrations programmatically at start-up (no alembic.ini needed)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
log = logging.getLogger(__name__)


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# Any number of processes may start at once: on PostgreSQL the upgrade holds this advisory lock
# (for its transaction), so one migrates and the others then find the schema up to date.
# (SQLite: BEGIN IMMEDIATE already lets one writer in at a time.)
MIGRATION_LOCK = 0x5354_5544  # "STUD"


def _upgrade(connection: Any) -> str:
    from alembic.runtime.migration import MigrationContext

    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    return MigrationContext.configure(connection).get_current_revision() or ""


async def upgrade_to_head(engine: AsyncEngine) -> str:
    """Apply every pending migration; returns the schema's revision."""
    async with engine.begin() as connection:
        revision = await connection.run_sync(_upgrade)
    log.info("database schema is up to date (revision %s)", revision)
    return revision
