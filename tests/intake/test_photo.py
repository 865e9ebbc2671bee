from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from engine.intake import PhotoCheck, PhotoWarning, RejectCode, message_for
from engine.intake.reasons import LABELS, MESSAGES
from tests.intake.helpers import OBAMA_SET, assert_human_sentence, encode, load, phone_screenshot


def test_every_code_has_a_sentence_and_a_label() -> None:
    for code in RejectCode:
        assert_human_sentence(MESSAGES[code])
        assert LABELS[code]
        assert message_for(code) == MESSAGES[code]


@pytest.mark.parametrize("name", [*OBAMA_SET, "obama-720p.jpg", "biden.jpg", "biden2.jpg", "32bit.png"])
def test_good_photos_are_accepted(real_checks: dict[str, PhotoCheck], name: str) -> None:
    result = real_checks[name]
    assert result.ok, result
    assert result.code is None and result.message
    assert result.face is not None and result.embedding is not None
    assert result.embedding.shape == (128,)
    assert result.clean_jpeg.startswith(b"\xff\xd8")
    assert result.phash is not None and len(result.sha256) == 64
    assert PhotoWarning.maybe_screenshot not in result.warnings


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("two_people.jpg", RejectCode.multiple_faces),
        ("obama_partial_face.jpg", RejectCode.face_cut_off),
        ("obama_small.jpg", RejectCode.too_small),
    ],
)
def test_bad_sample_photos(real_checks: dict[str, PhotoCheck], name: str, code: RejectCode) -> None:
    result = real_checks[name]
    assert (result.ok, result.code) == (False, code)
    assert_human_sentence(result.message)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda im: im.filter(ImageFilter.GaussianBlur(3)), RejectCode.blurry),
        (lambda im: ImageEnhance.Brightness(im).enhance(0.22), RejectCode.too_dark),
        (lambda im: ImageEnhance.Brightness(im).enhance(2.5), RejectCode.overexposed),
    ],
    ids=["blurry", "dark", "overexposed"],
)
def test_face_quality(check, change, code: RejectCode) -> None:
    result = check(encode(change(load("obama.jpg")), quality=92))
    assert result.code == code, result.metrics
    assert_human_sentence(result.message)


def test_slight_softness_and_dim_light_still_pass(check) -> None:
    photo = load("obama.jpg")
    assert check(encode(photo.filter(ImageFilter.GaussianBlur(0.8)), quality=92)).ok
    assert check(encode(ImageEnhance.Brightness(photo).enhance(0.5), quality=92)).ok


def test_no_face(check) -> None:
    rng = np.random.default_rng(7)
    texture = rng.integers(0, 255, size=(96, 128, 3), dtype=np.uint8)
    landscape = Image.fromarray(texture).resize((1024, 768), Image.Resampling.BICUBIC)
    result = check(encode(landscape))
    assert result.code == RejectCode.no_face
    assert_human_sentence(result.message)


@pytest.mark.slow
def test_face_too_small(check) -> None:
    canvas = Image.new("RGB", (2000, 2000), (96, 110, 120))
    person = load("obama.jpg").resize((510, 637), Image.Resampling.LANCZOS)
    canvas.paste(person, (700, 600))
    result = check(encode(canvas, quality=92))
    assert result.code == RejectCode.face_too_small, result
    assert_human_sentence(result.message)


def test_screenshot_is_refused(check) -> None:
    result = check(encode(phone_screenshot(), "PNG"), "IMG_2044.PNG")
    assert result.code == RejectCode.screenshot, result.metrics
    assert_human_sentence(result.message)


def test_screenshot_named_so_is_refused(check) -> None:
    result = check(encode(load("obama2.jpg"), quality=92), "Screenshot_20261124-181503.jpg")
    assert result.code == RejectCode.screenshot


def test_letterboxed_photo_is_not_a_screenshot(real_checks: dict[str, PhotoCheck]) -> None:
    result = real_checks["obama-720p.jpg"]
    assert result.ok and not result.warnings


def test_record_round_trip(real_checks: dict[str, PhotoCheck]) -> None:
    original = real_checks["obama.jpg"]
    restored = PhotoCheck.from_record(original.to_record())
    assert restored == original
    assert np.array_equal(restored.embedding, original.embedding)
