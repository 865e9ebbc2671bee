"""Bytes from a phone or chat app to an 8-bit sRGB RGB image, upright, with no metadata.

Every limit that can be checked from the header (file size, format, pixel count, frames, short
side) is checked before any pixel is decoded, so a decompression bomb costs a header read.

An upright sRGB JPEG is stored as it came, metadata stripped (``original.py``), so its pixels are
not needed at full size: a large one is decoded for the checks at 1/2, 1/4 or 1/8 of its size
(JPEG's DCT scaling, a fraction of the cost), its short side kept at ``check_side_px`` or more.
Anything else (turned, another colour space, another format) is decoded at full size and the
stored copy is encoded from it.
"""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from engine.intake.config import IntakeConfig
from engine.intake.errors import PhotoRejected
from engine.intake.original import stripped_jpeg
from engine.intake.reasons import RejectCode

log = logging.getLogger(__name__)

ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "HEIF", "AVIF", "TIFF", "GIF", "BMP"})
"""Formats whose first frame is a usable still photo."""
MULTI_IMAGE_STILLS = frozenset({"MPO", "HEIF", "TIFF"})
"""Formats where several images in one file are not an animation (stereo pairs, depth, pages)."""

_heif_lock = threading.Lock()
_heif_registered = False
_SRGB = ImageCms.createProfile("sRGB")
_MAKE, _MODEL, _EXIF_IFD, _USER_COMMENT, _ORIENTATION = 0x010F, 0x0110, 0x8769, 0x9286, 0x0112
_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True, slots=True)
class DecodedPhoto:
    image: Image.Image
    """Upright 8-bit RGB, in sRGB, transparency flattened, no metadata."""
    source_format: str
    source_mode: str
    had_exif: bool
    camera_exif: bool = False
    """The file names a camera maker or model (screenshots never do)."""
    screenshot_hint: bool = False
    """EXIF or XMP says the picture is a screenshot (iOS writes this)."""
    alpha: Image.Image | None = None
    """The source's transparency as an upright "L" image the size of ``image`` (255 = opaque), or
    None when every pixel was opaque. Where it is low, ``image`` shows the flat background, not
    the photo: pixel checks that look for screenshots must leave those pixels out."""
    full_size: tuple[int, int] = (0, 0)
    """The photo's upright size; ``image`` is smaller when it was decoded at a reduced scale."""
    original: bytes | None = None
    """The file itself with its metadata stripped, when it can be stored as it is (an upright sRGB
    JPEG); None when the stored copy must be encoded from ``image``."""

    @property
    def scale(self) -> float:
        """Photo pixels per pixel of ``image``."""
        return self.full_size[0] / self.image.width if self.full_size[0] else 1.0


def _register_heif() -> None:
    global _heif_registered
    with _heif_lock:
        if not _heif_registered:
            from pillow_heif import register_heif_opener

            register_heif_opener()
            _heif_registered = True


def sniff_unsupported(data: bytes) -> str | None:
    """Name well-known non-photo containers that Pillow would otherwise call 'not an image'."""
    head = data[:64]
    if head.startswith(b"%PDF"):
        return "PDF"
    if head.startswith(b"8BPS"):
        return "PSD"
    lowered = data[:512].lstrip().lower()
    if lowered.startswith(b"<svg") or (lowered.startswith(b"<?xml") and b"<svg" in lowered):
        return "SVG"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in {b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"3gp4", b"3gp5", b"avc1"}:
            return "video"
    return None


def open_checked(data: bytes, config: IntakeConfig) -> Image.Image:
    """Open ``data`` lazily and check every limit the header can answer; no pixels are decoded."""
    if not data:
        raise PhotoRejected(RejectCode.not_an_image, "empty file")
    if len(data) > config.max_file_bytes:
        raise PhotoRejected(RejectCode.file_too_large, f"{len(data)} bytes")
    other = sniff_unsupported(data)
    if other:
        raise PhotoRejected(RejectCode.unsupported_format, other)
    if data[4:8] == b"ftyp":  # an ISO-BMFF container (HEIC/HEIF from phones): the plugin only for these
        _register_heif()
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise PhotoRejected(RejectCode.too_many_pixels, str(error)) from None
    except UnidentifiedImageError:
        raise PhotoRejected(RejectCode.not_an_image, "unidentified") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise PhotoRejected(RejectCode.corrupt, f"header: {error}") from None
    fmt = (image.format or "").upper()
    if fmt not in ACCEPTED_FORMATS:
        raise PhotoRejected(RejectCode.unsupported_format, fmt or "unknown")
    width, height = image.size
    if width * height > config.max_pixels:
        raise PhotoRejected(RejectCode.too_many_pixels, f"{width}x{height}")
    if fmt not in MULTI_IMAGE_STILLS and getattr(image, "n_frames", 1) > 1:
        raise PhotoRejected(RejectCode.animated, f"{image.n_frames} frames")
    if min(width, height) < config.min_side_px:
        raise PhotoRejected(RejectCode.too_small, f"{width}x{height}")
    return image


