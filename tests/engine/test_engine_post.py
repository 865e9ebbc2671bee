from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from engine.aspects import ASPECTS, ratio
from engine.crop import face_crop_box
from engine.export import AI_LABEL, DIGITAL_SOURCE_TYPE, export_image
from engine.post import blur_background, finish, sharpen, subject_mask

PHOTOS = Path("/work/shared/photos")


def _inside(face, crop) -> bool:
    return crop[0] <= face[0] and crop[1] <= face[1] and face[2] <= crop[2] and face[3] <= crop[3]


@pytest.mark.parametrize("aspect", ASPECTS)
@pytest.mark.parametrize("size", [(1024, 1024), (896, 1152), (768, 1344), (1344, 768)])
def test_crops_keep_the_face_inside_for_every_aspect(size, aspect):
    rng = np.random.default_rng(hash((size, aspect)) % 2**32)
    width, height = size
    for _ in range(200):
        side = int(rng.integers(40, min(size) // 3))
        left, top = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
        face = (left, top, left + side, top + side)
        crop = face_crop_box(size, face, aspect)
        assert 0 <= crop[0] and 0 <= crop[1] and crop[2] <= width and crop[3] <= height
        assert abs(Fraction(crop[2] - crop[0], crop[3] - crop[1]) - ratio(aspect)) < Fraction(1, 100)
        assert _inside(face, crop), (size, aspect, face, crop)


def test_crop_centres_the_face_with_headroom():
    assert face_crop_box((1024, 1024), (462, 400, 562, 520), "9:16") == (224, 0, 800, 1024)
    # 16:9 from a square: 576 px tall, face centre (y = 460) 40 % down -> top = 460 - 0.4 * 576
    assert face_crop_box((1024, 1024), (462, 400, 562, 520), "16:9") == (0, 230, 1024, 806)


def _portrait(width=160, height=200):
    image = Image.new("RGB", (width, height), (40, 120, 200))
    draw = ImageDraw.Draw(image)
    for x in range(0, width, 8):  # busy background stripes, to see the blur
        draw.line((x, 0, x, height), fill=(230, 230, 60), width=2)
    draw.rectangle((40, 110, 120, height), fill=(180, 40, 40))  # shoulders
    draw.ellipse((55, 40, 105, 110), fill=(225, 180, 150))  # face
    return image, (58, 45, 102, 105)


def test_background_blur_keeps_the_subject_and_softens_the_rest():
    image, face = _portrait()
    mask = subject_mask(image, face)
    assert mask[75, 80] > 0.9 and mask[10, 5] < 0.1
    out = np.asarray(blur_background(image, face, strength=2.0), float)
    before = np.asarray(image, float)
    assert np.abs(out[60:90, 70:90] - before[60:90, 70:90]).mean() < 2
    assert np.abs(out[:30, :30] - before[:30, :30]).mean() > 10


def test_sharpen_raises_local_contrast():
    image = Image.fromarray(np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (64, 1))).convert("RGB")
    image = image.resize((64, 64)).filter(ImageFilter.GaussianBlur(2))
    assert np.asarray(sharpen(image), float).std() >= np.asarray(image, float).std()


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_export_is_srgb_and_labelled_ai_generated(tmp_path, suffix):
    image, face = _portrait()
    path = export_image(finish(image, face, "4:5"), tmp_path / f"out{suffix}")
    with Image.open(path) as saved:
        assert saved.size == (160, 200) and saved.mode == "RGB"
        assert saved.getexif()[0x010E] == AI_LABEL
        assert saved.info.get("icc_profile")
        xmp = saved.info.get("xmp", b"")
        assert DIGITAL_SOURCE_TYPE.encode() in (xmp if isinstance(xmp, bytes) else xmp.encode())


def test_rank_keeps_the_most_alike_and_drops_faceless(tmp_path):
    faces = pytest.importorskip("engine.intake.faces")
    from engine.rank import rank_by_identity

    needed = ["obama.jpg", "obama2.jpg", "biden.jpg"]
    if not all((PHOTOS / n).exists() for n in needed):
        pytest.skip("shared test photos not present")
    load = lambda name: Image.open(PHOTOS / name).convert("RGB")  # noqa: E731
    reference_image = load("obama3.jpg") if (PHOTOS / "obama3.jpg").exists() else load("obama.jpg")
    reference = faces.face_embedding(reference_image, faces.detect_faces(reference_image)[0])
    outputs = [load("biden.jpg"), Image.new("RGB", (256, 256), "gray"), load("obama2.jpg"), load("obama.jpg")]
    ranked = rank_by_identity(outputs, [reference], keep=2)
    assert {r.index for r in ranked} == {2, 3} and ranked[0].distance <= ranked[1].distance < 0.6
    everyone = rank_by_identity(outputs, [reference], keep=10)
    assert 1 not in {r.index for r in everyone} and everyone[-1].index == 0


def test_the_byte_blend_is_the_float_blend_at_the_delivered_size(monkeypatch):
    """The background blur blends sharp and blurred pixels through the mask in one pass over bytes;
    it must give what the float blend it replaced gives, to a level, at 2048² (the delivered size)."""
    import cv2

    from engine import post

    image, face = _portrait()
    image = image.resize((2048, 2560), Image.Resampling.BILINEAR)
    face = tuple(v * 12.8 for v in face)
    yy, xx = np.mgrid[0:2560, 0:2048]
    alpha = np.clip(1.4 - np.hypot(xx - 1024, yy - 1200) / 700, 0, 1).astype(np.float32)  # a smooth subject

    def fixed_mask(image, face, *, side=None, as_bytes=False, iterations=3):
        return (alpha * 255).round().astype(np.uint8) if as_bytes else alpha

    monkeypatch.setattr(post, "subject_mask", fixed_mask)
    out = np.asarray(post.blur_background(image, face), np.float32)
    rgb = np.asarray(image, np.float32)
    reduced = cv2.resize(np.asarray(image), (512, 640), interpolation=cv2.INTER_AREA)
    blurred = cv2.resize(cv2.GaussianBlur(reduced, (0, 0), 6.0 * 2560 / 1024 / 4), (2048, 2560),
                         interpolation=cv2.INTER_LINEAR).astype(np.float32)
    expected = blurred + (rgb - blurred) * alpha[..., None]
    assert np.abs(out - expected).max() <= 2
    assert np.abs(out - rgb)[1100:1300, 924:1124].max() <= 2  # the subject's middle stays sharp
