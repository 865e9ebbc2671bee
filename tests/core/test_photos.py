from __future__ import annotations

from bot.core.replies import IncomingFile
from bot.core.studio import Studio
from tests.core.conftest import ALEX, actions_of, text_of, with_photos
from tests.support.selfies import read


async def test_photos_before_consent_are_not_looked_at(studio: Studio) -> None:
    await studio.command(ALEX, "start")
    reply = await studio.photos(ALEX, [IncomingFile(read("obama.jpg"), "a.jpg")])
    assert actions_of(reply) == ["consent"]


async def test_a_set_of_eight_is_ready_to_train(studio: Studio) -> None:
    reply = await with_photos(studio, 8)
    assert text_of(reply).startswith("Got 8 photos — 8 look great ✅"), text_of(reply)
    assert "You have 8 good photos." in text_of(reply) and actions_of(reply) == ["train", "add_more"]


async def test_a_short_set_says_how_many_more(studio: Studio) -> None:
    reply = await with_photos(studio, 3)
    assert "3 of 8 good photos so far — send 5 more." in text_of(reply), text_of(reply)


async def test_a_refused_photo_is_named_with_its_reason(studio: Studio) -> None:
    await with_photos(studio, 2)
    document = IncomingFile(b"not a picture", "holiday.pdf", sent_as_document=True)
    reply = text_of(await studio.photos(ALEX, [document]))
    assert reply.startswith("Got your photo, but I can't use it:\n✖ holiday.pdf: "), reply
