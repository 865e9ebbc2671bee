"""Forty users at once through the real Telegram front end, with the real worker training (issue 24).

    python -m bench.load [--users 40] [--photos 6..8] [--backend sqlite|postgres] [--shared-cpu]
                         [--rounds 1] [--modes before,unqueued,after] [--megapixels 0]

The world (this process): the fake Telegram Bot API server the tests use (tests/support/telegram_server.py,
on 127.0.0.1) and ``--users`` simulated users. The product, each in its own process as in production:
the bot (``TelegramFrontEnd`` over the real ``Studio`` and services, with production's options: the database
and local storage in a temporary folder, the photo-check process pool) and the worker (``run_worker``, what
``studio worker`` runs) on the tiny model (CPU, one torch thread). Before the rounds one user trains a model through the chat; its training is made long enough
(``STUDIO_TRAIN_STEPS_PER_IMAGE``) to run, heartbeating every 0.5 s, through every round, and is checked
to be running (its step advancing) at the start and end of each round.

Each user of a round: /start, "I confirm", an album of 6–8 selfies (the repository's sample photos as they
are, ~0.3–3 MP, or upscaled to ``--megapixels``), and /status, /credits, /styles, /help in a random order
with random pauses while the albums are checked; users start spread over ``--ramp`` seconds.

Measured per request: from the fake server handing the update to the bot (its getUpdates answer) to the
bot's answer arriving at the fake server. The album's answer is the summary ("Got N photos — …"),
measured from the delivery of its last photo (so it includes the album's 1.5 s quiet window).

Where the time goes (the second and third tables): both product processes time every
``Database.transaction`` (its wait to begin, i.e. for SQLite's write lock, and how long it then holds it,
with the function that opened it); the bot also how late its event loop wakes a 50 ms sleep, and how long
each message waits in python-telegram-bot's ``AIORateLimiter`` (Telegram's 30 messages a second); the fake
server counts the bot's calls to chats per second; "SQLite is busy" lines are counted in both logs.

Old and new code in one run (``--modes``): a round "after" runs the code as it is; "fifo" starts the bot
with one queue of SQLite writers, first come first served (an album's record does not let waiting
commands go first); "multitrip" starts the
bot with SQLAlchemy's aiosqlite adapter as it comes (3-4 trips to aiosqlite's thread a statement, session 12);
"unqueued" also without its queue of SQLite writers (each transaction polls SQLite's busy handler, as in session 11);
"before" also replaces ``Database.read`` by ``Database.transaction`` (BEGIN IMMEDIATE on SQLite, as every
read did before issue 24); "old" runs the bot of ``--old-tree``, a checkout of an earlier commit, in that
tree's own "after" mode (same worker, same database). Each round runs every mode in turn (``--rounds`` times); the worker and its training go on
across rounds; a round's users are new users. ``--shared-cpu`` adds ``--hogs`` busy processes (they stop by
themselves at the bench's deadline at the latest). Everything listens on 127.0.0.1 only; every wait is
bounded, and the bench stops by itself after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("bench.load")
ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456:BENCH-token-for-the-fake-bot-api"
MIN_SIDE_PX = 256  # the sample set has a 480p photo (the tests' intake does the same)
ANSWER_SECONDS = 180.0  # the longest any one answer is waited for before it counts as lost
BOT_START_SECONDS = 60.0

TEXT_COMMANDS = ("start", "status", "credits", "help")  # "text commands" in the table; /styles apart
ANSWERS: dict[str, Callable[[str], bool]] = {
    "start": lambda t: t.startswith("👋 Hi"),
    "consent": lambda t: t.startswith("Thank you!"),
    "status": lambda t: t.startswith("📋 Your status"),
    "credits": lambda t: t.startswith("💳 You have"),
    "styles": lambda t: t.startswith("🎨 Pick a style:"),
    "help": lambda t: t.startswith("Here's what I can do"),
    "album": lambda t: t.startswith("Got "),  # the summary; "📥 Got N photos — checking them all…" comes first
}
MODES = {"before": "before: read = transaction, no queue of writers",
         "unqueued": "read without the lock, no queue of writers (session 11)",
         "multitrip": "queued, but SQLAlchemy's aiosqlite adapter as it comes (3-4 trips a statement; session 12)",
         "fifo": "the product, but an album's record does not let waiting commands go first (b2055ed)",
         "old": "the bot of --old-tree (a checkout of an earlier commit, in its own 'after' mode)",
         "after": "the product: read without the lock, writers queued, one trip a statement"}
TROUBLE = ("😔 Something went wrong", "Whoa, that's fast!", "Still too fast", "That's a lot of photos at once")


# ---------------------------------------------------------------------------------------- the product
def _trace_transactions(mode: str) -> list[tuple[float, float, float, str]]:
    """Time the product's transactions in this process: each one's wait to begin (SQLite's BEGIN IMMEDIATE
    waits for the write lock here; also the pool's connection) and how long it then holds it, with the
    function that opened it. ``mode`` "after": the product; "unqueued": the product without its queue of
    SQLite writers in the process (``Database._write_turn``: first come first served; session 11's code);
    "multitrip": the product with SQLAlchemy's aiosqlite adapter as it comes (a cursor, execute, fetch and close
    each a trip to aiosqlite's thread; session 12's code) instead of ``db/sqlite_driver.py``; "before": "unqueued", and ``Database.read`` is ``Database.transaction`` (reads took the write lock before issue 24).
    Returns the list the (when, wait, held, caller) tuples go to."""
    import db.session
    from db.session import Database

    transactions: list[tuple[float, float, float, str]] = []
    original_transaction = Database.transaction

    def caller() -> str:
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.endswith(("contextlib.py", "session.py", "load.py")):
            frame = frame.f_back  # type: ignore[assignment]
        return f"{Path(frame.f_code.co_filename).stem}.{frame.f_code.co_name}" if frame is not None else "?"

    @contextlib.asynccontextmanager
    async def timed_transaction(self: Database, **options: Any) -> Any:
        where = caller()
        started = time.perf_counter()
        async with original_transaction(self, **options) as session:
            begun = time.perf_counter()
            try:
                yield session
            finally:
                transactions.append((time.time(), begun - started, time.perf_counter() - begun, where))

    @contextlib.asynccontextmanager
    async def no_queue(self: Database, bulk: bool = False) -> Any:
        yield

    original_write_turn = Database._write_turn

    def fifo_turn(self: Database, bulk: bool = False) -> Any:
        return original_write_turn(self, False)

    Database.transaction = timed_transaction  # type: ignore[method-assign]
    if mode in ("before", "unqueued", "multitrip"):
        db.session.ONE_TRIP_STATEMENTS = False
        log.info("SQLAlchemy's aiosqlite adapter as it comes: several trips to its thread a statement")
    if mode == "fifo":
        Database._write_turn = fifo_turn  # type: ignore[method-assign]
        log.info("one queue of writers, first come first served: an album's record goes before a command that came later")
    if mode in ("before", "unqueued"):
        Database._write_turn = no_queue  # type: ignore[method-assign]
        log.info("no queue of writers: every transaction polls SQLite's busy handler")
    if mode == "before":  # before issue 24: every read began with BEGIN IMMEDIATE, like a write
        Database.read = timed_transaction  # type: ignore[method-assign]
        log.info("old reads: Database.read = Database.transaction")
    return transactions


def _trace_rate_limiter() -> list[tuple[float, float]]:
    """Time how long each of the bot's calls to a chat waits in python-telegram-bot's AIORateLimiter (Telegram's
    30 messages a second) before it is sent: (when, wait) tuples."""
    from telegram.ext import AIORateLimiter

    waits: list[tuple[float, float]] = []
    original = AIORateLimiter.process_request

    async def timed(self: Any, callback: Any, args: Any, kwargs: Any, endpoint: str, data: dict[str, Any],
                    rate_limit_args: int | None) -> Any:
        entered = time.perf_counter()

        async def stamped(*a: Any, **k: Any) -> Any:
            if "chat_id" in data:
                waits.append((time.time(), time.perf_counter() - entered))
            return await callback(*a, **k)

        return await original(self, stamped, args, kwargs, endpoint, data, rate_limit_args)

    AIORateLimiter.process_request = timed  # type: ignore[method-assign]
    return waits


def serve_worker(args: argparse.Namespace) -> int:
    """``studio worker`` as the CLI runs it (settings from STUDIO_* variables), its transactions timed;
    it stops by itself after ``--max-seconds``."""
    import threading

    from engine.runtime.worker_cli import run_worker
    from config.logs import configure_logging
    from config.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level, secrets=settings.secret_values(), json_lines=False)
    transactions = _trace_transactions("after")
    timer = threading.Timer(args.max_seconds, os.kill, (os.getpid(), signal.SIGTERM))
    timer.daemon = True
    timer.start()
    try:
        return run_worker(settings)
    finally:
        log.warning("BENCH-STATS %s", json.dumps({"transactions": transactions}))


def serve_bot(args: argparse.Namespace) -> int:
    """The bot process of one round (``--serve-bot``): the production front end, until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "telegram", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    transactions = _trace_transactions(args.mode)
    limiter_waits = _trace_rate_limiter()

    async def watch_loop(lags: list[tuple[float, float]], stop: asyncio.Event) -> None:
        """How late the event loop wakes a 50 ms sleep: time the loop was busy with something else."""
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.05)
            lags.append((time.time(), time.perf_counter() - started - 0.05))

    async def run() -> None:
        from bot.core.studio import Studio
        from bot.telegram.app import TelegramFrontEnd
        from bot.core.services import open_services
        from config.settings import Settings

        overrides = {"database_url": args.database_url} if args.database_url else {}
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, data_dir=Path(args.data_dir), telegram_token=TOKEN, telegram_base_url=args.base_url,
            telegram_base_file_url=args.file_url, min_side_px=MIN_SIDE_PX, base_model="tiny", **overrides)
        services = await open_services(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.call_later(args.max_seconds, stop.set)  # stops by itself whatever happens to the bench
        lags: list[tuple[float, float]] = []
        watcher = asyncio.create_task(watch_loop(lags, stop))
        try:
            await TelegramFrontEnd(settings, Studio(services)).run(stop)  # production's options
        finally:
            stop.set()
            await watcher
            await services.close()
            log.info("BENCH-STATS %s", json.dumps({"loop_lag": lags, "transactions": transactions,
                                                   "limiter": limiter_waits}))

    asyncio.run(run())
    return 0


# ---------------------------------------------------------------------------------------- the world
def _fake_telegram_class() -> type:
    from tests.support.telegram_server import FakeTelegram, Sent

    class TimedTelegram(FakeTelegram):
        """The tests' fake Bot API, which also notes when each update was handed to the bot and when
        each of the bot's messages arrived."""

        def __init__(self, token: str) -> None:
            super().__init__(token)
            self.pushed: dict[int, float] = {}
            self.delivered: dict[int, float] = {}
            self.arrivals: list[tuple[float, Sent]] = []
            self.chat_calls: list[tuple[float, str]] = []  # when each of the bot's calls to a chat arrived, and its
            # method (PTB's AIORateLimiter holds every call with a chat_id to 30 a second)

        async def _params(self, request: Any) -> dict[str, Any]:
            params = await super()._params(request)
            if "chat_id" in params:
                self.chat_calls.append((time.monotonic(), request.match_info["method"]))
            return params

        async def _push(self, update: dict[str, Any]) -> int:
            update_id = await super()._push(update)
            self.pushed[update_id] = time.monotonic()
            return update_id

        async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
            updates = await super()._m_getUpdates(params)
            now = time.monotonic()
            for update in updates:
                self.delivered.setdefault(update["update_id"], now)
            return updates

        async def _record(self, sent: Sent, *, edit: bool = False) -> None:
            if not edit:
                self.arrivals.append((time.monotonic(), sent))
            await super()._record(sent, edit=edit)

        async def answer(self, chat_id: int, after: int, predicate: Callable[[str], bool],
                         timeout: float) -> tuple[float, Sent] | None:
            """The first message to ``chat_id`` that arrived after ``arrivals[after]`` and matches."""
            deadline = time.monotonic() + timeout
            cursor = after
            async with self._changed:
                while True:
                    while cursor < len(self.arrivals):
                        at, sent = self.arrivals[cursor]
                        cursor += 1
                        if sent.chat_id == chat_id and predicate(sent.text or sent.caption):
                            return at, sent
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), remaining)

    return TimedTelegram


