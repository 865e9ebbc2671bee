"""A 64-bit DCT perceptual hash: near-identical pictures have hashes a few bits apart."""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image

_SIZE = 32
_KEEP = 8


@cache
def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    matrix[0] /= np.sqrt(2.0)
    return matrix


def perceptual_hash(image: Image.Image) -> int:
    """pHash: the signs of the 8x8 lowest DCT frequencies (DC excluded from the median)."""
    grey = image.convert("L").resize((_SIZE, _SIZE), Image.Resampling.BOX, reducing_gap=2.0)
    pixels = np.asarray(grey, dtype=np.float64)
    d = _dct_matrix(_SIZE)
    low = (d @ pixels @ d.T)[:_KEEP, :_KEEP].ravel()
    median = np.median(low[1:])
    bits = low > median
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def hash_distance(a: int, b: int) -> int:
    """Hamming distance of two hashes (0..64)."""
    return (a ^ b).bit_count()
