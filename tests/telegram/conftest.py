from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.core.studio import Studio
from bot.telegram.update_order import PerUserOrder
from bot.telegram.app import TelegramFrontEnd
from engine.intake import IntakeConfig
from bot.core.services import Services, open_services
from config.settings import Settings
from tests.support.selfies import obama_selfies
from tests.support import telegram_server
from tests.support.telegram_server import Sent

TOKEN = "123456:TEST-token-for-the-fake-bot-api"
TEST_INTAKE = IntakeConfig(min_side_px=256)  # the sample set has 480p photos
ALBUM_QUIET_SECONDS = 3.0
"""The bot answers an album after this long with no new photo of it. A stall of the event loop
longer than this between two photos of one album (a loaded CI machine stalls for a second at
times) would split the album into two answers; each album in a test waits this long once."""
WAIT_SECONDS = 30.0
"""How long the helpers below wait for the bot before failing with a message (never silently)."""
START_ATTEMPTS = 3


class FakeTelegram(telegram_server.FakeTelegram):
    """The Bot API stand-in, also speaking languages: each user's app sends its ``language_code``
    (``languages``, "en" unless set), and the menus and profile texts the bot sets are kept per
    language (the stand-in's ``commands`` and ``commands_by_scope`` stay the default language's)."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.languages: dict[int, str] = {}
        """Telegram user id → the language code their app sends with each update."""
        self.menus: dict[tuple[str, str], list[dict[str, Any]]] = {}
        """(scope, language_code; "" for the default) → the commands set for it."""
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        """language_code ("" for the default) → the description (short description) set for it."""

    def _user(self, user_id: int, name: str) -> dict[str, Any]:
        return super()._user(user_id, name) | {"language_code": self.languages.get(user_id, "en")}

    async def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        language = params.get("language_code") or ""
        if language and (len(language) != 2 or not language.isalpha()):
            raise telegram_server._ApiError(f"Bad Request: language_code {language!r} is no two-letter ISO 639-1 code")
        self.menus[((params.get("scope") or {}).get("type", "default"), language)] = params.get("commands", [])
        if not language:
            await super()._m_setMyCommands(params)
        return True

    async def _m_getMyDescription(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"description": self.descriptions.get(params.get("language_code") or "", "")}

    async def _m_setMyDescription(self, params: dict[str, Any]) -> bool:
        if len(params.get("description") or "") > 512:
            raise telegram_server._ApiError("Bad Request: description is too long")
        self.descriptions[params.get("language_code") or ""] = params.get("description") or ""
        return True

    async def _m_getMyShortDescription(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"short_description": self.short_descriptions.get(params.get("language_code") or "", "")}

    async def _m_setMyShortDescription(self, params: dict[str, Any]) -> bool:
        if len(params.get("short_description") or "") > 120:
            raise telegram_server._ApiError("Bad Request: short description is too long")
        self.short_descriptions[params.get("language_code") or ""] = params.get("short_description") or ""
        return True


class PortTaken(Exception):
    """The bot could not listen on its webhook port: another process took it after it was picked."""


@dataclass
class RunningBot:
    telegram: FakeTelegram
    front_end: TelegramFrontEnd
    services: Services
    settings: Settings
    ticks: _TickCounter

    async def watcher_ticks(self, count: int) -> None:
        """Wait until the job watcher has run ``count`` whole ticks that began after this call: every
        chance it had to deliver or edit something more, whatever the speed of the machine."""
        await self.ticks.wait_for(self.ticks.started + count)

    async def settled(self, user_id: int) -> None:
        """Wait until every update sent so far is handled and no album is waiting or being answered.

        A ``/help`` goes last; the bot handles each user's updates one at a time, in order
        (``PerUserOrder``), so once its answer is there every earlier update of this user was
        handled (a photo handler finishes after adding the photo to its album); then the album
        collector must have nothing left to answer."""
        processor = self.front_end.application.update_processor
        assert isinstance(processor, PerUserOrder), "settled() relies on each user's updates handled in order"
        sentinel = await self.telegram.send_text(user_id, "/help")
        await self.telegram.wait_for(lambda m: m.chat_id == user_id and "Here's what I can do" in m.text
                                     and m.message_id > sentinel, what="the answer to the last /help")
        albums = self.front_end.albums
        await _until(lambda: not albums._pending and not albums._tasks, "the album collector to have nothing left")


class _TickCounter:
    """Counts the job watcher's ticks (wraps the instance's ``tick``, behaviour unchanged)."""

    def __init__(self, front_end: TelegramFrontEnd) -> None:
        self.started = 0
        self.finished = 0
        watcher = front_end.watcher
        original = watcher.tick

        async def tick() -> None:
            self.started += 1
            try:
                await original()
            finally:
                self.finished += 1

        watcher.tick = tick  # type: ignore[method-assign]

    async def wait_for(self, finished: int) -> None:
        await _until(lambda: self.finished >= finished, f"{finished} job watcher ticks (got {self.finished})")


async def _until(condition: Callable[[], bool], what: str, *, also_failed: asyncio.Task[None] | None = None) -> None:
    """Poll ``condition`` until true; fail after WAIT_SECONDS saying ``what`` never happened. If the
    ``also_failed`` task ends first, its error is raised instead."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if also_failed is not None and also_failed.done():
            also_failed.result()  # raises the bot's own error
            raise AssertionError(f"the bot stopped before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT_SECONDS:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


def _port_in_use(error: BaseException | None) -> OSError | None:
    """The "address already in use" behind ``error`` (PTB raises it wrapped in another error)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
            return error
        error = error.__cause__ or error.__context__
    return None


@asynccontextmanager
async def running_bot(tmp_path: Path, telegram: FakeTelegram, *, intake: IntakeConfig = TEST_INTAKE,
                      **overrides: Any) -> AsyncIterator[RunningBot]:
    """The bot, up: it polls (or its webhook listens) and its job watcher runs."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path / "data", telegram_token=TOKEN,
        telegram_base_url=telegram.base_url, telegram_base_file_url=telegram.base_file_url, **overrides,
    )
    services = await open_services(settings)
    front_end = TelegramFrontEnd(settings, Studio(services, intake_config=intake),
                                 album_quiet_seconds=ALBUM_QUIET_SECONDS, poll_seconds=0.2,
                                 edit_interval_seconds=0.2, delivery_retry_seconds=2.0)
    ticks = _TickCounter(front_end)
    stop = asyncio.Event()
    task = asyncio.create_task(front_end.run(stop))
    up = False
    try:
        # run() starts the watcher only once polling runs or the webhook server listens.
        try:
            await _until(lambda: ticks.started > 0 and any(m in {"getUpdates", "setWebhook"} for m, _ in telegram.calls),
                         "the bot to start", also_failed=task)
        except Exception as error:
            if (in_use := _port_in_use(error)) is not None:
                raise PortTaken(f"webhook port {settings.telegram_webhook_port}: {in_use}") from error
            raise
        up = True
        yield RunningBot(telegram, front_end, services, settings, ticks)
    finally:
        stop.set()
        if up:
            await asyncio.wait_for(task, 30)
        else:  # the start failed and that error is on its way: clean up what the failed start left
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)
            with contextlib.suppress(Exception):
                if front_end.application.running:
                    await front_end.application.stop()
                await front_end.application.shutdown()
        await services.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def running_webhook_bot(tmp_path: Path, telegram: FakeTelegram, **overrides: Any) -> AsyncIterator[RunningBot]:
    """The bot in webhook mode on a free port: a port picked free can be taken before the bot binds
    it, so the start is retried on another port when that happens."""
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        stack = contextlib.AsyncExitStack()
        try:
            bot = await stack.enter_async_context(running_bot(tmp_path, telegram, telegram_webhook_port=port, **overrides))
        except PortTaken:
            if attempt == START_ATTEMPTS:
                raise
            continue
        async with stack:
            yield bot
        return


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


async def start_training(telegram: FakeTelegram, user_id: int) -> Sent:
    """A consented user sends 8 good selfies as one album and starts training ("A man"): the
    progress message it answers with."""
    for data in obama_selfies(8):
        await telegram.send_photo(user_id, data, media_group_id=f"selfies-{user_id}")
    summary = await telegram.wait_for_text(user_id, "ready to train", timeout=60)
    await telegram.press(user_id, summary, "Train my model")
    await telegram.press(user_id, await telegram.wait_for_text(user_id, "Who is in the photos"), "A man")
    return await telegram.wait_for_text(user_id, "Learning your face")


async def agree(telegram: FakeTelegram, user_id: int, name: str = "Alex") -> None:
    """What a new user does before their first photo: /start, then confirm the photos are of them
    and they are 18 or older."""
    await telegram.send_text(user_id, "/start", name=name)
    request = await telegram.wait_for_text(user_id, "Before your first photo")
    await telegram.press(user_id, request, "I confirm", name=name)
    await telegram.wait_for_text(user_id, "Thank you!")