@dataclass
class Sample:
    kind: str
    user: int
    seconds: float | None  # None: never answered


@dataclass
class Round:
    label: str
    samples: list[Sample] = field(default_factory=list)
    busy_lines: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    trouble: int = 0
    training: str = ""
    loop_lag: list[float] = field(default_factory=list)  # the bot's event loop, late by (s), during the load
    begin_wait: list[float] = field(default_factory=list)  # its transactions' wait to begin (s), during the load
    held: list[float] = field(default_factory=list)  # how long its transactions then held the lock (s)
    callers: list[tuple[float, float, str]] = field(default_factory=list)  # (wait, held, caller) per transaction
    limiter: list[float] = field(default_factory=list)  # the bot's calls to chats: wait in PTB's rate limiter (s)
    window: tuple[float, float] = (0.0, 0.0)  # the load's start and end (time.time())
    worker: list[tuple[float, float, str]] = field(default_factory=list)  # the worker's transactions, the same
    loadavg: str = ""
    peak_calls: int = 0  # most calls to a chat the bot made in one second (PTB's AIORateLimiter: 30/s)
    seconds_at_limit: int = 0  # seconds with 28 or more
    seconds: float = 0.0


def _album_photos(megapixels: float) -> list[bytes]:
    from bot.console.samples import one_person_selfies

    photos = one_person_selfies(12)
    if megapixels <= 0:
        return photos
    from bench.phone_photos import at_megapixels

    return [at_megapixels(data, megapixels) for data in photos]


