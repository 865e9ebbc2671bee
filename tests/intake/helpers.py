"""Shared helpers of the intake tests."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from engine.intake import IntakeConfig

PHOTOS = Path(__file__).resolve().parents[1] / "fixtures" / "photos"

# The sample set includes 480p photos; real selfies are checked with the default 512 minimum.
LENIENT = IntakeConfig(min_side_px=256, min_photos=4)

OBAMA_SET = ["obama.jpg", "obama2.jpg", "obama3.jpg", "obama-480p.jpg"]
"""Four different Obama pictures (obama-720p repeats obama-480p, 32bit.png repeats obama2)."""


def read(name: str) -> bytes:
    return (PHOTOS / name).read_bytes()


def load(name: str) -> Image.Image:
    with Image.open(PHOTOS / name) as image:
        return image.convert("RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def assert_human_sentence(message: str) -> None:
    assert message and message[0].isupper(), message
    assert message.rstrip().endswith((".", "!")), message
    assert len(message.split()) >= 4, message
    assert "_" not in message, message
