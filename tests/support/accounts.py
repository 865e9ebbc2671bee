"""A user's account as the bot makes it: /start alone makes none (it only reads); agreeing, buying or
anything else that writes makes it, with the free credits the welcome named."""

from __future__ import annotations

from typing import Any

from bot.core.replies import UserRef
from db.models import User


async def account_of(bot: Any, platform: str, user_id: int | str, name: str = "") -> User:
    """``bot``: a running test bot (its ``front_end.studio`` and ``services``)."""
    async with bot.services.database.transaction() as session:
        return await bot.front_end.studio.ctx.account(session, UserRef(platform, str(user_id), str(user_id), name))
