"""Crops to an exact output ratio, centred on the face with head-room, keeping the face inside."""

from __future__ import annotations

import logging
import math

from PIL import Image

from engine.aspects import ratio
from engine.boxes import Box, clamp

log = logging.getLogger(__name__)


def _place(start: float, low: float, high: float) -> int:
    return round(min(max(start, low), high))


def face_crop_box(size: tuple[int, int], face: Box, aspect: str, *, headroom: float = 0.4) -> Box:
    """The largest ``aspect`` crop of ``size``; the face centre sits ``headroom`` of the way down.

    The face stays wholly inside whenever it fits in the crop at all; shifts never leave the image.
    """
    width, height = size
    r = ratio(aspect)
    if width / height > r:
        crop_h, crop_w = height, min(width, math.floor(height * r))
    else:
        crop_w, crop_h = width, min(height, math.floor(width / r))
    fx0, fy0, fx1, fy1 = clamp(face, size)
    cx, cy = (fx0 + fx1) / 2, (fy0 + fy1) / 2
    x0, y0 = cx - crop_w / 2, cy - headroom * crop_h
    # Face inside: x0 in [fx1 - crop_w, fx0]; image: x0 in [0, width - crop_w]. Same for y.
    x_low, x_high = max(0, fx1 - crop_w), min(fx0, width - crop_w)
    y_low, y_high = max(0, fy1 - crop_h), min(fy0, height - crop_h)
    if x_low > x_high or y_low > y_high:
        log.warning("face %s does not fit a %s crop of %s; centring on it", face, aspect, size)
        x_low, x_high, y_low, y_high = 0, width - crop_w, 0, height - crop_h
    left, top = _place(x0, x_low, x_high), _place(y0, y_low, y_high)
    return left, top, left + crop_w, top + crop_h


def crop_to_aspect(image: Image.Image, face: Box, aspect: str, *, headroom: float = 0.4) -> Image.Image:
    return image.crop(face_crop_box(image.size, face, aspect, headroom=headroom))
