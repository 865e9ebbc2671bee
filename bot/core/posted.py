"""What the front ends record of the messages they post: a job's progress message (edited as the
job goes on) and the messages with a user's pictures that /delete takes back."""

from __future__ import annotations

from bot.core.replies import UserRef
from db.models import Job, PostedMessage
from db.session import Database
from db.users import find_user


async def remember_progress_message(database: Database, job_id: int, message_id: str) -> None:
    async with database.transaction() as session:
        job = await session.get(Job, job_id)
        if job is not None:
            job.reply_message_id = str(message_id)


async def remember_posted(database: Database, user: UserRef, chat_id: str, message_id: str) -> None:
    """A message with the user's pictures that the front end posted where the bot can delete it
    later (a Discord DM): /delete takes it back with the portraits' albums."""
    async with database.transaction() as session:
        account = await find_user(session, user.platform, user.user_id)
        if account is not None:
            session.add(PostedMessage(user_id=account.id, platform=user.platform, chat_id=chat_id,
                                      message_id=message_id))
