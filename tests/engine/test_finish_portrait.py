"""Finishing at delivered size: the costly steps once per portrait, crops per aspect, and the mask
made at a working size as good as the full-size one (real photo)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import post
from engine.aspects import ratio
from engine.portraits import default_finisher, detect_face

PHOTOS = Path(__file__).resolve().parents[1] / "fixtures" / "photos"


@pytest.fixture(scope="module")
def portrait() -> tuple[Image.Image, tuple[int, int, int, int]]:
    with Image.open(PHOTOS / "obama-720p.jpg") as opened:
        image = opened.convert("RGB").crop((280, 0, 1000, 720)).resize((512, 512), Image.Resampling.LANCZOS)
    face = detect_face(image)
    assert face is not None
    return image, face


def test_one_portrait_is_masked_and_upscaled_once_for_every_aspect(portrait, monkeypatch):
    image, face = portrait
    finisher = default_finisher(Path("/nonexistent"), "cpu")
    masks, upscales = [], []
    real_mask, real_upscale = post.subject_mask, finisher.upscaler.upscale
    monkeypatch.setattr(post, "subject_mask", lambda *a, **k: (masks.append(1), real_mask(*a, **k))[1])
    monkeypatch.setattr(finisher.upscaler, "upscale", lambda *a, **k: (upscales.append(1), real_upscale(*a, **k))[1])
    aspects = ["1:1", "4:5", "9:16", "16:9"]
    finished = finisher.finish_portrait(image, aspects, face)
    assert list(finished) == aspects and len(masks) == 1 and len(upscales) == 1
    for aspect, result in finished.items():
        assert Fraction(result.width, result.height) == pytest.approx(float(ratio(aspect)), rel=0.01)
    assert finished["1:1"].size == (1024, 1024)
    alone = finisher.finish_one(image, "4:5", face)  # the same picture as when asked alone
    assert alone.size == finished["4:5"].size
    assert np.abs(np.asarray(alone, float) - np.asarray(finished["4:5"], float)).mean() < 1.0


def test_the_working_size_mask_agrees_with_the_full_size_one(portrait):
    image, face = portrait
    big = image.resize((1024, 1024), Image.Resampling.LANCZOS)
    box = tuple(v * 2 for v in face)
    full = post.subject_mask(big, box, side=None) > 0.5
    small = post.subject_mask(big, box) > 0.5  # the working size (256 px)
    assert small.shape == full.shape == (1024, 1024)
    assert (full & small).sum() / (full | small).sum() > 0.85


def test_studio_finish_writes_every_aspect(portrait, tmp_path, capsys):
    from engine.runtime.cli import finish_command
    from config.settings import Settings

    image, _ = portrait
    source = tmp_path / "portrait.png"
    image.save(source)
    settings = Settings(_env_file=None, data_dir=tmp_path, device="cpu")  # type: ignore[call-arg]
    assert finish_command([source], ["1:1", "9:16"], tmp_path / "out", settings=settings) == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["portrait-1x1.jpg", "portrait-9x16.jpg"]
    with Image.open(tmp_path / "out" / "portrait-1x1.jpg") as square:
        assert square.size == (1024, 1024)
    assert finish_command([source], ["3:2"], tmp_path / "out", settings=settings) == 2
    assert "unknown aspect" in capsys.readouterr().out


@pytest.mark.parametrize("face_px", [60, 48, 40])
def test_a_small_face_in_a_full_body_portrait_is_found_for_ranking_and_finishing(face_px):
    from engine.intake.faces import detect_faces
    from engine.rank import default_backend

    with Image.open(PHOTOS / "obama.jpg") as opened:
        person = opened.convert("RGB")
    width = detect_faces(person)[0]
    scale = face_px / (width.right - width.left)
    small = person.resize((round(person.width * scale), round(person.height * scale)))
    portrait = Image.new("RGB", (1024, 1024), (120, 130, 140))
    portrait.paste(small, (400, 300))
    assert detect_faces(portrait) == []  # the intake pass (640 px, no upsampling) misses it
    face = detect_face(portrait)
    assert face is not None and 400 < face[0] < 400 + small.width and 300 < face[1] < 300 + small.height
    assert default_backend().detect_faces(portrait)  # ranking sees it too
