"""Pixel measures of a photo: face sharpness and exposure, flat screen-like areas."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.intake.faces import FaceBox

_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True, slots=True)
class FaceQuality:
    sharpness: float
    """Laplacian variance of the face at a fixed size divided by its grey-level variance, x1000."""
    luma: float
    """Mean brightness of the face, 0..255."""
    clipped: float
    """Share of face pixels at 250 or brighter."""


def face_crop(image: Image.Image, box: FaceBox, width: int) -> np.ndarray:
    """The inner face (the detector box, clipped to the image) as grey levels, ``width`` wide."""
    left, top = max(box.left, 0), max(box.top, 0)
    right, bottom = min(box.right, image.width), min(box.bottom, image.height)
    crop = image.crop((left, top, max(right, left + 1), max(bottom, top + 1))).convert("L")
    height = max(1, round(crop.height * width / max(crop.width, 1)))
    filt = Image.Resampling.BOX if crop.width > width else Image.Resampling.BICUBIC
    return np.asarray(crop.resize((width, height), filt), dtype=np.float64)


def laplacian(grey: np.ndarray) -> np.ndarray:
    g = grey
    return g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]


def measure_face(image: Image.Image, box: FaceBox, width: int) -> FaceQuality:
    grey = face_crop(image, box, width)
    contrast = float(grey.var()) + 25.0  # the constant keeps near-uniform faces from exploding
    sharpness = float(laplacian(grey).var()) / contrast * 1000.0 if grey.shape[0] > 2 else 0.0
    return FaceQuality(sharpness=sharpness, luma=float(grey.mean()), clipped=float((grey >= 250).mean()))


def trim_dark_borders(array: np.ndarray, level: int = 16) -> np.ndarray:
    """Drop letterbox and pillarbox bars (rows or columns that are all near black)."""
    bright_cols = np.flatnonzero(array.max(axis=(0, 2)) > level)
    bright_rows = np.flatnonzero(array.max(axis=(1, 2)) > level)
    if bright_cols.size == 0 or bright_rows.size == 0:
        return array
    return array[bright_rows[0]: bright_rows[-1] + 1, bright_cols[0]: bright_cols[-1] + 1]


def flat_fraction(image: Image.Image, block: int = 8) -> float:
    """Share of ``block``-square tiles whose pixels are all the same colour (give or take 2).

    Camera sensors add noise everywhere, so real photos have few such tiles; screenshots (UI bars,
    backgrounds, text fields) have many. Black letterbox bars are ignored.
    """
    array = trim_dark_borders(np.asarray(image))
    h, w = (array.shape[0] // block) * block, (array.shape[1] // block) * block
    if h == 0 or w == 0:
        return 0.0
    tiles = array[:h, :w].reshape(h // block, block, w // block, block, 3)
    spread = tiles.max(axis=(1, 3)).astype(np.int16) - tiles.min(axis=(1, 3)).astype(np.int16)
    return float((spread.max(axis=-1) <= 2).mean())
