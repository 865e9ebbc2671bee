"""One small HTTP server per process (aiohttp, on the process's own event loop):

- ``GET /metrics``: Prometheus's text format; the ``refresh`` hooks (async: e.g. the queue gauges,
  read from the database) run first, so what is scraped is read at scrape time.
- ``GET /livez``: 200 while the process is alive. It is answered on the process's event loop, so a
  loop that stopped turning answers nothing (the orchestrator's probe times out); each ``live``
  check may add its own verdict (a worker: its running jobs' heartbeats still advance).
- ``GET /readyz``: 200 when every ``ready`` check passes (the database and storage answer, the chat
  platform's connection is up); 503 with one line per failing check otherwise.

A check is an async callable returning None (fine) or the reason it is not; one that raises or
takes longer than ``check_timeout`` seconds fails with that as its reason."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from telemetry.metrics import READY

log = logging.getLogger(__name__)

class PortUnavailable(RuntimeError):
    """The metrics port can't be listened on (taken by another process, or not ours to take)."""


Check = Callable[[], Awaitable[str | None]]
Refresh = Callable[[], Awaitable[None]]


def database_check(database: Any) -> Check:
    """The database answers: one connection opened (``db.session.Database.reachable``)."""

    async def check() -> str | None:
        await database.reachable()
        return None

    return check


def storage_check(storage: Any, *, cache_seconds: float = 10.0) -> Check:
    """Storage answers: its start-up probe (write and delete one small object), at most once every
    ``cache_seconds`` (probes come often; an S3 write each time is not needed)."""
    last: list[float] = []

    async def check() -> str | None:
        if last and time.monotonic() - last[0] < cache_seconds:
            return None
        await storage.check()
        last[:] = [time.monotonic()]
        return None

    return check


@dataclass
class Platforms:
    """The chat platforms' connections, as the process that runs them sees them: a platform is up
    while its front end serves, down while it is being reconnected or after its token was refused."""

    states: dict[str, tuple[bool, str]] = field(default_factory=dict)

    def set(self, name: str, up: bool, detail: str = "") -> None:
        self.states[name] = (up, detail)

    def check(self) -> Check:
        async def check() -> str | None:
            down = [f"{name}: {detail or 'not connected'}" for name, (up, detail) in sorted(self.states.items())
                    if not up]
            return "; ".join(down) or None

        return check


class HealthServer:
    def __init__(self, host: str, port: int, *, live: Iterable[Check] = (), ready: Iterable[Check] = (),
                 refresh: Iterable[Refresh] = (), registry: CollectorRegistry = REGISTRY,
                 check_timeout: float = 5.0) -> None:
        self.host, self.port = host, port
        self.live, self.ready, self.refresh = list(live), list(ready), list(refresh)
        self.registry = registry
        self.check_timeout = check_timeout
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Listen; returns the port (the one the system chose, for port 0)."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as error:
            await self._runner.cleanup()
            self._runner = None
            raise PortUnavailable(f"can't listen on {self.host}:{self.port} for /metrics: "
                                  f"{error.strerror or error}") from error
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        log.info("metrics and health on http://%s:%d (/metrics, /livez, /readyz)", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> HealthServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _run(self, check: Check) -> str | None:
        try:
            return await asyncio.wait_for(check(), self.check_timeout)
        except TimeoutError:
            return f"{getattr(check, '__qualname__', 'check')}: no answer in {self.check_timeout:g} s"
        except Exception as error:  # a check that raises is a failing check, never a 500
            return f"{type(error).__name__}: {str(error)[:300]}"

    async def verdicts(self, checks: list[Check]) -> list[str]:
        results = await asyncio.gather(*(self._run(check) for check in checks))
        return [reason for reason in results if reason]

    @staticmethod
    def _answer(failing: list[str]) -> web.Response:
        if failing:
            return web.Response(status=503, text="\n".join(failing) + "\n")
        return web.Response(text="ok\n")

    async def _livez(self, _request: web.Request) -> web.Response:
        return self._answer(await self.verdicts(self.live))

    async def _readyz(self, _request: web.Request) -> web.Response:
        failing = await self.verdicts(self.ready)
        READY.set(0 if failing else 1)
        if failing:
            log.warning("not ready: %s", "; ".join(failing))
        return self._answer(failing)

    async def _metrics(self, _request: web.Request) -> web.Response:
        for refresh in self.refresh:
            try:
                await asyncio.wait_for(refresh(), self.check_timeout)
            except Exception:  # a gauge left as it was; the rest is still served
                log.warning("refreshing metrics (%s) failed", getattr(refresh, "__qualname__", refresh),
                            exc_info=True)
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
