"""FFHQ alignment for face restoration: dlib landmarks → similarity transform → 512 px face, and back.

GFPGAN (and CodeFormer) were trained on FFHQ-aligned faces: eyes, nose and mouth at fixed places of
a 512 px square. facexlib aligns with five points (eye centres, nose tip, mouth corners) mapped onto
``FFHQ_TEMPLATE_512``. The engine only has dlib's 5-point model (``engine.intake.faces.face_landmarks``:
the two corners of each eye and the base of the nose, not the tip), so the points are fitted onto
targets in the *same* FFHQ frame instead:

* eye corners: facexlib's own FFHQ template for dlib's 5-point model (``DLIB5_TEMPLATE_1024``, used by
  ``FaceRestoreHelper(det_model="dlib")``), moved by the similarity that puts its eye centres (the
  mean of each eye's corners) exactly on the standard template's eye centres;
* nose base: that template's nose base moved the same way (about 21 px below the standard nose tip).

So the eye centres of an average face land on the standard template's (within a pixel or two on the
sample photos), and the nose base pins scale and rotation. No mouth corners are fitted: dlib's
5-point model has none. The transform is a similarity (rotation, uniform scale, translation) fitted
with ``cv2.estimateAffinePartial2D`` (LMEDS) on those five points.
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
"""Standard 5-point FFHQ template (facexlib/GFPGAN): left eye, right eye, nose tip, left/right mouth corner."""

DLIB5_TEMPLATE_1024 = np.array([[686.77227723, 488.62376238], [586.77227723, 493.59405941],
                                [337.91089109, 488.38613861], [437.95049505, 493.51485149],
                                [513.58415842, 678.5049505]], dtype=np.float64)
"""facexlib's FFHQ template for dlib's 5-point model at 1024 px, in dlib's order: the image-right eye's
outer and inner corner, the image-left eye's outer and inner corner, the base of the nose."""

FILL = (135, 133, 132)  # facexlib's border colour for the parts of the 512 square outside the photo


def eye_centres(points: np.ndarray) -> np.ndarray:
    """(left, right) eye centres (image left/right) from dlib's five points, as a (2, 2) array."""
    p = np.asarray(points, dtype=np.float64)
    return np.array([p[2:4].mean(axis=0), p[0:2].mean(axis=0)])


def _two_point_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The exact similarity (2×3) that maps the two points ``src`` onto ``dst``."""
    s = complex(*src[0]), complex(*src[1])
    d = complex(*dst[0]), complex(*dst[1])
    a = (d[1] - d[0]) / (s[1] - s[0])
    b = d[0] - a * s[0]
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    return p @ matrix[:, :2].T + matrix[:, 2]


DLIB5_TARGETS_512 = _apply(_two_point_similarity(eye_centres(DLIB5_TEMPLATE_1024 / 2), FFHQ_TEMPLATE_512[:2]),
                           DLIB5_TEMPLATE_1024 / 2)
"""Where dlib's five points go in the standard FFHQ 512 frame (eye centres exactly on the template's)."""


def find_landmarks(image: Any, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """dlib's five landmarks of the face in ``box`` as a (5, 2) array, or None if unusable.

    None when dlib or its models are missing, or when the points do not look like a face of that box
    (dlib's shape predictor always answers, even on noise): eye distance 0.2–0.7 of the box width,
    the nose base below the eye line by 0.4–1.2 eye distances, every point within the box's surroundings.
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
    axis = eyes[1] - eyes[0]
    distance = float(np.hypot(*axis))
    if not 0.2 * side <= distance <= 0.7 * side:
        return None
    # signed distance of the nose base from the eye line, positive towards the chin
    nose = points[4] - eyes.mean(axis=0)
    below = float(axis[0] * nose[1] - axis[1] * nose[0]) / distance
    if not 0.4 * distance <= below <= 1.2 * distance:
        return None
    return points


def estimate_alignment(points: np.ndarray, size: int = FACE_SIZE) -> np.ndarray | None:
    """The similarity (2×3, image → ``size`` px FFHQ face) for dlib's five points, or None."""
    import cv2

    src = np.asarray(points, dtype=np.float64).reshape(5, 2)
    dst = DLIB5_TARGETS_512 * (size / FACE_SIZE)
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
