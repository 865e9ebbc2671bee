"""Photos of screens: a display's pixel grid leaves sharp, isolated peaks in the spectrum.

A camera pointed at a monitor or phone records the display's regular grid of sub-pixels, or
(where the grid is finer than the camera's pixels) the moiré it aliases into. Either way the
2-D Fourier spectrum of the face, taken at the photo's own resolution, gets narrow peaks far
above the smooth spectrum that skin, hair and camera noise give. JPEG's 8-pixel block grid also
makes peaks, at known places, which are left out. Pure numpy: intake does not depend on OpenCV.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from engine.intake.faces import FaceBox
from engine.intake.quality import laplacian

WINDOW_MAX_PX = 256
"""Largest side of the square window (pixels of the image checked, never resampled here) that is analysed."""
WINDOW_MIN_PX = 64
WINDOW_FACE_SHARE = 0.7
"""The window is at most this share of the face width, so it stays on skin, eyes and nose."""
MIN_FREQUENCY = 0.06
"""Cycles per pixel below which the spectrum is ignored (the face's own shape lives there)."""
_BACKGROUND_PX = 15
_PEAK_PX = 5


def screen_window(image: Image.Image, face: FaceBox) -> np.ndarray | None:
    """Grey levels of a square at the centre of the face, at the image's own resolution; None if too small."""
    box = screen_window_box(image.size, face)
    if box is None:
        return None
    return np.asarray(image.crop(box).convert("L"), dtype=np.float64)


def screen_window_box(size: tuple[int, int], face: FaceBox) -> tuple[int, int, int, int] | None:
    """The (left, top, right, bottom) of ``screen_window`` in an image of ``size``; None if too small."""
    width, height = size
    side = min(WINDOW_MAX_PX, int(WINDOW_FACE_SHARE * face.width), width, height) // 16 * 16
    if side < WINDOW_MIN_PX:
        return None
    cx, cy = face.center
    left = int(min(max(cx - side / 2, 0), width - side))
    top = int(min(max(cy - side / 2, 0), height - side))
    return left, top, left + side, top + side


def moire_score(grey: np.ndarray) -> float:
    """How far the strongest spectral peak rises above its neighbourhood (natural log of power).

    Natural photos stay near 2 (a peak about 7 times its surroundings); a screen's grid or moiré
    gives 4 to 8.
    """
    size = grey.shape[0] - 2
    edges = laplacian(grey) * _hann(size)  # the Laplacian whitens the 1/f spectrum of a scene
    power = np.abs(np.fft.fftshift(np.fft.rfft2(edges), axes=0)) ** 2
    log_power = np.log(_box_sum(power, 3) + 1e-6)
    excess = log_power - _ring_mean(log_power, _BACKGROUND_PX, _PEAK_PX)
    return float(excess[_search_mask(size)].max())


@lru_cache(maxsize=16)
def _hann(size: int) -> np.ndarray:
    window = np.hanning(size)
    return np.outer(window, window)


@lru_cache(maxsize=16)
def _search_mask(size: int) -> np.ndarray:
    """Bins of the half spectrum to search: away from the centre and off JPEG's block lattice."""
    fy = (np.arange(size) - size // 2)[:, None] / size
    fx = np.arange(size // 2 + 1)[None, :] / size
    far = np.hypot(fx, fy) >= MIN_FREQUENCY
    on_blocks = _near_eighth(fx, size) & _near_eighth(fy, size)
    return far & ~on_blocks


def _near_eighth(freq: np.ndarray, size: int) -> np.ndarray:
    return np.abs(freq - np.round(freq * 8) / 8) * size < 1.6


def _box_sum(values: np.ndarray, width: int) -> np.ndarray:
    """Sum over a ``width``-square neighbourhood (edges padded by repetition), same shape."""
    pad = width // 2
    padded = np.pad(values, pad, mode="edge")
    total = np.cumsum(np.cumsum(padded, axis=0), axis=1)
    total = np.pad(total, ((1, 0), (1, 0)))
    h, w = values.shape
    return (total[width:width + h, width:width + w] - total[:h, width:width + w]
            - total[width:width + h, :w] + total[:h, :w])


def _ring_mean(values: np.ndarray, outer: int, inner: int) -> np.ndarray:
    """Mean over an ``outer``-square neighbourhood leaving out its ``inner``-square centre."""
    ring = _box_sum(values, outer) - _box_sum(values, inner)
    return ring / (outer * outer - inner * inner)
