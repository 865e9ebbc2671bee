from __future__ import annotations

from sqlalchemy import func, select

from bot.core.seams import PlatformSeam
from bot.core.studio import Studio
from db.models import PostedMessage, User
from tests.core.conftest import ALEX, actions_of, agreed, text_of, with_photos


async def users(studio: Studio) -> int:
    async with studio.database.read() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_delete_asks_first_and_no_keeps_everything(studio: Studio) -> None:
    await agreed(studio)
    ask = await studio.command(ALEX, "delete")
    yes, no = actions_of(ask)
    assert yes.startswith("delete:yes:") and no == "delete:no"
    assert text_of(await studio.action(ALEX, no)) == "Nothing was deleted."
    assert await users(studio) == 1


async def test_yes_erases_the_account_its_photos_and_the_messages_the_platform_can_take_back(
        studio: Studio) -> None:
    taken_back: list[tuple[str, str]] = []

    async def retract(chat_id: str, message_id: str) -> None:
        taken_back.append((chat_id, message_id))

    studio.connect(PlatformSeam("telegram", retract=retract))
    await with_photos(studio, 2)
    async with studio.database.transaction() as session:
        account = await session.scalar(select(User))
        session.add(PostedMessage(user_id=account.id, platform="telegram", chat_id="501", message_id="77"))  # type: ignore[union-attr]
    yes = actions_of(await studio.command(ALEX, "delete"))[0]
    assert "everything of yours is gone" in text_of(await studio.action(ALEX, yes))
    assert await users(studio) == 0 and taken_back == [("501", "77")]
    assert not any((studio.storage.root / "users").rglob("*.jpg"))  # type: ignore[attr-defined]


async def test_a_confirmation_from_before_an_earlier_delete_deletes_nothing(studio: Studio) -> None:
    await agreed(studio)
    old_yes = actions_of(await studio.command(ALEX, "delete"))[0]
    await studio.action(ALEX, old_yes)
    await agreed(studio)  # a new account since
    await studio.action(ALEX, old_yes)
    assert await users(studio) == 1
