"""Start-up of the main job: database, storage, style catalogue, then the configured front ends."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
from pathlib import Path
from typing import Any

from bot.core.services import Services, open_services
from config.settings import Settings

log = logging.getLogger(__name__)


NO_TOKEN_NOTICE = """No chat front end is configured, so here is the whole product in the terminal instead.
To run the bots, set STUDIO_TELEGRAM_TOKEN (from @BotFather) and/or STUDIO_DISCORD_TOKEN in the
environment or in .env, then run `make run` again. `studio demo` walks the conversation by hand."""


async def run_main(settings: Settings) -> int:
    """The main job: the engine worker as a child process, then every configured front end;
    with no token, the whole conversation once in the terminal with the sample selfies."""
    from studio.worker_process import WorkerProcess

    services = await open_services(settings)
    front_ends = settings.front_ends
    # the worker child's own metrics port (README "Metrics and health"): always set, so that a
    # STUDIO_METRICS_PORT in .env never makes it take the bots' port
    worker = WorkerProcess(log_file=None if front_ends else settings.data_dir / "worker.log",
                           env={"STUDIO_METRICS_PORT": str(settings.child_worker_metrics_port)})
    worker.start()
    try:
        if not front_ends:
            print(NO_TOKEN_NOTICE, flush=True)
            return await run_console_autoplay(services, worker=worker)
        return await run_front_ends(services, front_ends, worker)
    finally:
        worker.stop()
        await services.close()


async def worker_exit(worker: Any, poll_seconds: float = 0.5) -> int:
    """The engine worker's exit code, once it has exited."""
    while True:
        code = worker.process.poll() if worker.process is not None else None
        if code is not None:
            return int(code)
        await asyncio.sleep(poll_seconds)


def worker_reason(log_file: Path | None, offset: int = 0) -> str:
    """The worker's last error line (what it refused, or why it died), from its log file after
    ``offset`` (where this run began: the file keeps earlier runs' lines)."""
    try:
        if log_file is None:
            lines = []
        else:
            with log_file.open("rb") as log:
                log.seek(offset)
                lines = log.read().decode(errors="replace").splitlines()
    except OSError:
        lines = []
    errors = []
    for line in lines:
        if line.startswith("{"):  # STUDIO_LOG_JSON
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("level") in ("ERROR", "CRITICAL"):
                errors.append(str(record.get("message", "")))
        elif " ERROR " in line or " CRITICAL " in line:
            errors.append(line.split(": ", 1)[-1])
    return errors[-1] if errors else "no error in its log"


def worker_gone(worker: Any, code: int) -> str:
    """What the demo says when its worker has exited: the code, this run's reason, where its log is."""
    return (f"the engine worker exited (code {code}): {worker_reason(worker.log_file, worker.log_offset)} "
            f"(its log: {worker.log_file})")


async def _say_when_gone(worker: Any) -> None:
    code = await worker_exit(worker)
    print(f"The {worker_gone(worker, code)}. Nothing will be painted; type /quit.", flush=True)


async def run_console_autoplay(services: Services, out_dir: Path | None = None, *, worker: Any = None) -> int:
    """The demo once; a worker that exits (it refused the model or device, or died) stops it at once
    with its reason, instead of leaving the demo waiting for a training nobody runs."""
    from bot.console.app import ConsoleFrontEnd, DemoStopped
    from bot.console.samples import demo_selfies
    from bot.core.studio import Studio

    out_dir = out_dir or services.settings.data_dir / "demo"
    console = ConsoleFrontEnd(Studio(services), out_dir)
    stop = asyncio.Event()
    watcher = asyncio.create_task(console.watcher.run(stop))
    play = asyncio.create_task(console.autoplay(demo_selfies(), style_id="linkedin-headshot", timeout=1800))
    gone = asyncio.create_task(worker_exit(worker)) if worker is not None else None
    try:
        await asyncio.wait([task for task in (play, gone) if task is not None], return_when=asyncio.FIRST_COMPLETED)
        if not play.done() and gone is not None:
            play.cancel()
            await asyncio.gather(play, return_exceptions=True)
            code = gone.result()
            print(f"\nThe demo stopped early: {worker_gone(worker, code)}", flush=True)
            return REFUSED_EXIT if code == REFUSED_EXIT else 1
        await play
    except DemoStopped as stopped:
        print(f"\nThe demo stopped early: {stopped}", flush=True)
        return 1
    finally:
        if gone is not None:
            gone.cancel()
        stop.set()
        await watcher
    print(f"\nDone. The portraits are in {out_dir.resolve()}/ (engine log: {services.settings.data_dir / 'worker.log'}).")
    return 0