class World:
    def __init__(self, args: argparse.Namespace, root: Path, database_url: str) -> None:
        self.args = args
        self.root = root
        self.data_dir = root / "data"
        self.database_url = database_url
        self.telegram: Any = _fake_telegram_class()(TOKEN)
        self.photos = _album_photos(args.megapixels)
        self.rng = random.Random(args.seed)
        self.bot: subprocess.Popen[bytes] | None = None
        self.deadline = time.monotonic() + args.max_seconds

    # -------------------------------------------------------------- processes
    def start_bot(self, label: str, mode: str) -> Path:
        logfile = self.data_dir / f"bot-{label}.log"
        command = [sys.executable, "-m", "bench.load", "--serve-bot", "--data-dir", str(self.data_dir),
                   "--base-url", self.telegram.base_url, "--file-url", self.telegram.base_file_url,
                   "--max-seconds", str(max(30, round(self.deadline - time.monotonic())))]
        if self.database_url:
            command += ["--database-url", self.database_url]
        command += ["--mode", "after" if mode == "old" else mode]
        cwd = Path(self.args.old_tree) if mode == "old" else ROOT
        with logfile.open("ab") as out:
            settings = dict(item.split("=", 1) for item in self.args.bot_setting)
            env = _clean_env(**{f"STUDIO_{name.upper()}": value for name, value in settings.items()})
            self.bot = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=out)
        return logfile

    async def stop_bot(self) -> None:
        if self.bot is None:
            return
        bot, self.bot = self.bot, None
        if bot.poll() is None:
            bot.send_signal(signal.SIGTERM)
            for _ in range(300):  # 30 s
                if bot.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            else:
                log.warning("the bot did not stop in 30 s: killed")
                bot.kill()
                bot.wait()

    async def bot_up(self) -> None:
        """The bot polls: its first getUpdates arrived, or it failed to start (its log says why)."""
        deadline = time.monotonic() + BOT_START_SECONDS
        while not any(method == "getUpdates" for method, _ in self.telegram.calls[self._calls_mark:]):
            if self.bot is None or self.bot.poll() is not None:
                raise RuntimeError("the bot exited while starting; see its log in the data folder")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not poll within {BOT_START_SECONDS:.0f} s")
            await asyncio.sleep(0.1)

    _calls_mark = 0

    # -------------------------------------------------------------- one request
    async def request(self, samples: list[Sample], kind: str, user: int, send: Callable[[], Any],
                      predicate: Callable[[str], bool] | None = None) -> Any:
        """Send one update, wait for its answer, note the latency; returns the answer (None if lost)."""
        mark = len(self.telegram.arrivals)
        update_id = await send()
        found = await self.telegram.answer(user, mark, predicate or ANSWERS[kind], self._wait())
        if found is None:
            samples.append(Sample(kind, user, None))
            log.warning("user %d: no answer to %s within %.0f s", user, kind, ANSWER_SECONDS)
            return None
        at, sent = found
        began = self.telegram.delivered.get(update_id) or self.telegram.pushed[update_id]
        samples.append(Sample(kind, user, at - began))
        return sent

    def _wait(self) -> float:
        return max(1.0, min(ANSWER_SECONDS, self.deadline - time.monotonic()))

    async def agree(self, samples: list[Sample], user: int, name: str) -> bool:
        if await self.request(samples, "start", user, lambda: self.telegram.send_text(user, "/start", name=name)) is None:
            return False
        consent = await self.telegram.answer(user, 0, lambda t: t.startswith("Before your first photo"), self._wait())
        if consent is None:
            log.warning("user %d: no consent request", user)
            samples.append(Sample("consent", user, None))
            return False
        sent = await self.request(samples, "consent", user,
                                  lambda: self.telegram.press(user, consent[1], "I confirm", name=name))
        return sent is not None

    async def send_album(self, user: int, name: str, photos: list[bytes]) -> int:
        group = f"album-{user}"
        last = 0
        for data in photos:
            last = await self.telegram.send_photo(user, data, name=name, media_group_id=group)
            await asyncio.sleep(self.rng.uniform(0.02, 0.08))  # a phone uploads an album's photos one by one
        return last

    # -------------------------------------------------------------- one user of a round
    async def user(self, samples: list[Sample], user: int, delay: float, count: int, pauses: list[float],
                   order: list[str]) -> None:
        await asyncio.sleep(delay)
        name = f"User{user}"
        if not await self.agree(samples, user, name):
            samples += [Sample(kind, user, None) for kind in ("album", *order)]
            return
        photos = self.rng.sample(self.photos, count)

        async def album() -> None:
            mark = len(self.telegram.arrivals)
            last = await self.send_album(user, name, photos)
            found = await self.telegram.answer(user, mark, ANSWERS["album"], self._wait())
            began = self.telegram.delivered.get(last) or self.telegram.pushed[last]
            samples.append(Sample("album", user, None if found is None else found[0] - began))
            if found is None:
                log.warning("user %d: no album summary", user)

        checking = asyncio.create_task(album())
        for command, pause in zip(order, pauses, strict=True):
            await asyncio.sleep(pause)
            await self.request(samples, command, user, lambda c=command: self.telegram.send_text(user, f"/{c}", name=name))
        await checking

    # -------------------------------------------------------------- set-up: a training that runs throughout
    async def start_training(self) -> None:
        trainer = 900_001
        samples: list[Sample] = []
        if not await self.agree(samples, trainer, "Trainer"):
            raise RuntimeError("the trainer could not start")
        mark = len(self.telegram.arrivals)
        await self.send_album(trainer, "Trainer", self.photos[:8])
        found = await self.telegram.answer(trainer, mark, lambda t: "ready to train" in t, ANSWER_SECONDS)
        if found is None:
            raise RuntimeError(f"the trainer's album was not ready to train: {self.telegram.texts_to(trainer)[-3:]}")
        await self.telegram.press(trainer, found[1], "Train my model", name="Trainer")
        who = await self.telegram.answer(trainer, mark, lambda t: t.startswith("Who is in the photos"), ANSWER_SECONDS)
        if who is None:
            raise RuntimeError(f"no 'Who is in the photos': {self.telegram.texts_to(trainer)[-3:]}")
        await self.telegram.press(trainer, who[1], "A man", name="Trainer")
        deadline = time.monotonic() + 180
        while (state := await self.training_state())[0] != "running" or state[1] < 2:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the training did not get under way in 180 s: {state}; see worker.log")
            await asyncio.sleep(1.0)
        log.info("training under way: step %d of %d", state[1], state[2])

    async def training_state(self) -> tuple[str, int, int]:
        from sqlalchemy import select

        from db.models import Job
        from db.session import Database

        database = Database(self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'studio.db'}")
        try:
            async with database.read() as session:
                job = await session.scalar(select(Job).where(Job.kind == "train").order_by(Job.id.desc()).limit(1))
                return (str(job.state), job.step, job.total_steps) if job is not None else ("none", 0, 0)
        finally:
            await database.dispose()

    # -------------------------------------------------------------- one round
    async def round(self, label: str, mode: str, first_user: int) -> Round:
        result = Round(label)
        self._calls_mark = len(self.telegram.calls)
        logfile = self.start_bot(f"{mode}-{first_user}", mode)
        worker_log = self.data_dir / "worker.log"
        worker_mark = worker_log.stat().st_size if worker_log.exists() else 0
        try:
            await self.bot_up()
            # warm-up, the same for both: the photo-check pool and the style sheet of this bot process
            warm = first_user + 99_000
            warm_samples: list[Sample] = []
            await self.agree(warm_samples, warm, "Warm")
            await self.request(warm_samples, "album", warm,
                               lambda: self.telegram.send_photo(warm, self.photos[0], name="Warm"), ANSWERS["album"])
            await self.request(warm_samples, "styles", warm, lambda: self.telegram.send_text(warm, "/styles", name="Warm"))
            before = await self.training_state()
            began, wall_began = time.monotonic(), time.time()
            users = []
            for index in range(self.args.users):
                order = ["status", "credits", "styles", "help"]
                self.rng.shuffle(order)
                users.append(self.user(result.samples, first_user + index, self.rng.uniform(0, self.args.ramp),
                                       self.rng.randint(self.args.min_photos, self.args.max_photos),
                                       [self.rng.uniform(0.3, self.args.pause) for _ in order], order))
            await asyncio.wait_for(asyncio.gather(*users), self.args.round_seconds)
            result.seconds = time.monotonic() - began
            per_second: dict[int, int] = {}
            methods: dict[str, int] = {}
            for at, method in self.telegram.chat_calls:
                if at >= began:
                    per_second[int(at - began)] = per_second.get(int(at - began), 0) + 1
                    methods[method] = methods.get(method, 0) + 1
            log.info("the bot's calls to chats this round, by method: %s",
                     ", ".join(f"{m} {n}" for m, n in sorted(methods.items(), key=lambda kv: -kv[1])))
            result.peak_calls = max(per_second.values(), default=0)
            result.seconds_at_limit = sum(n >= 28 for n in per_second.values())
            wall_ended = time.time()
            result.window = (wall_began, wall_ended)
            after = await self.training_state()
            result.training = f"{before[0]} step {before[1]}→{after[1]} of {after[2]} ({after[0]} at the end)"
            result.loadavg = "%.2f %.2f %.2f" % os.getloadavg()
        finally:
            await self.stop_bot()
        chats = set(range(first_user, first_user + self.args.users))
        result.trouble = sum(1 for _, s in self.telegram.arrivals if s.chat_id in chats
                             and (s.text or s.caption).startswith(TROUBLE))
        bot_text = logfile.read_text(errors="replace")
        worker_text = worker_log.read_bytes()[worker_mark:].decode(errors="replace") if worker_log.exists() else ""
        result.busy_lines = {"bot": bot_text.count("SQLite is busy"), "worker": worker_text.count("SQLite is busy")}
        result.errors = bot_text.count(" ERROR ") + bot_text.count("Traceback")
        for line in bot_text.splitlines():
            if "BENCH-STATS " in line:
                stats = json.loads(line.split("BENCH-STATS ", 1)[1])
                result.loop_lag = [v for t, v in stats["loop_lag"] if wall_began <= t <= wall_ended]
                during = [(w, h, c) for t, w, h, c in stats["transactions"] if wall_began <= t <= wall_ended]
                result.begin_wait = [w for w, _, _ in during]
                result.held = [h for _, h, _ in during]
                result.callers = during
                result.limiter = [v for t, v in stats["limiter"] if wall_began <= t <= wall_ended]
        return result


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    return env | extra


