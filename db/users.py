"""Users: one row per (platform, platform user id), created on first contact with a free allowance."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import allowance, credits
from db.models import LoraModel, SelfieSet, User, utcnow
from db.upsert import insert_unless_present

log = logging.getLogger(__name__)


NUMERIC_ID_PLATFORMS = frozenset({"telegram", "discord"})


class NoAccount(Exception):
    """Credits to take from an account that does not exist (a grant would create it to take them)."""


def is_account_id(platform: str, platform_user_id: str) -> bool:
    """Whether an admin's ``platform_user_id`` can name an account there: Telegram's and Discord's
    are numbers (a @username or display name is not one, and a grant to it would credit nobody)."""
    return platform not in NUMERIC_ID_PLATFORMS or (platform_user_id.isascii() and platform_user_id.isdigit())


async def find_user(session: AsyncSession, platform: str, platform_user_id: str) -> User | None:
    return await session.scalar(
        select(User).where(User.platform == platform, User.platform_user_id == str(platform_user_id))
    )


async def credits_of_a_new_account(session: AsyncSession, platform: str, platform_user_id: str, *,
                                   free_credits: int, allowance_key: bytes | None) -> int:
    """What ``get_or_create_user`` would give an account made now, read without making it."""
    if free_credits and allowance_key is not None and await allowance.claimed(
            session, allowance_key, platform, str(platform_user_id)):
        return 0
    return free_credits


async def get_or_create_user(
    session: AsyncSession, platform: str, platform_user_id: str, *, display_name: str = "", free_credits: int = 0,
    allowance_key: bytes | None = None, language: str = "",
) -> tuple[User, bool]:
    """Return the user and whether it was created now. Safe when two requests race to create it.
    With ``allowance_key``, ``free_credits`` go only to an account that never had them
    (``db.allowance``): not again after ``/delete``."""
    user = await find_user(session, platform, platform_user_id)
    if user is not None:
        return user, False
    made = insert_unless_present(session, User, platform=platform, platform_user_id=str(platform_user_id),
                                 display_name=display_name[:128], language=language[:16]).returning(User)
    user = await session.scalar(made)
    if user is None:  # another request made it a moment ago
        user = await find_user(session, platform, platform_user_id)
        assert user is not None
        return user, False
    if free_credits and allowance_key is not None and not await allowance.claim(
            session, allowance_key, platform, str(platform_user_id)):
        log.info("user %s: this account had its free allowance before; none this time", user.id)
        free_credits = 0
    if free_credits:
        await credits.welcome(session, user, free_credits)
    return user, True


async def delete_user(session: AsyncSession, user_id: int) -> bool:
    """Delete the user's rows; every owned table cascades. Blobs are the caller's (storage) job."""
    result = await session.execute(delete(User).where(User.id == user_id).returning(User.id))
    return result.scalar_one_or_none() is not None


async def record_consent(session: AsyncSession, user: User, *, now: datetime | None = None) -> bool:
    """The user confirmed the photos are of themselves and they are 18 or older; False if already."""
    if user.consented_at is not None:
        return False
    user.consented_at = now or utcnow()
    return True


@dataclass(frozen=True, slots=True)
class Voice:
    """What the database knows of how to speak to a user."""

    chosen: str | None
    """The language they picked with /language; None: their app's."""
    client: str
    """The language their app was set to when last heard from ("" before the first)."""
    gender: str
    """The class word they gave their photos (``man``, ``woman``), else ``person``."""


async def voice_of(session: AsyncSession, user: User) -> Voice:
    trained = await session.scalar(select(LoraModel.class_word).where(LoraModel.user_id == user.id)
                                   .order_by(LoraModel.id.desc()).limit(1))
    given = trained or await session.scalar(
        select(SelfieSet.class_word).where(SelfieSet.user_id == user.id, SelfieSet.class_word != "person")
        .order_by(SelfieSet.id.desc()).limit(1))
    return Voice(chosen=user.chosen_language, client=user.language, gender=given or "person")


async def set_languages(session: AsyncSession, user_id: int, *, chosen: object = ..., client: str | None = None) -> None:
    """Store the language picked with /language (``chosen``; None: follow the app again) and/or the
    one the user's app is set to (``client``)."""
    values: dict[str, object] = {}
    if chosen is not ...:
        values["chosen_language"] = chosen
    if client is not None:
        values["language"] = client[:16]
    if values:
        await session.execute(update(User).where(User.id == user_id).values(**values))
