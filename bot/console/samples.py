"""A demo selfie set made from the repository's sample photos (tests/fixtures/photos; see its
NOTICE): the originals, mirror images and tighter crops of one person — different pictures to
the duplicate check, the same face to the identity check — plus two that the checks turn away."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

from bot.core.replies import IncomingFile

SAMPLE_PHOTOS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "photos"
ONE_PERSON = ["obama.jpg", "obama2.jpg", "obama3.jpg", "obama-480p.jpg"]
TURNED_AWAY = ["two_people.jpg", "obama_small.jpg"]


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def one_person_selfies(count: int, folder: Path = SAMPLE_PHOTOS) -> list[bytes]:
    selfies = [(folder / name).read_bytes() for name in ONE_PERSON]
    for variant in (ImageOps.mirror, lambda im: im.crop((im.width // 12, im.height // 12,
                                                         im.width - im.width // 12, im.height - im.height // 12))):
        for name in ONE_PERSON:
            with Image.open(folder / name) as image:
                selfies.append(_jpeg(variant(image.convert("RGB"))))
    if count > len(selfies):
        raise ValueError(f"only {len(selfies)} distinct selfies can be made from {folder}")
    return selfies[:count]


def demo_selfies(folder: Path = SAMPLE_PHOTOS, count: int = 12) -> list[IncomingFile]:
    files = [IncomingFile(data, f"selfie-{n:02d}.jpg", sent_as_document=True)
             for n, data in enumerate(one_person_selfies(count, folder), start=1)]
    files += [IncomingFile((folder / name).read_bytes(), name, sent_as_document=True) for name in TURNED_AWAY]
    return files
