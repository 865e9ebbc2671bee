"""Output aspects: SDXL-native generation sizes and the exact ratios the final crops have."""

from __future__ import annotations

from fractions import Fraction

# (width, height) at SDXL's 1024 scale: the training buckets closest to each ratio. The finishing
# step crops to the exact ratio around the face.
NATIVE_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "4:5": (896, 1152),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
}
ASPECTS = tuple(NATIVE_SIZES)


def check_aspect(aspect: str) -> str:
    if aspect not in NATIVE_SIZES:
        raise ValueError(f"unknown aspect {aspect!r}; use one of {', '.join(ASPECTS)}")
    return aspect


def ratio(aspect: str) -> Fraction:
    """Width / height of the final crop."""
    width, height = check_aspect(aspect).split(":")
    return Fraction(int(width), int(height))


def generation_size(aspect: str, resolution: int = 1024, multiple: int = 8) -> tuple[int, int]:
    """The size to generate at for a model trained at ``resolution`` (tiny: ~64 px)."""
    width, height = NATIVE_SIZES[check_aspect(aspect)]
    scale = resolution / 1024

    def fit(side: int) -> int:
        return max(multiple, round(side * scale / multiple) * multiple)

    return fit(width), fit(height)


def slug(aspect: str) -> str:
    return check_aspect(aspect).replace(":", "x")
