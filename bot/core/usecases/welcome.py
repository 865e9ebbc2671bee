"""The first steps and the small talk: /start, consent, /help, /privacy, tips, and what the bot
says to a message it can't use."""

from __future__ import annotations

import logging

from bot.core import actions, texts
from bot.core.context import Context, say
from bot.core.replies import Button, Reply, UserRef
from bot.core.usecases.menus import style_picker
from db import trainings
from db.models import LoraStatus
from db.users import find_user, record_consent

log = logging.getLogger(__name__)


async def start(ctx: Context, user: UserRef, _args: list[str]) -> list[Reply]:
    """The welcome. It only reads: a first visit makes no account (nothing is kept of a person before
    they agree, and no write lock is waited for); agreeing or buying makes it, with the free credits
    the welcome promised."""
    async with ctx.database.read() as session:
        account = await find_user(session, user.platform, user.user_id)
        if account is None:
            newest = painter = None
            balance, consented = await ctx.first_visit_credits(session, user), False
        else:
            newest, painter = await trainings.models(session, account.id)
            balance, consented = account.credits, account.consented_at is not None
    text = texts.welcome(user.display_name, balance, ctx.intake.min_photos, ctx.max_photos)
    if painter is not None:  # a returning user: not "send me selfies" alone, as if they began again
        text += "\n\n" + texts.WELCOME_BACK_READY
    elif newest is not None and newest.status == LoraStatus.training:
        text += "\n\n" + texts.WELCOME_BACK_TRAINING
    replies = say(text, (Button(texts.BUTTON_TIPS, actions.TIPS), Button(texts.BUTTON_SEE_STYLES, actions.STYLES)))
    return replies if consented else [*replies, consent_request(texts.CONSENT)]


def consent_request(text: str) -> Reply:
    return Reply(text, ((Button(texts.BUTTON_CONSENT, actions.CONSENT),),), private=True)


def consent_first() -> list[Reply]:
    return [consent_request(f"{texts.CONSENT_FIRST}\n\n{texts.CONSENT}")]


async def has_consented(ctx: Context, user: UserRef) -> bool:
    async with ctx.database.read() as session:
        account = await find_user(session, user.platform, user.user_id)
        return account is not None and account.consented_at is not None


async def consent(ctx: Context, user: UserRef) -> list[Reply]:
    async with ctx.database.transaction() as session:
        recorded = await record_consent(session, await ctx.account(session, user))
    if not recorded:
        return say(texts.CONSENT_ALREADY, private=True)
    log.info("consent recorded for %s:%s", user.platform, user.user_id)
    return say(texts.CONSENT_THANKS.format(min_photos=ctx.intake.min_photos, max_photos=ctx.max_photos), private=True)


async def help_text(ctx: Context, user: UserRef, _args: list[str]) -> list[Reply]:
    if ctx.selling(user.platform):
        head, _, tail = texts.HELP.partition("\n\n")
        return say(f"{head}\n{texts.HELP_BUY}\n\n{tail}\n\n{texts.TERMS}")
    return say(texts.HELP)


async def privacy(ctx: Context, user: UserRef, _args: list[str]) -> list[Reply]:
    settings = ctx.settings
    return say(texts.privacy(settings.selfie_retention_days, settings.model_retention_days,
                             settings.expiry_notice_days, selling=ctx.selling(user.platform),
                             unused_selfie_days=settings.unused_selfie_retention_days,
                             takes_back_messages=ctx.seam(user.platform).retract is not None))


def unknown_command(name: str) -> list[Reply]:
    unknown = texts.UNKNOWN_COMMAND.format(name=name[:32])
    return say(f"{unknown}\n\n{texts.HELP}")


async def typed(ctx: Context, user: UserRef, *, expecting: str = texts.NOT_A_PHOTO_TEXT) -> list[Reply]:
    """A message typed to the bot (or one of a kind it can't use): selfies are what it wants
    (``expecting`` says how to send them from where the user is), unless a model paints already (a
    user back for more portraits): then the styles."""
    async with ctx.database.read() as session:
        account = await find_user(session, user.platform, user.user_id)
        painter = await trainings.painting_model(session, account.id) if account is not None else None
    if painter is not None:
        return [style_picker(ctx, texts.TYPED_WITH_MODEL)]
    return say(expecting)


def private_chat_only(private_chat_link: str) -> list[Reply]:
    """A command said where others read along (a Telegram group): selfies, portraits and balances are
    the user's alone, so nothing is started there (no account, no consent); the answer is the way
    to the private chat."""
    return say(texts.PRIVATE_CHAT_ONLY, (Button(texts.BUTTON_OPEN_PRIVATE_CHAT, "", url=private_chat_link),))


def unsupported(kind: str, *, limit_mb: int | str = 20) -> list[Reply]:
    """A sticker, video, animation, voice message or a file too large to download."""
    message = {
        "sticker": texts.STICKER, "video": texts.VIDEO, "animation": texts.ANIMATION, "audio": texts.AUDIO,
        "file_too_big": texts.FILE_TOO_BIG.format(limit_mb=limit_mb),
    }.get(kind, texts.NOT_A_PHOTO_TEXT)
    return say(message)
