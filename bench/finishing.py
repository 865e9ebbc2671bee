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


def _blend_before(image, face):  # type: ignore[no-untyped-def]
    """blur_background as it was until session 8: the 256 px mask brought up to full size as floats,
    feathered there (a 20 px Gaussian on 2048²), and a float blend of the three channels."""
    import cv2
    import numpy as np
    from PIL import Image

    from engine.post import MASK_SIDE, _grabcut, _scaled_box

    rgb = np.asarray(image.convert("RGB"))
    height, width = rgb.shape[:2]
    factor = min(1.0, MASK_SIDE / max(width, height))
    small = image.resize((round(width * factor), round(height * factor)), Image.Resampling.BILINEAR)
    foreground = cv2.resize(_grabcut(np.asarray(small), _scaled_box(face, factor), 3), (width, height),
                            interpolation=cv2.INTER_LINEAR)
    alpha = cv2.GaussianBlur(foreground, (0, 0), max(1.0, 0.01 * max(width, height)))[..., None]
    sigma = max(0.5, 6.0 * max(width, height) / 1024)
    reduced = cv2.resize(rgb, (width // 4, height // 4), interpolation=cv2.INTER_AREA)
    blurred = cv2.resize(cv2.GaussianBlur(reduced, (0, 0), sigma / 4), (width, height),
                         interpolation=cv2.INTER_LINEAR).astype(np.float32)
    out = blurred + (rgb.astype(np.float32) - blurred) * alpha
    return Image.fromarray(out.round().clip(0, 255).astype(np.uint8))


def _blends(photos, faces, rounds: int = 3) -> None:  # type: ignore[no-untyped-def]
    """The background blur alone at the delivered 2048², before and after session 8, alternately."""
    import numpy as np

    from engine.post import blur_background

    times: dict[str, list[float]] = {"before": [], "now": []}
    differences = []
    for image, face in zip(photos, faces, strict=True):
        if face is None:
            continue
        scaled = image.resize((image.width * 2, image.height * 2))
        box = tuple(round(v * 2) for v in face)
        for _ in range(rounds):
            for name, run in (("before", _blend_before), ("now", blur_background)):
                started = time.perf_counter()
                run(scaled, box)
                times[name].append(time.perf_counter() - started)
        differences.append(np.abs(np.asarray(_blend_before(scaled, box), np.int16)
                                  - np.asarray(blur_background(scaled, box), np.int16)))
    log.info("background blur of a 2048² portrait, one core: before p50 %.3f s, now p50 %.3f s (%.2fx); "
             "pixels differ by %.2f levels on average, %.1f %% by more than 8",
             statistics.median(times["before"]), statistics.median(times["now"]),
             statistics.median(times["before"]) / statistics.median(times["now"]),
             float(np.mean([d.mean() for d in differences])),
             100 * float(np.mean([(d > 8).mean() for d in differences])))


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
    _blends(photos, faces)
    if old_times:
        paired = new_times[: len(old_times)]
        log.info("old p50 %.1f s over %d portraits; old/new on the same portraits %.0fx; mask IoU (256 px vs full) "
                 "min %.3f", statistics.median(old_times), len(old_times),
                 statistics.median(old_times) / statistics.median(paired), min(ious))
    return 0


if __name__ == "__main__":
    sys.exit(main())
