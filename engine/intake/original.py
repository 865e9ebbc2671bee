"""A JPEG kept as it came, less everything that is not the picture.

An upright sRGB JPEG needs no new encoding to be stored: its own bytes, with the metadata segments
left out, decode to exactly the pixels a full-size decode gives, without a second generation of
JPEG loss and without the ~30 ms a 12 MP encode costs. Left out: every APPn segment (EXIF with GPS
and the camera's thumbnail, XMP, the ICC profile, IPTC, maker notes, MPF) except JFIF's and Adobe's
(Adobe's says whether the data is YCbCr or RGB, which decoding needs), comments, and whatever
follows the end of the picture (a motion photo's video, a second picture, an appended file).
"""

from __future__ import annotations

import re

_SOI, _EOI, _SOS, _COM = 0xD8, 0xD9, 0xDA, 0xFE
_KEPT_APP = {0xE0: b"JFIF\x00", 0xEE: b"Adobe"}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and the restart markers carry no length
_MOST_SEGMENTS = 2048
"""A camera's JPEG has a few dozen segments (a progressive one: a table and a scan per pass); a file
with more is re-encoded rather than walked segment by segment in Python."""
_FILL = re.compile(rb"\xff+")
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
"""In entropy-coded data a 0xFF is followed by 0x00 (a stuffed byte), a restart marker or more 0xFF
(fill); any other byte after it begins the next segment."""


def stripped_jpeg(data: bytes) -> bytes | None:
    """``data``'s segments that make the picture, from its start to its end marker; None when it is
    not a JPEG whose segments can be walked to the end (it is then re-encoded instead)."""
    if not data.startswith(b"\xff\xd8"):
        return None
    kept = [b"\xff\xd8"]
    at, size = 2, len(data)
    for _ in range(_MOST_SEGMENTS):
        fill = _FILL.match(data, at)  # a marker's 0xFF, and the fill bytes that may precede it
        if fill is None:
            return None
        at = fill.end()
        if at >= size:
            return None
        marker = data[at]
        at += 1
        if marker == _EOI:
            kept.append(b"\xff\xd9")
            return b"".join(kept)
        if marker in _STANDALONE:
            kept.append(bytes((0xFF, marker)))
            continue
        if marker == _SOI or at + 2 > size:
            return None
        end = at + int.from_bytes(data[at:at + 2], "big")
        if end < at + 2 or end > size:
            return None
        if _is_picture(marker, data[at + 2:end]):
            kept.append(bytes((0xFF, marker)) + data[at:end])
        at = end
        if marker == _SOS:  # the scan's entropy-coded data runs to the next marker
            found = _NEXT_MARKER.search(data, at)
            if found is None:
                return None
            kept.append(data[at:found.start()])
            at = found.start()
    return None


def _is_picture(marker: int, body: bytes) -> bool:
    if marker == _COM:
        return False
    if 0xE0 <= marker <= 0xEF:
        signature = _KEPT_APP.get(marker)
        return signature is not None and body.startswith(signature)
    return True
