"""Privacy in the chat: consent before the first photo, the free allowance once per account."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import func, select

from db.models import AllowanceClaim, Photo, User
from tests.support.selfies import obama_selfies
from tests.telegram.conftest import agree, start_training

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
        # a keyed hash, no id: not the id, nor a hash anyone could make from it without the key (the
        # id's digits may of course turn up in 64 hex digits by chance)
        unkeyed = {hashlib.sha256(text.encode()).hexdigest() for text in (str(ALEX), f"telegram:{ALEX}")}
        assert len(claims) == 1 and re.fullmatch("[0-9a-f]{64}", claims[0]) and claims[0] not in unkeyed

        await telegram.send_text(ALEX, "/start")
        welcome = await telegram.wait_for(lambda m: m.chat_id == ALEX and "Hi Alex" in (m.text or "") and "0 credits" in m.text,
                                          what="a welcome with no free credits")
        assert "3 credits" not in welcome.text
        await telegram.send_text(502, "/start", name="Bea")  # a new account still gets them
        await telegram.wait_for(lambda m: m.chat_id == 502 and "Hi Bea" in (m.text or "") and "3 credits" in m.text,
                                what="Bea's welcome")


async def test_a_delete_that_storage_refuses_is_finished_by_the_next_sweep(bot_factory) -> None:
    """Storage failing under /delete (S3 timing out) used to leave the selfies for good: the rows were
    gone, so a second /delete found no account and said everything was gone."""
    from db.storage import StorageError

    async with bot_factory() as bot:
        telegram, storage = bot.telegram, bot.services.storage
        await agree(telegram, ALEX)
        await telegram.send_photo(ALEX, obama_selfies(1)[0])
        await telegram.wait_for_text(ALEX, "Got your photo")
        assert len(await storage.list("users/")) == 1
        real_delete = storage.delete_prefix

        async def refuse(prefix: str) -> int:
            raise StorageError("1 of 1 objects under users/1/ were not deleted (InternalError)")

        storage.delete_prefix = refuse
        await telegram.send_text(ALEX, "/delete")
        await telegram.press(ALEX, await telegram.wait_for_text(ALEX, "erases everything"), "Yes, delete")
        told = await telegram.wait_for_text(ALEX, "Your account, credits and history are deleted")
        assert "removed automatically within the hour" in told.text and "everything of yours is gone" not in told.text
        storage.delete_prefix = real_delete
        assert len(await storage.list("users/")) == 1  # still there, owned by nobody
        await bot.front_end.watcher.retention.run()
        assert await storage.list("users/") == []


async def test_photos_stored_while_the_user_deletes_are_not_kept(bot_factory) -> None:
    """An album is answered in its own task: a /delete confirmed while its files were being stored
    left those files behind, owned by nobody, and the user got an apology."""
    from bot.core.replies import UserRef

    async with bot_factory() as bot:
        telegram, storage, studio = bot.telegram, bot.services.storage, bot.front_end.studio
        await agree(telegram, ALEX)
        real_put = storage.put
        deleted = []

        async def put_then_delete(key: str, data: bytes, **options: object) -> str:
            stored = await real_put(key, data, **options)
            if not deleted:  # the user confirms /delete right after the first selfie is written
                deleted.append(await studio.delete_everything(UserRef("telegram", str(ALEX), str(ALEX))))
            return stored

        storage.put = put_then_delete
        await telegram.send_photo(ALEX, obama_selfies(1)[0])
        await telegram.wait_for_text(ALEX, "Your account was deleted while these photos arrived, so I didn't keep them")
        assert [d.files_pending for d in deleted] == [False] and await storage.list("users/") == []
        async with bot.services.database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(User)) == 0
            assert await session.scalar(select(func.count()).select_from(Photo)) == 0


async def test_an_old_delete_button_does_not_delete_the_account_made_since(bot_factory) -> None:
    """Two /delete confirmations, the first one pressed, then new selfies: pressing the older second
    confirmation deleted the new account and its photos."""
    async with bot_factory() as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        await telegram.send_text(ALEX, "/delete")
        first = await telegram.wait_for_text(ALEX, "erases everything")
        await telegram.send_text(ALEX, "/delete")
        second = await telegram.wait_for(lambda m: m.chat_id == ALEX and "erases everything" in (m.text or "")
                                         and m.message_id > first.message_id, what="the second confirmation")
        await telegram.press(ALEX, first, "Yes, delete")
        gone = await telegram.wait_for_text(ALEX, "everything of yours is gone")
        await telegram.send_text(ALEX, "/start")  # back again: a new account
        ask = await telegram.wait_for(lambda m: m.chat_id == ALEX and "Before your first photo" in (m.text or "")
                                      and m.message_id > gone.message_id, what="the consent question again")
        await telegram.press(ALEX, ask, "I confirm")
        await telegram.send_photo(ALEX, obama_selfies(1)[0])
        await telegram.wait_for_text(ALEX, "Got your photo")
        await telegram.press(ALEX, second, "Yes, delete")
        refusal = await telegram.wait_for_text(ALEX, "That button is from before your last /delete")
        assert "everything you have sent since is still here" in refusal.text
        async with bot.services.database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Photo)) == 1


async def test_delete_closes_the_progress_message_of_a_job_it_stops(bot_factory) -> None:
    """A /delete during training left "Learning your face… 31 %" with a live Cancel button for good
    (the job went with the account, so nothing would ever edit it again)."""
    async with bot_factory(free_credits=2) as bot:
        telegram = bot.telegram
        await agree(telegram, ALEX)
        progress = await start_training(telegram, ALEX)
        await telegram.send_text(ALEX, "/delete")
        await telegram.press(ALEX, await telegram.wait_for_text(ALEX, "erases everything"), "Yes, delete")
        await telegram.wait_for_text(ALEX, "everything of yours is gone")
        await telegram.wait_for(lambda m: m.message_id == progress.message_id and "you deleted everything" in m.text,
                                what="the progress message closed")
        assert telegram.messages[progress.message_id].buttons == []