def _start_worker(data_dir: Path, database_url: str, steps_per_image: int, max_seconds: float) -> subprocess.Popen[bytes]:
    env = _clean_env(STUDIO_DATA_DIR=str(data_dir), STUDIO_BASE_MODEL="tiny", STUDIO_DEVICE="cpu",
                     STUDIO_MIN_SIDE_PX=str(MIN_SIDE_PX), STUDIO_TRAIN_STEPS_PER_IMAGE=str(steps_per_image),
                     STUDIO_TRAIN_MAX_STEPS=str(steps_per_image * 12),
                     OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # a GPU worker's CPU use is small; one core at most here
    if database_url:
        env["STUDIO_DATABASE_URL"] = database_url
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "worker.log").open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "bench.load", "--serve-worker", "--max-seconds", str(max_seconds)],
                                cwd=ROOT, env=env, stdout=out, stderr=out)


def _stop(process: subprocess.Popen[bytes], what: str) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in 30 s: killed", what)
            process.kill()
            process.wait()


def _hogs(count: int, seconds: float) -> list[subprocess.Popen[bytes]]:
    """Busy processes that stop by themselves after ``seconds`` (another tenant of a shared machine)."""
    code = f"import time\nend = time.monotonic() + {seconds:.0f}\nwhile time.monotonic() < end:\n    pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]


