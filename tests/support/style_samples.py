"""A styles folder with sample portraits for some built-in styles (the picker's sheet in tests)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from PIL import Image

COLOURS = {"gym-abs": (200, 40, 40), "gym-lifting": (40, 160, 60), "gym-workout": (40, 60, 200)}
"""Three of the four gym styles have a sample (gym-muscular has none: its tile is left blank)."""


def styles_folder_with_samples(root: Path) -> Path:
    folder = root / "styles"
    (folder / "samples").mkdir(parents=True)
    for style_id, colour in COLOURS.items():
        encoded = BytesIO()
        Image.new("RGB", (640, 800), colour).save(encoded, "JPEG")
        (folder / "samples" / f"{style_id}.jpg").write_bytes(encoded.getvalue())
    (folder / "samples" / "notes.txt").write_text("not a sample")
    (folder / "samples" / "no-such-style.jpg").write_bytes(encoded.getvalue())
    return folder
