"""What the style picker's sample sheet costs the bot process (composed in a thread, once per
category until a sample changes): 4 samples as `studio samples` writes them (640×800 JPEG), and 4
operator-supplied 12 MP photos (decoded at a fraction of their size by JPEG draft mode).

    python -m bench.style_sheet [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from bot.core.style_sheet import compose_sheet

log = logging.getLogger("bench.style_sheet")
PHOTO = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "photos" / "obama.jpg"


def _samples(folder: Path, size: tuple[int, int]) -> list[tuple[str, Path | None]]:
    with Image.open(PHOTO) as photo:
        image = photo.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    tiles: list[tuple[str, Path | None]] = []
    for index in range(4):
        path = folder / f"{size[0]}x{size[1]}-{index}.jpg"
        image.save(path, "JPEG", quality=90)
        tiles.append((f"Style number {index + 1}", path))
    return tiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as scratch:
        for label, size in (("studio samples' 640×800", (640, 800)), ("12 MP photos", (3000, 4000))):
            tiles = _samples(Path(scratch), size)
            compose_sheet(tiles)  # warm-up: fonts, codecs
            times = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                data = compose_sheet(tiles)
                times.append(time.perf_counter() - started)
            log.info("[style sheet] 4 × %s: %.0f ms median (min %.0f ms) for a %d KB sheet", label,
                     1000 * statistics.median(times), 1000 * min(times), len(data) // 1024)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
