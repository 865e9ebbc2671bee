"""Notices held for a platform account until its next interaction (``HeldNotice``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import HeldNotice, utcnow

KEPT_FOR = timedelta(days=90)
"""A notice nobody came back for in this long is dropped (a receipt is in the ledger and /credits anyway)."""


async def hold(session: AsyncSession, platform: str, platform_user_id: str, bodies: list[dict[str, Any]]) -> None:
    session.add_all(HeldNotice(platform=platform, platform_user_id=platform_user_id, body=body) for body in bodies)


async def take(session: AsyncSession, platform: str, platform_user_id: str) -> list[dict[str, Any]]:
    """The account's held notices, oldest first, removed: two takers at once get them once (the
    rows a taker deletes are the ones it returns)."""
    deleted = await session.execute(
        delete(HeldNotice).where(HeldNotice.platform == platform, HeldNotice.platform_user_id == platform_user_id)
        .returning(HeldNotice.id, HeldNotice.body))
    return [body for _, body in sorted(deleted.all(), key=lambda row: row[0])]


async def holders(session: AsyncSession, platform: str, *, now: datetime | None = None) -> set[str]:
    """The platform accounts with notices held (read once at start, so an interaction of anyone
    else costs no query); notices older than ``KEPT_FOR`` are dropped first."""
    await session.execute(delete(HeldNotice).where(HeldNotice.platform == platform,
                                                   HeldNotice.created_at < (now or utcnow()) - KEPT_FOR))
    return set(await session.scalars(select(HeldNotice.platform_user_id).where(HeldNotice.platform == platform)
                                     .distinct()))


async def forget(session: AsyncSession, platform: str, platform_user_id: str) -> None:
    await session.execute(delete(HeldNotice).where(HeldNotice.platform == platform,
                                                   HeldNotice.platform_user_id == platform_user_id))
