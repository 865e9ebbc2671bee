"""Liveness and readiness (issue 27): a worker whose job's heartbeat stops is seen as stuck (/livez
503) and as live again once it beats; /readyz is 503 while the database or storage does not answer
or a chat platform is not connected; the worker child of `studio run` gets a port of its own."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from db.session import Database
from db.storage import LocalStorage
from engine.runtime import worker as worker_module
from engine.runtime.backends.local import LocalBackend
from engine.runtime.handlers.context import EngineOptions
from engine.runtime.health import worker_server
from engine.runtime.worker import Worker, WorkerConfig
from telemetry.server import HealthServer, Platforms, database_check, storage_check
from tests.operator.scrape import get, scrape, value
from tests.core.conftest import make_studio  # noqa: F401 - the core's fixture
from tests.runtime.helpers import enqueue_noop, get as get_job, make_user

FAST = WorkerConfig(lease_seconds=5, tick_seconds=0.05, idle_seconds=0.05, reap_seconds=0.5)


def settings_for(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", metrics_host="127.0.0.1", **values)  # type: ignore[arg-type]


@pytest.fixture
async def worker(sqlite_database: Database, tmp_path: Path) -> AsyncIterator[Worker]:
    backend = LocalBackend()
    yield Worker(sqlite_database, LocalStorage(tmp_path / "storage"), backend, config=FAST, worker_id="health",
                 options=EngineOptions(work_dir=tmp_path / "work"))
    await backend.close()


async def eventually(port: int, path: str, status: int, timeout: float = 10) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got, text = await get(port, path)
        if got == status:
            return text
        assert asyncio.get_running_loop().time() < deadline, f"{path} stayed {got}: {text}"
        await asyncio.sleep(0.05)


async def test_a_worker_whose_heartbeat_stops_is_stuck(sqlite_database: Database, worker: Worker, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server = worker_server(settings_for(tmp_path, worker_stuck_ticks=10), worker, sqlite_database, worker.storage,
                           port=0)  # stuck after 10 ticks of 0.05 s
    port = await server.start()
    user = await make_user(sqlite_database, free=2)
    job_id = await enqueue_noop(sqlite_database, user, seconds=30, steps=3000)
    run = asyncio.create_task(worker.run())
    try:
        while (await get_job(sqlite_database, job_id)).step < 1:
            await asyncio.sleep(0.02)
        assert await eventually(port, "/livez", 200) == "ok\n"  # running, heartbeating

        beat = worker_module.queue.heartbeat

        async def hung(*args: Any, **kwargs: Any) -> Any:  # the heartbeat never gets through
            raise TimeoutError("the heartbeat hangs")

        monkeypatch.setattr(worker_module.queue, "heartbeat", hung)
        reason = await eventually(port, "/livez", 503)
        assert f"job {job_id}: no heartbeat for" in reason
        assert value(await scrape(port), "studio_worker_heartbeat_age_seconds") >= 0.5
        assert value(await scrape(port), "studio_worker_running_jobs") == 1

        monkeypatch.setattr(worker_module.queue, "heartbeat", beat)  # it beats again: live again
        await eventually(port, "/livez", 200)
    finally:
        worker.stop(interrupt=True)
        await asyncio.wait_for(run, 30)
        await server.stop()


async def test_an_idle_worker_is_live_and_ready(sqlite_database: Database, worker: Worker, tmp_path: Path) -> None:
    server = worker_server(settings_for(tmp_path, worker_stuck_ticks=10), worker, sqlite_database, worker.storage,
                           port=0)
    port = await server.start()
    run = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(1.0)  # twice the stuck time: the claim loop turns, nothing to do
        assert await get(port, "/livez") == (200, "ok\n")
        assert await get(port, "/readyz") == (200, "ok\n")
        assert value(await scrape(port), "studio_ready") == 1
    finally:
        worker.stop()
        await asyncio.wait_for(run, 30)
        await server.stop()


async def test_readyz_is_503_while_the_database_or_storage_does_not_answer(tmp_path: Path,
                                                                           sqlite_database: Database) -> None:
    unreachable = Database(f"sqlite+aiosqlite:///{tmp_path / 'db-volume' / 'studio.db'}")
    shutil.rmtree(tmp_path / "db-volume", ignore_errors=True)  # the database's volume went away
    (tmp_path / "db-volume").write_text("not a folder any more")
    gone = LocalStorage(tmp_path / "volume")
    (tmp_path / "volume").rmdir()  # the storage volume went away under the running process
    (tmp_path / "volume").write_text("not a folder any more")
    good = LocalStorage(tmp_path / "storage")
    cases = [([database_check(unreachable), storage_check(good)], "DatabaseUnavailable"),
             ([database_check(sqlite_database), storage_check(gone)], "StorageUnavailable")]
    try:
        for checks, reason in cases:
            async with HealthServer("127.0.0.1", 0, ready=checks, live=[]) as server:
                status, text = await get(server.port, "/readyz")
                assert status == 503 and reason in text, text
                assert await get(server.port, "/livez") == (200, "ok\n")  # not ready is not dead
                assert value(await scrape(server.port), "studio_ready") == 0
        async with HealthServer("127.0.0.1", 0, ready=[database_check(sqlite_database), storage_check(good)]) as server:
            assert await get(server.port, "/readyz") == (200, "ok\n")
    finally:
        await unreachable.dispose()


async def test_a_check_that_hangs_fails_within_its_timeout() -> None:
    async def hangs() -> str | None:
        await asyncio.sleep(60)
        return None

    async with HealthServer("127.0.0.1", 0, ready=[hangs], check_timeout=0.2) as server:
        status, text = await get(server.port, "/readyz")
    assert status == 503 and "no answer in 0.2 s" in text


async def test_the_bots_are_ready_once_their_platform_is_up(make_studio) -> None:  # type: ignore[no-untyped-def]
    """`studio run`'s bot process: /readyz follows keep_up's view of each platform's connection."""
    from studio.app import health_server, keep_up

    from tests.operator.scrape import free_port

    studio = make_studio(metrics_port=free_port(), metrics_host="127.0.0.1")
    platforms = Platforms()
    platforms.set("telegram", False, "connecting")
    server = await health_server(studio.ctx.services, platforms)
    try:
        port = server.port
        status, text = await get(port, "/readyz")
        assert status == 503 and "telegram: connecting" in text
        stop = asyncio.Event()
        serving = asyncio.Event()

        async def serve() -> None:  # connected until stopped
            serving.set()
            await stop.wait()

        task = asyncio.create_task(keep_up("telegram", serve, stop, platforms))
        await serving.wait()
        assert await get(port, "/readyz") == (200, "ok\n")
        stop.set()
        assert await task is True
        status, text = await get(port, "/readyz")
        assert status == 503 and "telegram: stopped" in text

        async def unreachable() -> None:
            raise ConnectionError("no route")

        again = asyncio.Event()
        task = asyncio.create_task(keep_up("telegram", unreachable, again, platforms))
        await asyncio.sleep(0.1)
        status, text = await get(port, "/readyz")
        assert status == 503 and "telegram: unreachable: ConnectionError" in text
        again.set()
        await task
    finally:
        await server.stop()


