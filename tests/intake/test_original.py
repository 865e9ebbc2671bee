"""An upright sRGB JPEG is stored as it came: its own bytes less every metadata segment and anything
after its end, decoding to exactly the pixels of the file it came from."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from engine.intake.original import stripped_jpeg
from tests.intake.helpers import encode, load

SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description GPSLatitude="52,31.2N"/></x:xmpmeta>'


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def with_segment(data: bytes, marker: int, body: bytes) -> bytes:
    """``data`` with one more segment right after its start marker."""
    return data[:2] + bytes((0xFF, marker)) + (len(body) + 2).to_bytes(2, "big") + body + data[2:]


def phone_jpeg(**options: object) -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "PhoneMaker", "PM-1"
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)  # GPS latitude
    data = encode(load("obama2.jpg"), exif=exif, icc_profile=SRGB_ICC, xmp=XMP, quality=92, **options)
    data = with_segment(data, 0xFE, b"shot on PhoneMaker at 52N")  # a comment
    return with_segment(data, 0xED, b"Photoshop 3.0\x00IPTC city: Berlin")  # IPTC


@pytest.mark.parametrize("options", [{}, {"progressive": True}, {"restart_marker_rows": 2},
                                     {"keep_rgb": True}, {"subsampling": "4:4:4"}],
                         ids=["baseline", "progressive", "restart-markers", "rgb-not-ycbcr", "4:4:4"])
def test_the_stripped_file_decodes_to_the_same_pixels_and_keeps_no_metadata(options: dict) -> None:
    data = phone_jpeg(**options)
    stripped = stripped_jpeg(data)
    assert stripped is not None
    assert np.array_equal(pixels(stripped), pixels(data))
    for trace in (b"Exif", b"PhoneMaker", b"ICC_PROFILE", b"xmpmeta", b"GPSLatitude", b"IPTC", b"Berlin"):
        assert trace in data and trace not in stripped, trace
    with Image.open(io.BytesIO(stripped)) as image:
        assert len(image.getexif()) == 0 and "icc_profile" not in image.info
    assert len(stripped) < len(data)


def test_nothing_after_the_picture_is_kept() -> None:
    """A motion photo's video, a second picture (MPF) or an appended archive follow the end marker."""
    picture = encode(load("obama2.jpg"), quality=90)
    for tail in (b"\x00\x00\x00\x18ftypmp42" + bytes(64), picture, b"PK\x03\x04" + b"secret.txt" * 10):
        stripped = stripped_jpeg(picture + tail)
        assert stripped is not None and stripped.endswith(b"\xff\xd9")
        assert len(stripped) <= len(picture) and np.array_equal(pixels(stripped), pixels(picture))


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe1\xff\xff" + bytes(10)],
                         ids=["empty", "start-only", "png", "segment-longer-than-file"])
def test_what_is_not_a_whole_jpeg_is_not_stripped(data: bytes) -> None:
    assert stripped_jpeg(data) is None


def test_a_truncated_scan_is_not_stripped() -> None:
    data = encode(load("obama2.jpg"), quality=90)
    assert stripped_jpeg(data[: len(data) // 2]) is None


def test_a_file_of_countless_segments_or_fill_bytes_is_re_encoded_not_walked() -> None:
    """A hostile file can't make the walk long: past 2048 segments the photo takes the re-encoding
    route, and a run of fill bytes is skipped in one step."""
    picture = encode(load("obama2.jpg"), quality=90)
    many = picture
    for _ in range(3000):
        many = with_segment(many, 0xFE, b"x")
    assert stripped_jpeg(many) is None
    filled = picture[:2] + b"\xff" * 5_000_000 + picture[2:]
    stripped = stripped_jpeg(filled)
    assert stripped is not None and np.array_equal(pixels(stripped), pixels(picture))


def test_many_segments_still_take_the_photo_through_the_re_encoding_route(check) -> None:
    picture = encode(load("obama2.jpg"), quality=90)
    for _ in range(3000):
        picture = with_segment(picture, 0xFE, b"x")
    result = check(picture)
    assert result.ok and b"\xff\xfe" not in result.clean_jpeg[:200]
