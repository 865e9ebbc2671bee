"""Transparent PNGs: a cut-out portrait is flattened onto grey and judged by what was opaque.

The grey that fills a transparent background is perfectly flat, so counting it made cut-outs
(background removed, a common phone feature) look like screenshots. Screenshots stay screenshots
whatever transparency they carry.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from engine.intake import FaceBox, PhotoCheck, PhotoWarning, RejectCode, detect_faces
from engine.intake.faces import downscaled
from tests.intake.helpers import LENIENT, OBAMA_SET, encode, load, phone_screenshot, photo_of_screen

PORTRAITS = [*OBAMA_SET, "obama-720p.jpg", "biden.jpg", "biden2.jpg"]


def with_alpha(image: Image.Image, alpha: Image.Image) -> bytes:
    rgba = image.convert("RGBA")
    rgba.putalpha(alpha)
    return encode(rgba, "PNG")


def sides_cut(image: Image.Image, left: float, right: float) -> bytes:
    """``image`` as a PNG whose left and right shares (of its width) are fully transparent."""
    alpha = Image.new("L", image.size, 255)
    alpha.paste(0, (0, 0, round(left * image.width), image.height))
    alpha.paste(0, (image.width - round(right * image.width), 0, image.width, image.height))
    return with_alpha(image, alpha)


def ellipse_cut(image: Image.Image, face: FaceBox, *, wide: float = 1.0, tall: float = 1.25) -> bytes:
    """``image`` as a PNG where only an ellipse around ``face`` (head and neck) stays opaque."""
    alpha = Image.new("L", image.size, 0)
    cx, cy = face.center
    ImageDraw.Draw(alpha).ellipse(
        (cx - wide * face.width, cy - tall * face.height, cx + wide * face.width, cy + tall * face.height), fill=255)
    return with_alpha(image, alpha)


def not_a_screenshot(result: PhotoCheck) -> None:
    assert result.code != RejectCode.screenshot, result.metrics
    assert PhotoWarning.maybe_screenshot not in result.warnings, result.metrics


def test_testers_cut_out_is_accepted(check) -> None:
    """obama-720p with its left sixth transparent: half of its black pillarbox bar stays opaque."""
    result = check(sides_cut(load("obama-720p.jpg"), 1 / 6, 0), "portrait.png")
    not_a_screenshot(result)
    assert result.ok, result
    assert result.metrics["opaque_fraction"] < 0.9
    assert result.metrics["flat_fraction"] < 0.05


@pytest.mark.parametrize("name", PORTRAITS)
@pytest.mark.parametrize(("left", "right"), [(0.15, 0.15), (0.25, 0.0), (0.0, 0.2)])
def test_portrait_with_transparent_sides_is_accepted(check, name: str, left: float, right: float) -> None:
    """Not refused; a note may remain where the kept part is largely crushed black (biden.jpg's
    suit is flat at 0: 0.11 of the whole photo, just under the note's 0.12, more of what is left)."""
    result = check(sides_cut(load(name), left, right))
    assert result.ok, result
    assert result.metrics["flat_fraction"] < 0.5 * LENIENT.screenshot_flat_fraction
    if name != "biden.jpg":
        not_a_screenshot(result)


@pytest.mark.parametrize("name", PORTRAITS)
def test_portrait_with_transparent_background_is_accepted(
    check, real_checks: dict[str, PhotoCheck], name: str,
) -> None:
    face = real_checks[name].face
    assert face is not None
    result = check(ellipse_cut(load(name), face), "cutout.png")
    not_a_screenshot(result)
    assert result.ok, result
    assert result.metrics["opaque_fraction"] < 0.7  # most of the picture was transparent
    assert result.metrics["flat_fraction"] < 0.05
    assert "screen_moire" in result.metrics  # the face itself was checked for a screen's grid


def test_opaque_rgba_screenshot_is_still_refused(check) -> None:
    result = check(encode(phone_screenshot().convert("RGBA"), "PNG"), "IMG_2044.PNG")
    assert result.code == RejectCode.screenshot, result.metrics
    assert "opaque_fraction" not in result.metrics


@pytest.mark.parametrize("cut", ["rounded corners", "left third"])
def test_screenshot_with_transparent_parts_is_still_refused(check, cut: str) -> None:
    screen = phone_screenshot()
    alpha = Image.new("L", screen.size, 0 if cut == "rounded corners" else 255)
    if cut == "rounded corners":
        ImageDraw.Draw(alpha).rounded_rectangle((0, 0, screen.width - 1, screen.height - 1), 60, fill=255)
    else:
        alpha.paste(0, (0, 0, screen.width // 3, screen.height))
    result = check(with_alpha(screen, alpha), "IMG_2045.PNG")
    assert result.code == RejectCode.screenshot, result.metrics


def test_small_screenshot_on_a_transparent_canvas_is_still_refused(check) -> None:
    canvas = Image.new("RGBA", (1600, 1600), (0, 0, 0, 0))
    canvas.paste(phone_screenshot().resize((400, 866), Image.Resampling.LANCZOS), (600, 300))
    result = check(encode(canvas, "PNG"))
    assert result.code == RejectCode.screenshot, result.metrics


@pytest.mark.parametrize(
    ("paste", "size", "code"),
    [
        ("portrait", (400, 500), None),
        ("portrait", (120, 150), RejectCode.no_face),
        ("screenshot", (40, 86), RejectCode.no_face),
    ],
)
def test_mostly_transparent_picture_is_left_to_the_face_checks(
    check, paste: str, size: tuple[int, int], code: RejectCode | None,
) -> None:
    """A little opaque picture on a big transparent canvas: too few opaque pixels to call it a
    screenshot by their flatness, so the face checks decide."""
    canvas = Image.new("RGBA", (1600, 1600), (0, 0, 0, 0))
    part = load("obama.jpg") if paste == "portrait" else phone_screenshot()
    canvas.paste(part.resize(size, Image.Resampling.LANCZOS), (600, 500))
    result = check(encode(canvas, "PNG"))
    assert result.code == code, result
    assert result.metrics["opaque_fraction"] < 0.1


def test_cut_out_of_a_photo_of_a_screen_is_still_refused(check) -> None:
    shot = Image.open(io.BytesIO(photo_of_screen(load("biden2.jpg"), pitch=3.3, angle=0.6, blur=0.7))).convert("RGB")
    assert check(encode(shot, quality=92)).code == RejectCode.screen_photo
    small, back = downscaled(shot, LENIENT.detect_max_side)
    face = detect_faces(small, max_side=max(small.size))[0].scaled(back)
    result = check(ellipse_cut(shot, face), "cutout.png")
    assert result.code == RejectCode.screen_photo, result.metrics
    assert result.metrics["opaque_fraction"] < 0.8  # the grey around the head was left out


def test_cut_edge_across_the_face_skips_only_the_screen_check(check, real_checks: dict[str, PhotoCheck]) -> None:
    """A cut through the middle of the face leaves flat grey and a hard edge in the window the
    screen check would read: that window is not judged, the rest of the checks still are."""
    face = real_checks["obama.jpg"].face
    assert face is not None
    result = check(ellipse_cut(load("obama.jpg"), face, wide=0.3, tall=0.6))
    assert result.ok, result
    assert "screen_moire" not in result.metrics and result.metrics["screen_window_opaque"] < 0.99
    assert "sharpness" in result.metrics
