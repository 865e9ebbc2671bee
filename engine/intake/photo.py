"""The verdict on one photo: cheap checks first, face work last."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from engine.intake.config import IntakeConfig
from engine.intake.decode import DecodedPhoto, decode_photo, encode_clean_jpeg
from engine.intake.errors import PhotoRejected
from engine.intake.faces import FaceBox, downscaled, detect_faces, face_embedding
from engine.intake.phash import perceptual_hash
from engine.intake.quality import OPAQUE_ALPHA, flat_tiles, measure_face
from engine.intake.reasons import ACCEPTED_MESSAGE, PhotoWarning, RejectCode, message_for
from engine.intake.screen import moire_score, screen_window, screen_window_box

log = logging.getLogger(__name__)

PHONE_SCREEN_ASPECT = 1.9
"""Long side over short side at or above which a picture is shaped like a phone screen."""
MIN_OPAQUE_TILES = 64
"""Fewest opaque 8-pixel tiles (at detection size) of a partly transparent picture whose flat share
says anything about screenshots; below this, what little is opaque is left to the face checks."""
SCREEN_WINDOW_OPAQUE = 0.99
"""Share of the screen-check window over the face that must have been opaque for it to be judged."""


@dataclass(frozen=True, slots=True)
class PhotoCheck:
    ok: bool
    code: RejectCode | None
    message: str
    sha256: str
    filename: str = ""
    phash: int | None = None
    face: FaceBox | None = None
    """The face in ``clean_jpeg`` pixel coordinates."""
    embedding: np.ndarray | None = field(default=None, compare=False)
    clean_jpeg: bytes = field(default=b"", repr=False, compare=False)
    """Upright sRGB JPEG with no metadata; empty for a refused photo."""
    width: int = 0
    height: int = 0
    warnings: tuple[PhotoWarning, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict, compare=False)

    def to_record(self) -> dict[str, Any]:
        """Everything but the JPEG bytes, JSON-ready, so a set can be re-checked from storage."""
        return {
            "ok": self.ok,
            "code": str(self.code) if self.code else None,
            "message": self.message,
            "sha256": self.sha256,
            "filename": self.filename,
            "phash": f"{self.phash:016x}" if self.phash is not None else None,
            "face": list(self.face.as_tuple()) + [self.face.score] if self.face else None,
            "embedding": [float(v) for v in self.embedding] if self.embedding is not None else None,
            "width": self.width,
            "height": self.height,
            "warnings": [str(w) for w in self.warnings],
            "metrics": dict(self.metrics),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], clean_jpeg: bytes = b"") -> PhotoCheck:
        face = record.get("face")
        embedding = record.get("embedding")
        return cls(
            ok=bool(record["ok"]),
            code=RejectCode(record["code"]) if record.get("code") else None,
            message=record.get("message", ""),
            sha256=record["sha256"],
            filename=record.get("filename", ""),
            phash=int(record["phash"], 16) if record.get("phash") else None,
            face=FaceBox(*[int(v) for v in face[:4]], float(face[4])) if face else None,
            embedding=np.asarray(embedding, dtype=np.float64) if embedding is not None else None,
            clean_jpeg=clean_jpeg,
            width=int(record.get("width", 0)),
            height=int(record.get("height", 0)),
            warnings=tuple(PhotoWarning(w) for w in record.get("warnings", [])),
            metrics=dict(record.get("metrics", {})),
        )


def rejected(code: RejectCode, sha256: str, filename: str, **extra: Any) -> PhotoCheck:
    return PhotoCheck(ok=False, code=code, message=message_for(code), sha256=sha256, filename=filename, **extra)


def check_photo(data: bytes, *, filename: str = "", config: IntakeConfig | None = None) -> PhotoCheck:
    """Check one photo as it arrives. Never raises for a bad photo: the verdict is data."""
    config = config or IntakeConfig()
    digest = hashlib.sha256(data).hexdigest()
    metrics: dict[str, float] = {}
    warnings: list[PhotoWarning] = []
    size = (0, 0)
    try:
        decoded = decode_photo(data, config)
        image = decoded.image  # the photo, or a reduced decode of it (decoded.scale photo pixels each)
        size = decoded.full_size
        small, back = downscaled(image, config.detect_max_side)
        _check_screenshot(decoded, small, filename, config, metrics, warnings)
        face = _main_face(image, small, back, decoded.scale, config, warnings)
        _check_screen_photo(image, decoded.alpha, face, config, metrics, warnings)
        _check_face_quality(image, face, config, metrics)
        embedding = face_embedding(image, face, jitters=config.embedding_jitters)
        phash = perceptual_hash(small)
        clean = decoded.original if decoded.original is not None else encode_clean_jpeg(image, config.jpeg_quality)
    except PhotoRejected as refusal:
        log.info("photo %s refused: %s", filename or digest[:12], refusal)
        return rejected(refusal.code, digest, filename, width=size[0], height=size[1],
                        warnings=tuple(warnings), metrics=metrics)
    return PhotoCheck(
        ok=True, code=None, message=ACCEPTED_MESSAGE.source, sha256=digest, filename=filename, phash=phash,
        face=face.scaled(decoded.scale) if decoded.scale != 1.0 else face, embedding=embedding, clean_jpeg=clean,
        width=size[0], height=size[1], warnings=tuple(warnings), metrics=metrics,
    )


def _check_screenshot(
    decoded: DecodedPhoto, small: Image.Image, filename: str, config: IntakeConfig,
    metrics: dict[str, float], warnings: list[PhotoWarning],
) -> None:
    """Flat, noiseless areas (UI) in a file no camera wrote. Only pixels that were opaque count:
    the background a transparent PNG is flattened onto is flat by construction."""
    alpha = None
    if decoded.alpha is not None:
        # shrunk exactly as ``small`` was, so a pixel the background bled into is not opaque there
        alpha, _ = downscaled(decoded.alpha, config.detect_max_side)
        metrics["opaque_fraction"] = round(float((np.asarray(alpha) >= OPAQUE_ALPHA).mean()), 4)
    flat, judged = flat_tiles(small, alpha=alpha)
    metrics["flat_fraction"] = round(flat, 4)
    if decoded.screenshot_hint or "screenshot" in filename.lower():
        raise PhotoRejected(RejectCode.screenshot, "metadata or file name")
    if alpha is not None and judged < MIN_OPAQUE_TILES:
        return
    w, h = decoded.image.size
    screen_shaped = max(w, h) / max(min(w, h), 1) >= PHONE_SCREEN_ASPECT
    lossless = decoded.source_format in {"PNG", "BMP", "GIF", "WEBP"}
    if flat >= config.screenshot_flat_fraction and not decoded.camera_exif and (screen_shaped or lossless):
        raise PhotoRejected(RejectCode.screenshot, f"flat={flat:.2f}")
    if flat >= config.screenshot_warn_fraction:
        warnings.append(PhotoWarning.maybe_screenshot)


def _main_face(
    image: Image.Image, small: Image.Image, back: float, scale: float, config: IntakeConfig,
    warnings: list[PhotoWarning],
) -> FaceBox:
    """The one face the photo is of, in ``image``'s pixels; its size is judged in the photo's own
    (``scale`` of them to a pixel of ``image``)."""
    faces = detect_faces(small, max_side=max(small.size))
    if not faces:  # small faces: one upsampling pass, only on this (rare, slower) path
        faces = detect_faces(small, max_side=max(small.size), upsample=1)
    if not faces:
        raise PhotoRejected(RejectCode.no_face)
    faces = [f.scaled(back) for f in faces]
    main = faces[0]
    others = [f for f in faces[1:] if f.width >= config.second_face_ratio * main.width]
    if others:
        raise PhotoRejected(RejectCode.multiple_faces, f"{len(others) + 1} faces")
    if len(faces) > 1:
        warnings.append(PhotoWarning.background_faces)
    face_px, short = main.width * scale, min(image.size) * scale
    if face_px < max(config.min_face_px, config.min_face_fraction * short):
        raise PhotoRejected(RejectCode.face_too_small, f"face {face_px:.0f}px")
    if _inside_fraction(main, image.size) < config.face_inside_fraction:
        raise PhotoRejected(RejectCode.face_cut_off, str(main.as_tuple()))
    return main


def _inside_fraction(box: FaceBox, size: tuple[int, int]) -> float:
    """Share of the face plus some forehead and chin that lies inside the frame."""
    w, h = box.width, box.height
    left, right = box.left - 0.1 * w, box.right + 0.1 * w
    top, bottom = box.top - 0.3 * h, box.bottom + 0.1 * h
    inside_w = max(0.0, min(right, size[0]) - max(left, 0))
    inside_h = max(0.0, min(bottom, size[1]) - max(top, 0))
    return inside_w * inside_h / ((right - left) * (bottom - top))


def _check_screen_photo(
    image: Image.Image, alpha: Image.Image | None, face: FaceBox, config: IntakeConfig,
    metrics: dict[str, float], warnings: list[PhotoWarning],
) -> None:
    """A display's pixel grid or moiré over the face, measured on the pixels the checks see (a large
    upright JPEG's reduced decode: its scaled DCT keeps the grid's moiré; 12 MP photos of screens are
    refused at both sizes, tests/intake/test_reduced_decode.py).

    A window that a cut-out's edge crosses is not judged: the flat fill and the hard edge are not
    what the camera saw."""
    window = screen_window(image, face)
    if window is None:
        return
    box = screen_window_box(image.size, face)
    if alpha is not None and box is not None:
        opaque = float((np.asarray(alpha.crop(box)) >= OPAQUE_ALPHA).mean())
        if opaque < SCREEN_WINDOW_OPAQUE:
            metrics["screen_window_opaque"] = round(opaque, 4)
            return
    score = moire_score(window)
    metrics["screen_moire"] = round(score, 2)
    if score >= config.screen_moire_refuse:
        raise PhotoRejected(RejectCode.screen_photo, f"moire {score:.2f}")
    if score >= config.screen_moire_warn:
        warnings.append(PhotoWarning.maybe_screen_photo)


def _check_face_quality(image: Image.Image, face: FaceBox, config: IntakeConfig, metrics: dict[str, float]) -> None:
    quality = measure_face(image, face, config.blur_face_px)
    metrics.update(sharpness=round(quality.sharpness, 2), face_luma=round(quality.luma, 1),
                   face_clipped=round(quality.clipped, 4))
    if quality.luma < config.min_face_luma:
        raise PhotoRejected(RejectCode.too_dark, f"luma {quality.luma:.0f}")
    if quality.luma > config.max_face_luma or quality.clipped > config.max_clipped_fraction:
        raise PhotoRejected(RejectCode.overexposed, f"luma {quality.luma:.0f}, clipped {quality.clipped:.2f}")
    if quality.sharpness < config.min_face_sharpness:
        raise PhotoRejected(RejectCode.blurry, f"sharpness {quality.sharpness:.1f}")
