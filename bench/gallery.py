"""The gallery's "My portraits" page with 500 portraits: the server's time to answer it (target
≤ 200 ms), on SQLite and local storage, through the ASGI app (no network).

    .venv/bin/python -m bench.gallery [--portraits 500] [--aspects 2] [--runs 30]

Each portrait is stored in ``--aspects`` aspects (one OutputImage row each, as the worker leaves
them), four portraits a job; the page lists each portrait once, with its likeness, its thumbnail's
address and a download link per aspect. Thumbnails are not made here: the page names them, the
browser asks for them afterwards (each made once, then read from storage), timed separately."""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import select

from bot.core.replies import UserRef
from bot.core.services import Services
from bot.core.studio import Studio
from config.settings import Settings
from db.models import Job, JobKind, JobState, OutputImage
from db.session import Database
from db.storage import LocalStorage, user_prefix
from styles import load_catalogue
from web.app import create_app, gallery_of

USER = UserRef("telegram", "501", "501", "Alex")


def png(size: tuple[int, int] = (832, 1040)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (120, 90, 140)).save(out, "PNG")
    return out.getvalue()


async def fill(studio: Studio, portraits: int, aspects: int) -> None:
    await studio.command(USER, "start")
    async with studio.database.transaction() as session:
        account = await studio.ctx.account(session, USER)
        uid = account.id
        styles = [style.id for style in studio.catalogue]
        names = ["4:5", "1:1", "9:16", "16:9"][:aspects]
        for first in range(0, portraits, 4):
            style_id = styles[(first // 4) % len(styles)]
            job = Job(user_id=uid, kind=JobKind.generate, state=JobState.succeeded, payload={"style_id": style_id},
                      correlation_id=f"bench{first}")
            session.add(job)
            await session.flush()
            images = []
            for index in range(min(4, portraits - first)):
                for aspect in names:
                    key = f"{user_prefix(uid)}outputs/{job.id}/{index}-{aspect.replace(':', 'x')}.png"
                    images.append({"index": index, "aspect": aspect, "key": key, "likeness": 70 + index})
                    session.add(OutputImage(job_id=job.id, user_id=uid, style_id=style_id, position=index,
                                            variant=aspect, storage_key=key, width=832, height=1040, size_bytes=1))
            job.result = {"style_id": style_id, "images": images}
    one = png()
    async with studio.database.read() as session:
        keys = (await session.scalars(select(OutputImage.storage_key).limit(20))).all()
    for key in keys:
        await studio.storage.put(key, one)


async def main(portraits: int, aspects: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        database = Database(f"sqlite+aiosqlite:///{root / 'studio.db'}")
        await database.migrate()
        settings = Settings(_env_file=None, data_dir=root / "data", commands_per_minute=10_000)  # type: ignore[call-arg]
        studio = Studio(Services(settings, database, LocalStorage(root / "storage"), load_catalogue()))
        await fill(studio, portraits, aspects)
        app = create_app(studio, secret="bench-secret-of-the-gallery-0123456789")
        link = await gallery_of(app).link_for(USER)
        assert link is not None
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            page = await http.get(f"{link}portraits")
            assert page.status_code == 200 and page.text.count('"thumb/') == portraits, page.status_code
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                answer = await http.get(f"{link}portraits")
                timings.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200
            thumbs = [f"{link}{address}" for address in re.findall(r'src="(thumb/[^"]+)"', page.text)]
            made, again = [], []
            for address in thumbs:
                started = time.perf_counter()
                first = await http.get(address)
                elapsed = (time.perf_counter() - started) * 1000
                if first.status_code == 200:
                    made.append(elapsed)
                    started = time.perf_counter()
                    await http.get(address)
                    again.append((time.perf_counter() - started) * 1000)
                if len(made) >= 10:
                    break
        await database.dispose()
    timings.sort()
    p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
    print(f"my portraits, {portraits} portraits x {aspects} aspects ({portraits * aspects} rows), "
          f"{len(page.content) // 1024} KiB page, {runs} runs: median {statistics.median(timings):.1f} ms, "
          f"p95 {p95:.1f} ms, max {timings[-1]:.1f} ms (target <= 200 ms)")
    if made:
        print(f"thumbnail of an 832x1040 PNG: made {statistics.median(made):.1f} ms (median of {len(made)}), "
              f"from storage after {statistics.median(again):.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portraits", type=int, default=500)
    parser.add_argument("--aspects", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.portraits, arguments.aspects, arguments.runs))
