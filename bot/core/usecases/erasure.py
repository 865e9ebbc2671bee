"""/delete: everything of the user's, the messages with their portraits the bot can take back, the
rows and the stored files."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from bot.core import actions, texts
from bot.core.context import Context, say
from bot.core.replies import Button, Reply, UserRef
from db import held_notices, jobs
from db.models import PostedMessage
from db.users import delete_user, find_user

log = logging.getLogger(__name__)

RETRACT_TRIES = 3
RETRACT_PAUSE_SECONDS = 1.0


@dataclass(frozen=True)
class DeleteOutcome:
    """What /delete could not finish at once: files the sweep removes later, messages left in a chat."""

    files_pending: bool = False
    messages_left: int = 0


async def ask(ctx: Context, user: UserRef, _args: list[str]) -> list[Reply]:
    # The button names the account it deletes: a confirmation left over from before an earlier
    # /delete must not delete the account the user has made since.
    async with ctx.database.read() as session:
        account = await find_user(session, user.platform, user.user_id)
    ref = account.id if account is not None else 0
    return say(
        texts.DELETE_CONFIRM,
        (Button(texts.BUTTON_DELETE_YES, actions.delete_yes(ref)), Button(texts.BUTTON_DELETE_NO, actions.DELETE_NO)),
        private=True,
    )


async def answer(ctx: Context, user: UserRef, arg: str) -> list[Reply]:
    """``delete:yes:<account>`` or ``delete:no``."""
    choice, _, ref = arg.partition(":")
    if choice == "yes":
        return await confirmed(ctx, user, ref)
    return say(texts.DELETE_KEPT, private=True)


async def confirmed(ctx: Context, user: UserRef, ref: str) -> list[Reply]:
    async with ctx.database.read() as session:
        account = await find_user(session, user.platform, user.user_id)
    if account is not None and ref != str(account.id):
        return say(texts.DELETE_BUTTON_OLD, private=True)
    outcome = await delete_everything(ctx, user)
    text = texts.DELETED_FILES_PENDING if outcome.files_pending else texts.DELETED
    if outcome.messages_left:
        text += "\n\n" + texts.DELETED_MESSAGES_LEFT.format(messages=texts.MESSAGE_COUNT(outcome.messages_left))
    return say(text, private=True)


async def delete_everything(ctx: Context, user: UserRef) -> DeleteOutcome:
    """Every copy: the messages with portraits the bot can take back, the rows (a running job
    notices at its next heartbeat, stops and removes what it wrote: engine.runtime.worker), storage.
    Where storage could not remove every file now, the account is gone all the same and the
    retention sweep removes what is left (db/orphans.py). A second /delete of the account while
    one runs (a double tap on "Yes") runs nothing itself: it waits for that one and gets its outcome."""
    key = (user.platform, user.user_id)
    running = ctx.deleting.get(key)
    if running is None:
        running = asyncio.create_task(_delete_everything(ctx, user), name=f"delete {user.platform}:{user.user_id}")
        ctx.deleting[key] = running
        running.add_done_callback(lambda _: ctx.deleting.pop(key, None))
    return await asyncio.shield(running)  # a caller that goes away does not stop the deletion half way


async def _delete_everything(ctx: Context, user: UserRef) -> DeleteOutcome:
    async with ctx.database.transaction() as session:
        account = await find_user(session, user.platform, user.user_id)
        await held_notices.forget(session, user.platform, user.user_id)  # receipts waiting for them
        if account is None:
            return DeleteOutcome()
        user_id = account.id
        posted = (await session.scalars(select(PostedMessage).where(PostedMessage.user_id == user_id))).all()
        progress = [(job.reply_platform, job.reply_chat_id, job.reply_message_id)
                    for job in await jobs.active_jobs(session, user_id) if job.reply_message_id]
    taken_back, left_in_chat = await _take_back(ctx, posted)  # outside the transaction: it talks to the platform
    if (take_back_unrecorded := ctx.seam(user.platform).retract_unrecorded) is not None:
        try:
            await take_back_unrecorded(user.user_id)
        except Exception:
            log.warning("could not take back the unrecorded messages of %s:%s", user.platform, user.user_id,
                        exc_info=True)
    async with ctx.database.transaction() as session:
        await delete_user(session, user_id)
    ctx.audiences.forget(user)  # a language picked before is gone with the account
    await _close_progress(ctx, progress)
    try:
        removed = await ctx.storage.delete_user(user_id)
    except Exception:  # storage refused or timed out: the sweep of files without a user finishes it
        log.warning("deleted user %s, but not all of their stored files yet; the retention sweep removes "
                    "the rest", user_id, exc_info=True)
        return DeleteOutcome(files_pending=True, messages_left=left_in_chat)
    log.info("deleted user %s, %d stored objects and %d posted messages (%d could not be)", user_id, removed,
             taken_back, left_in_chat)
    return DeleteOutcome(messages_left=left_in_chat)


async def _close_progress(ctx: Context, messages: Sequence[tuple[str | None, str | None, str | None]]) -> None:
    """The progress messages of the jobs a /delete stopped: their jobs are gone with the account,
    so no watcher will ever edit them; they say so now and lose their Cancel button."""
    for platform, chat_id, message_id in messages:
        edit = ctx.seam(platform or "").edit
        if edit is None or not chat_id or not message_id:
            continue
        try:
            await edit(chat_id, message_id, Reply(texts.DELETED_JOB_STOPPED))
        except Exception:
            log.info("could not close progress message %s in %s:%s", message_id, platform, chat_id, exc_info=True)


async def _take_back(ctx: Context, posted: Sequence[PostedMessage]) -> tuple[int, int]:
    """(taken back, left in the chat): each message is tried up to ``RETRACT_TRIES`` times (a 5xx or
    a rate limit passes); once the rows are gone nothing could try again."""
    done = left = 0
    for message in posted:
        retract = ctx.seam(message.platform).retract
        if retract is None:
            log.warning("message %s in %s:%s can't be deleted from this process", message.message_id,
                        message.platform, message.chat_id)
            left += 1
            continue
        for attempt in range(1, RETRACT_TRIES + 1):
            try:
                await retract(message.chat_id, message.message_id)
                done += 1
                break
            except Exception:
                log.warning("could not delete message %s in %s:%s (try %d of %d)", message.message_id,
                            message.platform, message.chat_id, attempt, RETRACT_TRIES, exc_info=True)
                if attempt < RETRACT_TRIES:
                    await asyncio.sleep(RETRACT_PAUSE_SECONDS * attempt)
        else:
            left += 1
    return done, left
