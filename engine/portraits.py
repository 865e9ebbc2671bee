"""From raw generations to delivered portraits: rank, restore, upscale, blur, sharpen, crop, export."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.aspects import slug
from engine.boxes import Box, as_box, centre_box
from engine.export import export_image
from engine.post import finish_for_aspects
from engine.rank import rank_by_identity
from engine.restore import FaceRestorer
from engine.upscale import Upscaler

log = logging.getLogger(__name__)


def compose_prompt(style_prompt: str, token: str, class_word: str, variation: str = "") -> str:
    """Fill a style's ``{token}``/``{class_word}``/``{variation}``; a plain prompt gets the subject prefixed."""
    if "{token}" not in style_prompt:
        style_prompt = "a photo of {token} {class_word}, " + style_prompt
    text = style_prompt.replace("{token}", token).replace("{class_word}", class_word)
    text = text.replace("{variation}", variation)
    return re.sub(r"(,\s*)+,", ",", text).strip(" ,")


def detect_face(image: Image.Image) -> Box | None:
    """The largest face by intake's detector, down to ~40 px, or None (also when dlib is not installed)."""
    try:
        from engine.intake.faces import detect_portrait_faces
    except ImportError:
        return None
    found = detect_portrait_faces(image)
    return as_box(found[0]) if found else None


@dataclass(frozen=True)
class Enhanced:
    image: Image.Image
    face: Box  # the face box in ``image`` (or a centred box when no face was found)
    has_face: bool


@dataclass
class Finisher:
    restorer: FaceRestorer
    upscaler: Upscaler
    upscale: int = 2
    background_blur: float = 1.0
    sharpen_amount: float = 0.5

    def finish_one(self, image: Image.Image, aspect: str, face: Box | None = None) -> Image.Image:
        return self.finish_portrait(image, [aspect], face)[aspect]

    def finish_portrait(self, image: Image.Image, aspects: Sequence[str], face: Box | None = None
                        ) -> dict[str, Image.Image]:
        """One portrait in every aspect: restored, upscaled, masked, blurred and sharpened once,
        then cropped per aspect around the face."""
        return self.polish(self.enhance(image, face), aspects)

    def enhance(self, image: Image.Image, face: Box | None = None) -> Enhanced:
        """The neural part (face restoration, upscaling): on the GPU when there is one, one portrait
        at a time. ``face``: a box tuple or a FaceBox (what ranking found)."""
        face = as_box(face) if face is not None else detect_face(image)
        if face is not None:
            image = self.restorer.restore(image, [face])
        else:
            log.info("no face found in an output; crop centred on the upper middle")
        scaled = self.upscaler.upscale(image, self.upscale) if self.upscale > 1 else image
        factor = scaled.width / image.width
        box = tuple(round(v * factor) for v in face) if face is not None else centre_box(scaled.size)
        return Enhanced(scaled, box, face is not None)  # type: ignore[arg-type]

    def enhance_many(self, images: Sequence[Image.Image], faces: Sequence[Box | None]) -> list[Enhanced]:
        """``enhance`` for a job's portraits together: the faces restored in one network batch, the
        portraits upscaled in batches (one call each on the GPU, not one per portrait)."""
        boxes = [as_box(face) if face is not None else detect_face(image) for image, face in zip(images, faces, strict=True)]
        found = [box for box in boxes if box is not None]
        if len(found) < len(boxes):
            log.info("no face found in %d output(s); crops centred on the upper middle", len(boxes) - len(found))
        restored = self.restorer.restore_many(images, boxes)
        scaled = self.upscaler.upscale_many(restored, self.upscale) if self.upscale > 1 else restored
        out = []
        for original, image, box in zip(restored, scaled, boxes, strict=True):
            factor = image.width / original.width
            face = tuple(round(v * factor) for v in box) if box is not None else centre_box(image.size)
            out.append(Enhanced(image, face, box is not None))  # type: ignore[arg-type]
        return out

    def polish(self, enhanced: Enhanced, aspects: Sequence[str]) -> dict[str, Image.Image]:
        """The CPU part (mask, background blur, sharpening, crops): releases the GIL, so several
        portraits can be polished on several cores at once."""
        return finish_for_aspects(enhanced.image, enhanced.face, list(aspects), sharpen_amount=self.sharpen_amount,
                                  background_blur=self.background_blur if enhanced.has_face else 0.0)

    def finish_all(self, images: Sequence[Image.Image], aspect: str, *, references: Sequence[np.ndarray] = (),
                   keep: int | None = None) -> list[Image.Image]:
        """With reference embeddings: drop faceless outputs and keep the ``keep`` most alike."""
        if references:
            ranked = rank_by_identity(images, references, keep or len(images))
            return [self.finish_one(r.image, aspect, as_box(r.face)) for r in ranked]
        return [self.finish_one(image, aspect) for image in images[:keep]]


def save_portraits(images: Sequence[Image.Image], output_dir: Path, aspect: str, *, suffix: str = ".jpg",
                   start: int = 1) -> list[Path]:
    return [export_image(image, Path(output_dir) / f"{slug(aspect)}_{i:02d}{suffix}")
            for i, image in enumerate(images, start=start)]


def find_weights(folder: Path) -> Path | None:
    """The first weights file in ``folder`` (an operator drops one upscaler/restorer file there)."""
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.iterdir() if p.suffix in {".pth", ".safetensors", ".pt", ".ckpt"})
    return files[0] if files else None


def default_finisher(models_dir: Path, device: Any = "cpu", *, prefer: str = "gfpgan") -> Finisher:
    """Weights looked up under ``models_dir``: ``gfpgan/GFPGANv1.4.pth``, ``restore/*``, ``upscale/*``;
    ``prefer`` picks the restorer when both are present."""
    from engine.restore import RestoreConfig

    models_dir = Path(models_dir)
    config = RestoreConfig(gfpgan_weights=models_dir / "gfpgan" / "GFPGANv1.4.pth",
                           face_model_weights=find_weights(models_dir / "restore"), prefer=prefer)
    return Finisher(FaceRestorer(config, device), Upscaler(find_weights(models_dir / "upscale"), device))
