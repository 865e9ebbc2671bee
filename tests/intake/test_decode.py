from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from engine.intake import IntakeConfig, RejectCode
from engine.intake.decode import decode_photo
from tests.intake.helpers import LENIENT, assert_human_sentence, encode, load, read


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` but carries only a few rows of pixels."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width * 3 + 1) * 2)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def jpeg_with_declared_size(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("RGB", (64, 64), (90, 120, 150))))
    sof = data.index(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", RejectCode.not_an_image),
        (b"Dear diary, today I renamed this to selfie.jpg\n" * 20, RejectCode.not_an_image),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", RejectCode.unsupported_format),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', RejectCode.unsupported_format),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64, RejectCode.unsupported_format),
    ],
    ids=["zero-bytes", "text-as-jpg", "pdf", "svg", "mp4"],
)
def test_files_that_are_not_photos(check, data: bytes, code: RejectCode) -> None:
    result = check(data, "selfie.jpg")
    assert not result.ok
    assert result.code == code
    assert_human_sentence(result.message)
    assert result.clean_jpeg == b""


def test_truncated_jpeg_is_corrupt(check) -> None:
    data = read("obama.jpg")
    result = check(data[: len(data) * 2 // 3])
    assert (result.ok, result.code) == (False, RejectCode.corrupt)
    assert_human_sentence(result.message)


def test_file_too_large_is_refused_before_decoding(check) -> None:
    config = IntakeConfig(min_side_px=256, max_file_bytes=100_000)
    result = check(read("obama.jpg"), config=config)
    assert result.code == RejectCode.file_too_large
    assert_human_sentence(result.message)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    "data",
    [
        png_header_only(100_000, 100_000),  # beyond Pillow's own bomb limit
        png_header_only(10_000, 10_000),  # 100 MP: Pillow only warns
        png_header_only(8_000, 8_000),  # 64 MP: over our 60 MP default
        jpeg_with_declared_size(60_000, 60_000),
    ],
    ids=["png-10G", "png-100M", "png-64M", "jpeg-3.6G"],
)
def test_decompression_bombs_are_refused_from_the_header(check, data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    # Warm up: the first check of a process imports Pillow's plugins and registers pillow_heif,
    # a one-time cost that is not the refusal's (a tiny photo, refused as too small, undecoded).
    assert check(encode(Image.new("RGB", (8, 8))), config=IntakeConfig()).code == RejectCode.too_small
    decoded: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def load(image: ImageFile.ImageFile):  # type: ignore[no-untyped-def]
        decoded.append(image.size)
        return real_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)  # where Pillow decodes PNG and JPEG pixels
    started = time.thread_time()  # this thread's CPU time: what the refusal costs, however loaded the machine
    result = check(data, config=IntakeConfig())
    spent = time.thread_time() - started
    assert result.code == RejectCode.too_many_pixels
    assert "Send it as a photo rather than a file" in result.message  # a way forward, not just "no"
    assert decoded == []  # refused from the header: not one pixel decoded
    assert spent < 1.0  # a header read (about 0.1 ms)
    assert_human_sentence(result.message)


def test_small_photo_is_too_small(check) -> None:
    result = check(read("obama_small.jpg"), config=IntakeConfig())
    assert result.code == RejectCode.too_small
    assert_human_sentence(result.message)


def test_default_minimum_side_is_512(check) -> None:
    assert check(read("obama-480p.jpg"), config=IntakeConfig()).code == RejectCode.too_small
    assert check(read("obama-720p.jpg"), config=IntakeConfig()).ok


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animations_are_refused(check, fmt: str) -> None:
    frame = load("obama2.jpg")
    frames = [frame, frame.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = check(data)
    assert result.code == RejectCode.animated
    assert_human_sentence(result.message)


def test_cmyk_jpeg_is_converted(check) -> None:
    rgb = load("obama2.jpg")
    data = encode(rgb.convert("CMYK"), quality=95)
    decoded = decode_photo(data, LENIENT)
    assert decoded.image.mode == "RGB" and decoded.source_mode == "CMYK"
    difference = np.abs(np.asarray(decoded.image, dtype=int) - np.asarray(rgb, dtype=int)).mean()
    assert difference < 8
    assert check(data).ok


def test_16_bit_png_is_scaled_not_clipped(check) -> None:
    grey = np.asarray(load("obama2.jpg").convert("L"), dtype=np.uint16)
    data = encode(Image.fromarray(grey * 257), "PNG")
    decoded = decode_photo(data, LENIENT)
    assert decoded.image.mode == "RGB" and decoded.source_mode.startswith("I")
    channel = np.asarray(decoded.image)[..., 0].astype(int)
    assert np.abs(channel - grey.astype(int)).max() <= 1
    assert check(data).ok


def test_heic_from_pillow_heif(check) -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    data = encode(load("obama2.jpg"), "HEIF", quality=85)
    result = check(data)
    assert result.ok, result
    assert (result.width, result.height) == (626, 1200)


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("PNG", {}),
        ("WEBP", {"quality": 90}),
        ("TIFF", {}),
        ("GIF", {}),
        ("MPO", {"save_all": True}),
        ("JPEG", {"progressive": True, "quality": 90}),
    ],
)
def test_still_formats_are_accepted(check, fmt: str, options: dict) -> None:
    image = load("obama2.jpg")
    if fmt == "MPO":
        options = {**options, "append_images": [image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]}
    result = check(encode(image, fmt, **options))
    assert result.ok, result
    assert Image.open(io.BytesIO(result.clean_jpeg)).format == "JPEG"


def test_transparency_is_flattened_on_grey(check) -> None:
    rgba = load("obama2.jpg").convert("RGBA")
    alpha = Image.new("L", rgba.size, 255)
    alpha.paste(0, (0, 0, 60, 60))
    rgba.putalpha(alpha)
    decoded = decode_photo(encode(rgba, "PNG"), LENIENT)
    assert decoded.image.mode == "RGB"
    assert decoded.image.getpixel((5, 5)) == LENIENT.background_rgb
    assert check(read("32bit.png")).ok
    palette = encode(load("obama2.jpg").convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=0)
    assert decode_photo(palette, LENIENT).image.mode == "RGB"


def test_alpha_is_carried_upright_next_to_the_flattened_image() -> None:
    photo = load("obama2.jpg")
    assert decode_photo(encode(photo.convert("RGBA"), "PNG"), LENIENT).alpha is None  # opaque: nothing to carry

    rgba = photo.convert("RGBA")
    alpha = Image.new("L", rgba.size, 255)
    alpha.paste(0, (0, 0, 100, rgba.height))  # the left 100 columns are cut away
    rgba.putalpha(alpha)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned; the viewer turns it back 90 degrees clockwise
    decoded = decode_photo(encode(rgba.transpose(Image.Transpose.ROTATE_90), "PNG", exif=exif), LENIENT)
    assert decoded.image.size == photo.size
    assert decoded.alpha is not None and decoded.alpha.mode == "L" and decoded.alpha.size == photo.size
    carried = np.asarray(decoded.alpha)
    assert (carried[:, :100] == 0).all() and (carried[:, 100:] == 255).all()
    assert decoded.image.getpixel((50, 50)) == LENIENT.background_rgb


def test_exif_orientation_is_applied_and_metadata_stripped(check) -> None:
    upright = load("obama2.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # the viewer must turn the stored pixels 90 degrees clockwise
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)  # GPS latitude
    data = encode(upright.transpose(Image.Transpose.ROTATE_90), exif=exif, quality=95)
    assert b"PhoneMaker" in data

    result = check(data)
    assert result.ok, result
    assert (result.width, result.height) == upright.size
    clean = Image.open(io.BytesIO(result.clean_jpeg))
    assert clean.size == upright.size
    assert len(clean.getexif()) == 0
    assert b"Exif" not in result.clean_jpeg and b"PhoneMaker" not in result.clean_jpeg
