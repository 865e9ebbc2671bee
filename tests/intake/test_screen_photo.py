"""Photos of screens: flagged from the display grid's moiré; real photos never are."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from engine.intake import IntakeConfig, PhotoCheck, PhotoWarning, RejectCode
from engine.intake.decode import decode_photo
from engine.intake.faces import detect_faces, downscaled
from engine.intake.reasons import LABELS, TIPS, WARNING_MESSAGES, message_for
from engine.intake.screen import moire_score, screen_window
from tests.intake.helpers import LENIENT, PHOTOS, assert_human_sentence, encode, load, photo_of_screen

REAL = sorted(p.name for p in PHOTOS.iterdir() if p.suffix in {".jpg", ".png"})
WARN = LENIENT.screen_moire_warn


def flagged(result: PhotoCheck) -> bool:
    return result.code == RejectCode.screen_photo or PhotoWarning.maybe_screen_photo in result.warnings


def face_moire(data: bytes) -> float | None:
    """The detector's score on the largest face of a photo, whatever else intake would say."""
    image = decode_photo(data, dataclasses.replace(LENIENT, min_side_px=1)).image
    small, back = downscaled(image, LENIENT.detect_max_side)
    faces = detect_faces(small, max_side=max(small.size)) or detect_faces(small, max_side=max(small.size), upsample=1)
    window = screen_window(image, faces[0].scaled(back)) if faces else None
    return moire_score(window) if window is not None else None


def test_messages() -> None:
    assert_human_sentence(message_for(RejectCode.screen_photo))
    assert "screen" in message_for(RejectCode.screen_photo)
    assert_human_sentence(WARNING_MESSAGES[PhotoWarning.maybe_screen_photo])
    assert LABELS[RejectCode.screen_photo] and TIPS[RejectCode.screen_photo]
    assert LENIENT.screen_moire_warn < LENIENT.screen_moire_refuse


def test_score_of_a_grating_and_of_noise() -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(128.0, 20.0, (256, 256))
    x = np.arange(256)[None, :]
    grating = noise + 25.0 * np.sin(2 * np.pi * 0.31 * x + 0.2 * np.arange(256)[:, None])
    assert moire_score(noise) < WARN
    assert moire_score(grating) > LENIENT.screen_moire_refuse


@pytest.mark.parametrize(
    ("name", "pitch", "angle", "blur"),
    [
        ("obama.jpg", 1.3, 0.6, 0.9),
        ("obama.jpg", 1.8, 0.6, 1.5),
        ("obama2.jpg", 1.3, 2.0, 1.8),
        ("obama2.jpg", 1.8, 2.0, 1.8),
        ("obama3.jpg", 2.5, 0.6, 1.5),
        ("obama3.jpg", 2.5, 0.6, 1.8),
        ("biden.jpg", 1.8, 0.6, 1.5),
        ("biden2.jpg", 3.3, 2.0, 2.2),
    ],
)
def test_photos_of_screens_are_flagged(check, name: str, pitch: float, angle: float, blur: float) -> None:
    result = check(photo_of_screen(load(name), pitch=pitch, angle=angle, blur=blur))
    assert flagged(result), (result.code, result.metrics)
    assert result.metrics["screen_moire"] >= WARN


def test_sharp_screen_grid_is_refused(check) -> None:
    result = check(photo_of_screen(load("biden2.jpg"), pitch=3.3, angle=0.6, blur=0.7))
    assert result.code == RejectCode.screen_photo, result.metrics
    assert result.message == message_for(RejectCode.screen_photo)
    assert not result.clean_jpeg


def test_faint_moire_is_accepted_with_a_note(check) -> None:
    result = check(photo_of_screen(load("obama.jpg"), pitch=1.8, angle=0.6, blur=2.2))
    assert result.ok and PhotoWarning.maybe_screen_photo in result.warnings, result.metrics


def test_thresholds_come_from_the_config(check) -> None:
    data = photo_of_screen(load("biden2.jpg"), pitch=3.3, angle=0.6, blur=0.7)
    lenient = IntakeConfig(min_side_px=256, min_photos=4, screen_moire_refuse=99.0)
    result = check(data, config=lenient)
    assert result.ok and PhotoWarning.maybe_screen_photo in result.warnings
    off = dataclasses.replace(lenient, screen_moire_warn=99.0)
    assert not flagged(check(data, config=off))


@pytest.mark.parametrize("name", REAL)
def test_real_photos_are_not_flagged(real_checks: dict[str, PhotoCheck], name: str) -> None:
    result = real_checks[name]
    assert not flagged(result), result.metrics
    assert result.metrics.get("screen_moire", 0.0) < WARN


@pytest.mark.parametrize("name", REAL)
def test_resized_and_recompressed_copies_are_not_screens(name: str) -> None:
    photo = load(name)
    scores = {}
    for scale in (0.6, 1.5):
        size = (round(photo.width * scale), round(photo.height * scale))
        copy = photo.resize(size, Image.Resampling.BICUBIC)
        for quality in (70, 92):
            scores[scale, quality] = face_moire(encode(copy, quality=quality))
    scores["original"] = face_moire(encode(photo, quality=80))
    measured = {k: v for k, v in scores.items() if v is not None}
    assert measured, "no face found in any copy"
    assert max(measured.values()) < WARN, scores


@pytest.mark.slow
@pytest.mark.parametrize("name", ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden2.jpg"])
def test_twelve_megapixel_upscales_are_not_screens(name: str) -> None:
    """Like the intake benchmark's phone photos: smooth upscales of real photos, JPEG 92."""
    photo = load(name)
    scale = (12_000_000 / (photo.width * photo.height)) ** 0.5
    big = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.BICUBIC)
    score = face_moire(encode(big, quality=92))
    assert score is not None and score < WARN
