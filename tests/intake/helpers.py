"""Shared helpers of the intake tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

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


def assert_human_sentence(said: object) -> None:
    message = str(said)  # a catalogue sentence (i18n.Msg), in English here
    assert message and message[0].isupper(), message
    assert message.rstrip().endswith((".", "!")), message
    assert len(message.split()) >= 4, message
    assert "_" not in message, message


def phone_screenshot() -> Image.Image:
    """An Instagram-like screenshot: white UI, text lines, a square photo in the middle."""
    screen = Image.new("RGB", (1170, 2532), (255, 255, 255))
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, 1170, 140), fill=(250, 250, 250))
    draw.text((40, 60), "9:41", fill=(0, 0, 0))
    for y in range(200, 560, 60):
        draw.rectangle((40, y, 40 + (y * 7) % 900, y + 24), fill=(38, 38, 38))
    photo = load("obama2.jpg").crop((0, 150, 626, 776)).resize((1170, 1170), Image.Resampling.LANCZOS)
    screen.paste(photo, (0, 620))
    for y in range(1850, 2400, 70):
        draw.rectangle((40, y, 40 + (y * 3) % 1000, y + 28), fill=(142, 142, 142))
    return screen


SUBPIXEL = 4
"""A simulated display pixel is a 4x4 cell: R, G and B stripes one unit wide, then a dark column
and a dark row (the gaps between sub-pixels)."""


def on_display(photo: Image.Image, screen_px: int) -> Image.Image:
    """``photo`` shown ``screen_px`` display pixels wide on an RGB-stripe screen, magnified to sub-pixels."""
    height = round(photo.height * screen_px / photo.width)
    shown = np.asarray(photo.resize((screen_px, height), Image.Resampling.LANCZOS), dtype=np.float32)
    cells = np.zeros((height * SUBPIXEL, screen_px * SUBPIXEL, 3), np.float32)
    for channel in range(3):
        for row in range(SUBPIXEL - 1):
            cells[row::SUBPIXEL, channel::SUBPIXEL, channel] = shown[:, :, channel]
    return Image.fromarray(cells.astype(np.uint8))


def photo_of_screen(
    photo: Image.Image, *, screen_px: int = 450, pitch: float = 2.5, angle: float = 1.0,
    blur: float = 0.9, seed: int = 0, quality: int = 88,
) -> bytes:
    """A phone photo of ``photo`` on a display: tilted, a little perspective, one display pixel
    ``pitch`` camera pixels wide (sensor sampling at another pitch makes moiré), lens blur,
    auto exposure, sensor noise, JPEG."""
    rng = np.random.default_rng(seed)
    screen = on_display(photo, screen_px).rotate(angle, Image.Resampling.BILINEAR)
    w, h = screen.size
    skew = 0.015 * w
    quad = (skew, 0, 0, h, w, h, w - skew, 0)  # the top edge is a little farther away
    screen = screen.transform(screen.size, Image.Transform.QUAD, quad, Image.Resampling.BILINEAR)
    scale = pitch / SUBPIXEL
    shot = screen.resize((round(w * scale), round(h * scale)), Image.Resampling.BOX)  # sensor pixels
    shot = shot.filter(ImageFilter.GaussianBlur(blur))
    sensed = np.asarray(shot, np.float32)
    exposure = float(np.asarray(photo, np.float32).mean()) / max(float(sensed.mean()), 1.0)  # auto exposure
    noisy = sensed * exposure + rng.normal(0.0, 4.0, sensed.shape)
    margin = round(0.04 * min(shot.size))
    framed = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    return encode(framed.crop((margin, margin, shot.width - margin, shot.height - margin)), quality=quality)