async def run_console(settings: Settings, *, auto: bool, out_dir: Path | None = None) -> int:
    """`studio demo`: the terminal conversation next to a local engine worker."""
    from bot.console.app import ConsoleFrontEnd
    from bot.core.studio import Studio
    from studio.worker_process import WorkerProcess

    services = await open_services(settings)
    worker = WorkerProcess(log_file=settings.data_dir / "worker.log")
    worker.start()
    try:
        if auto:
            return await run_console_autoplay(services, out_dir, worker=worker)
        console = ConsoleFrontEnd(Studio(services), out_dir or settings.data_dir / "demo")
        stop = asyncio.Event()
        watcher = asyncio.create_task(console.watcher.run(stop))
        gone = asyncio.create_task(_say_when_gone(worker))
        try:
            await console.interactive(stop)
        finally:
            gone.cancel()
        await watcher
        return 0
    finally:
        worker.stop()
        await services.close()


TOKEN_VARIABLES = {"telegram": "STUDIO_TELEGRAM_TOKEN", "discord": "STUDIO_DISCORD_TOKEN"}
RETRY_START_SECONDS, RETRY_MAX_SECONDS = 2.0, 60.0


def _start_failure(name: str, error: BaseException) -> str:
    """``rejected`` (the token: retrying will not help), ``unreachable`` (network, DNS, the platform
    down: try again), or ``other``."""
    if name == "telegram":
        from telegram.error import InvalidToken, NetworkError

        if isinstance(error, InvalidToken):
            return "rejected"
        if isinstance(error, NetworkError):  # TimedOut and connection errors are NetworkErrors
            return "unreachable"
    if name == "discord":
        import aiohttp
        import discord

        if isinstance(error, discord.LoginFailure):
            return "rejected"
        if isinstance(error, (aiohttp.ClientConnectionError, discord.GatewayNotFound, TimeoutError)) or (
                isinstance(error, discord.HTTPException) and error.status >= 500):
            return "unreachable"
    if isinstance(error, (ConnectionError, TimeoutError, socket.gaierror)):  # not a taken port: that stays an error
        return "unreachable"
    return "other"


async def keep_up(name: str, serve: Any, stop: asyncio.Event, platforms: Any = None) -> bool:
    """Run a front end until ``stop``: a platform that can't be reached (a network blip, DNS) is
    tried again with growing pauses and one line each time; a rejected token stops this front
    end alone, with one line naming its variable, while the others and the worker go on.
    Returns False when it stopped for a rejected token. ``platforms`` (telemetry.server.Platforms):
    where /readyz learns whether this platform's connection is up."""
    pause = RETRY_START_SECONDS
    mark = platforms.set if platforms is not None else (lambda *_: None)
    while not stop.is_set():
        try:
            mark(name, True)
            await serve()
            mark(name, False, "stopped")
            return True
        except Exception as error:
            kind = _start_failure(name, error)
            mark(name, False, f"{kind}: {type(error).__name__}")
            if kind == "rejected":
                log.error("%s: the token in %s was rejected (%s); the %s bot is stopped, the rest goes on",
                          name, TOKEN_VARIABLES[name], type(error).__name__, name)
                return False
            if kind != "unreachable":
                raise
            log.warning("%s can't be reached (%s: %s); trying again in %g s", name, type(error).__name__,
                        str(error)[:200] or "no detail", pause)
        try:
            await asyncio.wait_for(stop.wait(), pause)
        except TimeoutError:
            pass
        pause = min(pause * 2, RETRY_MAX_SECONDS)
    return True


