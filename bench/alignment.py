"""Face alignment before restoration: dlib's 68-point model (before issue 27) against its 5-point model (now).

    python -m bench.alignment [--rounds 20] [--calibrate] [--matrices]

Every face the intake detector finds in the sample photos (tests/fixtures/photos; 32bit.png is
obama2.jpg again and is skipped), aligned to the restorer's 512² frame two ways:

- old: dlib's 68 points → eye centres, nose tip, mouth corners → ``cv2.estimateAffinePartial2D``
  (LMEDS) onto the FFHQ five-point template: engine/align.py before issue 27, kept here only, since
  the 68-point model (iBUG 300-W) may not be used commercially;
- new: ``engine.align``: dlib's 5 points (eye corners, nose base) → least-squares similarity onto
  ``DLIB5_TEMPLATE_512``.

Printed as Markdown:

1. where faces land: the 68 landmarks of each face (the old model's, as the face's reference
   points) taken into the 512² crop by each alignment; how far the new crop puts them from the old
   one (px at 512², mean and max over a face's points), for all 68 and for the five FFHQ points.
   The shipped template was calibrated on these faces, so the table also gives leave-one-out
   figures (the template from the other faces only: what an unseen face can expect);
2. the old alignment against itself: the same face with the photo at 0.8× or the detector's box
   moved by 5 % of its width, the jitter it showed anyway;
3. time per face (landmarks + transform, the ~200 px face region included; median of ``--rounds``
   interleaved rounds on one core) and each model's load time;
4. the identity descriptor from the 5-point shape (what intake stores, unchanged) against one from
   the 68-point shape, per face, beside the 0.6 same-person threshold.

``--calibrate`` prints the template (the mean of the 5 points' places in the old crops, mirrored to
be symmetric) that ``engine.align.DLIB5_TEMPLATE_512`` holds; ``--matrices`` the old alignment's
matrices that tests/engine/test_face_alignment.py pins.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "photos"
SKIP = {"32bit.png", "NOTICE.md"}  # 32bit.png: obama2.jpg as an RGBA PNG, the same face twice
SIXTY_EIGHT = "shape_predictor_68_face_landmarks.dat"
_LEFT_EYE, _RIGHT_EYE, _NOSE_TIP, _MOUTH = slice(36, 42), slice(42, 48), 30, (48, 54)


def old_five(points68: np.ndarray) -> np.ndarray:
    """The FFHQ five points (eye centres, nose tip, mouth corners) from dlib's 68, image left to right."""
    p = np.asarray(points68, dtype=np.float64).reshape(68, 2)
    return np.array([p[_LEFT_EYE].mean(axis=0), p[_RIGHT_EYE].mean(axis=0), p[_NOSE_TIP], p[_MOUTH[0]], p[_MOUTH[1]]])


def old_alignment(points68: np.ndarray) -> np.ndarray:
    """engine/align.py before issue 27: the five points onto FFHQ's template, LMEDS similarity."""
    import cv2

    from engine.align import FFHQ_TEMPLATE_512

    matrix, _ = cv2.estimateAffinePartial2D(old_five(points68), FFHQ_TEMPLATE_512, method=cv2.LMEDS)
    return matrix


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) @ matrix[:, :2].T + matrix[:, 2]


class Landmarks:
    """dlib's predictors run as intake runs them (the same ~200 px face region), 68 loaded on demand."""

    def __init__(self) -> None:
        import dlib

        from engine.intake import faces

        self.faces = faces
        started = time.perf_counter()
        self.five = faces._model("landmarks")
        self.load_five_s = time.perf_counter() - started
        started = time.perf_counter()
        self.sixty_eight = dlib.shape_predictor(str(faces.models_dir() / SIXTY_EIGHT))
        self.load_68_s = time.perf_counter() - started

    def region(self, image: Any, box: Any) -> Any:
        return self.faces._FaceRegion(image, box)

    def points(self, image: Any, box: Any, predictor: Any) -> np.ndarray:
        region = self.region(image, box)
        shape = predictor(region.array, region.dlib_rect())
        ox, oy = region.offset
        return np.array([(ox + p.x / region.scale, oy + p.y / region.scale) for p in shape.parts()])


