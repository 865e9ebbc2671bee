"""The Telegram Mini App's entry: where the gallery is served (STUDIO_WEB_URL), the bot's chat menu
button opens its Mini App door (``/app``, which knows the user by Telegram's initData); elsewhere
the bot leaves the menu button alone."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.studio import Studio
from bot.telegram.app import GALLERY_MENU_BUTTON, TelegramFrontEnd
from config.settings import Settings
from tests.core.conftest import make_studio, studio  # noqa: F401 (fixtures)
from tests.telegram.conftest import TOKEN
from tests.telegram.conftest import FakeTelegram as LanguagesTelegram
from tests.support import telegram_server
from tests.web.conftest import SECRET

PUBLIC = "https://gallery.example/"


class MenuButtonTelegram(LanguagesTelegram):
    """The Bot API stand-in, also keeping the default chat menu button (setChatMenuButton)."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.menu_buttons: list[dict[str, Any]] = []
        """Every setChatMenuButton call's parameters, in order."""

    async def _m_setChatMenuButton(self, params: dict[str, Any]) -> bool:
        button = params.get("menu_button") or {"type": "default"}
        if button.get("type") == "web_app" and not str(button.get("web_app", {}).get("url", "")).startswith("https://"):
            raise telegram_server._ApiError("Bad Request: inline keyboard button Web App URL is invalid: "
                                            "only HTTPS links are allowed")
        self.menu_buttons.append(params)
        return True


@pytest.fixture
async def telegram() -> AsyncIterator[MenuButtonTelegram]:
    server = MenuButtonTelegram(TOKEN)
    await server.start()
    yield server
    await server.stop()


async def started(studio: Studio, telegram: MenuButtonTelegram, tmp_path: Path, **values: object) -> None:  # noqa: F811
    """What the Telegram front end does at start-up before it polls: its menus."""
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", telegram_token=TOKEN,  # type: ignore[call-arg]
                        telegram_base_url=telegram.base_url, telegram_base_file_url=telegram.base_file_url, **values)
    front_end = TelegramFrontEnd(settings, studio)
    async with front_end.application:
        await front_end.set_menus()


async def test_with_a_gallery_the_menu_button_opens_the_mini_app(studio: Studio, telegram: MenuButtonTelegram,  # noqa: F811
                                                                 tmp_path: Path) -> None:
    await started(studio, telegram, tmp_path, web_url=PUBLIC, web_secret=SECRET)
    assert [method for method, _ in telegram.calls].count("setChatMenuButton") == 1
    (call,) = telegram.menu_buttons
    assert "chat_id" not in call  # the default button, every private chat's
    assert call["menu_button"] == {"type": "web_app", "text": str(GALLERY_MENU_BUTTON),
                                   "web_app": {"url": "https://gallery.example/app"}}
    assert str(GALLERY_MENU_BUTTON) == "Gallery"  # said in English: Telegram has one menu button for all languages
    assert "gallery" in [c["command"] for c in telegram.commands]  # /gallery stays in the menu (a link of one's own)


async def test_without_a_gallery_the_menu_button_is_left_alone(studio: Studio, telegram: MenuButtonTelegram,  # noqa: F811
                                                               tmp_path: Path) -> None:
    await started(studio, telegram, tmp_path)
    assert telegram.calls and "setChatMenuButton" not in [method for method, _ in telegram.calls]
    assert "gallery" not in [c["command"] for c in telegram.commands]


async def test_a_refused_menu_button_is_one_warning_and_the_bot_starts(studio: Studio, telegram: MenuButtonTelegram,  # noqa: F811
                                                                       tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.telegram.app"):
        await started(studio, telegram, tmp_path, web_url="http://localhost:8080", web_secret=SECRET)
    assert not telegram.menu_buttons and "setChatMenuButton" in [method for method, _ in telegram.calls]
    warnings = [r for r in caplog.records if r.name == "bot.telegram.app" and "menu button" in r.getMessage()]
    assert len(warnings) == 1 and "http://localhost:8080/app" in warnings[0].getMessage()
