"""How fast the bot answers one user while another user's album is being checked.

    python -m bench.responsiveness [--photos 10] [--megapixels 12] [--rounds 2]

The conversation core with its real database (SQLite) and storage: user A sends an album of
``--photos`` phone-size selfies (real sample photos upscaled to ``--megapixels``) while user B
says /start every 50 ms; B's reply latency is recorded for as long as the album is checked.
Old and new run alternately: photo checks in threads of the bot process (before) and in a pool
of worker processes (now). Target (issue 15): p99 under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("bench.responsiveness")
PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "photos"


def _album(count: int, megapixels: float) -> list[bytes]:
    from bench.phone_photos import at_megapixels

    names = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden2.jpg"]
    return [at_megapixels((PHOTOS / names[index % len(names)]).read_bytes(), megapixels) for index in range(count)]


async def _one_run(workers: int, album: list[bytes], data_dir: Path) -> list[float]:
    from bot.core.replies import IncomingFile, UserRef
    from bot.core.studio import Studio
    from bot.core.services import open_services
    from config.settings import Settings

    settings = Settings(_env_file=None, data_dir=data_dir, photo_check_workers=workers,  # type: ignore[call-arg]
                        commands_per_minute=100_000)
    services = await open_services(settings)
    studio = Studio(services)
    sender = UserRef("telegram", "1", "1", "A")
    other = UserRef("telegram", "2", "2", "B")
    await studio.command(sender, "start")
    await studio.action(sender, "consent")
    await studio.command(other, "start")
    await studio.photos(sender, [IncomingFile(album[0], "warm-up.jpg")])  # pools and models warm
    latencies: list[float] = []
    checking = asyncio.create_task(studio.photos(sender, [IncomingFile(d, f"p{i}.jpg") for i, d in enumerate(album)]))
    while not checking.done():
        started = time.perf_counter()
        await studio.command(other, "start")
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.05)
    await checking
    await services.close()
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    from bot.core.photo_checks import default_workers

    album = _album(args.photos, args.megapixels)
    results: dict[str, list[float]] = {"threads (before)": [], "process pool (now)": []}
    for _ in range(args.rounds):
        for label, workers in (("threads (before)", 0), ("process pool (now)", default_workers())):
            with tempfile.TemporaryDirectory() as folder:
                results[label] += asyncio.run(_one_run(workers, album, Path(folder)))
    for label, values in results.items():
        values.sort()
        p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
        log.info("%-20s B's /start while A's %d x %.0f MP album is checked: p50 %.0f ms, p99 %.0f ms, max %.0f ms "
                 "(%d replies)", label, args.photos, args.megapixels, statistics.median(values) * 1000, p99 * 1000,
                 values[-1] * 1000, len(values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
