"""Selfie sets built from the real sample photos (tests/fixtures/photos, see its NOTICE)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

PHOTOS = Path(__file__).resolve().parents[1] / "fixtures" / "photos"
OBAMA = ["obama.jpg", "obama2.jpg", "obama3.jpg", "obama-480p.jpg"]


def read(name: str) -> bytes:
    return (PHOTOS / name).read_bytes()


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def obama_selfies(count: int) -> list[bytes]:
    """``count`` different photos of one person: the originals, their mirror images, then
    tighter crops (different pictures to the duplicate check, the same face to the identity check)."""
    selfies = [read(name) for name in OBAMA]
    for name in OBAMA:
        with Image.open(PHOTOS / name) as image:
            selfies.append(_jpeg(ImageOps.mirror(image.convert("RGB"))))
    for name in OBAMA:
        with Image.open(PHOTOS / name) as image:
            rgb = image.convert("RGB")
            w, h = rgb.size
            selfies.append(_jpeg(rgb.crop((w // 12, h // 12, w - w // 12, h - h // 12))))
    if count > len(selfies):
        raise ValueError(f"only {len(selfies)} distinct selfies available")
    return selfies[:count]
