"""Users who come and go on one install (the story of issue 11), with the real `studio worker`
process and the files on disk inspected after each /delete, on SQLite and on PostgreSQL.

Alice trains and paints, then deletes everything; Bob joins, trains and paints. Before: the
engine's scratch folders kept Alice's face model after her /delete, SQLite gave Bob her ids, and
Bob's portraits were painted with her deleted LoRA (a file of hers reused from `data/work/job-2`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from db.models import Job, JobState, User
from tests.conftest import _fresh_postgres_url
from tests.support.selfies import obama_selfies
from tests.support.telegram_server import FakeTelegram
from tests.support.worker import studio_worker
from tests.telegram.conftest import agree, running_bot

ALICE, BOB = 601, 602
pytestmark = pytest.mark.slow


def personal_files(data_dir: Path) -> list[str]:
    """Every file under the data folder that is not the database, the logs, the install's key or
    the storage of users still here: what /delete must have left nothing of."""
    keep = {"studio.db", "studio.db-wal", "studio.db-shm", "worker.log", "account-hash.key"}
    return sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*")
                  if p.is_file() and p.name not in keep and "storage" not in p.relative_to(data_dir).parts)


async def train_and_paint(telegram: FakeTelegram, user: int, name: str) -> None:
    await agree(telegram, user, name)
    for data in obama_selfies(8):
        await telegram.send_photo(user, data, name=name, media_group_id=f"selfies-{user}")
    summary = await telegram.wait_for_text(user, "ready to train", timeout=90)
    await telegram.press(user, summary, "Train my model", name=name)
    await telegram.press(user, await telegram.wait_for_text(user, "Who is in the photos"), "A man", name=name)
    ready = await telegram.wait_for_text(user, "Your model is ready", timeout=300)
    await telegram.press(user, ready, "Professional", name=name)
    await telegram.press(user, await telegram.wait_for_text(user, "Professional — pick one"), "LinkedIn", name=name)
    await telegram.wait_for(lambda m: m.method == "sendMediaGroup" and m.chat_id == user, timeout=300,
                            what=f"{name}'s album")
    await telegram.wait_for_text(user, "Here you go")


async def delete_everything(telegram: FakeTelegram, user: int, name: str) -> None:
    await telegram.send_text(user, "/delete", name=name)
    await telegram.press(user, await telegram.wait_for_text(user, "erases everything"), "Yes, delete", name=name)
    await telegram.wait_for_text(user, "everything of yours is gone")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_alice_deletes_everything_then_bob_joins(tmp_path, telegram: FakeTelegram, request, backend) -> None:
    database: dict[str, str] = {}
    if backend == "postgres":
        database["database_url"] = await _fresh_postgres_url(request.getfixturevalue("postgres_server"))
    async with running_bot(tmp_path, telegram, free_credits=2, **database) as bot:
        data_dir = bot.settings.data_dir
        storage = bot.services.storage
        with studio_worker(data_dir, **database):
            await train_and_paint(telegram, ALICE, "Alice")
            async with bot.services.database.transaction() as session:
                alice = await session.scalar(select(User).where(User.platform_user_id == str(ALICE)))
                assert alice is not None
                alice_id = alice.id
                alice_jobs = [j.id for j in await session.scalars(select(Job).where(Job.user_id == alice_id))]
            assert len(alice_jobs) == 3  # training, its preview, the portraits
            assert personal_files(data_dir) == []  # all three jobs are over: their scratch folders are gone
            alice_model = (await storage.get(f"users/{alice_id}/loras/1.safetensors"))

            await delete_everything(telegram, ALICE, "Alice")
            assert personal_files(data_dir) == []
            assert await storage.list(f"users/{alice_id}/") == []
            stored = [p for p in (data_dir / "storage").rglob("*") if p.is_file()]
            assert all(p.read_bytes() != alice_model for p in stored)

            await train_and_paint(telegram, BOB, "Bob")
            async with bot.services.database.transaction() as session:
                bob = await session.scalar(select(User).where(User.platform_user_id == str(BOB)))
                assert bob is not None and bob.id != alice_id  # nobody is handed a deleted user's id
                bob_jobs = list(await session.scalars(select(Job).where(Job.user_id == bob.id).order_by(Job.id)))
                assert [(j.kind, j.state) for j in bob_jobs] == [
                    ("train", JobState.succeeded), ("preview", JobState.succeeded), ("generate", JobState.succeeded)]
                assert not {j.id for j in bob_jobs} & set(alice_jobs)
                painted_with = bob_jobs[2].payload["lora_key"]
            assert painted_with.startswith(f"users/{bob.id}/")
            assert await storage.get(painted_with) != alice_model
            assert personal_files(data_dir) == []
            # Bob's own data is all in storage, under his prefix only
            assert {k.split("/")[1] for k in await storage.list("users/")} == {str(bob.id)}


async def test_a_delete_while_the_model_trains_leaves_nothing_when_the_job_ends(tmp_path, telegram: FakeTelegram
                                                                               ) -> None:
    import asyncio

    async with running_bot(tmp_path, telegram, free_credits=2) as bot:
        data_dir = bot.settings.data_dir
        with studio_worker(data_dir) as worker:
            await agree(telegram, ALICE, "Alice")
            for data in obama_selfies(8):
                await telegram.send_photo(ALICE, data, name="Alice", media_group_id="selfies")
            summary = await telegram.wait_for_text(ALICE, "ready to train", timeout=90)
            await telegram.press(ALICE, summary, "Train my model", name="Alice")
            await telegram.press(ALICE, await telegram.wait_for_text(ALICE, "Who is in the photos"), "A man",
                                 name="Alice")
            await telegram.wait_for(lambda m: m.chat_id == ALICE and "%" in (m.text or "") and "Learning" in m.text
                                    and "0%" not in m.text, timeout=120, what="training under way")
            await delete_everything(telegram, ALICE, "Alice")
            deadline = asyncio.get_running_loop().time() + 60
            log = data_dir / "worker.log"
            while "its rows are gone" not in log.read_text():  # the worker noticed at a heartbeat and stopped
                assert asyncio.get_running_loop().time() < deadline, log.read_text()[-3000:]
                await asyncio.sleep(0.2)
            while personal_files(data_dir) or await bot.services.storage.list("users/"):
                assert asyncio.get_running_loop().time() < deadline, (
                    personal_files(data_dir), await bot.services.storage.list("users/"))
                await asyncio.sleep(0.2)
            assert worker.poll() is None  # the worker goes on for everyone else
