"""A user's selfie set: photos checked on arrival, stored cleaned, judged again as a set.

Photo-level checks (decode, size, face, blur...) run in worker threads, all photos of a batch at
once. Set-level checks (same person, duplicates, the cap) are recomputed over the whole set after
each batch from the stored embeddings, so the order of upload does not matter.
"""

from __future__ import annotations

import asyncio
import unicodedata
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.photo_checks import PhotoChecker
from bot.core.replies import IncomingFile
from db.models import Photo, SelfieSet, SetStatus, User, utcnow
from db.session import Database
from db.storage import Storage, user_prefix
from db.trainings import set_photos
from engine.intake import (IntakeConfig, PhotoCheck, PhotoVerdict, RejectCode, SetReport, judge_stored, message_for,
                           plan_crops, stored_check)
from engine.jobs import TrainCrop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchResult:
    set_id: int
    batch: tuple[PhotoVerdict, ...]
    """Verdicts of this batch's photos, numbered 1..n as the user sent them."""
    report: SetReport
    """The whole set after this batch."""


def _resent(number: int, check: PhotoCheck) -> PhotoVerdict:
    return PhotoVerdict(number=number, filename=check.filename, ok=False, code=RejectCode.duplicate,
                        message=message_for(RejectCode.duplicate))


def clean_filename(name: str) -> str:
    """A user's file name as it may be stored and shown: no folders, no control characters (a NUL
    is refused by PostgreSQL's text columns), no odd whitespace, at most 256 characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    return " ".join(name.split())[:256]


def photo_key(user_id: int, set_id: int, sha256: str) -> str:
    return f"{user_prefix(user_id)}sets/{set_id}/{sha256}.jpg"


def training_crops(photos: list[Photo], *, token: str, class_word: str, config: IntakeConfig) -> list[TrainCrop]:
    """The training set of accepted photos: intake's face-centred and upper-body squares with
    their captions, planned from each photo's stored face box (the worker cuts them)."""
    crops = []
    for photo in photos:
        check = stored_check(photo)
        if check.face is None or not photo.storage_key or not photo.width or not photo.height:
            raise ValueError(f"accepted photo {photo.id} has no face box or size to plan crops from")
        for crop in plan_crops((photo.width, photo.height), check.face, token=token, class_word=class_word, config=config):
            crops.append(TrainCrop(photo_key=photo.storage_key, box=crop.box, caption=crop.caption))
    return crops


_INSERTED = ("set_id", "position", "original_name", "sha256", "perceptual_hash", "storage_key", "accepted",
             "verdict_code", "verdict_message", "width", "height", "face_box", "face_embedding", "created_at")


def _to_row(set_id: int, position: int, check: PhotoCheck, key: str | None) -> Photo:
    """A photo's row, not yet in a session: judged with the set first, then inserted (``_values``)."""
    face = check.face
    return Photo(
        set_id=set_id, position=position, original_name=clean_filename(check.filename), sha256=check.sha256,
        perceptual_hash=f"{check.phash:016x}" if check.phash is not None else "", storage_key=key,
        accepted=check.ok, verdict_code=str(check.code) if check.code else None, verdict_message=check.message,
        width=check.width, height=check.height,
        face_box={"left": face.left, "top": face.top, "right": face.right, "bottom": face.bottom, "score": face.score}
        if face else None,
        face_embedding=np.asarray(check.embedding, dtype=np.float64).tobytes() if check.embedding is not None else None,
        created_at=utcnow(),
    )


def _values(row: Photo) -> dict[str, object]:
    return {name: getattr(row, name) for name in _INSERTED}


class AccountGone(Exception):
    """The user's account was deleted (/delete) while their photos were being checked and stored."""


