"""Keep the outputs that look most like the user: identity distance to their selfie embeddings.

Uses intake's face embedding (dlib 128-d descriptor) so "same person" means the same thing at
intake and at delivery. Outputs with no face are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)


class FaceBackend(Protocol):
    def detect_faces(self, image: Image.Image) -> list[Any]: ...
    def face_embedding(self, image: Image.Image, box: Any) -> np.ndarray: ...
    def face_distance(self, a: np.ndarray, b: np.ndarray) -> float: ...


class _PortraitFaces:
    """Intake's face functions, with the detection that finds the small faces of full-body portraits."""

    def __init__(self) -> None:
        from engine.intake import faces

        self.detect_faces = faces.detect_portrait_faces
        self.face_embedding = faces.face_embedding
        self.face_distance = faces.face_distance


def default_backend() -> FaceBackend | ModuleType:
    return _PortraitFaces()


@dataclass(frozen=True)
class Ranked:
    index: int  # position in the input list
    image: Image.Image
    face: Any  # the face box used (largest face)
    distance: float  # mean distance to the reference embeddings; lower = more alike


def rank_by_identity(images: Sequence[Image.Image], references: Sequence[np.ndarray], keep: int, *,
                     max_distance: float | None = None,
                     backend: FaceBackend | ModuleType | None = None) -> list[Ranked]:
    """The ``keep`` most alike outputs, best first; no face (or farther than ``max_distance``) dropped."""
    if not references:
        raise ValueError("need at least one reference embedding of the user")
    faces = backend or default_backend()
    ranked = []
    for index, image in enumerate(images):
        found = faces.detect_faces(image)
        if not found:
            log.info("output %d dropped: no face found", index)
            continue
        face = found[0]  # intake returns the largest first
        embedding = faces.face_embedding(image, face)
        distance = float(np.mean([faces.face_distance(embedding, ref) for ref in references]))
        if max_distance is not None and distance > max_distance:
            log.info("output %d dropped: identity distance %.3f > %.3f", index, distance, max_distance)
            continue
        ranked.append(Ranked(index, image, face, distance))
    ranked.sort(key=lambda r: (r.distance, r.index))
    return ranked[:keep]
