"""Face boxes as plain (left, top, right, bottom) tuples, from intake's FaceBox or anything alike."""

from __future__ import annotations

from typing import Any

Box = tuple[int, int, int, int]


def as_box(face: Any) -> Box:
    """Accepts a 4-tuple or an object with left/top/right/bottom (engine.intake.faces.FaceBox)."""
    if hasattr(face, "left"):
        return int(face.left), int(face.top), int(face.right), int(face.bottom)
    left, top, right, bottom = face
    return int(left), int(top), int(right), int(bottom)


def clamp(box: Box, size: tuple[int, int]) -> Box:
    width, height = size
    left, top, right, bottom = box
    return max(0, left), max(0, top), min(width, right), min(height, bottom)


def square_around(box: Box, margin: float) -> Box:
    """A square centred on ``box`` whose side is the box's longer side × (1 + 2 × margin)."""
    left, top, right, bottom = box
    side = max(right - left, bottom - top) * (1 + 2 * margin)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half = side / 2
    return round(cx - half), round(cy - half), round(cx + half), round(cy + half)


def centre_box(size: tuple[int, int], fraction: float = 0.4) -> Box:
    """A face-sized box in the upper middle of a portrait, used when no detector found a face."""
    width, height = size
    side = fraction * min(size)
    cx, cy = width / 2, height * 0.4
    return round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2)
