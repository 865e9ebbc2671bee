from __future__ import annotations

import numpy as np
import pytest

from engine.intake import IntakeConfig, PhotoCheck, accepted_photos, check_set, prepare_dataset, write_dataset
from engine.intake.dataset import crop_boxes
from engine.intake.faces import FaceBox
from tests.intake.helpers import OBAMA_SET

CONFIG = IntakeConfig(min_side_px=256, min_photos=4, training_resolution=256)


def test_examples_are_square_captioned_and_deterministic(real_checks: dict[str, PhotoCheck]) -> None:
    photos = [real_checks[n] for n in OBAMA_SET]
    first = prepare_dataset(photos, token="ohwx", class_word="man", config=CONFIG)
    second = prepare_dataset(photos, token="ohwx", class_word="man", config=CONFIG)
    assert len(first) == len(second) >= len(photos)
    assert sum(e.kind == "face" for e in first) == len(photos)
    assert any(e.kind == "wide" for e in first)
    for a, b in zip(first, second, strict=True):
        assert a.image.size == (256, 256) and a.image.mode == "RGB"
        assert a.crop == b.crop and a.caption == b.caption
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
        assert a.caption.startswith("a photo of ohwx man")


def test_face_crop_is_centred_on_the_face(real_checks: dict[str, PhotoCheck]) -> None:
    photo = real_checks["obama3.jpg"]
    assert photo.face is not None
    (kind, (left, top, right, bottom)), *_ = crop_boxes((photo.width, photo.height), photo.face, CONFIG)
    assert kind == "face" and right - left == bottom - top
    cx, cy = photo.face.center
    assert left < photo.face.left and right > photo.face.right and top < photo.face.top
    assert abs((left + right) / 2 - cx) < 2 and bottom > photo.face.bottom


def test_crops_stay_inside_small_frames() -> None:
    face = FaceBox(10, 10, 210, 210)
    for _, (left, top, right, bottom) in crop_boxes((300, 500), face, CONFIG):
        assert 0 <= left < right <= 300 and 0 <= top < bottom <= 500
        assert right - left == bottom - top


def test_only_accepted_photos_are_used(real_checks: dict[str, PhotoCheck], tmp_path) -> None:
    checks = [real_checks[n] for n in ["obama.jpg", "biden.jpg", "obama2.jpg", "obama3.jpg", "two_people.jpg"]]
    report = check_set(checks, CONFIG)
    photos = accepted_photos(checks, report)
    assert [p.filename for p in photos] == ["obama.jpg", "obama2.jpg", "obama3.jpg"]
    examples = prepare_dataset(photos, token="sks", class_word="person", config=CONFIG)
    written = write_dataset(examples, tmp_path / "set")
    assert len(written) == len(examples)
    for path, example in zip(written, examples, strict=True):
        assert path.suffix == ".png" and path.exists()
        assert path.with_suffix(".txt").read_text(encoding="utf-8").strip() == example.caption


@pytest.mark.parametrize(("token", "word"), [("", "man"), ("two words", "man"), ("ohwx", " ")])
def test_bad_token_or_class_word(token: str, word: str) -> None:
    with pytest.raises(ValueError):
        prepare_dataset([], token=token, class_word=word)
