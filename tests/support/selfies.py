"""Selfie sets built from the real sample photos (tests/fixtures/photos, see its NOTICE)."""

from __future__ import annotations

from bot.console.samples import SAMPLE_PHOTOS, one_person_selfies

PHOTOS_DIR = SAMPLE_PHOTOS
__all__ = ["PHOTOS_DIR", "obama_selfies", "read"]


def read(name: str) -> bytes:
    return (SAMPLE_PHOTOS / name).read_bytes()


def obama_selfies(count: int) -> list[bytes]:
    return one_person_selfies(count)