class SelfieBook:
    def __init__(self, database: Database, storage: Storage, config: IntakeConfig, *,
                 check_workers: int | None = None, check_niceness: int = 0) -> None:
        self.database = database
        self.storage = storage
        self.config = config
        self.checker = PhotoChecker(config, workers=check_workers, niceness=check_niceness)

    @staticmethod
    async def collecting_set(session: AsyncSession, user_id: int) -> SelfieSet | None:
        """The set being collected, if any (a query: it makes none)."""
        return await session.scalar(
            select(SelfieSet).where(SelfieSet.user_id == user_id, SelfieSet.status == SetStatus.collecting)
            .order_by(SelfieSet.id.desc()).limit(1)
        )

    async def open_set(self, session: AsyncSession, user_id: int) -> SelfieSet:
        """The set being collected, or a new one (a trained set is kept for its model, not extended)."""
        selfie_set = await self.collecting_set(session, user_id)
        if selfie_set is None:
            selfie_set = SelfieSet(user_id=user_id)
            session.add(selfie_set)
            await session.flush()
        return selfie_set

    async def photos(self, session: AsyncSession, set_id: int) -> list[Photo]:
        return await set_photos(session, set_id)

    async def add(self, user_id: int, files: list[IncomingFile]) -> BatchResult:
        checks = await asyncio.gather(*(self.checker.check(f.data, f.filename) for f in files))
        set_id, stored_before = await self._set_to_fill(user_id)
        # The files are stored outside any transaction: on SQLite a transaction holds the write lock,
        # and ten 12 MP uploads held it long enough to keep every other user waiting. A key names
        # its content (the sha256), so a racing second copy of the same photo writes the same key.
        keys: dict[str, str] = {}
        for check in checks:
            if check.ok and check.sha256 not in stored_before and check.sha256 not in keys:
                keys[check.sha256] = await self.storage.put(photo_key(user_id, set_id, check.sha256),
                                                            check.clean_jpeg, content_type="image/jpeg")
        try:
            return await self._record(user_id, set_id, checks, keys)
        except (AccountGone, IntegrityError):
            if not await self._account_gone(user_id):
                raise
            # /delete ran while the files were being stored: nothing of them may stay
            for key in set(keys.values()):
                await self.storage.delete(key)
            raise AccountGone(user_id) from None

    async def _set_to_fill(self, user_id: int) -> tuple[int, set[str]]:
        """The set this album goes into and the photos it holds (by sha256). Looked up without
        taking SQLite's write lock; only a user's first album writes here, to open the set."""
        async with self.database.read() as session:
            selfie_set = await self.collecting_set(session, user_id)
            if selfie_set is not None:
                return selfie_set.id, await self._hashes(session, selfie_set.id)
        async with self.database.transaction(bulk=True) as session:
            selfie_set = await self.open_set(session, user_id)  # or the one a racing album opened
            return selfie_set.id, await self._hashes(session, selfie_set.id)

    @staticmethod
    async def _hashes(session: AsyncSession, set_id: int) -> set[str]:
        return set(await session.scalars(select(Photo.sha256).where(Photo.set_id == set_id)))

    async def _account_gone(self, user_id: int) -> bool:
        async with self.database.read() as session:
            return await session.get(User, user_id) is None

    async def _record(self, user_id: int, set_id: int, checks: list[PhotoCheck], keys: dict[str, str]) -> BatchResult:
        """The batch's rows and the set's verdicts, in one short transaction of four statements
        (it holds SQLite's write lock, which every other user's command waits for): the set, its
        photos, one insert of the new rows judged with them, and updates of the verdicts the new
        photos changed. An account deleted meanwhile has no set and fails the new set's foreign key
        (``add`` tells it apart)."""
        async with self.database.transaction(bulk=True) as session:
            selfie_set = await self.open_set(session, user_id)
            if selfie_set.id != set_id:  # the set was closed meanwhile (training began): into the new one
                for sha, key in list(keys.items()):
                    data = await self.storage.get(key)
                    keys[sha] = await self.storage.put(photo_key(user_id, selfie_set.id, sha), data,
                                                       content_type="image/jpeg")
            existing = await self.photos(session, selfie_set.id)
            known = {p.sha256 for p in existing}
            position = max((p.position for p in existing), default=0)
            resent: set[int] = set()
            new_rows: list[Photo] = []
            for index, check in enumerate(checks):
                if check.sha256 in known:
                    resent.add(index)  # the very same file again: stored once, reported as a duplicate
                    continue
                known.add(check.sha256)
                position += 1
                new_rows.append(_to_row(selfie_set.id, position, check, keys.get(check.sha256) if check.ok else None))
            stored = [*existing, *new_rows]  # in the order of set_photos: by position
            report = self.judge(stored)  # the existing rows it changes are written at the commit
            if new_rows:  # one statement (the session would insert row by row to read back each id)
                await session.execute(insert(Photo), [_values(row) for row in new_rows])
            by_sha = {p.sha256: v for p, v in zip(stored, report.verdicts, strict=True)}
            batch = tuple(
                _resent(i + 1, check) if i in resent else replace(by_sha[check.sha256], number=i + 1, duplicate_of=None)
                for i, check in enumerate(checks)
            )
            return BatchResult(selfie_set.id, batch, report)

    def judge(self, stored: Sequence[Photo]) -> SetReport:
        return judge_stored(stored, self.config)

    async def ready_to_train(self, session: AsyncSession, selfie_set: SelfieSet) -> bool:
        return len(await self.accepted(session, selfie_set.id)) >= self.config.min_photos

    async def accepted(self, session: AsyncSession, set_id: int) -> list[Photo]:
        return [p for p in await self.photos(session, set_id) if p.accepted and p.storage_key]
