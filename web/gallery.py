"""What the gallery's pages show, read from the database and storage: the account's portraits
grouped by style, its model and credits, thumbnails (WebP, made once and kept in storage beside
the portrait, under the user's prefix: ``/delete`` and the retention sweep remove them with it),
and every portrait in one ZIP."""

from __future__ import annotations

import asyncio
import io
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db import jobs, trainings
from db.models import Job, OutputImage, User
from db.storage import ObjectNotFound, Storage, user_prefix
from styles import Catalogue

THUMB_SIDE = 384  # the longer side of a thumbnail, in pixels (a phone's column at 2x)


@dataclass
class Variant:
    image_id: int
    aspect: str
    width: int
    height: int


@dataclass
class Portrait:
    job_id: int
    position: int
    created_at: datetime
    likeness: int | None
    variants: list[Variant] = field(default_factory=list)

    @property
    def shown(self) -> Variant:
        return self.variants[0]


@dataclass
class StyleGroup:
    style_id: str
    title: str
    portraits: list[Portrait]


@dataclass
class Summary:
    credits: int
    model: str  # "ready", "training", "failed", "none"
    likeness: int | None
    active_jobs: int


async def summary(session: AsyncSession, account: User) -> Summary:
    newest, painter = await trainings.models(session, account.id)
    figure = await trainings.likeness_when_trained(session, painter) if painter is not None else None
    state = "ready" if painter is not None else (str(newest.status) if newest is not None else "none")
    active = await jobs.active_jobs(session, account.id)
    return Summary(account.credits, state, figure, len(active))


def _likeness_by_key(result: dict[str, Any] | None) -> dict[str, int]:
    return {str(image.get("key")): int(image["likeness"]) for image in (result or {}).get("images", [])
            if image.get("likeness") is not None}


async def portraits(session: AsyncSession, account_id: int, catalogue: Catalogue) -> list[StyleGroup]:
    """Every portrait of the account, newest first, grouped by style (the group with the newest
    portrait first); a portrait's aspects are its variants, the first one shown."""
    rows = (await session.execute(
        select(OutputImage.id, OutputImage.job_id, OutputImage.style_id, OutputImage.position, OutputImage.variant,
               OutputImage.width, OutputImage.height, OutputImage.storage_key, OutputImage.created_at)
        .where(OutputImage.user_id == account_id).order_by(OutputImage.id))).all()
    results = dict((await session.execute(
        select(Job.id, Job.result).where(Job.user_id == account_id, Job.id.in_({row.job_id for row in rows})))).all())
    figures: dict[int, dict[str, int]] = {}
    found: dict[tuple[int, int], tuple[str, Portrait]] = {}
    for row in rows:
        portrait_key = (row.job_id, row.position)
        if portrait_key not in found:
            if row.job_id not in figures:
                figures[row.job_id] = _likeness_by_key(results.get(row.job_id))
            found[portrait_key] = (row.style_id, Portrait(row.job_id, row.position, row.created_at,
                                                          figures[row.job_id].get(row.storage_key)))
        found[portrait_key][1].variants.append(Variant(row.id, row.variant, row.width, row.height))
    groups: dict[str, list[Portrait]] = {}
    for style_id, portrait in sorted(found.values(), key=lambda item: (item[1].job_id, -item[1].position), reverse=True):
        groups.setdefault(style_id, []).append(portrait)
    return [StyleGroup(style_id, catalogue.get(style_id).title if style_id in catalogue else style_id, items)
            for style_id, items in groups.items()]


async def own_image(session: AsyncSession, account_id: int, image_id: int) -> OutputImage | None:
    image = await session.get(OutputImage, image_id)
    return image if image is not None and image.user_id == account_id else None


def thumbnail_key(image: OutputImage) -> str:
    """Beside the portrait when it lies in the user's folder (so whatever removes it finds its
    thumbnail too), else in the user's own thumbnails folder."""
    prefix = user_prefix(image.user_id)
    folder, _, name = image.storage_key.rpartition("/")
    if image.storage_key.startswith(prefix) and folder:
        return f"{folder}/thumbs/{name.rsplit('.', 1)[0]}.webp"
    return f"{prefix}thumbs/{image.id}.webp"


class NotAnImage(Exception):
    """A stored portrait Pillow can't read (cut short, not an image)."""


def make_thumbnail(data: bytes, side: int = THUMB_SIDE) -> bytes:
    try:
        return _thumbnail(data, side)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise NotAnImage(str(error)) from error


def _thumbnail(data: bytes, side: int) -> bytes:
    with Image.open(io.BytesIO(data)) as picture:
        picture.draft("RGB", (side, side))
        small = picture.convert("RGB")
        small.thumbnail((side, side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        small.save(out, "WEBP", quality=80, method=4)
        return out.getvalue()


async def thumbnail(storage: Storage, image: OutputImage) -> bytes:
    """The portrait's thumbnail, made the first time it is asked for and kept in storage."""
    key = thumbnail_key(image)
    try:
        return await storage.get(key)
    except ObjectNotFound:
        pass
    data = await asyncio.to_thread(make_thumbnail, await storage.get(image.storage_key))
    await storage.put(key, data, content_type="image/webp")
    return data


def extension(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else "png"


CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


def download_name(image: OutputImage) -> str:
    aspect = image.variant.replace(":", "x")
    return f"{image.style_id or 'portrait'}-{image.job_id}-{image.position + 1}{'-' + aspect if aspect else ''}." \
           f"{extension(image.storage_key)}"


async def archive(session: AsyncSession, storage: Storage, account_id: int) -> bytes:
    """Every stored portrait of the account (each aspect), in a ZIP (stored, not compressed again:
    the images are compressed already). One that storage has lost already is left out."""
    images = (await session.scalars(select(OutputImage).where(OutputImage.user_id == account_id)
                                    .order_by(OutputImage.id))).all()
    files: list[tuple[str, bytes]] = []
    for image in images:
        try:
            files.append((f"{image.style_id or 'portraits'}/{download_name(image)}", await storage.get(image.storage_key)))
        except ObjectNotFound:
            continue

    def pack() -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as bundle:
            for name, data in files:
                bundle.writestr(name, data)
        return out.getvalue()

    return await asyncio.to_thread(pack)

