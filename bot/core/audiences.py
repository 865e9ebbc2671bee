"""Which language, and which grammatical gender, each user is spoken to in.

The language is the one they picked with /language, else the one their app is set to on this very
update (someone who switches their phone's language hears the new one at once), else the one their
app had when last heard from (for what reaches them later: a finished job, a notice, a receipt),
else English. The gender is the class word they gave their photos ("a man", "a woman"); "prefer not
to say", or none yet, is spoken to in neutral wording. What was read is kept a short while
(``forget`` after a change made here; a change made by another process, such as the gallery's or a
second bot's, is seen within ``FRESH_SECONDS``)."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.core.replies import UserRef
from db import users
from db.models import User
from db.session import Database
from i18n import DEFAULT, Audience, pick, speaking

log = logging.getLogger(__name__)

KEPT = 10_000  # users whose voice is remembered (the least recently heard from go first)
FRESH_SECONDS = 60.0


class Audiences:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._voices: OrderedDict[tuple[str, str], tuple[float, users.Voice]] = OrderedDict()

    async def of(self, user: UserRef) -> Audience:
        voice = await self._voice(user)
        client = pick(user.language)
        if voice is not None and user.language and user.language != voice.client:
            await self._remember_client(user, voice)
        if voice is None:
            return Audience(client or DEFAULT)
        return Audience(pick(voice.chosen) or client or pick(voice.client) or DEFAULT, voice.gender)


    async def of_or_app(self, user: UserRef) -> Audience:
        """``of``, or where the account can't be read (the database is down) their app's language, so
        that the answer (an apology, often) is said all the same."""
        try:
            return await self.of(user)
        except Exception:
            log.warning("could not read how to speak to %s:%s; using their app's language", user.platform,
                        user.user_id, exc_info=True)
            return Audience(pick(user.language) or DEFAULT)

    @asynccontextmanager
    async def speaking_to(self, user: UserRef) -> AsyncIterator[Audience]:
        with speaking(await self.of_or_app(user)) as audience:
            yield audience

    def forget(self, user: UserRef) -> None:
        """After a change of their language or class word, or their /delete."""
        self._voices.pop((user.platform, user.user_id), None)

    async def _voice(self, user: UserRef) -> users.Voice | None:
        key = (user.platform, user.user_id)
        kept = self._voices.get(key)
        if kept is not None and time.monotonic() - kept[0] < FRESH_SECONDS:
            self._voices.move_to_end(key)
            return kept[1]
        async with self.database.read() as session:
            account = await users.find_user(session, user.platform, user.user_id)
            voice = await users.voice_of(session, account) if account is not None else None
        if voice is not None:  # no account yet: asked again once it exists
            self._voices[key] = (time.monotonic(), voice)
            self._voices.move_to_end(key)
            while len(self._voices) > KEPT:
                self._voices.popitem(last=False)
        return voice

    async def _remember_client(self, user: UserRef, voice: users.Voice) -> None:
        async with self.database.transaction() as session:
            account = await users.find_user(session, user.platform, user.user_id)
            if account is not None:
                await users.set_languages(session, account.id, client=user.language)
        self._voices[(user.platform, user.user_id)] = (time.monotonic(),
                                                       users.Voice(voice.chosen, user.language, voice.gender))


async def account_audience(database: Database, account: User) -> Audience:
    """How to speak to a user in what reaches them later, outside a turn of theirs (a notice), by
    their account's row: their pick, else their app's language when last heard from."""
    async with database.read() as session:
        found = await session.get(User, account.id)
        voice = await users.voice_of(session, found) if found is not None else None
    if voice is None:
        return Audience(pick(account.chosen_language) or pick(account.language) or DEFAULT)
    return Audience(pick(voice.chosen) or pick(voice.client) or DEFAULT, voice.gender)
