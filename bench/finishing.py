"""Finishing benchmark: a generated 1024² portrait in, the delivered 2048² files out, on one CPU core.

    python -m bench.finishing [--photos 6] [--old-photos 2] [--aspects 1:1,4:5,9:16]

Real photos (tests/fixtures/photos), centre-cropped to 1024² as the generator paints them; the
face box is found first (the job gets it from ranking, so it is not timed). Timed per portrait,
all aspects: restoration (skipped without weights, as on this machine), 2× upscaling (Lanczos
without weights), subject mask, background blur, sharpening, crops and JPEG encoding.

- old: what the job did before, for each aspect: upscale, GrabCut at the full 2048², blur, sharpen,
  crop, encode;
- new: once per portrait: upscale, GrabCut at 256 px brought back up, blur at a quarter size,
  sharpen, then a crop and an encode per aspect.

The two run alternately on the same photos; the masks are compared (IoU at 0.5, 256 px vs full size) to show what
the working size costs in fidelity. Target (issue 16): ≤ 1.5 s per portrait, all aspects.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

log = logging.getLogger("bench.finishing")
PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "photos"
NAMES = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "biden2.jpg", "obama-720p.jpg")


def _square(path: Path, side: int = 1024):  # type: ignore[no-untyped-def]
    from PIL import Image

    with Image.open(path) as opened:
        image = opened.convert("RGB")
    short = min(image.size)
    left, top = (image.width - short) // 2, max(0, (image.height - short) // 3)
    return image.crop((left, top, left + short, top + short)).resize((side, side), Image.Resampling.LANCZOS)


def _old(finisher, image, face, aspects):  # type: ignore[no-untyped-def]
    """The job's finishing before: everything again for every aspect, GrabCut at full size."""
    from engine.export import encode_image
    from engine.post import finish

    out = []
    for aspect in aspects:
        scaled = finisher.upscaler.upscale(image, 2)
        box = tuple(round(v * 2) for v in face)
        out.append(encode_image(finish(scaled, box, aspect, sharpen_amount=finisher.sharpen_amount, mask_side=None),
                                "JPEG"))
    return out


def _new(finisher, image, face, aspects):  # type: ignore[no-untyped-def]
    from engine.export import encode_image

    return [encode_image(finished, "JPEG") for finished in finisher.finish_portrait(image, aspects, face).values()]


def _mask_iou(image, face) -> float:  # type: ignore[no-untyped-def]
    from engine.post import subject_mask

    scaled = image.resize((image.width * 2, image.height * 2))
    box = tuple(round(v * 2) for v in face)
    full = subject_mask(scaled, box, side=None) > 0.5
    small = subject_mask(scaled, box) > 0.5
    union = (full | small).sum()
    return float((full & small).sum() / union) if union else 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=len(NAMES))
    parser.add_argument("--old-photos", type=int, default=2, help="photos also run the old way (tens of s each)")
    parser.add_argument("--aspects", default="1:1,4:5,9:16")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("engine").setLevel(logging.ERROR)  # "no weights" notices
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2

    cv2.setNumThreads(1)
    from engine.portraits import default_finisher, detect_face

    aspects = args.aspects.split(",")
    finisher = default_finisher(Path("/nonexistent"), "cpu")
    photos = [_square(PHOTOS / name) for name in NAMES[: args.photos]]
    faces = [detect_face(image) for image in photos]
    _new(finisher, photos[0], faces[0], aspects)  # warm-up
    new_times, old_times, ious = [], [], []
    for index, (image, face) in enumerate(zip(photos, faces, strict=True)):
        if face is None:
            log.info("%s: no face found, skipped", NAMES[index])
            continue
        if index < args.old_photos:
            started = time.perf_counter()
            _old(finisher, image, face, aspects)
            old_times.append(time.perf_counter() - started)
            ious.append(_mask_iou(image, face))
        started = time.perf_counter()
        _new(finisher, image, face, aspects)
        new_times.append(time.perf_counter() - started)
        log.info("%s: new %.2f s%s", NAMES[index], new_times[-1],
                 f", old {old_times[-1]:.1f} s, mask IoU {ious[-1]:.3f}" if index < args.old_photos else "")
    log.info("per 1024² portrait -> %d aspects at 2048², one core: new p50 %.2f s (max %.2f) over %d portraits",
             len(aspects), statistics.median(new_times), max(new_times), len(new_times))
    if old_times:
        paired = new_times[: len(old_times)]
        log.info("old p50 %.1f s over %d portraits; old/new on the same portraits %.0fx; mask IoU (256 px vs full) "
                 "min %.3f", statistics.median(old_times), len(old_times),
                 statistics.median(old_times) / statistics.median(paired), min(ious))
    return 0


if __name__ == "__main__":
    sys.exit(main())
