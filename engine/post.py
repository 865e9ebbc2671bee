"""Finishing: unsharp sharpening, portrait background blur (GrabCut seeded by the face box), crop."""

from __future__ import annotations

import logging

import cv2
import numpy as np
from PIL import Image, ImageFilter

from engine.boxes import Box, clamp
from engine.crop import crop_to_aspect

log = logging.getLogger(__name__)


def sharpen(image: Image.Image, *, amount: float = 0.6, radius: float | None = None,
            threshold: int = 2) -> Image.Image:
    """Unsharp mask; the radius scales with the image (about 1.5 px at 1024)."""
    radius = radius if radius is not None else max(0.5, 1.5 * max(image.size) / 1024)
    return image.filter(ImageFilter.UnsharpMask(radius=radius, percent=round(amount * 100), threshold=threshold))


MASK_SIDE = 256  # GrabCut's working size: 0.35-0.6 s at 256², 0.9-2.5 s at 512², 34-160 s at 2048² (one core)


def _scaled_box(face: Box, factor: float) -> Box:
    return tuple(int(round(v * factor)) for v in face)  # type: ignore[return-value]


def subject_mask(image: Image.Image, face: Box, *, iterations: int = 3, side: int | None = MASK_SIDE,
                 as_bytes: bool = False) -> np.ndarray:
    """Foreground probability (H, W) in [0, 1] (``as_bytes``: 0-255 uint8): GrabCut seeded with the
    face (sure) and a body region, run on a copy at most ``side`` px long (None: at full size),
    feathered by 1 % of the side there and brought back up to the image (a smooth mask loses
    nothing to bilinear scaling, and a 20 px blur of a 2048² float mask cost more than GrabCut)."""
    width, height = image.size
    factor = 1.0 if side is None else min(1.0, side / max(width, height))
    small = image if factor == 1.0 else image.resize((max(1, round(width * factor)), max(1, round(height * factor))),
                                                     Image.Resampling.BILINEAR)
    foreground = _grabcut(np.asarray(small.convert("RGB")), _scaled_box(face, factor), iterations)
    feather = max(1.0, 0.01 * max(width, height))
    foreground = cv2.GaussianBlur(foreground, (0, 0), max(0.5, feather * factor))
    if as_bytes:
        foreground = (foreground * 255.0).round().astype(np.uint8)
    if foreground.shape != (height, width):
        foreground = cv2.resize(foreground, (width, height), interpolation=cv2.INTER_LINEAR)
    return foreground


def _grabcut(rgb: np.ndarray, face: Box, iterations: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    fx0, fy0, fx1, fy1 = clamp(face, (width, height))
    fw, fh = max(1, fx1 - fx0), max(1, fy1 - fy0)
    mask = np.full((height, width), cv2.GC_BGD, np.uint8)
    # Head and shoulders: wider than the face, from above the hair to the bottom of the frame.
    bx0, bx1 = max(1, int(fx0 - 1.3 * fw)), min(width - 1, int(fx1 + 1.3 * fw))
    by0 = max(1, int(fy0 - 0.6 * fh))
    mask[by0:, bx0:bx1] = cv2.GC_PR_FGD
    inset_x, inset_y = fw // 6, fh // 6
    mask[fy0 + inset_y:fy1 - inset_y, fx0 + inset_x:fx1 - inset_x] = cv2.GC_FGD
    if not (mask == cv2.GC_BGD).any() or not (mask == cv2.GC_FGD).any():
        return np.ones((height, width), np.float32)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error as error:
        log.warning("GrabCut failed (%s); background left sharp", error)
        return np.ones((height, width), np.float32)
    return np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)


def blur_background(image: Image.Image, face: Box, *, strength: float = 1.0,
                    mask_side: int | None = MASK_SIDE) -> Image.Image:
    """Portrait look: the subject stays sharp, the rest gets a Gaussian blur (sigma ~ 6 px at 1024).
    The mask is made at ``mask_side`` and the blur at a quarter of the size, both brought back up
    (they are smooth by nature); ``mask_side=None`` does both at full size, as before (the
    comparison in bench/finishing.py)."""
    if strength <= 0:
        return image
    sharp = image.convert("RGB")
    rgb = np.asarray(sharp)
    height, width = rgb.shape[:2]
    sigma = max(0.5, strength * 6.0 * max(width, height) / 1024)
    if mask_side is None:  # everything at full size, in floats (the reference path)
        alpha = subject_mask(image, face, side=None)[..., None]
        blurred_f = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), sigma)
        out = blurred_f + (rgb.astype(np.float32) - blurred_f) * alpha
        return Image.fromarray(out.round().clip(0, 255).astype(np.uint8))
    mask = subject_mask(image, face, side=mask_side, as_bytes=True)
    shrink = 4 if sigma >= 4 else 1
    if shrink > 1:
        small = cv2.resize(rgb, (max(1, width // shrink), max(1, height // shrink)), interpolation=cv2.INTER_AREA)
        blurred = cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / shrink), (width, height),
                             interpolation=cv2.INTER_LINEAR)
    else:
        blurred = cv2.GaussianBlur(rgb, (0, 0), sigma)
    # sharp where the subject is, blurred elsewhere: one pass over bytes (a float blend of a 2048²
    # portrait cost ~0.2 s of the ~0.75 s the CPU part took)
    return Image.composite(sharp, Image.fromarray(blurred), Image.fromarray(mask, "L"))


def finish_for_aspects(image: Image.Image, face: Box, aspects: list[str], *, sharpen_amount: float = 0.6,
                       background_blur: float = 1.0) -> dict[str, Image.Image]:
    """Blur the background and sharpen once, then crop to each of ``aspects`` around the face."""
    result = blur_background(image, face, strength=background_blur)
    if sharpen_amount > 0:
        result = sharpen(result, amount=sharpen_amount)
    return {aspect: crop_to_aspect(result, face, aspect) for aspect in aspects}


def finish(image: Image.Image, face: Box, aspect: str, *, sharpen_amount: float = 0.6,
           background_blur: float = 1.0, mask_side: int | None = MASK_SIDE) -> Image.Image:
    """Blur the background, sharpen, then crop to the exact ``aspect`` around the face (one aspect;
    ``finish_for_aspects`` does the work once for several)."""
    result = blur_background(image, face, strength=background_blur, mask_side=mask_side)
    if sharpen_amount > 0:
        result = sharpen(result, amount=sharpen_amount)
    return crop_to_aspect(result, face, aspect)
