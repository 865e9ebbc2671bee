"""sRGB JPEG/WebP export carrying an "AI-generated" label (EXIF + IPTC DigitalSourceType in XMP)."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageCms

AI_LABEL = "AI-generated image (Portrait Studio)"
SOFTWARE = "Portrait Studio"
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
_EXIF_IMAGE_DESCRIPTION = 0x010E
_EXIF_SOFTWARE = 0x0131
_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}

_XMP = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    Iptc4xmpExt:DigitalSourceType="{DIGITAL_SOURCE_TYPE}">
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{AI_LABEL}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


@lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def to_srgb(image: Image.Image) -> Image.Image:
    """RGB in sRGB: converts from an embedded ICC profile when there is one."""
    icc = image.info.get("icc_profile")
    rgb = image.convert("RGB")
    if icc:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        rgb = ImageCms.profileToProfile(rgb, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    return rgb


def encode_image(image: Image.Image, fmt: str = "JPEG", *, quality: int = 92) -> bytes:
    """sRGB JPEG or WebP bytes with the AI-generated label in EXIF and XMP."""
    if fmt not in _FORMATS.values():
        raise ValueError(f"export format must be one of {', '.join(sorted(set(_FORMATS.values())))} (got {fmt!r})")
    rgb = to_srgb(image)
    exif = Image.Exif()
    exif[_EXIF_IMAGE_DESCRIPTION] = AI_LABEL
    exif[_EXIF_SOFTWARE] = SOFTWARE
    options: dict[str, object] = {"quality": quality, "icc_profile": srgb_profile(), "exif": exif.tobytes(),
                                  "xmp": _XMP.encode("utf-8")}
    if fmt == "JPEG":
        options |= {"optimize": True, "subsampling": 0 if quality >= 90 else 2}
    buffer = io.BytesIO()
    rgb.save(buffer, fmt, **options)
    return buffer.getvalue()


def export_image(image: Image.Image, path: Path, *, quality: int = 92) -> Path:
    """Write ``path`` (.jpg/.jpeg/.webp) as sRGB with the AI-generated label in EXIF and XMP."""
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"export format must be one of {', '.join(_FORMATS)} (got {path.suffix!r})")
    data = encode_image(image, fmt, quality=quality)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
