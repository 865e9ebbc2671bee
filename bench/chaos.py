"""Chaos: worker processes killed with SIGKILL at random while users queue work, talk to the bot and
send albums, all on one SQLite file. What must hold: no job lost, no double charge, no error shown
to a user; and the bot keeps answering quickly while albums are checked.

    python -m bench.chaos [--workers 3] [--users 20] [--jobs 5] [--kill-every 2.0]

Workers are real `studio worker` processes (noop jobs of 0.5 s in 5 steps, a 5 s lease); users
enqueue through the queue's own API with credits reserved; other users say /start and /status
through the conversation core while one user's albums (10 x 12 MP) are checked. Every
``--kill-every`` seconds a random worker is killed (SIGKILL) and a new one started.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("bench.chaos")
ROOT = Path(__file__).resolve().parents[1]


def _worker(data_dir: Path, n: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env |= {"STUDIO_DATA_DIR": str(data_dir), "STUDIO_BASE_MODEL": "tiny", "STUDIO_DEVICE": "cpu",
            "STUDIO_JOB_LEASE_SECONDS": "5", "STUDIO_LOG_LEVEL": "WARNING"}
    log_file = (data_dir / f"worker-{n}.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "studio.cli", "worker", "--id", f"chaos-{n}"], cwd=ROOT, env=env,
                            stdout=log_file, stderr=log_file)


async def run(args: argparse.Namespace, data_dir: Path) -> dict[str, float]:
    from sqlalchemy import func, select

    from bench.responsiveness import _album
    from bot.core.replies import IncomingFile, UserRef
    from bot.core.studio import Studio
    from db import credits, jobs
    from db.models import FINAL_JOB_STATES, CreditState, Job, JobState
    from engine.jobs import NoopJob
    from bot.core.services import open_services
    from config.settings import Settings

    settings = Settings(_env_file=None, data_dir=data_dir, commands_per_minute=100_000, free_credits=0)  # type: ignore[call-arg]
    services = await open_services(settings)
    studio = Studio(services)
    users = [UserRef("telegram", str(1000 + n), str(1000 + n), f"u{n}") for n in range(args.users)]
    apologies = 0
    latencies: list[float] = []
    ids: dict[str, int] = {}
    for user in users:
        await studio.command(user, "start")
        async with services.database.transaction() as session:
            account = await studio.ctx.account(session, user)
            await credits.grant(session, account.id, args.jobs, reason="admin_grant")
            ids[user.user_id] = account.id

    workers = [_worker(data_dir, n) for n in range(args.workers)]
    started = time.monotonic()
    kills = 0

    async def chaos() -> None:
        nonlocal kills
        while True:
            await asyncio.sleep(args.kill_every)
            victim = random.randrange(len(workers))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            kills += 1
            workers[victim] = _worker(data_dir, len(workers) + kills)

    async def enqueue(user: UserRef) -> None:
        nonlocal apologies
        for _ in range(args.jobs):
            try:
                async with services.database.transaction() as session:
                    await jobs.enqueue(session, user_id=ids[user.user_id], kind="noop", cost=1,  # type: ignore[arg-type]
                                       payload=NoopJob(seconds=0.5, steps=5).to_payload(), max_attempts=10,
                                       reply_platform="telegram", reply_chat_id=user.chat_id)
            except Exception:
                log.exception("enqueue failed")
                apologies += 1
            await asyncio.sleep(random.random() * 0.2)

    async def talk(user: UserRef, until: float) -> None:
        nonlocal apologies
        while time.monotonic() < until:
            for command in ("start", "status"):
                begun = time.perf_counter()
                replies = await studio.command(user, command)
                latencies.append(time.perf_counter() - begun)
                apologies += sum("Something went wrong" in r.text for r in replies)
            await asyncio.sleep(0.05)

    async def albums(until: float) -> None:
        nonlocal apologies
        sender = UserRef("telegram", "1", "1", "album")
        await studio.command(sender, "start")
        await studio.action(sender, "consent")
        album = _album(10, 12.0)
        while time.monotonic() < until:
            replies = await studio.photos(sender, [IncomingFile(d, f"p{i}.jpg") for i, d in enumerate(album)])
            apologies += sum("Something went wrong" in r.text for r in replies)

    chaos_task = asyncio.create_task(chaos())
    until = time.monotonic() + args.talk_seconds
    await asyncio.gather(*(enqueue(u) for u in users), *(talk(u, until) for u in users[:5]), albums(until))
    total = args.users * args.jobs
    deadline = time.monotonic() + args.settle_seconds
    while True:
        async with services.database.transaction() as session:
            done = await session.scalar(select(func.count()).select_from(Job).where(Job.state.in_(FINAL_JOB_STATES)))
        if done == total or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    chaos_task.cancel()
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
    async with services.database.transaction() as session:
        all_jobs = (await session.scalars(select(Job))).all()
        lost = sum(j.state not in FINAL_JOB_STATES for j in all_jobs)
        wrong_books = 0
        for user_id in ids.values():
            if await credits.ledger_sum(session, user_id) != await credits.balance(session, user_id):
                wrong_books += 1
        spent = {user_id: 0 for user_id in ids.values()}
        for job in all_jobs:
            settled = {JobState.succeeded: CreditState.committed}.get(job.state, CreditState.refunded)
            if job.state in FINAL_JOB_STATES and job.credit_state != settled:
                wrong_books += 1
            if job.state == JobState.succeeded:
                spent[job.user_id] += job.credits_reserved
        for user_id, used in spent.items():
            if await credits.balance(session, user_id) != args.jobs - used:
                wrong_books += 1  # charged twice, or not at all
        succeeded = sum(j.state == JobState.succeeded for j in all_jobs)
        attempts = sum(j.attempts for j in all_jobs)
    await services.close()
    latencies.sort()
    return {"jobs": total, "succeeded": succeeded, "lost": lost, "double_charges": wrong_books,
            "user_errors": apologies, "kills": kills, "attempts": attempts, "seconds": time.monotonic() - started,
            "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
            "p99_ms": latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))] * 1000
            if latencies else float("nan"), "replies": len(latencies)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=5, help="jobs per user")
    parser.add_argument("--kill-every", type=float, default=2.0)
    parser.add_argument("--talk-seconds", type=float, default=20.0)
    parser.add_argument("--settle-seconds", type=float, default=240.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    with tempfile.TemporaryDirectory() as folder:
        r = asyncio.run(run(args, Path(folder)))
    log.info("%d worker processes, %d kills (SIGKILL), %d users x %d jobs in %.0f s: succeeded %d, lost %d, "
             "double charges %d, user-visible errors %d, attempts %d; /start and /status while albums are "
             "checked: p50 %.0f ms, p99 %.0f ms (%d replies)", args.workers, r["kills"], args.users, args.jobs,
             r["seconds"], r["succeeded"], r["lost"], r["double_charges"], r["user_errors"], r["attempts"],
             r["p50_ms"], r["p99_ms"], r["replies"])
    return 0 if r["lost"] == r["double_charges"] == r["user_errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