REFUSED_EXIT = 2  # `studio worker` would not serve users the tiny test model (engine/runtime/startup.py)


WORKER_RESTART_SECONDS = (1.0, 60.0)  # the first pause before restarting a dead worker, and the longest


async def supervise_worker(worker: Any, stop: asyncio.Event, refused: list[int], *,
                           poll_seconds: float = 1.0) -> None:
    """Keep the engine worker running while the bots serve users. One that refuses to start (exit 2:
    no SDXL weights or GPU for `auto`) stops the bots too: users would queue work nobody runs. One
    that dies (killed for memory, a GPU fault) is started again, with a growing pause while it keeps
    dying: its job's lease runs out and the new worker retries it, or fails it and refunds it."""
    first, longest = WORKER_RESTART_SECONDS
    pause = first
    loop = asyncio.get_running_loop()
    restarted_at = loop.time()
    while not stop.is_set():
        code = worker.process.poll() if worker is not None and worker.process is not None else None
        if code == REFUSED_EXIT:
            log.error("the engine worker refused to start (see its line above); stopping the bots")
            refused.append(code)
            stop.set()
            return
        if code is not None:
            log.error("the engine worker exited with code %s; starting it again in %.0f s", code, pause)
            try:
                await asyncio.wait_for(stop.wait(), pause)
                return
            except TimeoutError:
                pass
            worker.start()
            restarted_at = loop.time()
            pause = min(pause * 2, longest)
        elif loop.time() - restarted_at > longest:
            pause = first  # it has kept running: a later death starts from the short pause again
        try:
            await asyncio.wait_for(stop.wait(), poll_seconds)
        except TimeoutError:
            pass


async def run_front_ends(services: Services, names: list[str], worker: Any = None) -> int:
    from bot.core.studio import Studio

    studio = Studio(services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    refused: list[int] = []
    from telemetry.server import Platforms

    platforms = Platforms()
    for name in names:
        platforms.set(name, False, "connecting")
    server = await health_server(services, platforms)
    gallery = None
    if services.settings.web_url:  # the gallery beside the bots (web/): its secret and port checked first
        from web.server import WebServer

        try:
            gallery = await WebServer.start(studio, services.settings)
            studio.connect_gallery(gallery.link_for)  # the bots' /gallery
        except BaseException:
            if server is not None:
                await server.stop()
            raise
    supervisor = asyncio.create_task(supervise_worker(worker, stop, refused))
    runners = []
    if "telegram" in names:
        from bot.telegram.app import TelegramFrontEnd

        runners.append(keep_up("telegram", lambda: TelegramFrontEnd(services.settings, studio).run(stop), stop,
                               platforms))
    if "discord" in names:
        from bot.discord.app import DiscordFrontEnd

        settings = services.settings
        runners.append(keep_up("discord", lambda: DiscordFrontEnd(
            settings, studio, api_base_url=settings.discord_api_base_url or None,
            gateway_url=settings.discord_gateway_url or None).run(stop), stop, platforms))
    try:
        if not runners:
            stop.set()
            await supervisor
            return 1
        served = await asyncio.gather(*runners)
        stop.set()
        await supervisor
        return REFUSED_EXIT if refused or not any(served) else 0
    finally:
        if gallery is not None:
            await gallery.close()
        if server is not None:
            await server.stop()


async def health_server(services: Services, platforms: Any) -> Any:
    """The bot process's /metrics, /livez and /readyz on STUDIO_METRICS_PORT (None when 0: off):
    ready when the database and storage answer and every platform's connection is up; the queue
    gauges read at scrape time."""
    settings = services.settings
    if not settings.metrics_port:
        return None
    from engine.runtime.health import queue_refresh
    from telemetry.server import HealthServer, database_check, storage_check

    server = HealthServer(settings.metrics_host, settings.metrics_port,
                          ready=[database_check(services.database), storage_check(services.storage), platforms.check()],
                          refresh=[queue_refresh(services.database)])
    await server.start()
    return server
