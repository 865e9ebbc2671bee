"""Stored files whose user is gone: what a /delete could not remove at the time (storage refused or
timed out, an album was still being stored, a remote job wrote its portraits late) is removed by
the next sweep. User ids are never handed out again (``AUTOINCREMENT`` / identity columns), so a
``users/<id>/`` folder without a user row can only be the leftover of a deleted account."""

from __future__ import annotations

import logging

from sqlalchemy import select

from db.models import User
from db.session import Database
from db.storage import Storage, StorageError

log = logging.getLogger(__name__)


async def sweep_orphans(database: Database, storage: Storage) -> int:
    """Delete every ``users/<id>/`` folder whose user no longer exists; returns the files removed."""
    stored = await storage.user_ids()
    if not stored:
        return 0
    async with database.transaction() as session:
        alive = set(await session.scalars(select(User.id).where(User.id.in_(stored))))
    removed = 0
    for user_id in sorted(stored - alive):
        try:
            removed += await storage.delete_user(user_id)
        except StorageError:
            log.warning("the files of deleted user %s could not all be removed; trying again at the next sweep",
                        user_id, exc_info=True)
    if removed:
        log.info("removed %d file(s) left behind by %d deleted account(s)", removed, len(stored - alive))
    return removed