def test_the_worker_child_of_studio_run_gets_the_next_port(tmp_path: Path) -> None:
    assert settings_for(tmp_path).child_worker_metrics_port == 0  # off by default: the child's off too
    assert settings_for(tmp_path, metrics_port=9100).child_worker_metrics_port == 9101
    assert settings_for(tmp_path, metrics_port=9100, worker_metrics_port=9200).child_worker_metrics_port == 9200


def test_the_worker_child_is_told_its_port_over_the_parents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from studio.worker_process import WorkerProcess

    monkeypatch.setenv("STUDIO_METRICS_PORT", "9100")  # the bots' port, e.g. from the image
    child = WorkerProcess(log_file=tmp_path / "child.log", env={"STUDIO_METRICS_PORT": "9101"},
                          command=(sys.executable, "-c", "import os; print(os.environ['STUDIO_METRICS_PORT'])"))
    child.start()
    assert child.process is not None and child.process.wait(30) == 0
    child.stop()
    assert (tmp_path / "child.log").read_text().strip() == "9101"


async def test_the_bots_of_studio_run_serve_on_studio_metrics_port(tmp_path: Path) -> None:
    """`studio run`'s bot process (run_front_ends) with a (fake) Telegram: /readyz turns 200 once the
    platform serves, /metrics carries the queue gauges; SIGTERM stops it and the port with it."""
    import os
    import signal

    from bot.core.services import open_services
    from studio.app import run_front_ends
    from tests.operator.scrape import free_port
    from tests.support.telegram_server import FakeTelegram
    from tests.telegram.conftest import TOKEN

    telegram = FakeTelegram(TOKEN)
    await telegram.start()
    port = free_port()
    settings = settings_for(tmp_path, telegram_token=TOKEN, telegram_base_url=telegram.base_url,
                            telegram_base_file_url=telegram.base_file_url, metrics_port=port)
    services = await open_services(settings)
    running = asyncio.create_task(run_front_ends(services, ["telegram"], None))
    try:
        for _ in range(300):
            try:
                if (await get(port, "/readyz"))[0] == 200:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the bot process never became ready")
        await telegram.send_text(501, "/help")
        await telegram.wait_for_text(501, "Here's what I can do", timeout=60)
        assert ("studio_jobs", (("kind", "train"), ("state", "queued"))) in await scrape(port)
        assert await get(port, "/livez") == (200, "ok\n")
        os.kill(os.getpid(), signal.SIGTERM)  # run_front_ends' own handler: stop serving
        assert await asyncio.wait_for(running, 30) == 0
    finally:
        if not running.done():
            running.cancel()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await services.close()
        await telegram.stop()
    with pytest.raises(OSError):
        await get(port, "/metrics")


async def test_a_taken_metrics_port_is_one_line_saying_which_variable() -> None:
    from studio.failures import explain
    from telemetry.server import PortUnavailable

    async with HealthServer("127.0.0.1", 0) as first:
        with pytest.raises(PortUnavailable) as taken:
            await HealthServer("127.0.0.1", first.port).start()
    line, code = explain(taken.value)  # type: ignore[misc]
    assert code == 1 and f"127.0.0.1:{first.port}" in line and "STUDIO_METRICS_PORT" in line
