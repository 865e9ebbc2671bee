from __future__ import annotations

from sqlalchemy import event, select

from bot.core.replies import IncomingFile
from bot.core.studio import Studio
from db.models import Photo
from tests.core.conftest import ALEX, actions_of, agreed, text_of, with_photos
from tests.support.selfies import obama_selfies, read


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


async def test_a_photo_judged_again_by_a_later_album_keeps_its_new_verdict(studio: Studio) -> None:
    """An album's new rows are judged with the set before they are inserted; the older photos whose
    verdicts that changes are written too, so /status and training see what the user was told."""
    await agreed(studio)
    first = text_of(await studio.photos(ALEX, [IncomingFile(read("biden.jpg"), "first.jpg")]))
    assert "1 of 8 good photos so far" in first, first
    later = [IncomingFile(data, f"selfie{i}.jpg") for i, data in enumerate(obama_selfies(4))]
    assert "4 of 8 good photos so far" in text_of(await studio.photos(ALEX, later))
    async with studio.services.database.read() as session:
        rows = (await session.execute(select(Photo.original_name, Photo.accepted, Photo.verdict_code)
                                      .order_by(Photo.position))).all()
    assert [tuple(r) for r in rows] == [("first.jpg", False, "different_person")] + [
        (f"selfie{i}.jpg", True, None) for i in range(4)]


async def test_an_album_is_recorded_in_one_short_transaction(studio: Studio) -> None:
    """On SQLite an album's record holds the write lock every other user's command waits for: it
    took 12 statements for 7 photos (a look-up of the account, the set, the photos, an insert a
    row, the photos again) and a second transaction with the lock just to find the set."""
    await agreed(studio)
    database = studio.services.database
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement.split()[0].upper())

    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    try:
        await studio.photos(ALEX, [IncomingFile(data, f"a{i}.jpg") for i, data in enumerate(obama_selfies(7))])
        first = list(statements)
        statements.clear()
        more = [IncomingFile(data, f"b{i}.jpg") for i, data in enumerate(obama_selfies(9)[7:])]
        await studio.photos(ALEX, more)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", seen)
    # the first album opens the set (one short locking transaction), then records the 7 rows in one
    # of 4 statements: the set, its photos, one insert; the second album takes the lock only for that
    assert first.count("BEGIN") == 2 and first.count("INSERT") == 2, first
    assert statements.count("BEGIN") == 1 and statements.count("INSERT") == 1, statements
    locked = statements[statements.index("BEGIN"):]
    assert len(locked) <= 4, locked
