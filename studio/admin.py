"""Operator actions that run outside the chat front ends."""

from __future__ import annotations

from datetime import datetime

from db import credits
from db.session import Database
from db.users import NoAccount, find_user, get_or_create_user
from config.settings import Settings


async def grant_credits(settings: Settings, platform: str, platform_user_id: str, amount: int, *, note: str = "") -> int:
    database = Database.from_settings(settings)
    try:
        await database.migrate()
        async with database.transaction() as session:
            if amount < 0 and await find_user(session, platform, platform_user_id) is None:
                raise NoAccount(f"{platform}:{platform_user_id}")
            user, _ = await get_or_create_user(session, platform, platform_user_id, free_credits=settings.free_credits,
                                               allowance_key=allowance_key(settings))
            return await credits.grant(session, user.id, amount, reason="admin_grant", note=note)
    finally:
        await database.dispose()


def allowance_key(settings: Settings) -> bytes:
    from db.allowance import load_key

    configured = settings.account_hash_key
    return load_key(configured.get_secret_value() if configured else None, settings.data_dir)


async def refund(settings: Settings, charge_id: str, *, allow_negative: bool) -> str:
    """``studio refund``: a Telegram Stars payment back to its buyer, and its credits back from them."""
    from telegram import Bot

    from bot.core import shop
    from bot.telegram.payments import refund_stars
    from config.settings import require_secret

    token = require_secret(settings, "telegram_token", "refunding a Telegram payment")
    options = {"base_url": settings.telegram_base_url} if settings.telegram_base_url else {}
    database = Database.from_settings(settings)
    try:
        await database.migrate()
        async with Bot(token, **options) as bot:
            async def give_back(buyer: str, charge: str) -> None:
                await refund_stars(bot, buyer, charge)

            done = await shop.refund(database, "telegram", charge_id, give_back, allow_negative=allow_negative)
    finally:
        await database.dispose()
    line = f"refunded {charge_id}: {done.taken_back} of {done.credits} credit(s) taken back"
    return line + (f", shortfall {done.shortfall} recorded" if done.shortfall else "")


async def takings(settings: Settings, since: datetime | None) -> list[str]:
    from db import payments
    from studio.takings import report

    database = Database.from_settings(settings)
    try:
        await database.migrate()
        async with database.transaction() as session:
            return report(await payments.since(session, since), since)
    finally:
        await database.dispose()


async def run_retention(settings: Settings, *, dry_run: bool) -> list[str]:
    """What the retention sweep would delete (``dry_run``) or deletes now; notices are the bots'."""
    from db import retention
    from db.models import utcnow
    from db.storage import storage_from_settings

    database = Database.from_settings(settings)
    try:
        await database.migrate()
        async with database.transaction() as session:
            found = await retention.plan(session, retention.Policy.from_settings(settings), utcnow())
        lines = found.lines()
        if not dry_run:
            removed = await retention.apply(database, storage_from_settings(settings), found)
            lines.append(f"deleted {removed} file(s)")
        return lines
    finally:
        await database.dispose()
