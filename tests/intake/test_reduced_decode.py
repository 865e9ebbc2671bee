"""A large upright sRGB JPEG is checked on a decode at a reduced scale (JPEG's DCT scaling) and stored
as it came; what must be turned or converted is decoded at full size and re-encoded, as before. The
verdicts stay those of the full size: the sample set's in test_sample_verdicts.py, photos of screens
and the face here."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from engine.intake import IntakeConfig, RejectCode, check_photo
from engine.intake.decode import decode_photo
from engine.intake.faces import face_distance
from tests.intake.helpers import encode, load, photo_of_screen
from tests.intake.test_sample_verdicts import phone_photo

DEFAULT = IntakeConfig()
FULL_SIZE = dataclasses.replace(DEFAULT, check_side_px=1_000_000)
"""Checks on the full-size decode, as before."""


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def upright_12mp() -> bytes:
    return phone_photo("obama.jpg", 1)


def test_a_12_megapixel_upright_jpeg_is_checked_at_half_size(upright_12mp: bytes) -> None:
    decoded = decode_photo(upright_12mp, DEFAULT)
    assert decoded.full_size == (3099, 3872)
    assert decoded.image.size == (1550, 1936) and decoded.scale == pytest.approx(2.0, abs=0.002)
    assert decoded.original is not None
    assert decode_photo(upright_12mp, FULL_SIZE).image.size == (3099, 3872)


def test_it_is_stored_as_it_came_with_the_face_in_its_own_pixels(upright_12mp: bytes) -> None:
    reduced, full = check_photo(upright_12mp, config=DEFAULT), check_photo(upright_12mp, config=FULL_SIZE)
    assert reduced.ok and full.ok
    assert (reduced.width, reduced.height) == (full.width, full.height) == (3099, 3872)
    assert np.array_equal(pixels(reduced.clean_jpeg), pixels(upright_12mp))  # no second generation of JPEG loss
    assert b"TestPhone" in upright_12mp and b"TestPhone" not in reduced.clean_jpeg
    assert reduced.face is not None and full.face is not None
    tolerance = 0.03 * full.face.width
    assert all(abs(a - b) <= tolerance for a, b in zip(reduced.face.as_tuple(), full.face.as_tuple(), strict=True))
    assert reduced.embedding is not None and full.embedding is not None
    assert face_distance(reduced.embedding, full.embedding) < 0.1  # the same person by far (0.6)
    assert reduced.phash is not None and full.phash is not None
    assert bin(reduced.phash ^ full.phash).count("1") <= DEFAULT.duplicate_hash_distance


def test_a_turned_photo_is_decoded_at_full_size_and_re_encoded_upright() -> None:
    turned = phone_photo("obama.jpg", 6)
    decoded = decode_photo(turned, DEFAULT)
    assert decoded.original is None and decoded.scale == 1.0
    result = check_photo(turned, config=DEFAULT)
    assert result.ok and (result.width, result.height) == Image.open(io.BytesIO(result.clean_jpeg)).size
    assert b"TestPhone" not in result.clean_jpeg


def test_a_photo_in_another_colour_space_is_converted_and_re_encoded() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    other = srgb.replace(b"\x00s\x00R\x00G\x00B", b"\x00W\x00i\x00d\x00e")  # described as another space
    photo = load("obama2.jpg")
    assert decode_photo(encode(photo, quality=92, icc_profile=other), DEFAULT).original is None
    assert decode_photo(encode(photo, quality=92, icc_profile=srgb), DEFAULT).original is not None


def test_a_chat_sized_photo_is_checked_at_its_size_and_stored_as_it_came() -> None:
    """Telegram's photos are at most 2560 pixels long: checked as they are, never encoded again."""
    photo = load("obama.jpg").resize((1920, 2400))
    data = encode(photo, quality=87)
    decoded = decode_photo(data, DEFAULT)
    assert decoded.scale == 1.0 and decoded.image.size == (1920, 2400)
    result = check_photo(data, config=DEFAULT)
    assert result.ok and np.array_equal(pixels(result.clean_jpeg), pixels(data))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "pitch", "angle", "blur"),
                         [("biden2.jpg", 3.3, 2.0, 2.2), ("obama.jpg", 1.8, 0.6, 2.2)])
def test_12_megapixel_photos_of_screens_are_refused_at_both_sizes(name: str, pitch: float, angle: float,
                                                                  blur: float) -> None:
    screen = photo_of_screen(load(name), screen_px=round(2900 / pitch), pitch=pitch, angle=angle, blur=blur)
    assert min(Image.open(io.BytesIO(screen)).size) >= 2 * DEFAULT.check_side_px  # decoded at half size
    lenient = dataclasses.replace(DEFAULT, min_side_px=256)
    reduced = check_photo(screen, config=lenient)
    full = check_photo(screen, config=dataclasses.replace(lenient, check_side_px=1_000_000))
    assert full.code == reduced.code == RejectCode.screen_photo, (full.metrics, reduced.metrics)