@dataclass
class Face:
    name: str
    image: Any
    box: Any
    points68: np.ndarray
    points5: np.ndarray
    old: np.ndarray

    @property
    def label(self) -> str:
        return f"{self.name} ({self.box.left},{self.box.top})"


def load_faces(marks: Landmarks) -> list[Face]:
    from PIL import Image

    from engine.intake.faces import detect_faces

    found = []
    for path in sorted(PHOTOS.iterdir()):
        if path.name in SKIP or path.suffix.lower() not in {".jpg", ".jpeg", ".png"}:
            continue
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        for box in detect_faces(image):
            points68 = marks.points(image, box, marks.sixty_eight)
            found.append(Face(path.name, image, box, points68, marks.points(image, box, marks.five),
                              old_alignment(points68)))
    return found


def calibrate(faces: list[Face]) -> np.ndarray:
    """Where the five dlib points sat in the old crops: their mean, averaged with its mirror image."""
    mean = np.mean([apply(face.old, face.points5) for face in faces], axis=0)
    centre = mean[:4, 0].mean()
    mirrored = mean[[2, 3, 0, 1, 4]].copy()
    mirrored[:, 0] = 2 * centre - mirrored[:, 0]
    return (mean + mirrored) / 2


def new_alignment(points5: np.ndarray, template: np.ndarray | None = None) -> np.ndarray:
    from engine import align

    if template is None:
        matrix = align.estimate_alignment(points5)
    else:
        matrix = align.similarity(points5, template)
    assert matrix is not None
    return matrix


def displacement(a: np.ndarray, b: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.hypot(*(apply(a, points) - apply(b, points)).T)


def _row(label: str, errors: list[np.ndarray]) -> str:
    means = [float(e.mean()) for e in errors]
    return (f"| {label} | {statistics.mean(means):.1f} | {max(means):.1f} | "
            f"{max(float(e.max()) for e in errors):.1f} |")


def where_faces_land(faces: list[Face]) -> list[str]:
    lines = ["| new crop against old crop, px at 512² | mean | worst face's mean | max |", "| --- | --- | --- | --- |"]
    shipped = [new_alignment(face.points5) for face in faces]
    loo = [new_alignment(face.points5, calibrate(faces[:i] + faces[i + 1:])) for i, face in enumerate(faces)]
    for label, matrices in (("shipped template", shipped), ("leave-one-out template", loo)):
        lines.append(_row(f"68 landmarks, {label}", [displacement(m, f.old, f.points68)
                                                     for m, f in zip(matrices, faces, strict=True)]))
        lines.append(_row(f"FFHQ five points, {label}", [displacement(m, f.old, old_five(f.points68))
                                                         for m, f in zip(matrices, faces, strict=True)]))
    lines += ["", "| face | 68 landmarks mean / max | five points mean / max | scale new/old | rotation new−old |",
              "| --- | --- | --- | --- | --- |"]
    for face, matrix in zip(faces, loo, strict=True):
        every = displacement(matrix, face.old, face.points68)
        five = displacement(matrix, face.old, old_five(face.points68))
        scale = np.hypot(*matrix[:, 0]) / np.hypot(*face.old[:, 0])
        turn = np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0]) - np.arctan2(face.old[1, 0], face.old[0, 0]))
        lines.append(f"| {face.label} | {every.mean():.1f} / {every.max():.1f} | {five.mean():.1f} / {five.max():.1f} "
                     f"| {scale:.3f} | {turn:+.1f}° |")
    lines.append("(per face: leave-one-out)")
    return lines


