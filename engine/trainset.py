"""Training examples: square crops at the training resolution with SDXL's size/crop conditioning."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".heic", ".heif"}


@dataclass(frozen=True)
class Example:
    pixels: np.ndarray  # (3, H, W) float32 in [-1, 1]
    caption: str
    original_size: tuple[int, int]  # (height, width) before resizing, as SDXL conditions on it
    crop_top_left: tuple[int, int]  # (top, left) of the crop in the resized image


def square_crop(image: Image.Image, resolution: int) -> tuple[Image.Image, tuple[int, int], tuple[int, int]]:
    """Resize the short side to ``resolution`` and centre-crop a square; returns the crop's conditioning."""
    image = ImageOps.exif_transpose(image).convert("RGB")
    original = (image.height, image.width)
    scale = resolution / min(image.size)
    resized = image.resize((max(resolution, round(image.width * scale)), max(resolution, round(image.height * scale))),
                           Image.Resampling.LANCZOS)
    top = (resized.height - resolution) // 2
    left = (resized.width - resolution) // 2
    return resized.crop((left, top, left + resolution, top + resolution)), original, (top, left)


def make_examples(images_with_captions: Sequence[tuple[Image.Image, str]], resolution: int,
                  default_caption: str) -> list[Example]:
    examples = []
    for image, caption in images_with_captions:
        crop, original, top_left = square_crop(image, resolution)
        pixels = np.asarray(crop, dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1.0
        examples.append(Example(pixels, caption.strip() or default_caption, original, top_left))
    return examples


def load_photos(photos_dir: Path) -> list[Image.Image]:
    """Every decodable photo in ``photos_dir`` (sorted by name); unreadable files are skipped with a warning."""
    photos = []
    for path in sorted(p for p in Path(photos_dir).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES):
        try:
            with Image.open(path) as image:
                photos.append(ImageOps.exif_transpose(image).convert("RGB"))
        except OSError as error:
            log.warning("skipping %s: %s", path.name, error)
    return photos
