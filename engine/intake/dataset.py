"""Training examples from accepted photos: face-centred squares and wider half-body squares."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PIL import Image

from engine.intake.config import IntakeConfig
from engine.intake.faces import FaceBox
from engine.intake.photo import PhotoCheck

if TYPE_CHECKING:
    from engine.intake.photoset import SetReport

log = logging.getLogger(__name__)

CropKind = Literal["face", "wide"]
Box = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class TrainingExample:
    image: Image.Image
    caption: str
    kind: CropKind
    source_sha256: str
    crop: Box
    """The square taken from the clean photo (left, top, right, bottom)."""


def caption_for(token: str, class_word: str, kind: CropKind) -> str:
    base = f"a photo of {token} {class_word}"
    return base if kind == "face" else f"{base}, upper body"


def _square(center_x: float, center_y: float, side: float, size: tuple[int, int]) -> Box:
    """A square of ``side`` around the centre, shrunk to fit and shifted inside the image."""
    width, height = size
    side = int(min(side, width, height))
    left = int(round(center_x - side / 2))
    top = int(round(center_y - side / 2))
    left = min(max(left, 0), width - side)
    top = min(max(top, 0), height - side)
    return left, top, left + side, top + side


def crop_boxes(size: tuple[int, int], face: FaceBox, config: IntakeConfig) -> list[tuple[CropKind, Box]]:
    cx, cy = face.center
    face_side = face.width * config.face_crop_scale
    face_box = _square(cx, cy + 0.1 * face.height, face_side, size)
    boxes: list[tuple[CropKind, Box]] = [("face", face_box)]
    wide_side = min(face.width * config.wide_crop_scale, *size)
    if wide_side >= config.min_wide_gain * (face_box[2] - face_box[0]):
        top_of_head = face.top - 0.6 * face.height
        boxes.append(("wide", _square(cx, top_of_head + wide_side / 2, wide_side, size)))
    return boxes


@dataclass(frozen=True, slots=True)
class PlannedCrop:
    """One training example still to be cut: which square of the clean photo, with which caption."""

    kind: CropKind
    box: Box
    caption: str


def plan_crops(size: tuple[int, int], face: FaceBox, *, token: str, class_word: str,
               config: IntakeConfig | None = None) -> list[PlannedCrop]:
    """The training examples of one accepted photo (clean-photo size and face box): a face-centred
    close-up, and an upper-body square when the photo has room for one. No pixels are read, so the
    bot plans a set's crops and the training job cuts them (the one builder for both paths)."""
    _check_words(token, class_word)
    return [PlannedCrop(kind, box, caption_for(token, class_word, kind))
            for kind, box in crop_boxes(size, face, config or IntakeConfig())]


def _check_words(token: str, class_word: str) -> None:
    if not token.strip() or any(ch.isspace() for ch in token):
        raise ValueError("token must be one word, e.g. 'ohwx'")
    if not class_word.strip():
        raise ValueError("class_word must not be empty, e.g. 'man', 'woman', 'person'")


def prepare_dataset(
    photos: Sequence[PhotoCheck], *, token: str, class_word: str, config: IntakeConfig | None = None
) -> list[TrainingExample]:
    """Examples at ``config.training_resolution``, in input order; refused photos are skipped.

    Pass the photos the set accepted (see :func:`accepted_photos`). Same input, same output.
    """
    _check_words(token, class_word)
    config = config or IntakeConfig()
    resolution = config.training_resolution
    examples: list[TrainingExample] = []
    for photo in photos:
        if not photo.ok or photo.face is None or not photo.clean_jpeg:
            log.debug("skipping photo %s: not accepted or not stored", photo.sha256[:12])
            continue
        with Image.open(io.BytesIO(photo.clean_jpeg)) as opened:
            image = opened.convert("RGB")
        for crop in plan_crops(image.size, photo.face, token=token, class_word=class_word, config=config):
            square = image.crop(crop.box).resize((resolution, resolution), Image.Resampling.LANCZOS)
            examples.append(TrainingExample(square, crop.caption, crop.kind, photo.sha256, crop.box))
    return examples


def accepted_photos(checks: Sequence[PhotoCheck], report: SetReport) -> list[PhotoCheck]:
    """The photos a set report accepted (photo-level and set-level checks both passed)."""
    accepted = {v.number for v in report.verdicts if v.ok}
    return [c for number, c in enumerate(checks, start=1) if number in accepted]


def write_dataset(examples: Sequence[TrainingExample], folder: Path) -> list[Path]:
    """Write ``NNN_kind.png`` images with matching ``NNN_kind.txt`` captions; returns the images."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for number, example in enumerate(examples, start=1):
        stem = folder / f"{number:03d}_{example.kind}"
        image_path = stem.with_suffix(".png")
        example.image.save(image_path, "PNG")
        stem.with_suffix(".txt").write_text(example.caption + "\n", encoding="utf-8")
        written.append(image_path)
    return written
