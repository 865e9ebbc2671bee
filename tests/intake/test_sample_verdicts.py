"""The verdicts of the sample photos, pinned as recorded with the full-resolution decode (2026-12-06).

A change to decoding (e.g. JPEG's reduce-on-decode) or to a check that turns any of these is a change
of behaviour, not a speed-up. The 12 MP phone-like copies are what a reduced decode would touch: the
sample files themselves are at most 2.3k pixels on a side."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from engine.intake import IntakeConfig, PhotoCheck, PhotoWarning, RejectCode, check_photo, check_set
from tests.intake.helpers import LENIENT, PHOTOS

Verdict = tuple[RejectCode | None, tuple[PhotoWarning, ...]]

ACCEPTED: Verdict = (None, ())

NATIVE_LENIENT: dict[str, Verdict] = {
    "32bit.png": ACCEPTED,
    "biden.jpg": ACCEPTED,
    "biden2.jpg": ACCEPTED,
    "obama-480p.jpg": ACCEPTED,
    "obama-720p.jpg": ACCEPTED,
    "obama.jpg": ACCEPTED,
    "obama2.jpg": ACCEPTED,
    "obama3.jpg": ACCEPTED,
    "obama_partial_face.jpg": (RejectCode.face_cut_off, ()),
    "obama_small.jpg": (RejectCode.too_small, ()),
    "two_people.jpg": (RejectCode.multiple_faces, ()),
}

NATIVE_DEFAULT: dict[str, Verdict] = {
    **NATIVE_LENIENT,
    "obama-480p.jpg": (RejectCode.too_small, ()),
    "obama_partial_face.jpg": (RejectCode.too_small, ()),
}

SET_LENIENT: list[tuple[str, RejectCode | None, int | None]] = [
    ("32bit.png", None, None),
    ("biden.jpg", RejectCode.different_person, None),
    ("biden2.jpg", RejectCode.different_person, None),
    ("obama-480p.jpg", None, None),
    ("obama-720p.jpg", RejectCode.duplicate, 4),
    ("obama.jpg", None, None),
    ("obama2.jpg", RejectCode.duplicate, 1),
    ("obama3.jpg", None, None),
    ("obama_partial_face.jpg", RejectCode.face_cut_off, None),
    ("obama_small.jpg", RejectCode.too_small, None),
    ("two_people.jpg", RejectCode.multiple_faces, None),
]

PHONE_12MP: list[tuple[str, int, Verdict, tuple[int, int]]] = [
    # source, EXIF orientation, verdict, the upright size reported
    ("obama.jpg", 1, ACCEPTED, (3099, 3872)),
    ("obama2.jpg", 6, ACCEPTED, (2502, 4796)),
    ("obama3.jpg", 1, ACCEPTED, (2716, 4418)),
    ("obama_small.jpg", 6, ACCEPTED, (4000, 3000)),
    ("biden2.jpg", 1, ACCEPTED, (3464, 3464)),
    ("two_people.jpg", 6, (RejectCode.multiple_faces, ()), (4521, 2654)),
    ("obama_partial_face.jpg", 1, (RejectCode.face_cut_off, ()), (2276, 5271)),
]

SET_12MP: list[RejectCode | None] = [None, None, None, None, RejectCode.different_person,
                                     RejectCode.multiple_faces, RejectCode.face_cut_off]


def verdict(check: PhotoCheck) -> Verdict:
    return check.code, check.warnings


def phone_photo(name: str, orientation: int, megapixels: float = 12.0) -> bytes:
    """A sample photo upscaled to ``megapixels`` and saved as a phone would (camera EXIF, quality 92),
    stored turned when ``orientation`` is 6 so that only the EXIF tag makes it upright."""
    with Image.open(PHOTOS / name) as opened:
        image = opened.convert("RGB")
    scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
    big = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "TestPhone", "TP-12"
    if orientation == 6:
        exif[0x0112] = 6
        big = big.transpose(Image.Transpose.ROTATE_90)
    out = io.BytesIO()
    big.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


def test_sample_photos_keep_their_verdicts(real_checks: dict[str, PhotoCheck]) -> None:
    assert {name: verdict(check) for name, check in real_checks.items()} == NATIVE_LENIENT


def test_sample_set_keeps_its_verdicts(real_checks: dict[str, PhotoCheck]) -> None:
    report = check_set([real_checks[name] for name, _, _ in SET_LENIENT], LENIENT)
    assert [(v.filename, v.code, v.duplicate_of) for v in report.verdicts] == SET_LENIENT


def test_sample_photos_keep_their_verdicts_with_the_default_limits() -> None:
    config = IntakeConfig()
    checks = {name: check_photo((PHOTOS / name).read_bytes(), filename=name, config=config) for name in NATIVE_DEFAULT}
    assert {name: verdict(check) for name, check in checks.items()} == NATIVE_DEFAULT


@pytest.fixture(scope="module")
def phone_checks() -> list[PhotoCheck]:
    config = IntakeConfig()
    return [check_photo(phone_photo(name, turn), filename=name, config=config) for name, turn, _, _ in PHONE_12MP]


@pytest.mark.slow
def test_12_megapixel_copies_keep_their_verdicts_and_sizes(phone_checks: list[PhotoCheck]) -> None:
    got = [(c.filename, verdict(c), (c.width, c.height)) for c in phone_checks]
    assert got == [(name, expected, size) for name, _, expected, size in PHONE_12MP]


@pytest.mark.slow
def test_12_megapixel_set_keeps_its_verdicts(phone_checks: list[PhotoCheck]) -> None:
    report = check_set(phone_checks, IntakeConfig(min_photos=4))
    assert [v.code for v in report.verdicts] == SET_12MP
    assert report.ready_to_train
