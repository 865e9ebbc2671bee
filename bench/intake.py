"""Photo intake speed on 12-megapixel phone photos, one core.

Run: ``python -m bench.intake [--rounds N] [--stages]``. The photos are real samples upscaled to
12 MP and saved as phone-like JPEGs (one with EXIF orientation 6, so it needs a turn); they are made
in a child process so the peak RSS reported is the checking process's own.

Old and new code in one run, interleaved photo by photo: "after" is the code as it is (an upright
sRGB JPEG is checked on a reduced decode and stored as it came, metadata stripped); "before" is the
code with that route closed (``check_side_px`` out of reach and nothing stored as it came: a full-size
decode and a re-encode for every photo, as before issue 24). Each is reported over all photos and
by kind: upright (stored as it came) and turned (decoded at full size and re-encoded by both).
``--stages`` then times each stage of the code's check on its own (the medians of a check's steps
run one after another) and the bare JPEG decode at full size and with DCT scaling at 1/2 and 1/4.

The dlib the project installs is built from source with OpenBLAS (Makefile); to compare it with the
wheel without BLAS, run the bench again with that wheel first on the path, alternating:
``pip install --no-deps --target /tmp/dlibbin-site dlib-bin==20.0.1.post1`` once, then
``PYTHONPATH=/tmp/dlibbin-site python -m bench.intake``. The first line says which dlib ran.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # dlib's BLAS, as in the bot's checking processes

import argparse  # noqa: E402
import io  # noqa: E402
import multiprocessing  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

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


def _decode_jpeg(data: bytes, divisor: int) -> None:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if divisor > 1:
            image.draft("RGB", (image.width // divisor, image.height // divisor))
        image.load()


def stage_times(photos: list[bytes], rounds: int) -> dict[str, float]:
    """Median milliseconds of each step of an accepted photo's check, in the order check_photo runs them."""
    import hashlib

    from engine.intake import IntakeConfig
    from engine.intake.decode import decode_photo, encode_clean_jpeg
    from engine.intake.faces import detect_faces, downscaled, face_embedding
    from engine.intake.phash import perceptual_hash
    from engine.intake.quality import flat_tiles, measure_face
    from engine.intake.screen import moire_score, screen_window

    config = IntakeConfig()
    times: dict[str, list[float]] = defaultdict(list)

    def timed(name: str, step: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        result = step()
        times[name].append((time.perf_counter() - t0) * 1000)
        return result

    for _ in range(rounds):
        for data in photos:
            timed("sha256", lambda: hashlib.sha256(data).hexdigest())
            decoded = timed("decode (header, upright, sRGB; reduced if stored as it came)",
                            lambda: decode_photo(data, config))
            image = decoded.image
            small, back = timed("~640 px copy", lambda: downscaled(image, config.detect_max_side))
            timed("screenshot measure", lambda: flat_tiles(small))
            faces = timed("HOG face detection", lambda: detect_faces(small, max_side=max(small.size)))
            face = faces[0].scaled(back)
            timed("screen-photo measure", lambda: moire_score(screen_window(image, face)))
            timed("face sharpness/exposure", lambda: measure_face(image, face, config.blur_face_px))
            timed("landmarks + descriptor", lambda: face_embedding(image, face))
            timed("perceptual hash", lambda: perceptual_hash(small))
            if decoded.original is None:
                timed("clean JPEG encode (full size; turned photos)", lambda: encode_clean_jpeg(image, config.jpeg_quality))
            for divisor in (1, 2, 4):
                timed(f"bare JPEG decode at 1/{divisor}", lambda: _decode_jpeg(data, divisor))
    return {name: statistics.median(values) for name, values in times.items()}


def print_stages(medians: dict[str, float]) -> None:
    print("stages, ms per photo (median):")
    for name, ms in medians.items():
        print(f"  {name:<44} {ms:6.1f}")
    steps = sum(ms for name, ms in medians.items() if not name.startswith("bare"))
    print(f"  {'sum of the steps of a check':<44} {steps:6.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="passes over the four photos")
    parser.add_argument("--stages", action="store_true", help="then time each stage of a check on its own")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        photos = pool.apply(make_phone_photos)

    import dataclasses

    from engine.intake import IntakeConfig, check_photo
    from engine.intake import decode as decode_module

    after = IntakeConfig()
    before = dataclasses.replace(after, check_side_px=10**9)
    storable_as_is = decode_module._storable_as_is

    def check(data: bytes, old: bool) -> Any:
        decode_module._storable_as_is = (lambda *_: None) if old else storable_as_is  # type: ignore[assignment]
        return check_photo(data, config=before if old else after)

    warm = check(photos[0], False)  # loads the dlib models once
    assert warm.ok, warm
    timings: dict[tuple[str, str], list[float]] = defaultdict(list)
    spent = {"before": 0.0, "after": 0.0}
    for round_number in range(args.rounds):
        for number, data in enumerate(photos):
            kind = "turned" if number == 1 else "upright"
            for label in ("before", "after") if round_number % 2 == 0 else ("after", "before"):
                t0 = time.perf_counter()
                result = check(data, label == "before")
                ms = (time.perf_counter() - t0) * 1000
                assert result.ok, result
                timings[(label, "all")].append(ms)
                timings[(label, kind)].append(ms)
                spent[label] += ms / 1000
    decode_module._storable_as_is = storable_as_is
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import dlib

    print(f"dlib {dlib.__version__} {'with' if dlib.DLIB_USE_BLAS else 'without'} BLAS ({Path(dlib.__file__).parent})")
    print(f"photos: {args.rounds} x {len(photos)} JPEGs at ~{warm.width * warm.height / 1e6:.1f} MP, "
          f"each checked by both, one core")
    for (label, kind), values in timings.items():
        values.sort()
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(f"  {label:<6} {kind:<7} n={len(values):<3} ms per photo: p50 {statistics.median(values):4.0f}  "
              f"p95 {p95:4.0f}  min {values[0]:4.0f}")
    for label, seconds in spent.items():
        print(f"  {label:<6} photos per second: {len(timings[(label, 'all')]) / seconds:.2f}")
    print(f"peak RSS: {peak_mb:.0f} MB")
    if args.stages:
        print_stages(stage_times(photos, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
