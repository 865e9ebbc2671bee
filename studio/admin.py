"""Operator actions that run outside the chat front ends."""

from __future__ import annotations

from db import credits
from db.session import Database
from db.users import get_or_create_user
from studio.settings import Settings


async def grant_credits(settings: Settings, platform: str, platform_user_id: str, amount: int, *, note: str = "") -> int:
    database = Database.from_settings(settings)
    try:
        await database.migrate()
        async with database.transaction() as session:
            user, _ = await get_or_create_user(session, platform, platform_user_id, free_credits=settings.free_credits)
            return await credits.grant(session, user.id, amount, reason="admin_grant", note=note)
    finally:
        await database.dispose()
