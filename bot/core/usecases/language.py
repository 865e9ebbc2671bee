"""/language: the languages the bot speaks, each a button with its own name; a pick is kept on the
account (it outlives restarts and the app's own setting), "my app's language" follows the app again."""

from __future__ import annotations

import logging

from bot.core import actions, texts
from bot.core.context import Context, say
from bot.core.replies import Button, Reply, UserRef
from db.users import set_languages
from i18n import current, language_name, languages, pick, speaking

log = logging.getLogger(__name__)

PER_ROW = 2


async def ask(ctx: Context, user: UserRef, _args: list[str]) -> list[Reply]:
    return [picker(texts.LANGUAGE_PICK.format(language=language_name(current().language)))]


def picker(text: str) -> Reply:
    buttons = [Button(language_name(code), actions.language(code)) for code in languages()]
    rows = [tuple(buttons[i:i + PER_ROW]) for i in range(0, len(buttons), PER_ROW)]
    return Reply(text, (*rows, (Button(texts.BUTTON_LANGUAGE_FROM_APP, actions.language("")),)), private=True)


async def choose(ctx: Context, user: UserRef, code: str) -> list[Reply]:
    """``code``: a language the bot speaks, or "" to follow the app's language again."""
    chosen = pick(code) if code else None
    if code and chosen is None:  # a button from a version that spoke a language this one does not
        return [picker(str(texts.LANGUAGE_UNKNOWN))]
    async with ctx.database.transaction() as session:
        account = await ctx.account(session, user)
        await set_languages(session, account.id, chosen=chosen)
    ctx.audiences.forget(user)
    log.info("%s:%s speaks %s", user.platform, user.user_id, chosen or "their app's language")
    with speaking(await ctx.audiences.of(user)) as audience:
        if chosen:
            return say(texts.LANGUAGE_CHOSEN, private=True)
        return say(texts.LANGUAGE_FROM_APP.format(language=language_name(audience.language)), private=True)



