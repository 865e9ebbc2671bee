"""The process's queue of SQLite writers (db/write_queue.py): first come first served, except that a
waiting command goes before waiting bulk work (an album's record). Before, an album's record that came
first held up a new user's /start that came a moment later."""

from __future__ import annotations

import asyncio

import pytest

from db.write_queue import WriteQueue


async def _served_order(arrivals: list[tuple[str, bool]]) -> list[str]:
    queue, order = WriteQueue(), []
    await queue.acquire()  # someone holds it while the others arrive

    async def writer(name: str, bulk: bool) -> None:
        await queue.acquire(bulk=bulk)
        order.append(name)
        await asyncio.sleep(0)
        queue.release()

    tasks = []
    for name, bulk in arrivals:
        tasks.append(asyncio.create_task(writer(name, bulk)))
        await asyncio.sleep(0)  # they arrive in this order
    queue.release()
    await asyncio.gather(*tasks)
    return order


async def test_a_waiting_command_goes_before_waiting_bulk_work_and_each_kind_in_arrival_order() -> None:
    order = await _served_order([("album 1", True), ("start 1", False), ("album 2", True), ("start 2", False)])
    assert order == ["start 1", "start 2", "album 1", "album 2"]


async def test_with_one_kind_it_is_first_come_first_served() -> None:
    names = [f"w{i}" for i in range(12)]
    assert await _served_order([(n, False) for n in names]) == names
    assert await _served_order([(n, True) for n in names]) == names


async def test_a_free_queue_is_taken_at_once_and_a_cancelled_wait_leaves_nothing_behind() -> None:
    queue = WriteQueue()
    await queue.acquire(bulk=True)
    waiting = asyncio.create_task(queue.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert queue.waiting == 0
    queue.release()
    await asyncio.wait_for(queue.acquire(), 1)  # free again, not held by the cancelled one
    queue.release()


async def test_a_writer_cancelled_as_it_is_handed_the_turn_passes_it_on() -> None:
    queue = WriteQueue()
    await queue.acquire()
    first = asyncio.create_task(queue.acquire())
    second = asyncio.create_task(queue.acquire(bulk=True))
    await asyncio.sleep(0)
    queue.release()  # the turn is the first's now …
    first.cancel()  # … but it is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # the second got it
    queue.release()
    await asyncio.wait_for(queue.acquire(), 1)


async def test_on_sqlite_a_command_that_came_later_writes_before_an_albums_record(tmp_path) -> None:
    from db.session import Database

    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'studio.db'}")
    await database.migrate()
    order: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with database.transaction():
            await release.wait()

    async def writer(name: str, bulk: bool) -> None:
        async with database.transaction(bulk=bulk):
            order.append(name)

    held = asyncio.create_task(holder())
    await asyncio.sleep(0.05)
    album = asyncio.create_task(writer("album", True))
    await asyncio.sleep(0.05)
    start = asyncio.create_task(writer("/start", False))
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(held, album, start)
    await database.dispose()
    assert order == ["/start", "album"]
