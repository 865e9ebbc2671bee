"""Sample photos at the size phones send (the benchmarks' stand-in for 12 MP selfies)."""

from __future__ import annotations

import io


def at_megapixels(data: bytes, megapixels: float) -> bytes:
    """The photo in ``data`` scaled (bicubic) to about ``megapixels``, as a quality-92 JPEG."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    factor = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
    image = image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()
