"""Privacy in the chat: consent before the first photo, the free allowance once per account."""

from __future__ import annotations

from sqlalchemy import func, select

from db.models import AllowanceClaim, Photo, User
from tests.support.selfies import obama_selfies
from tests.telegram.conftest import agree

ALEX = 501


async def test_no_photo_is_looked_at_before_the_user_confirms(bot_factory) -> None:
    async with bot_factory() as bot:
        telegram = bot.telegram
        await telegram.send_photo(ALEX, obama_selfies(1)[0])
        request = await telegram.wait_for_text(ALEX, "I can't take photos yet")
        assert "are of you" in request.text and "18 or older" in request.text
        assert request.button_labels == ["✅ I confirm"]
        async with bot.services.database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Photo)) == 0
            assert (await session.scalar(select(User))).consented_at is None
        assert not any(p.is_file() for p in bot.settings.resolved_storage_dir.rglob("*"))

        await telegram.press(ALEX, request, "I confirm")
        await telegram.wait_for_text(ALEX, "Thank you! Now send me 8–20 selfies")
        assert telegram.messages[request.message_id].buttons == []  # answered: not pressed twice
        await telegram.send_photo(ALEX, obama_selfies(1)[0])
        await telegram.wait_for_text(ALEX, "Got your photo — looks great")
        async with bot.services.database.transaction() as session:
            assert (await session.scalar(select(User))).consented_at is not None
            assert await session.scalar(select(func.count()).select_from(Photo)) == 1

        await telegram.send_text(ALEX, "/start")  # once confirmed, /start does not ask again
        await telegram.wait_for_text(ALEX, "Hi Alex")
        await bot.settled(ALEX)
        assert sum("Before your first photo" in (t or "") for t in telegram.texts_to(ALEX)) == 1  # the refusal only


async def test_delete_then_start_does_not_grant_the_free_credits_again(bot_factory) -> None:
    async with bot_factory(free_credits=3) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        await telegram.send_text(ALEX, "/credits")
        await telegram.wait_for_text(ALEX, "You have 3 credits")
        await telegram.send_text(ALEX, "/delete")
        await telegram.press(ALEX, await telegram.wait_for_text(ALEX, "erases everything"), "Yes, delete")
        await telegram.wait_for_text(ALEX, "everything of yours is gone")
        async with bot.services.database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(User)) == 0
            claims = list(await session.scalars(select(AllowanceClaim.account_hash)))
        assert len(claims) == 1 and str(ALEX) not in claims[0] and len(claims[0]) == 64  # a keyed hash, no id

        await telegram.send_text(ALEX, "/start")
        welcome = await telegram.wait_for(lambda m: m.chat_id == ALEX and "Hi Alex" in (m.text or "") and "0 credits" in m.text,
                                          what="a welcome with no free credits")
        assert "3 credits" not in welcome.text
        await telegram.send_text(502, "/start", name="Bea")  # a new account still gets them
        await telegram.wait_for(lambda m: m.chat_id == 502 and "Hi Bea" in (m.text or "") and "3 credits" in m.text,
                                what="Bea's welcome")
