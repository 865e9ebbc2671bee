"""Every update is answered in its sender's language: what the core says (it sets the audience
itself) and what this front end says by itself (an alert, a "checking…" note, an apology, a refused
checkout). Telegram names a language per update (``from_user.language_code``); the user's /language
choice, kept on their account, comes first (``Studio.speaking_to``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update, User

from bot.core.replies import UserRef
from bot.core.studio import Studio
from i18n import Audience, speaking

log = logging.getLogger(__name__)

PLATFORM = "telegram"

Handler = Callable[[Update, Any], Awaitable[None]]


def user_of(update: Update) -> UserRef:
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    return UserRef(PLATFORM, str(user.id), str(chat.id), user.first_name or "", user.language_code or "")


def buyer_of(user: User) -> UserRef:
    """The user of a pre-checkout query (it has no chat; the bot's chat with a user has their id)."""
    return UserRef(PLATFORM, str(user.id), str(user.id), user.first_name or "", user.language_code or "")


async def audience_of(studio: Studio, user: UserRef) -> Audience:
    return await studio.audience_of(user)


def speaker_of(update: object) -> UserRef | None:
    """Who sent the update (None: nobody, e.g. a channel post)."""
    if not isinstance(update, Update) or update.effective_user is None:
        return None
    return user_of(update) if update.effective_chat is not None else buyer_of(update.effective_user)


def spoken(studio: Studio, handler: Handler) -> Handler:
    """``handler``, run in the language of the update's sender."""
    async def run(update: Update, context: Any) -> None:
        user = speaker_of(update)
        if user is None:
            await handler(update, context)
            return
        with speaking(await audience_of(studio, user)):
            await handler(update, context)

    run.__name__ = getattr(handler, "__name__", "handler")
    run.__qualname__ = getattr(handler, "__qualname__", run.__name__)
    return run


def telegram_language(code: str) -> str:
    """The language code Telegram's menus and descriptions take: two-letter ISO 639-1 (``pt`` for
    ``pt_BR``); Telegram shows them to users whose app is set to that language."""
    return code.split("_")[0].lower()
