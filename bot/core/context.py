"""What every use case of the conversation works with: the process's services, the user's account,
and the seams of the platforms that are connected. One instance per process (``Studio`` makes it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.audiences import Audiences
from bot.core.replies import Button, Reply, UserRef
from bot.core.seams import PlatformSeam
from bot.core.selfies import SelfieBook
from bot.core.shop import packs_on
from bot.core.style_sheet import StyleSheets
from db.models import User
from db.session import Database
from db.storage import Storage
from db.users import credits_of_a_new_account, find_user, get_or_create_user
from engine.intake import IntakeConfig
from bot.core.services import Services
from config.settings import Settings
from styles import Catalogue

T = TypeVar("T")


@dataclass
class Context:
    services: Services
    intake: IntakeConfig
    selfies: SelfieBook
    style_sheets: StyleSheets
    allowance_key: bytes
    audiences: Audiences
    seams: dict[str, PlatformSeam] = field(default_factory=dict)
    #: the /delete running per account: a second one at the same time (a double tap) waits for it
    deleting: dict[tuple[str, str], asyncio.Task[Any]] = field(default_factory=dict)
    #: the gallery's private link for a user (None: no account); None where no gallery is served
    gallery_link: Callable[[UserRef], Awaitable[str | None]] | None = None

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def database(self) -> Database:
        return self.services.database

    @property
    def storage(self) -> Storage:
        return self.services.storage

    @property
    def catalogue(self) -> Catalogue:
        return self.services.catalogue

    @property
    def max_photos(self) -> int:
        return max(self.intake.min_photos, 20)

    def seam(self, platform: str) -> PlatformSeam:
        """The platform's seam; one that no front end connected can do nothing."""
        return self.seams.get(platform) or PlatformSeam(platform)

    def selling(self, platform: str) -> bool:
        return bool(packs_on(self.settings, platform))

    async def account(self, session: AsyncSession, user: UserRef) -> User:
        account, _ = await get_or_create_user(
            session, user.platform, user.user_id, display_name=user.display_name, free_credits=self.settings.free_credits,
            allowance_key=self.allowance_key, language=user.language,
        )
        return account

    async def first_visit_credits(self, session: AsyncSession, user: UserRef) -> int:
        """The free credits an account made now would start with (none where this platform account had
        them before)."""
        return await credits_of_a_new_account(session, user.platform, user.user_id,
                                              free_credits=self.settings.free_credits, allowance_key=self.allowance_key)

    async def read_account(self, user: UserRef, read: Callable[[AsyncSession, User], Awaitable[T]]) -> T:
        """``read`` over the user's account in a read-only snapshot, which neither takes nor waits for
        the write lock (``Database.read``); a first visit makes the account and reads in that one
        transaction (it writes anyway)."""
        async with self.database.read() as session:
            account = await find_user(session, user.platform, user.user_id)
            if account is not None:
                return await read(session, account)
        async with self.database.transaction() as session:
            return await read(session, await self.account(session, user))


def say(text: str, *rows: tuple[Button, ...], private: bool = False) -> list[Reply]:
    """One message, with rows of buttons."""
    return [Reply(text, tuple(rows), private=private)]
