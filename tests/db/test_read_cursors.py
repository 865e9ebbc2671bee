"""Read cursors (db/cursors.py): how far the Telegram start-up pass has read the bot's Stars
transactions. A cursor starts at 0, is stored on the first move, and only ever moves forward."""

from __future__ import annotations

from db import cursors


async def test_a_cursor_starts_at_nothing_and_only_moves_forward(database) -> None:
    async with database.transaction() as session:
        assert await cursors.position(session, "telegram-stars:1") == 0
        assert await cursors.advance(session, "telegram-stars:1", 300) == 300
    async with database.transaction() as session:  # a pass that started earlier and read less
        assert await cursors.advance(session, "telegram-stars:1", 200) == 300
        assert await cursors.advance(session, "telegram-stars:1", 522) == 522
    async with database.transaction() as session:
        assert await cursors.position(session, "telegram-stars:1") == 522
        assert await cursors.position(session, "telegram-stars:2") == 0  # another bot reads from the start
