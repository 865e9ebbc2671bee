"""/gallery in the chat: a private link to the gallery where one is served, opened by a URL
button; nothing to open where none is. The Telegram menu lists it only where STUDIO_WEB_URL is set."""

from __future__ import annotations

from pathlib import Path

import httpx

from bot.core.studio import Studio
from config.settings import Settings
from tests.core.conftest import ALEX, SAM, agreed, make_studio, studio, with_model  # noqa: F401 (fixtures)
from tests.web.conftest import BOT_TOKEN, SECRET
from web.app import create_app, gallery_of

PUBLIC = "https://gallery.example"


async def test_without_a_gallery_there_is_no_link(studio: Studio) -> None:  # noqa: F811
    replies = await studio.command(ALEX, "gallery")
    assert "no gallery" in replies[0].text and not replies[0].buttons


async def test_gallery_answers_with_a_private_link_that_opens(studio: Studio) -> None:  # noqa: F811
    app = create_app(studio, secret=SECRET, bot_token=BOT_TOKEN, public_url=PUBLIC + "/")
    studio.connect_gallery(gallery_of(app).link_for)
    await with_model(studio)
    replies = await studio.command(ALEX, "gallery")
    (button,), = replies[0].buttons
    assert replies[0].private and button.url.startswith(f"{PUBLIC}/g/") and "24 hours" in replies[0].text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC) as http:
        assert (await http.get(button.url.removeprefix(PUBLIC))).status_code == 200
        # a first-time user gets their account with the link (a link to nothing would be refused)
        sams = (await studio.command(SAM, "gallery"))[0].buttons[0][0].url
        assert (await http.get(sams.removeprefix(PUBLIC))).status_code == 200
        assert sams != button.url


def test_the_telegram_menu_lists_gallery_only_where_it_is_served(studio: Studio, tmp_path: Path) -> None:  # noqa: F811
    from bot.telegram.app import TelegramFrontEnd

    def menu(**values: object) -> list[str]:
        settings = Settings(_env_file=None, data_dir=tmp_path / "data", telegram_token=BOT_TOKEN, **values)  # type: ignore[call-arg]
        return [name for name, _ in TelegramFrontEnd(settings, studio).commands]

    assert "gallery" not in menu()
    assert "gallery" in menu(web_url=PUBLIC, web_secret=SECRET)


async def test_in_telegram_the_gallery_button_opens_the_mini_app(make_studio) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The same /gallery answer: Telegram renders its button as a Mini App (initData says who it is
    for); a platform without Mini Apps opens the private link."""
    from bot.telegram.render import keyboard

    studio = make_studio(web_url=PUBLIC, web_secret=SECRET)
    app = create_app(studio, secret=SECRET, bot_token=BOT_TOKEN, public_url=PUBLIC + "/")
    studio.connect_gallery(gallery_of(app).link_for)
    await with_model(studio)
    reply = (await studio.command(ALEX, "gallery"))[0]
    (button,), = reply.buttons
    assert button.mini_app == f"{PUBLIC}/app" and button.url.startswith(f"{PUBLIC}/g/")
    markup = keyboard(reply)
    assert markup is not None
    (rendered,), = markup.inline_keyboard
    assert rendered.web_app is not None and rendered.web_app.url == f"{PUBLIC}/app" and rendered.url is None
