"""The gallery served by uvicorn inside the process's event loop: alone (`studio web`) or beside
the bots (`studio run` with STUDIO_WEB_URL)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn
from starlette.applications import Starlette

from bot.core.studio import Studio
from config.settings import ConfigError, Settings, require_secret
from web.app import create_app, gallery_of

log = logging.getLogger(__name__)


def app_from_settings(studio: Studio, settings: Settings) -> Starlette:
    """The gallery app for these settings (ConfigError, naming STUDIO_WEB_SECRET, without a key)."""
    secret = require_secret(settings, "web_secret", "the gallery (STUDIO_WEB_URL, `studio web`)")
    if len(secret) < 16:
        raise ConfigError("Configuration error: STUDIO_WEB_SECRET is too short; use 32 or more random characters.")
    token = settings.telegram_token.get_secret_value() if settings.telegram_token is not None else None
    return create_app(studio, secret=secret, bot_token=token or None, link_seconds=settings.web_link_hours * 3600,
                      init_data_max_age=settings.web_init_data_max_age, public_url=settings.web_url)


def listen(host: str, port: int) -> socket.socket:
    """The gallery's socket; a port that can't be listened on is one line naming STUDIO_WEB_PORT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise ConfigError(f"Configuration error: the gallery can't listen on {host}:{port} ({error.strerror or error}); "
                          "set STUDIO_WEB_PORT to a free port") from None
    sock.setblocking(False)
    return sock


class WebServer:
    """The gallery listening: ``start`` checks the settings and takes the port at once (a problem
    is one line before anything else starts), ``close`` stops it."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], sock: socket.socket, app: Starlette) -> None:
        self.server, self.task, self.sock = server, task, sock
        self.gallery = gallery_of(app)
        #: a user's private link (absolute with STUDIO_WEB_URL), for the bots' /gallery
        self.link_for = gallery_of(app).link_for

    @classmethod
    async def start(cls, studio: Studio, settings: Settings) -> WebServer:
        app = app_from_settings(studio, settings)
        sock = listen(settings.web_host, settings.web_port)
        config = uvicorn.Config(app, log_config=None, access_log=False, proxy_headers=True, server_header=False,
                                lifespan="off")
        server = uvicorn.Server(config)
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # the caller owns the signals
        task = asyncio.create_task(server.serve(sockets=[sock]), name="gallery")
        log.info("gallery on %s:%s (public address: %s)", settings.web_host, settings.web_port,
                 settings.web_url or "STUDIO_WEB_URL not set")
        return cls(server, task, sock, app)

    async def close(self) -> None:
        self.server.should_exit = True
        try:
            await self.task
        finally:
            self.sock.close()
            await self.gallery.close()


async def serve(studio: Studio, settings: Settings, stop: asyncio.Event) -> None:
    """Serve the gallery on STUDIO_WEB_HOST:STUDIO_WEB_PORT until ``stop``."""
    server = await WebServer.start(studio, settings)
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([server.task, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        await server.close()


async def run_web(settings: Settings) -> int:
    """`studio web`: the gallery alone, until SIGINT or SIGTERM."""
    import signal

    from bot.core.services import open_services

    require_secret(settings, "web_secret", "the gallery (STUDIO_WEB_URL, `studio web`)")  # before anything opens
    services = await open_services(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(Studio(services), settings, stop)
        return 0
    finally:
        await services.close()
