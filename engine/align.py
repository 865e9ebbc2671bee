"""FFHQ alignment for face restoration: dlib landmarks → similarity transform → 512 px face, and back.

GFPGAN (and CodeFormer) were trained on FFHQ-aligned faces: eyes, nose and mouth at fixed places of
a 512 px square. facexlib (GFPGAN's own helper) finds five points with RetinaFace — the two eye
centres, the nose tip and the two mouth corners — and maps them onto ``FFHQ_TEMPLATE_512`` with a
similarity transform (``cv2.estimateAffinePartial2D``, LMEDS). The engine takes the same five points
from dlib's 68-point model (shipped by face-recognition-models, no download): each eye's centre is
the mean of its six contour points, the nose tip is point 30, the mouth corners points 48 and 54.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

FACE_SIZE = 512
FFHQ_TEMPLATE_512 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                              [201.26117, 371.41043], [313.08905, 371.15118]], dtype=np.float64)
"""Standard 5-point FFHQ template (facexlib/GFPGAN), image left to right: left eye, right eye, nose
tip, left mouth corner, right mouth corner."""

FILL = (135, 133, 132)  # facexlib's border colour for the parts of the 512 square outside the photo

# dlib's 68-point (iBUG 300-W) indices, image left/right as seen in the photo
_LEFT_EYE = slice(36, 42)
_RIGHT_EYE = slice(42, 48)
_NOSE_TIP = 30
_MOUTH_LEFT, _MOUTH_RIGHT = 48, 54


def five_points(points68: np.ndarray) -> np.ndarray:
    """The template's five points (eye centres, nose tip, mouth corners) from dlib's 68, as (5, 2)."""
    p = np.asarray(points68, dtype=np.float64).reshape(68, 2)
    return np.array([p[_LEFT_EYE].mean(axis=0), p[_RIGHT_EYE].mean(axis=0), p[_NOSE_TIP], p[_MOUTH_LEFT],
                     p[_MOUTH_RIGHT]])


def eye_centres(points: np.ndarray) -> np.ndarray:
    """(left, right) eye centres (image left/right) of five template-ordered points, as (2, 2)."""
    return np.asarray(points, dtype=np.float64)[:2]


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    return p @ matrix[:, :2].T + matrix[:, 2]


def _below_eye_line(points: np.ndarray, point: np.ndarray) -> float:
    """Signed distance of ``point`` from the eye line in eye distances, positive towards the chin."""
    eyes = eye_centres(points)
    axis = eyes[1] - eyes[0]
    distance = float(np.hypot(*axis))
    offset = point - eyes.mean(axis=0)
    return float(axis[0] * offset[1] - axis[1] * offset[0]) / distance / distance


def find_landmarks(image: Any, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """The five template points of the face in ``box`` as a (5, 2) array, or None if unusable.

    None when dlib or its models are missing, or when the points do not look like a face of that box
    (dlib's shape predictor always answers, even on noise): eye distance 0.2–0.7 of the box width,
    the nose tip 0.2–1.0 and the mouth 0.7–1.6 eye distances below the eye line, mouth corners in
    image order, every point within the box's surroundings.
    """
    try:
        from engine.intake.faces import FaceBox, face_landmarks

        raw = np.asarray(face_landmarks(image, FaceBox(*(int(v) for v in box)), points=68), dtype=np.float64)
    except (ImportError, RuntimeError, OSError) as error:
        log.info("no face landmarks (%s); restoring an unaligned square crop", error)
        return None
    if raw.shape != (68, 2) or not np.isfinite(raw).all():
        return None
    points = five_points(raw)
    left, top, right, bottom = box
    side = max(right - left, bottom - top, 1)
    margin = 0.25 * side
    if ((points[:, 0] < left - margin) | (points[:, 0] > right + margin)
            | (points[:, 1] < top - margin) | (points[:, 1] > bottom + margin)).any():
        return None
    eyes = eye_centres(points)
    distance = float(np.hypot(*(eyes[1] - eyes[0])))
    if not 0.2 * side <= distance <= 0.7 * side:
        return None
    if not 0.2 <= _below_eye_line(points, points[2]) <= 1.0:
        return None
    if not 0.7 <= _below_eye_line(points, points[3:].mean(axis=0)) <= 1.6 or points[3, 0] >= points[4, 0]:
        return None
    return points


def estimate_alignment(points: np.ndarray, size: int = FACE_SIZE) -> np.ndarray | None:
    """The similarity (2×3, image → ``size`` px FFHQ face) for the five template points, or None."""
    import cv2

    src = np.asarray(points, dtype=np.float64).reshape(5, 2)
    dst = FFHQ_TEMPLATE_512 * (size / FACE_SIZE)
    matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    if matrix is None or not np.isfinite(matrix).all():
        return None
    scale = math.hypot(matrix[0, 0], matrix[1, 0])
    if scale <= 1e-6:
        return None
    return matrix


def warp_face(image: np.ndarray, matrix: np.ndarray, size: int = FACE_SIZE) -> np.ndarray:
    """The aligned ``size`` px face cut from an (H, W, 3) uint8 array (facexlib's grey outside the photo)."""
    import cv2

    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=FILL)


def face_mask(size: int, blend: float) -> np.ndarray:
    """A feathered ellipse over the face of an aligned ``size`` px face, peak ``blend``, exactly 0 at the border.

    The ellipse covers brows to chin and cheek to cheek of the FFHQ template; the Gaussian feather
    (kernel cut at 3σ) stays inside the square, so pasting back leaves no seam.
    """
    import cv2

    k = size / FACE_SIZE
    sigma = 16 * k
    radius = math.ceil(3 * sigma)
    mask = np.zeros((size, size), dtype=np.float32)
    centre = (round(256 * k), round(268 * k))
    axes = (round(152 * k), round(188 * k))  # x 104–408, y 80–456 at 512 px
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, thickness=-1)
    mask = cv2.GaussianBlur(mask, (2 * radius + 1, 2 * radius + 1), sigma, borderType=cv2.BORDER_CONSTANT)
    mask[mask < 1e-4] = 0.0
    return mask * np.float32(blend)


def paste_back(image: np.ndarray, face: np.ndarray, mask: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``image`` with ``face`` (aligned by ``matrix``) warped back and blended in through ``mask``.

    Only the bounding box of the aligned square's footprint is touched; wherever the warped mask is 0
    the pixels are returned unchanged.
    """
    import cv2

    height, width = image.shape[:2]
    size = face.shape[0]
    inverse = cv2.invertAffineTransform(matrix)
    corners = _apply(inverse, np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64))
    x0, y0 = (max(0, math.floor(v) - 1) for v in corners.min(axis=0))
    x1, y1 = min(width, math.ceil(corners[:, 0].max()) + 1), min(height, math.ceil(corners[:, 1].max()) + 1)
    result = image.copy()
    if x1 <= x0 or y1 <= y0:
        return result
    shifted = inverse.copy()
    shifted[:, 2] -= (x0, y0)
    region_size = (x1 - x0, y1 - y0)
    back = cv2.warpAffine(face, shifted, region_size, flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    alpha = cv2.warpAffine(mask, shifted, region_size, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    region = result[y0:y1, x0:x1].astype(np.float32)
    blended = region + (back.astype(np.float32) - region) * alpha[..., None]
    inside = alpha > 0
    out = result[y0:y1, x0:x1]
    out[inside] = np.clip(np.rint(blended[inside]), 0, 255).astype(np.uint8)
    return result
