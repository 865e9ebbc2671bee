"""Read cursors: how far a platform's own append-only record has been read and settled.

The Telegram start-up reconciliation reads the bot's Stars transactions oldest first; a cursor
lets the next start go on from where the last one stopped instead of re-reading the whole history.
A cursor only moves forward: two passes that overlap (two starts close together) never take it
back over transactions the other has not settled.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ReadCursor, utcnow


async def position(session: AsyncSession, name: str) -> int:
    """How many entries of ``name`` have been read and settled (0: none yet)."""
    found = await session.scalar(select(ReadCursor.position).where(ReadCursor.name == name))
    return found or 0


async def advance(session: AsyncSession, name: str, to: int) -> int:
    """Move ``name`` forward to ``to`` (never back); returns the position now stored."""
    moved = await session.execute(update(ReadCursor).where(ReadCursor.name == name, ReadCursor.position < to)
                                  .values(position=to, updated_at=utcnow()))
    if moved.rowcount:  # type: ignore[attr-defined]
        return to
    if await session.scalar(select(ReadCursor.position).where(ReadCursor.name == name)) is None:
        try:
            async with session.begin_nested():
                session.add(ReadCursor(name=name, position=to, updated_at=utcnow()))
            return to
        except IntegrityError:  # another pass wrote it first: forward only, again
            return await advance(session, name, to)
    return await position(session, name)
