"""Typed, immutable configuration of photo intake."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

MB = 1_000_000


class IntakeSettings(Protocol):
    """The fields of the studio settings that intake reads (the engine does not import ``studio``)."""

    max_file_mb: float
    min_side_px: int
    max_megapixels: float
    min_photos: int
    max_photos: int


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    # --- file and pixel limits (cheap, checked before decoding) -------------------------------
    max_file_bytes: int = 25 * MB
    min_side_px: int = 512
    max_pixels: int = 60_000_000

    # --- the set ------------------------------------------------------------------------------
    min_photos: int = 8
    max_photos: int = 30

    # --- faces --------------------------------------------------------------------------------
    detect_max_side: int = 640
    """Face detection runs on a copy whose long side is at most this many pixels."""
    min_face_px: int = 96
    """Smallest face (detector box width, in pixels of the photo) worth training on."""
    min_face_fraction: float = 0.08
    """Smallest face relative to the photo's short side."""
    second_face_ratio: float = 0.45
    """Another face at least this big relative to the main one makes it a group photo."""
    face_inside_fraction: float = 0.9
    """Share of the face-plus-margin region that must lie inside the frame."""
    same_person_distance: float = 0.6
    """Descriptor distance below which two faces are the same person (dlib's usual 0.6)."""
    embedding_jitters: int = 0

    # --- face quality -------------------------------------------------------------------------
    blur_face_px: int = 160
    """The face is resized to this width before its sharpness is measured."""
    min_face_sharpness: float = 30.0
    """Variance of the Laplacian over the face, normalised by its contrast (see quality.py)."""
    min_face_luma: float = 50.0
    max_face_luma: float = 220.0
    max_clipped_fraction: float = 0.25

    # --- screenshots --------------------------------------------------------------------------
    screenshot_flat_fraction: float = 0.30
    """A photo with at least this share of perfectly flat pixels is refused as a screenshot."""
    screenshot_warn_fraction: float = 0.12

    # --- photos of screens --------------------------------------------------------------------
    screen_moire_warn: float = 3.2
    """Spectral peak of the face (see screen.py; natural photos stay below about 2.8) from which a
    photo is accepted with a note that it may show a screen."""
    screen_moire_refuse: float = 4.5
    """Spectral peak from which a photo is refused as a photo of a screen."""

    # --- duplicates ---------------------------------------------------------------------------
    duplicate_hash_distance: int = 6
    """Perceptual-hash Hamming distance (of 64 bits) at or below which two photos are one."""

    # --- decoding and storage -----------------------------------------------------------------
    background_rgb: tuple[int, int, int] = (128, 128, 128)
    jpeg_quality: int = 93
    check_side_px: int = 1280
    """An upright sRGB JPEG (stored as it came) is checked on a decode at 1/2, 1/4 or 1/8 of its size
    whose short side stays at least this (a 12 MP photo: 1/2); the checks' verdicts stay those of
    the full size (tests/intake/test_sample_verdicts.py)."""

    # --- training set -------------------------------------------------------------------------
    training_resolution: int = 1024
    face_crop_scale: float = 2.6
    """Side of the face-centred square crop, in face-box widths."""
    wide_crop_scale: float = 5.5
    """Side of the wider half-body crop, in face-box widths."""
    min_wide_gain: float = 1.5
    """A wide crop is made only when it is at least this much wider than the face crop."""

    def __post_init__(self) -> None:
        if self.max_file_bytes <= 0 or self.max_pixels <= 0 or self.min_side_px <= 0:
            raise ValueError("file and pixel limits must be positive")
        if not 1 <= self.min_photos <= self.max_photos:
            raise ValueError("need 1 <= min_photos <= max_photos")
        if self.training_resolution < 64:
            raise ValueError("training_resolution must be at least 64")

    @classmethod
    def from_settings(cls, settings: IntakeSettings, **overrides: object) -> IntakeConfig:
        """The intake limits of the studio settings; ``overrides`` replace any field."""
        values: dict[str, object] = {
            "max_file_bytes": int(settings.max_file_mb * MB),
            "min_side_px": settings.min_side_px,
            "max_pixels": int(settings.max_megapixels * 1_000_000),
            "min_photos": settings.min_photos,
            "max_photos": settings.max_photos,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
