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
    right, bottom = max(min(box.right, image.width), left + 1), max(min(box.bottom, image.height), top + 1)
    height = max(1, round((bottom - top) * width / (right - left)))
    filt = Image.Resampling.BOX if right - left > width else Image.Resampling.BICUBIC
    face = image.resize((width, height), filt, box=(left, top, right, bottom))
    return np.asarray(face.convert("L"), dtype=np.float64)


def laplacian(grey: np.ndarray) -> np.ndarray:
    g = grey
    return g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]


def measure_face(image: Image.Image, box: FaceBox, width: int) -> FaceQuality:
    grey = face_crop(image, box, width)
    contrast = float(grey.var()) + 25.0  # the constant keeps near-uniform faces from exploding
    sharpness = float(laplacian(grey).var()) / contrast * 1000.0 if grey.shape[0] > 2 else 0.0
    return FaceQuality(sharpness=sharpness, luma=float(grey.mean()), clipped=float((grey >= 250).mean()))


OPAQUE_ALPHA = 250
"""Alpha at or above which a pixel shows the photo itself, not a blend with the flattening background
(a little below 255: editors and downscaling leave near-opaque pixels at 252 or 254)."""


def _bright_box(grey: np.ndarray, level: int, alpha: np.ndarray | None = None) -> tuple[slice, slice]:
    """Rows and columns inside the near-black bars; transparent pixels count as part of a bar."""
    lit = grey if alpha is None else np.where(alpha >= OPAQUE_ALPHA, grey, 0)
    bright_cols = np.flatnonzero(lit.max(axis=0) > level)
    bright_rows = np.flatnonzero(lit.max(axis=1) > level)
    if bright_cols.size == 0 or bright_rows.size == 0:
        return slice(None), slice(None)
    return slice(bright_rows[0], bright_rows[-1] + 1), slice(bright_cols[0], bright_cols[-1] + 1)


def _block_extremes(grey: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Max and min of every ``block``-square tile (strided passes: far faster than reshape-reduce)."""
    high, low = grey[:, 0::block].copy(), grey[:, 0::block].copy()
    for i in range(1, block):
        np.maximum(high, grey[:, i::block], out=high)
        np.minimum(low, grey[:, i::block], out=low)
    high2, low2 = high[0::block].copy(), low[0::block].copy()
    for i in range(1, block):
        np.maximum(high2, high[i::block], out=high2)
        np.minimum(low2, low[i::block], out=low2)
    return high2, low2


def flat_tiles(image: Image.Image, block: int = 8, alpha: Image.Image | None = None) -> tuple[float, int]:
    """Share of ``block``-square tiles whose grey levels are all the same (give or take 2), and
    how many tiles were judged.

    Camera sensors add noise everywhere, so real photos have few such tiles; screenshots (UI bars,
    backgrounds, text fields) have many. Black letterbox bars are ignored. With ``alpha`` (the
    source's transparency, the size of ``image``) only tiles whose every pixel was opaque
    (``OPAQUE_ALPHA``) are judged: the flattened background of a cut-out portrait is perfectly
    flat, but it is not the photo.
    """
    grey = np.asarray(image.convert("L"))
    mask = None if alpha is None else np.asarray(alpha)
    rows, cols = _bright_box(grey, 16, mask)
    grey = grey[rows, cols]
    h, w = (grey.shape[0] // block) * block, (grey.shape[1] // block) * block
    if h == 0 or w == 0:
        return 0.0, 0
    high, low = _block_extremes(grey[:h, :w], block)
    flat = (high - low) <= 2
    if mask is None:
        return float(flat.mean()), int(flat.size)
    judged = _block_extremes(mask[rows, cols][:h, :w], block)[1] >= OPAQUE_ALPHA
    count = int(judged.sum())
    return (float(flat[judged].mean()) if count else 0.0), count
