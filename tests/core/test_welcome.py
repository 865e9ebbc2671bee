from __future__ import annotations

from bot.core.studio import Studio
from tests.core.conftest import ALEX, actions_of, agreed, text_of, with_model


async def test_a_first_start_greets_and_asks_for_consent_once(studio: Studio) -> None:
    first = await studio.command(ALEX, "start")
    assert first[0].text.startswith("👋 Hi Alex!") and "You have 3 credits" in first[0].text
    assert actions_of(first) == ["tips", "styles", "consent"]
    await studio.action(ALEX, "consent")
    again = await studio.command(ALEX, "start")
    assert "consent" not in actions_of(again)


async def test_consent_is_recorded_once(studio: Studio) -> None:
    await studio.command(ALEX, "start")
    assert "Thank you! Now send me 8–20 selfies" in text_of(await studio.action(ALEX, "consent"))
    assert await studio.has_consented(ALEX)
    assert text_of(await studio.action(ALEX, "consent")) != text_of(await studio.action(ALEX, "tips"))


async def test_a_returning_user_with_a_model_is_welcomed_back_and_typing_gets_the_styles(studio: Studio) -> None:
    await with_model(studio)
    assert "ready" in text_of(await studio.command(ALEX, "start")).lower()
    typed = await studio.text(ALEX, "hello?")
    assert all(action.startswith("cat:") for action in actions_of(typed))


async def test_typing_before_any_model_asks_for_selfies(studio: Studio) -> None:
    await agreed(studio)
    assert "selfies" in text_of(await studio.text(ALEX, "hello?")).lower()


async def test_an_unknown_command_says_so_with_the_help(studio: Studio) -> None:
    reply = text_of(await studio.command(ALEX, "frobnicate"))
    assert reply.startswith("I don't know /frobnicate") and "/styles" in reply


async def test_help_on_a_platform_that_sells_names_buy_and_the_terms(make_studio) -> None:  # type: ignore[no-untyped-def]
    selling = make_studio(credit_packs="small:10:250")
    assert "/buy" in text_of(await selling.command(ALEX, "help"))
    assert "/buy" not in text_of(await make_studio().command(ALEX, "help"))


async def test_a_first_start_writes_nothing_and_agreeing_makes_the_account_it_promised(studio: Studio) -> None:
    """/start made the account, in a transaction that waited for SQLite's write lock behind every
    other user's album (its p99 was the slowest text command under load), and kept a person's name
    before they agreed to anything. It only reads now; agreeing makes the account, with the credits
    the welcome named, and /start after /delete promises none again."""
    from sqlalchemy import event, func, select

    from db.models import User

    database = studio.services.database
    locks: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.upper().startswith("BEGIN IMMEDIATE"):
            locks.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    try:
        first = text_of(await studio.command(ALEX, "start"))
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", seen)
    assert "You have 3 credits" in first and locks == []
    async with database.read() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0
    await studio.action(ALEX, "consent")
    assert "3" in text_of(await studio.command(ALEX, "credits"))
    async with database.read() as session:
        account = await session.scalar(select(User))
        assert account is not None and account.credits == 3 and account.display_name == "Alex"
    await studio.delete_everything(ALEX)
    assert "You have 0 credits" in text_of(await studio.command(ALEX, "start"))
