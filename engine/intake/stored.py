"""Photos as the database keeps them, judged again as a set.

A stored photo is whatever row type the caller keeps (``db.models.Photo``): this module only reads
and writes the attributes of ``StoredPhoto``, so the set's judgement is one function shared by the
bot (a batch arrives) and the job runtime (a training ended and its set collects again)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from engine.intake.config import IntakeConfig
from engine.intake.faces import FaceBox
from engine.intake.photo import PhotoCheck
from engine.intake.photoset import SetReport, check_set
from engine.intake.reasons import RejectCode


class StoredPhoto(Protocol):
    storage_key: str | None  # None: refused by a photo-level check, the file not kept
    accepted: bool
    verdict_code: str | None
    verdict_message: str
    sha256: str
    original_name: str
    perceptual_hash: str
    face_box: dict[str, Any] | None
    face_embedding: bytes | None
    width: int
    height: int


def stored_check(photo: StoredPhoto) -> PhotoCheck:
    """The photo-level check a stored photo passed (or failed), as it was when it arrived."""
    box = photo.face_box
    passed_photo_checks = photo.storage_key is not None
    return PhotoCheck(
        ok=passed_photo_checks,
        code=None if passed_photo_checks else RejectCode(photo.verdict_code),
        message=photo.verdict_message,
        sha256=photo.sha256,
        filename=photo.original_name,
        phash=int(photo.perceptual_hash, 16) if photo.perceptual_hash else None,
        face=FaceBox(box["left"], box["top"], box["right"], box["bottom"], box.get("score", 0.0)) if box else None,
        embedding=np.frombuffer(photo.face_embedding, dtype=np.float64) if photo.face_embedding else None,
        width=photo.width,
        height=photo.height,
    )


def judge_stored(stored: Sequence[StoredPhoto], config: IntakeConfig) -> SetReport:
    """Set-level verdicts over the whole set, written onto its photos (they can change as the set grows)."""
    report = check_set([stored_check(p) for p in stored], config)
    for photo, verdict in zip(stored, report.verdicts, strict=True):
        photo.accepted = verdict.ok
        if photo.storage_key is not None:
            photo.verdict_code = None if verdict.ok else str(verdict.code)
            photo.verdict_message = verdict.message
    return report
