"""Image bytes in and out of storage for handlers."""

from __future__ import annotations

import io
from typing import Any

from engine.errors import InvalidConfig


def decode_image(data: bytes, key: str) -> Any:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as error:
        raise InvalidConfig(f"stored photo {key} is not a readable image: {error}") from None
    return ImageOps.exif_transpose(image).convert("RGB")


def encode_png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