# ---------------------------------------------------------------------------------------- figures
def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(values: list[float], *qs: float) -> str:
    if not values:
        return "–"
    return " / ".join(f"{_pct(values, q) * 1000:.0f}" for q in qs)


def table(rounds: list[Round], args: argparse.Namespace) -> str:
    merged: dict[str, list[Round]] = {}
    for r in rounds:
        merged.setdefault(r.label, []).append(r)
    head = ("| reads | answered / sent | text commands p50 / p95 / p99 / max (ms) | p99 /start · /status · /credits · "
            "/help (ms) | /styles p50 / p95 / p99 (ms) | consent p50 / p99 (ms) | album → summary p50 / p95 (s) |")
    diag = ("| reads | bot's transactions: count, wait to begin p50 / p99 / max (ms), held p50 / p99 / max (ms) "
            "| bot's event loop late p50 / p99 / "
            "max (ms) | bot's calls to chats: peak per second, seconds at ≥ 28/s, wait in PTB's 30/s rate limiter p50 / p99 / max (ms) | 'SQLite is busy' lines bot / worker "
            "| worker's transactions: count, wait p99 / max (ms), held p99 / max (ms) "
            "| training steps during the load | round (s) | "
            "load avg at the end |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    lines2 = [diag, "|" + " --- |" * (diag.count("|") - 1)]
    for label, group in merged.items():
        samples = [s for r in group for s in r.samples]
        answered = [s for s in samples if s.seconds is not None]

        def of(*kinds: str) -> list[float]:
            return [s.seconds for s in answered if s.kind in kinds]  # type: ignore[misc]

        per = " · ".join(_ms(of(kind), 0.99) for kind in TEXT_COMMANDS)
        album = of("album")
        album_s = " / ".join(f"{_pct(album, q):.1f}" for q in (0.5, 0.95)) if album else "–"
        lines.append(
            f"| {label} | {len(answered)}/{len(samples)} | {_ms(of(*TEXT_COMMANDS), 0.5, 0.95, 0.99, 1.0)} | {per} | "
            f"{_ms(of('styles'), 0.5, 0.95, 0.99)} | {_ms(of('consent'), 0.5, 0.99)} | {album_s} |")
        waits = [w for r in group for w in r.begin_wait]
        held = [h for r in group for h in r.held]
        worker = [t for r in group for t in r.worker]
        limiter = [v for r in group for v in r.limiter]
        lags = [w for r in group for w in r.loop_lag]
        lines2.append(
            f"| {label} | {len(waits)}, {_ms(waits, 0.5, 0.99, 1.0)}, {_ms(held, 0.5, 0.99, 1.0)} | "
            f"{_ms(lags, 0.5, 0.99, 1.0)} | {max(r.peak_calls for r in group)}, "
            f"{'; '.join(str(r.seconds_at_limit) for r in group)}, {_ms(limiter, 0.5, 0.99, 1.0)} | "
            f"{sum(r.busy_lines.get('bot', 0) for r in group)} / {sum(r.busy_lines.get('worker', 0) for r in group)} | "
            f"{len(worker)}, {_ms([w for w, _, _ in worker], 0.99, 1.0)}, {_ms([h for _, h, _ in worker], 0.99, 1.0)} | "
            f"{'; '.join(r.training for r in group)} | {'; '.join(f'{r.seconds:.0f}' for r in group)} | "
            f"{'; '.join(r.loadavg for r in group)} |")
    lines3 = ["| reads | the transactions that waited longest, by the function that opened them (bot, or the worker): "
              "count, wait p99 / max (ms), held p99 / max (ms) |", "| --- | --- |"]
    for label, group in merged.items():
        by: dict[str, list[tuple[float, float]]] = {}
        for r in group:
            for wait, hold, where in r.callers:
                by.setdefault(where, []).append((wait, hold))
            for wait, hold, where in r.worker:
                by.setdefault(f"worker {where}", []).append((wait, hold))
        top = sorted(by.items(), key=lambda item: -max(w for w, _ in item[1]))[:6]
        top += sorted((i for i in by.items() if i not in top), key=lambda item: -max(h for _, h in item[1]))[:2]
        lines3.append(f"| {label} | " + "; ".join(
            f"{where} {len(v)}, {_ms([w for w, _ in v], 0.99, 1.0)}, {_ms([h for _, h in v], 0.99, 1.0)}"
            for where, v in top) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(lines2) + "\n\n" + "\n".join(lines3)


# ---------------------------------------------------------------------------------------- main
async def run_bench(args: argparse.Namespace, root: Path, database_url: str) -> list[Round]:
    world = World(args, root, database_url)
    await world.telegram.start()
    worker = _start_worker(world.data_dir, database_url, args.train_steps_per_image, args.max_seconds + 60)
    hogs: list[subprocess.Popen[bytes]] = []
    rounds: list[Round] = []
    try:
        world.start_bot("setup", "after")
        try:
            await world.bot_up()
            await world.start_training()
        finally:
            await world.stop_bot()
        if args.shared_cpu:
            hogs = _hogs(args.hogs, max(10.0, world.deadline - time.monotonic()))
            log.info("shared CPU: %d busy processes until the end", len(hogs))
        first_user = 100_000
        for number in range(args.rounds):
            modes = [(MODES[mode], mode) for mode in args.modes]
            for label, mode in modes:
                if time.monotonic() > world.deadline - args.round_seconds:
                    log.warning("out of time (--max-seconds): no more rounds")
                    break
                result = await world.round(label, mode, first_user)
                first_user += 1000
                answered = sum(s.seconds is not None for s in result.samples)
                log.info("round %d %s: %d/%d answered in %.0f s; training %s; load %s", number + 1, label, answered,
                         len(result.samples), result.seconds, result.training, result.loadavg)
                rounds.append(result)
    finally:
        for hog in hogs:
            _stop(hog, "a CPU hog")
        _stop(worker, "the worker")
        await world.telegram.stop()
        worker_log = (world.data_dir / "worker.log").read_text(errors="replace")
        for line in worker_log.splitlines():
            if "BENCH-STATS " in line:
                stats = json.loads(line.split("BENCH-STATS ", 1)[1])
                for r in rounds:
                    r.worker = [(w, h, c) for t, w, h, c in stats["transactions"] if r.window[0] <= t <= r.window[1]]
    return rounds


def _postgres() -> tuple[Any, str] | None:
    from tests.support.postgres import PostgresServer, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        return None
    server = PostgresServer.start(bin_dir)
    name = f"bench_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        import asyncpg

        connection = await asyncpg.connect(host="127.0.0.1", port=server.port, user="postgres", database="postgres")
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    try:
        asyncio.run(create())
    except BaseException:
        server.stop()
        raise
    return server, f"postgresql+asyncpg://postgres@127.0.0.1:{server.port}/{name}"


def _photos_range(value: str) -> tuple[int, int]:
    low, _, high = value.partition("..")
    return int(low), int(high or low)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--photos", type=_photos_range, default=(6, 8), help="photos per album, e.g. 6..8")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--shared-cpu", action="store_true", help="busy processes beside the bench (a shared machine)")
    parser.add_argument("--hogs", type=int, default=2, help="how many busy processes --shared-cpu starts")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, each of every --modes")
    parser.add_argument("--megapixels", type=float, default=0.0, help="upscale the sample photos to this size; 0: as they are")
    parser.add_argument("--ramp", type=float, default=15.0, help="users start spread over this many seconds (at 5 s the bot's "
                        "answers alone exceed Telegram's 30 messages a second: every answer then waits in the rate limiter)")
    parser.add_argument("--pause", type=float, default=4.0, help="longest pause before each of a user's commands (s)")
    parser.add_argument("--round-seconds", type=float, default=300.0, help="most one round may take")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="most the whole bench may take")
    parser.add_argument("--train-steps-per-image", type=int, default=1000,
                        help="the trainer's training policy (8 photos: 8x this many steps), long enough for every round")
    parser.add_argument("--modes", type=lambda v: v.split(","), default=["before", "after"],
                        help="the configurations of each round, in order, from: " + ", ".join(f"{k} ({v})" for k, v in MODES.items()))
    parser.add_argument("--old-tree", default="", help="for --modes old: a checkout of an earlier commit "
                        "(git worktree add /tmp/old-tree COMMIT), whose bot runs against the same database and worker")
    parser.add_argument("--bot-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting of every mode's bot (e.g. photo_check_niceness=0); may be repeated")
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    # the bot process of a round (internal)
    parser.add_argument("--serve-bot", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=list(MODES), default="after", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--file-url", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if "old" in args.modes and not (args.old_tree and (Path(args.old_tree) / "bench" / "load.py").is_file()):
        parser.error("--modes old needs --old-tree: a checkout of an earlier commit (git worktree add DIR COMMIT)")
    if args.serve_bot:
        return serve_bot(args)
    if args.serve_worker:
        return serve_worker(args)
    args.min_photos, args.max_photos = args.photos
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stdout)
    log.setLevel(logging.INFO)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    log.info("machine: %d cores, %s; load average at the start %.2f %.2f %.2f", os.cpu_count() or 0, cpu,
             *os.getloadavg())
    server = None
    database_url = ""
    if args.backend == "postgres":
        found = _postgres()
        if found is None:
            log.warning("PostgreSQL is not installed here (no /usr/lib/postgresql/*/bin/initdb): skipped")
            return 0
        server, database_url = found
    root = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        rounds = asyncio.run(run_bench(args, root, database_url))
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            log.info("kept %s", root)
        else:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
    log.info("%d users x (/start, consent, album of %d..%d, /status, /credits, /styles, /help), %s%s, %d round(s):\n%s",
             args.users, args.min_photos, args.max_photos, args.backend, ", shared CPU" if args.shared_cpu else "",
             args.rounds, table(rounds, args))
    troubled = sum(r.trouble for r in rounds)
    if troubled or any(r.errors for r in rounds):
        log.warning("apologies / rate-limit answers to the users: %d; ERROR lines in the bot logs: %d", troubled,
                    sum(r.errors for r in rounds))
    lost = sum(s.seconds is None for r in rounds for s in r.samples)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
