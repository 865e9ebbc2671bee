"""Fit pictures and files into Discord messages: at most 10 attachments and at most the bot's
upload limit (``replier.bot_upload_limit``: 10 MiB unless boosted) per message. Album pictures
are re-encoded and scaled down until they fit; originals are never altered, so one too large
for the limit is reported instead of sent. Pure CPU work: callers run it in a thread."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from PIL import Image

from bot.core.replies import Document, Picture

log = logging.getLogger(__name__)

MAX_FILES_PER_MESSAGE = 10
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
HEADROOM = 0.97  # multipart framing and rounding: stay a little under the limit
DESCRIPTION_LIMIT = 1024
SCALES = (1.0, 0.85, 0.7, 0.55, 0.4, 0.3, 0.2, 0.12)
QUALITIES = (90, 82, 72, 60)


@dataclass(frozen=True, slots=True)
class Upload:
    data: bytes
    filename: str
    description: str = ""


def message_budget(limit: int) -> int:
    return int(limit * HEADROOM)


def pack(uploads: Sequence[Upload], limit: int) -> tuple[list[list[Upload]], list[Upload]]:
    """Greedy, order-keeping packing: ≤ 10 files and ≤ the budget per message. Returns the
    messages and the uploads that fit in no message at all."""
    budget = message_budget(limit)
    chunks: list[list[Upload]] = []
    too_big: list[Upload] = []
    current: list[Upload] = []
    size = 0
    for upload in uploads:
        if len(upload.data) > budget:
            too_big.append(upload)
            continue
        if current and (len(current) == MAX_FILES_PER_MESSAGE or size + len(upload.data) > budget):
            chunks.append(current)
            current, size = [], 0
        current.append(upload)
        size += len(upload.data)
    if current:
        chunks.append(current)
    return chunks, too_big


def shrink(data: bytes, budget: int) -> bytes:
    """The picture as a JPEG of at most ``budget`` bytes (scaled and recompressed as needed)."""
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    smallest = b""
    for scale in SCALES:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        scaled = image if scale == 1.0 else image.resize(size, Image.Resampling.LANCZOS)
        for quality in QUALITIES:
            buffer = io.BytesIO()
            scaled.save(buffer, "JPEG", quality=quality, optimize=True)
            encoded = buffer.getvalue()
            if len(encoded) <= budget:
                return encoded
            smallest = encoded
    log.warning("a picture stays at %d bytes, over its %d byte budget", len(smallest), budget)
    return smallest


def fit_album(pictures: Sequence[Picture], limit: int) -> list[list[Upload]]:
    """Album pictures in messages of ≤ 10 within the limit; oversized ones are re-encoded."""
    if not pictures:
        return []
    per_file = message_budget(limit) // min(MAX_FILES_PER_MESSAGE, len(pictures))
    uploads = []
    for picture in pictures:
        data, filename = picture.data, picture.filename
        if len(data) > per_file:
            data = shrink(data, per_file)
            filename = str(PurePath(filename).with_suffix(".jpg"))
        uploads.append(Upload(data, filename, picture.caption[:DESCRIPTION_LIMIT]))
    chunks, too_big = pack(uploads, limit)
    for upload in too_big:  # only when even the smallest encoding missed: one per message
        chunks.append([upload])
    return chunks


def fit_documents(documents: Sequence[Document], limit: int) -> tuple[list[list[Upload]], list[Upload]]:
    """Originals, byte for byte, packed into messages; those over the limit come back apart."""
    return pack([Upload(d.data, d.filename, d.caption[:DESCRIPTION_LIMIT]) for d in documents], limit)
