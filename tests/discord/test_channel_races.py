"""A Discord channel that everyone sees: an album that lands while its owner deletes, a take-back that
Discord refuses, one style button pressed by two people. ``ChannelStandIn`` is the Discord side (what
the messenger posts and deletes); the watcher, the studio and the database are the real ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.seams import PlatformSeam
from bot.core.usecases import erasure as studio_module
from bot.core.notifier import JobWatcher
from bot.core.replies import Reply, UserRef
from bot.core.studio import Studio
from db.models import Job, JobKind, JobState, PostedMessage
from db.session import Database
from db.storage import LocalStorage
from db.users import get_or_create_user
from bot.core.services import Services
from config.settings import Settings
from styles import load_catalogue


class ChannelStandIn:
    platform = "discord"

    def __init__(self) -> None:
        self.live: dict[str, str] = {}
        self.during_upload = None
        self.refuse_deletes = 0
        self._ids = 0

    async def send(self, chat_id: str, reply: Reply) -> str:
        return (await self.send_tracked(chat_id, reply))[0]

    async def send_tracked(self, chat_id: str, reply: Reply) -> tuple[str, list[str]]:
        if reply.album and self.during_upload is not None:
            hook, self.during_upload = self.during_upload, None
            await hook()  # the owner's /delete runs while the album uploads
        self._ids += 1
        self.live[str(self._ids)] = "album" if reply.album else reply.text
        return str(self._ids), [str(self._ids)] if reply.album else []

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        pass

    async def retract(self, chat_id: str, message_id: str) -> None:
        if self.refuse_deletes:
            self.refuse_deletes -= 1
            raise RuntimeError("503 Service Unavailable")
        self.live.pop(message_id, None)


@pytest.fixture
def studio(tmp_path: Path, database: Database) -> Studio:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    return Studio(Services(settings, database, LocalStorage(tmp_path / "storage"), load_catalogue()))


async def test_an_album_that_lands_during_delete_is_taken_back(studio: Studio, database: Database) -> None:
    channel = ChannelStandIn()
    studio.connect(PlatformSeam("discord", retract=channel.retract))
    ann = UserRef("discord", "77", "555", "Ann")
    async with database.transaction() as session:
        user, _ = await get_or_create_user(session, "discord", "77")
        job = Job(user_id=user.id, kind=JobKind.generate, state=JobState.succeeded, correlation_id="c" * 32,
                  reply_platform="discord", reply_chat_id="555", payload={"style_id": "linkedin-headshot", "count": 1},
                  result={"images": [{"key": f"users/{user.id}/outputs/1/0-4x5.jpg", "index": 0, "aspect": "4:5"}]})
        session.add(job)
        await session.flush()
        job_id = job.id
    await studio.storage.put(f"users/{user.id}/outputs/1/0-4x5.jpg", b"jpeg")
    channel.during_upload = lambda: studio.delete_everything(ann)
    await JobWatcher(studio, channel).deliver(job_id)
    assert "album" not in channel.live.values()  # it could not be recorded for /delete: taken back at once


async def posted_album(studio: Studio, database: Database, uid: str, refusals: int) -> tuple[ChannelStandIn, int]:
    """A user with one album in the channel, recorded for /delete; Discord refuses ``refusals`` deletes.
    Also the user's account id, which their /delete confirmation button names."""
    channel = ChannelStandIn()
    channel.live["1"] = "album"
    channel.refuse_deletes = refusals
    studio.connect(PlatformSeam("discord", retract=channel.retract))
    async with database.transaction() as session:
        user, _ = await get_or_create_user(session, "discord", uid)
        session.add(PostedMessage(user_id=user.id, platform="discord", chat_id="555", message_id="1"))
    return channel, user.id


async def test_a_take_back_discord_refuses_once_is_tried_again(studio: Studio, database: Database,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(studio_module, "RETRACT_PAUSE_SECONDS", 0.01)
    channel, ref = await posted_album(studio, database, "78", refusals=1)
    told = await studio.action(UserRef("discord", "78", "555", "Ann"), f"delete:yes:{ref}")
    assert channel.live == {} and "everything of yours is gone" in told[0].text


async def test_a_message_that_cannot_be_taken_back_is_named_to_the_user(studio: Studio, database: Database,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(studio_module, "RETRACT_PAUSE_SECONDS", 0.01)
    _, ref = await posted_album(studio, database, "79", refusals=99)
    told = await studio.action(UserRef("discord", "79", "555", "Ann"), f"delete:yes:{ref}")
    assert "I couldn't take 1 message with your portraits out of the chat: please delete them yourself" in told[0].text


async def test_two_people_pressing_one_style_button_in_a_channel_each_get_their_portraits(
        studio: Studio, database: Database) -> None:
    """The "model ready" picker is posted in the channel, where anyone can press it: the second
    press was taken for a double tap of the first person's and got nothing at all."""
    from db import jobs
    from db.models import LoraModel, LoraStatus

    ids = []
    for uid in ("1001", "1002"):
        async with database.transaction() as session:
            user, _ = await get_or_create_user(session, "discord", uid, free_credits=10)
            session.add(LoraModel(user_id=user.id, base_model="tiny", token="ohwx", class_word="man",
                                  status=LoraStatus.ready, storage_key=f"users/{user.id}/loras/1.safetensors"))
            ids.append(user.id)
    style = next(iter(studio.catalogue)).id
    for uid, name in (("1001", "Ann"), ("1002", "Bob")):
        replies = await studio.action(UserRef("discord", uid, "555", name), f"style:{style}", source_message_id="9000")
        assert replies, f"{name} got no answer"
    async with database.transaction() as session:
        assert [len(await jobs.active_jobs(session, user_id)) for user_id in ids] == [1, 1]
