from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.core.studio import Studio
from bot.telegram.app import TelegramFrontEnd
from engine.intake import IntakeConfig
from studio.app import Services, open_services
from studio.settings import Settings
from tests.support.telegram_server import FakeTelegram

TOKEN = "123456:TEST-token-for-the-fake-bot-api"
TEST_INTAKE = IntakeConfig(min_side_px=256)  # the sample set has 480p photos


@dataclass
class RunningBot:
    telegram: FakeTelegram
    front_end: TelegramFrontEnd
    services: Services
    settings: Settings


@asynccontextmanager
async def running_bot(tmp_path: Path, telegram: FakeTelegram, **overrides: Any) -> AsyncIterator[RunningBot]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path / "data", telegram_token=TOKEN,
        telegram_base_url=telegram.base_url, telegram_base_file_url=telegram.base_file_url, **overrides,
    )
    services = await open_services(settings)
    front_end = TelegramFrontEnd(settings, Studio(services, intake_config=TEST_INTAKE), album_quiet_seconds=1.0,
                                 poll_seconds=0.2, edit_interval_seconds=0.2, delivery_retry_seconds=2.0)
    stop = asyncio.Event()
    task = asyncio.create_task(front_end.run(stop))
    try:
        for _ in range(100):  # until the bot polls (or has set its webhook)
            if any(method in {"getUpdates", "setWebhook"} for method, _ in telegram.calls):
                break
            await asyncio.sleep(0.05)
        yield RunningBot(telegram, front_end, services, settings)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await services.close()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def bot_factory(tmp_path: Path, telegram: FakeTelegram) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:
        return running_bot(tmp_path, telegram, **overrides)

    return make
