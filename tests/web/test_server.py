"""`studio web` and the gallery beside the bots: served over a real socket, stopped cleanly; a
missing secret or a taken port is one line naming the variable."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from bot.core.studio import Studio
from config.settings import ConfigError, Settings
from tests.core.conftest import make_studio, studio  # noqa: F401 (fixtures)
from web.server import WebServer, serve


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def web_settings(tmp_path: Path, **values: object) -> Settings:
    base = {"data_dir": tmp_path / "data", "web_host": "127.0.0.1", "web_port": free_port(),
            "web_secret": "a-secret-long-enough-for-the-gallery", "web_url": "https://gallery.example"}
    return Settings(_env_file=None, **(base | values))  # type: ignore[call-arg]


async def test_the_gallery_serves_on_its_port_until_stopped(studio: Studio, tmp_path: Path) -> None:  # noqa: F811
    settings = web_settings(tmp_path)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(studio, settings, stop))
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            try:
                answer = await http.get(f"http://127.0.0.1:{settings.web_port}/")
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
        assert answer.status_code == 200 and "content-security-policy" in answer.headers
    stop.set()
    await asyncio.wait_for(task, 10)
    with socket.socket() as again:  # the port is free again
        again.bind(("127.0.0.1", settings.web_port))


async def test_no_secret_or_a_taken_port_is_one_line(studio: Studio, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(ConfigError, match="STUDIO_WEB_SECRET"):
        await WebServer.start(studio, web_settings(tmp_path, web_secret=""))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(ConfigError, match="STUDIO_WEB_PORT"):
            await WebServer.start(studio, web_settings(tmp_path, web_port=taken.getsockname()[1]))


async def test_the_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.gallery import main

    await main(portraits=9, aspects=2, runs=2)
    assert "my portraits, 9 portraits x 2 aspects" in capsys.readouterr().out


async def test_studio_run_serves_the_gallery_beside_the_bots_when_web_url_is_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run_front_ends with no platform to run: the gallery was listening, /gallery had its link maker,
    and the port is free again when it returns."""
    from bot.core.services import open_services
    from studio import app as studio_app

    settings = web_settings(tmp_path)
    services = await open_services(settings)
    seen: list[bool] = []
    from web import server as web_server

    original = web_server.WebServer.start

    async def start(studio: Studio, settings: Settings) -> web_server.WebServer:  # noqa: F811
        started = await original(studio, settings)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", settings.web_port))
                seen.append(False)
            except OSError:
                seen.append(True)  # taken: the gallery listens
        return started

    monkeypatch.setattr(web_server.WebServer, "start", staticmethod(start))
    try:
        assert await studio_app.run_front_ends(services, []) == 1
    finally:
        await services.close()
    assert seen == [True]
    with socket.socket() as again:
        again.bind(("127.0.0.1", settings.web_port))