def old_against_itself(faces: list[Face], marks: Landmarks) -> list[str]:
    from PIL import Image

    from engine.intake.faces import FaceBox

    old, new = [], []
    for face in faces:
        image, box = face.image, face.box
        small = image.resize((round(image.width * 0.8), round(image.height * 0.8)), Image.Resampling.LANCZOS)
        scaled = box.scaled(0.8)
        shift = round(0.05 * box.width)
        variants = [(small, scaled, 0.8)] + [
            (image, FaceBox(box.left + dx, box.top + dy, box.right + dx, box.bottom + dy), 1.0)
            for dx, dy in ((shift, 0), (-shift, 0), (0, shift))]
        for picture, moved, factor in variants:
            again = old_alignment(marks.points(picture, moved, marks.sixty_eight))
            old.append(np.hypot(*(apply(again, face.points68 * factor) - apply(face.old, face.points68)).T))
            renewed = new_alignment(marks.points(picture, moved, marks.five))
            mine = new_alignment(face.points5)
            new.append(np.hypot(*(apply(renewed, face.points68 * factor) - apply(mine, face.points68)).T))
    head = "| the same face, photo 0.8× or box moved 5 %: 68 landmarks, px at 512² | mean | worst case's mean | max |"
    return [head,
            "| --- | --- | --- | --- |",
            _row("old alignment against itself", old), _row("new alignment against itself", new)]


def timing(faces: list[Face], marks: Landmarks, rounds: int) -> list[str]:
    times: dict[str, list[float]] = {"old": [], "new": []}
    for round_ in range(rounds):
        for face in faces:
            for kind in ("old", "new") if round_ % 2 == 0 else ("new", "old"):
                started = time.perf_counter()
                if kind == "old":
                    old_alignment(marks.points(face.image, face.box, marks.sixty_eight))
                else:
                    new_alignment(marks.points(face.image, face.box, marks.five))
                times[kind].append(time.perf_counter() - started)
    ms = {kind: sorted(1000 * t for t in values) for kind, values in times.items()}
    pct = {kind: (statistics.median(v), v[int(0.95 * (len(v) - 1))]) for kind, v in ms.items()}
    size = {kind: (marks.faces.models_dir() / name).stat().st_size / 1e6 for kind, name in
            (("old", SIXTY_EIGHT), ("new", "shape_predictor_5_face_landmarks.dat"))}
    return ["| per face: landmarks + transform | median ms | p95 ms | model load, s | model file, MB |",
            "| --- | --- | --- | --- | --- |",
            f"| old: 68 points, LMEDS onto FFHQ five | {pct['old'][0]:.2f} | {pct['old'][1]:.2f} "
            f"| {marks.load_68_s:.2f} | {size['old']:.1f} |",
            f"| new: 5 points, least squares | {pct['new'][0]:.2f} | {pct['new'][1]:.2f} | {marks.load_five_s:.2f} "
            f"| {size['new']:.1f} |",
            f"({len(faces)} faces × {rounds} rounds each, interleaved)"]


def descriptors(faces: list[Face], marks: Landmarks) -> list[str]:
    from engine.intake.faces import _model, face_distance, face_embedding

    lines = ["| face | distance: descriptor from 68 points vs from 5 points (stored) |", "| --- | --- |"]
    distances = []
    for face in faces:
        region = marks.region(face.image, face.box)
        shape = marks.sixty_eight(region.array, region.dlib_rect())
        from68 = np.asarray(_model("descriptor").compute_face_descriptor(region.array, shape, 0))
        distance = face_distance(from68, face_embedding(face.image, face.box))
        distances.append(distance)
        lines.append(f"| {face.label} | {distance:.3f} |")
    lines.append(f"| mean / max | {statistics.mean(distances):.3f} / {max(distances):.3f} (threshold 0.6) |")
    return lines


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return f"{model}, {os.cpu_count()} CPUs (pinned to one), Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calibrate", action="store_true", help="Print the 5-point template and stop.")
    parser.add_argument("--matrices", action="store_true", help="Print the old alignment's matrices and stop.")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    marks = Landmarks()
    faces = load_faces(marks)
    if args.calibrate:
        print(np.array2string(calibrate(faces), precision=2, separator=", "))
        return 0
    if args.matrices:
        for face in faces:
            print(f'    ("{face.name}", {face.box.as_tuple()}, {np.round(face.old, 5).tolist()}),')
        return 0
    print(f"{len(faces)} faces in {PHOTOS.name}; {machine()}\n")
    for part in (where_faces_land(faces), old_against_itself(faces, marks), timing(faces, marks, args.rounds),
                 descriptors(faces, marks)):
        print("\n".join(part) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
