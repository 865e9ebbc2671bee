"""`studio likeness PHOTOS_DIR PORTRAITS_DIR`: how alike portraits are to a person's selfies, in the
figures the bot shows (engine.likeness), for any folders: operators compare base models, styles and
training settings with it. Selfies are embedded by intake as the bot embeds them; portraits are
measured as the bot ranks them (small full-body faces included). Torch-free."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from engine import likeness
from engine.intake import IntakeConfig, check_photo

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".bmp"}


@dataclass(frozen=True)
class PortraitLikeness:
    name: str
    distance: float | None  # None: no face found
    likeness: int | None


@dataclass
class LikenessReport:
    references: int
    skipped_photos: list[str] = field(default_factory=list)  # "name: why"
    baseline: float | None = None
    portraits: list[PortraitLikeness] = field(default_factory=list)

    @property
    def mean_likeness(self) -> float | None:
        values = [p.likeness for p in self.portraits if p.likeness is not None]
        return round(float(np.mean(values)), 1) if values else None

    def lines(self) -> list[str]:
        out = [f"{self.references} selfie(s) as reference; their own spread (baseline distance): "
               + (f"{self.baseline:.3f}" if self.baseline is not None else "needs two or more")]
        out += [f"  skipped {why}" for why in self.skipped_photos]
        for p in sorted(self.portraits, key=lambda p: (p.distance is None, p.distance or 0.0, p.name)):
            out.append(f"{p.name}: " + ("no face found" if p.distance is None else
                                        f"distance {p.distance:.3f}, likeness {p.likeness} %"))
        mean = self.mean_likeness
        measured = sum(p.distance is not None for p in self.portraits)
        out.append(f"mean likeness {mean} % over {measured} of {len(self.portraits)} portrait(s)" if mean is not None
                   else f"no likeness: no face found in {len(self.portraits)} portrait(s)")
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"mean_likeness": self.mean_likeness})


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def measure(photos_dir: Path, portraits_dir: Path, config: IntakeConfig | None = None) -> LikenessReport:
    from engine.rank import rank_by_identity

    references: list[np.ndarray] = []
    report = LikenessReport(references=0)
    for path in _images(photos_dir):
        check = check_photo(path.read_bytes(), filename=path.name, config=config or IntakeConfig())
        if check.embedding is None:
            report.skipped_photos.append(f"{path.name}: {check.message or 'no face'}")
            continue
        references.append(np.asarray(check.embedding))
    report.references = len(references)
    if not references:
        raise ValueError(f"no usable selfie (one face, embeddable) in {photos_dir}")
    report.baseline = likeness.baseline(references)
    for path in _images(portraits_dir):
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        ranked = rank_by_identity([image], references, 1)
        distance = round(ranked[0].distance, 4) if ranked else None
        report.portraits.append(PortraitLikeness(path.name, distance, likeness.percent(distance, report.baseline)))
    return report


def likeness_command(photos_dir: Path, portraits_dir: Path, as_json: bool,
                     config: IntakeConfig | None = None) -> int:
    for folder in (photos_dir, portraits_dir):
        if not Path(folder).is_dir():
            print(f"Error: {folder} is not a folder")
            return 2
    try:
        report = measure(photos_dir, portraits_dir, config)
    except ValueError as error:
        print(f"Error: {error}")
        return 2
    print(report.to_json() if as_json else "\n".join(report.lines()))
    return 0

