"""`studio run`'s front ends at start: a platform that can't be reached is tried again (one line
each time); a rejected token stops that front end alone, named by its variable, never in clear."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.core.studio import Studio
from bot.telegram.app import TelegramFrontEnd
from studio import app as studio_app
from studio.app import keep_up
from bot.core.services import open_services
from config.settings import Settings
from tests.support.telegram_server import FakeTelegram
from tests.telegram.conftest import TOKEN

ALEX = 501


def settings_for(tmp_path, telegram: FakeTelegram, token: str = TOKEN) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", telegram_token=token,  # type: ignore[call-arg]
                    telegram_base_url=telegram.base_url, telegram_base_file_url=telegram.base_file_url)


async def test_a_rejected_token_stops_telegram_alone_with_one_line(tmp_path, telegram, caplog) -> None:
    wrong = "999999:WRONG-token-that-telegram-rejects-0123456"
    settings = settings_for(tmp_path, telegram, wrong)
    services = await open_services(settings)
    stop = asyncio.Event()
    try:
        with caplog.at_level(logging.INFO):
            await asyncio.wait_for(keep_up("telegram", lambda: TelegramFrontEnd(settings, Studio(services)).run(stop),
                                           stop), 30)
    finally:
        await services.close()
    ours = [r for r in caplog.records if r.name == "studio.app" and r.levelno >= logging.WARNING]
    assert len(ours) == 1 and "STUDIO_TELEGRAM_TOKEN was rejected" in ours[0].getMessage()
    assert wrong not in ours[0].getMessage() and ours[0].exc_info is None


async def test_an_unreachable_telegram_at_start_is_tried_again(tmp_path, telegram, caplog, monkeypatch) -> None:
    monkeypatch.setattr(studio_app, "RETRY_START_SECONDS", 0.2)
    for _ in range(2):  # Telegram's front servers answer 502 twice, then it is back
        telegram.fail_once("getMe", status=502)
    settings = settings_for(tmp_path, telegram)
    services = await open_services(settings)
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING):
        runner = asyncio.create_task(keep_up(
            "telegram", lambda: TelegramFrontEnd(settings, Studio(services)).run(stop), stop))
        try:
            await telegram.send_text(ALEX, "/help")
            await telegram.wait_for_text(ALEX, "Here's what I can do", timeout=60)
        finally:
            stop.set()
            await asyncio.wait_for(runner, 30)
            await services.close()
    retries = [r for r in caplog.records if r.name == "studio.app" and r.levelno >= logging.WARNING]
    assert len(retries) == 2 and all("can't be reached" in r.getMessage() and "trying again in" in r.getMessage()
                                     and r.exc_info is None for r in retries)  # one line each, no traceback


@pytest.mark.parametrize("error", [OSError(98, "Address already in use"), RuntimeError("a bug")])
async def test_other_errors_are_not_retried(error) -> None:
    async def failing() -> None:
        raise error

    with pytest.raises(type(error)):
        await keep_up("telegram", failing, asyncio.Event())
