from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.core.studio import Studio
from bot.discord.app import DiscordFrontEnd
from engine.intake import IntakeConfig
from bot.core.services import Services, open_services
from config.settings import Settings
from tests.support.discord_server import FakeDiscord

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.test.discord-token-for-the-stand-in"
TEST_INTAKE = IntakeConfig(min_side_px=256)  # the sample set has 480p photos


@dataclass
class RunningBot:
    discord: FakeDiscord
    front_end: DiscordFrontEnd
    services: Services
    settings: Settings


@asynccontextmanager
async def running_bot(tmp_path: Path, discord: FakeDiscord, **overrides: Any) -> AsyncIterator[RunningBot]:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", discord_token=TOKEN, **overrides)  # type: ignore[call-arg]
    services = await open_services(settings)
    front_end = DiscordFrontEnd(settings, Studio(services, intake_config=TEST_INTAKE), api_base_url=discord.api_base_url,
                                gateway_url=discord.gateway_url, poll_seconds=0.2, edit_interval_seconds=0.2,
                                delivery_retry_seconds=2.0)
    stop = asyncio.Event()
    before = discord.identifications  # a restarted bot must identify anew, not ride on the last one's session
    task = asyncio.create_task(front_end.run(stop))
    task.add_done_callback(lambda _: asyncio.ensure_future(discord.poke()))
    try:
        await discord.wait_until(lambda: task.done() or (discord.identifications > before and discord.identified.is_set()),
                                 60, "the bot to identify on the gateway")
        if task.done():
            task.result()  # it stopped before connecting: show why
            raise AssertionError("the Discord front end stopped before it connected")
        yield RunningBot(discord, front_end, services, settings)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await services.close()


@pytest.fixture
async def discord() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def bot_factory(tmp_path: Path, discord: FakeDiscord) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:
        return running_bot(tmp_path, discord, **overrides)

    return make
