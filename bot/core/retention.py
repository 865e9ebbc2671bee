"""The retention sweep as a front end runs it: tell the users of this platform whose model is about
to go (once), then delete what is due (``db.retention``). Every front end's job watcher runs one;
the deletions are idempotent, so two front ends sweeping the same database do no harm."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING


from bot.core import texts
from bot.core.audiences import account_audience
from bot.core.messenger import Messenger, Unreachable
from bot.core.replies import Button, Reply
from i18n import date_text, speaking
from db import retention
from db.orphans import sweep_orphans
from db.models import User, utcnow

if TYPE_CHECKING:
    from bot.core.studio import Studio

log = logging.getLogger(__name__)


class RetentionSweeper:
    def __init__(self, studio: Studio, messenger: Messenger, *, every_seconds: float | None = None) -> None:
        self.studio = studio
        self.messenger = messenger
        settings = studio.settings
        self.policy = retention.Policy.from_settings(settings)
        self.every_seconds = every_seconds if every_seconds is not None else settings.retention_sweep_minutes * 60
        self._next_at = 0.0

    async def maybe_run(self) -> None:
        if time.monotonic() < self._next_at:
            return
        self._next_at = time.monotonic() + self.every_seconds
        await self.run()

    async def run(self, now: datetime | None = None) -> retention.Plan:
        now = now or utcnow()
        database, storage = self.studio.database, self.studio.storage
        async with database.transaction() as session:
            found = await retention.plan(session, self.policy, now)
        for notice in found.notices:
            await self._tell(notice, now)
        removed = await retention.apply(database, storage, found)
        await sweep_orphans(database, storage)  # files a /delete could not remove at the time
        if found.selfies or found.models or found.unused:
            log.info("retention sweep: %d selfie set(s), %d model(s), %d unused set(s), %d file(s) deleted",
                     len(found.selfies), len(found.models), len(found.unused), removed)
        return found

    async def _tell(self, notice: retention.ExpiringModel, now: datetime) -> None:
        database = self.studio.database
        async with database.transaction() as session:
            user = await session.get(User, notice.user_id)
            if user is None or user.platform != self.messenger.platform:
                return  # the front end of that platform tells them
        # privately: the chat of their last job may be a server channel or a group that others read
        direct_chat = getattr(self.messenger, "direct_chat", None)
        try:
            chat = await direct_chat(user.platform_user_id) if direct_chat else user.platform_user_id
        except Exception:
            log.warning("no private chat with user %s to tell that their model goes; trying again at the next "
                        "sweep", user.id, exc_info=True)
            return
        with speaking(await account_audience(database, user)):  # in their language, with their day
            text = texts.MODEL_EXPIRES.format(date=date_text(notice.expires_at))
            # with the way to keep it: paint a style
            notice_reply = Reply(text, ((Button(texts.BUTTON_SEE_STYLES, "styles"),),))
        try:
            await self.messenger.send(chat, notice_reply)
        except Unreachable:
            log.info("user %s can't be told that their model goes on %s: their chat is closed", user.id,
                     notice.expires_at.date())
        except Exception:
            log.exception("telling user %s that their model goes failed; trying again at the next sweep", user.id)
            return
        async with database.transaction() as session:
            await retention.mark_warned(session, notice.lora_id, now)
