"""Photo intake speed on 12-megapixel phone photos, one core.

Run: ``python -m bench.intake [--rounds N]``. The photos are real samples upscaled to 12 MP and
saved as phone-like JPEGs (one with EXIF orientation 6, so it needs a turn); they are made in a
child process so the peak RSS reported is the checking process's own.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import multiprocessing  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "photos"
SOURCES = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden2.jpg"]
TARGET_PIXELS = 12_000_000


def make_phone_photos() -> list[bytes]:
    from PIL import Image

    photos = []
    for number, name in enumerate(SOURCES):
        with Image.open(PHOTOS / name) as opened:
            image = opened.convert("RGB")
        scale = (TARGET_PIXELS / (image.width * image.height)) ** 0.5
        big = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
        exif = Image.Exif()
        exif[0x010F], exif[0x0110] = "BenchPhone", "BP-12"
        if number == 1:
            exif[0x0112] = 6
            big = big.transpose(Image.Transpose.ROTATE_90)
        out = io.BytesIO()
        big.save(out, "JPEG", quality=92, exif=exif)
        photos.append(out.getvalue())
    return photos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="passes over the four photos")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        photos = pool.apply(make_phone_photos)

    from engine.intake import IntakeConfig, check_photo

    config = IntakeConfig()
    warm = check_photo(photos[0], config=config)  # loads the dlib models once
    assert warm.ok, warm
    timings = []
    started = time.perf_counter()
    for _ in range(args.rounds):
        for data in photos:
            t0 = time.perf_counter()
            result = check_photo(data, config=config)
            timings.append((time.perf_counter() - t0) * 1000)
            assert result.ok, result
    total = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    megapixels = [round(w * h / 1e6, 1) for w, h in [(warm.width, warm.height)]]
    print(f"photos: {len(timings)} checks of {len(photos)} JPEGs at ~{megapixels[0]} MP, one core")
    print(f"ms per photo: p50 {statistics.median(timings):.0f}  p95 {p95:.0f}  min {timings[0]:.0f}")
    print(f"photos per second: {len(timings) / total:.2f}")
    print(f"peak RSS: {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