def decode_photo(data: bytes, config: IntakeConfig) -> DecodedPhoto:
    image = open_checked(data, config)
    fmt = (image.format or "").upper()
    mode = image.mode
    header_size = image.size
    try:
        original = _storable_as_is(data, image)
        if original is not None:
            _reduce_for_checks(image, config.check_side_px)
        image.seek(0)
        image.load()
        exif = image.getexif()
        had_exif = len(exif) > 0
        camera_exif = bool(exif.get(_MAKE) or exif.get(_MODEL))
        hint = _says_screenshot(exif, image.info.get("xmp"))
        icc = image.info.get("icc_profile") if original is None else None  # an original's is sRGB
        image = _to_8bit(image)  # at once: the high-bit-depth original is let go before anything else is made
        oriented = _upright(image, exif.get(_ORIENTATION, 1))
        del image
    except Image.DecompressionBombError as error:
        raise PhotoRejected(RejectCode.too_many_pixels, str(error)) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as error:
        raise PhotoRejected(RejectCode.corrupt, f"decode: {error}") from None
    rgb, alpha = srgb_and_alpha(oriented, icc, config.background_rgb)
    return DecodedPhoto(image=rgb, source_format=fmt, source_mode=mode, had_exif=had_exif,
                        camera_exif=camera_exif, screenshot_hint=hint, alpha=alpha,
                        full_size=header_size if original is not None else rgb.size, original=original)


def _storable_as_is(data: bytes, image: Image.Image) -> bytes | None:
    """``data`` stripped of its metadata when that is the photo to store: a JPEG (not a multi-picture
    file) of 8-bit colour, upright as stored, in sRGB (no profile, or an sRGB one)."""
    if image.format != "JPEG" or image.mode != "RGB":
        return None
    orientation = image.getexif().get(_ORIENTATION, 1)
    icc = image.info.get("icc_profile")
    if orientation not in (None, 1) or (icc and not _is_srgb(icc)):
        return None
    return stripped_jpeg(data)


def _reduce_for_checks(image: Image.Image, short_side: int) -> None:
    """Have a JPEG decode at the smallest of 1/2, 1/4 and 1/8 of its size whose short side is still
    ``short_side`` or more (``Image.draft``: the scaling happens in the DCT, before any pixel exists)."""
    width, height = image.size
    divisor = 1
    while divisor < 8 and min(width, height) // (divisor * 2) >= short_side:
        divisor *= 2
    if divisor > 1:
        image.draft("RGB", (width // divisor, height // divisor))  # Pillow rounds the result up


def _says_screenshot(exif: Image.Exif, xmp: object) -> bool:
    try:
        comment = exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT, b"")
    except (KeyError, ValueError, OSError):
        comment = b""
    texts = [comment, xmp or b""]
    return any(b"screenshot" in (t.encode() if isinstance(t, str) else bytes(t)).lower() for t in texts)


def _upright(image: Image.Image, orientation: object) -> Image.Image:
    """Apply the EXIF orientation (without ImageOps.exif_transpose's copy of upright photos)."""
    turn = _TURNS.get(orientation) if isinstance(orientation, int) else None
    return image.transpose(turn) if turn is not None else image


def srgb_and_alpha(
    image: Image.Image, icc: bytes | None, background: tuple[int, int, int],
) -> tuple[Image.Image, Image.Image | None]:
    """Any Pillow mode to 8-bit RGB in sRGB, alpha flattened onto ``background``; and that alpha
    ("L"; None when nothing was transparent)."""
    image = _to_8bit(image)
    alpha = None
    if image.mode in {"P", "PA"}:
        image = image.convert("RGBA")
    if image.mode in {"LA", "La", "RGBa"}:
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        channel = image.getchannel("A")
        if channel.getextrema()[0] < 255:  # an opaque RGBA (many screenshots) has no alpha to carry
            alpha = channel
        base = Image.new("RGB", image.size, background)
        base.paste(image, mask=channel)
        image = base
    if icc and image.mode in {"RGB", "CMYK", "L"}:
        image = _icc_to_srgb(image, icc)
    if image.mode != "RGB":
        image = image.convert("RGB")
    image.info.clear()
    return image, alpha


_BAND_ROWS = 256  # high-bit-depth pictures are brought to 8 bits this many rows at a time


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float pictures to 8-bit "L", a band of rows at a time: no full-size
    float64 copies (a 60 MP 16-bit PNG peaked at 2 GB that way; now the 8-bit result and one band)."""
    if image.mode.startswith("I;16") or image.mode in {"I", "F"}:
        if image.mode == "I":
            high = image.getextrema()[1]
            divisor = 1 if high <= 255 else 257  # 8-bit values kept in a 32-bit container, or 16-bit ones
        elif image.mode == "F":
            high = image.getextrema()[1]
            divisor = 0  # floats: [0, 1] scaled to 255, else taken as 0..255
        else:
            divisor = 257
        width, height = image.size
        out = np.empty((height, width), np.uint8)
        for top in range(0, height, _BAND_ROWS):
            band = np.asarray(image.crop((0, top, width, min(height, top + _BAND_ROWS))))
            if divisor == 0:
                values = band.astype(np.float32, copy=False) * (255.0 if high <= 1.0 else 1.0)
                out[top:top + band.shape[0]] = np.clip(np.rint(values), 0, 255).astype(np.uint8)
            else:
                wide = band.astype(np.int64, copy=False)
                out[top:top + band.shape[0]] = np.clip((wide + divisor // 2) // divisor, 0, 255).astype(np.uint8)
        return Image.fromarray(out, "L")
    if image.mode == "1":
        return image.convert("L")
    return image


def _is_srgb(icc: bytes) -> bool:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return "srgb" in ImageCms.getProfileDescription(profile).strip().lower()
    except (ImageCms.PyCMSError, OSError, ValueError):
        return False


def _icc_to_srgb(image: Image.Image, icc: bytes) -> Image.Image:
    try:
        if image.mode == "RGB" and _is_srgb(icc):
            return image
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
        return converted if converted is not None else image
    except (ImageCms.PyCMSError, OSError, ValueError) as error:
        log.debug("ignoring unusable ICC profile: %s", error)
        return image


def encode_clean_jpeg(image: Image.Image, quality: int) -> bytes:
    """Re-encode without EXIF, GPS, XMP or comments: these bytes are what gets stored."""
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, subsampling="4:2:0")
    return out.getvalue()
