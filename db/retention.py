"""Retention: what of a user is kept, for how long, and the sweep that deletes the rest.

- Selfies go ``selfie_days`` after the model trained on them is ready: the photo files and their
  names; each accepted photo's face embedding (128 numbers, no picture) stays as long as the model,
  to rank its portraits by likeness.
- A model, its portraits and the selfie sets it learnt from go ``model_days`` after the model was
  last used (trained, or a style painted with it); the user is told ``notice_days`` before, once.
  With it go the user's other finished models (failed trainings' rows and any LoRA file they left),
  the quick previews, and the face embeddings that finished jobs carried in their payloads. What
  is not over yet stays: a set still collecting (a failed retraining's, reopened) or training, a
  training underway with its model row, LoRA and preview, and the outputs of unfinished jobs.

- Selfies of a set that never trained a model (the user sent some and went away, or a training
  failed and they did not come back) go ``unused_selfie_days`` after the newest of them arrived.

``plan`` only reads (``studio retention --dry-run`` prints it); ``apply`` deletes, each user's part
in its own transaction after its files, so a sweep stopped halfway is finished by the next one.
Both take ``now``: tests move the clock instead of waiting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import FINAL_JOB_STATES, Job, JobKind, LoraModel, LoraStatus, OutputImage, Photo, SelfieSet, SetStatus
from db.session import Database
from db.storage import Storage, user_prefix

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    selfie_days: int = 7  # 0: kept until the user deletes them
    model_days: int = 90
    notice_days: int = 7
    unused_selfie_days: int = 30  # selfies of a set that never trained a model; 0: kept

    @classmethod
    def from_settings(cls, settings: object) -> Policy:
        return cls(getattr(settings, "selfie_retention_days"), getattr(settings, "model_retention_days"),
                   getattr(settings, "expiry_notice_days"), getattr(settings, "unused_selfie_retention_days"))


@dataclass(frozen=True)
class ExpiringModel:
    user_id: int
    lora_id: int
    last_used: datetime
    expires_at: datetime


@dataclass
class Plan:
    #: (user id, set id, photo files) of trained sets whose selfies are due
    selfies: list[tuple[int, int, int]] = field(default_factory=list)
    #: models (and with them the user's portraits and trained sets) unused for too long
    models: list[ExpiringModel] = field(default_factory=list)
    #: models whose owner is to be told now that they will go
    notices: list[ExpiringModel] = field(default_factory=list)
    #: (user id, set id, photos) of sets still collecting whose newest photo is older than the cutoff
    unused: list[tuple[int, int, int]] = field(default_factory=list)
    #: photos that arrived up to this moment belong to an unused set (newer ones stay)
    unused_cutoff: datetime | None = None

    def __bool__(self) -> bool:
        return bool(self.selfies or self.models or self.notices or self.unused)

    def lines(self) -> list[str]:
        out = [f"selfies of user {u}, set {s}: {n} photo file(s)" for u, s, n in self.selfies]
        out += [f"model {m.lora_id} of user {m.user_id} (last used {m.last_used:%Y-%m-%d}) with its portraits "
                "and selfie sets" for m in self.models]
        out += [f"notice to user {m.user_id}: model {m.lora_id} goes on {m.expires_at:%Y-%m-%d}" for m in self.notices]
        out += [f"unused selfies of user {u}, set {s}: {n} photo(s), never trained on" for u, s, n in self.unused]
        return out


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive UTC datetimes, PostgreSQL aware ones."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _last_uses(session: AsyncSession) -> list[tuple[LoraModel, datetime]]:
    """Each user's newest ready model and when it was last used."""
    newest = (select(LoraModel.user_id, func.max(LoraModel.id).label("lora_id"))
              .where(LoraModel.status == LoraStatus.ready).group_by(LoraModel.user_id).subquery())
    models = (await session.scalars(select(LoraModel).join(newest, LoraModel.id == newest.c.lora_id))).all()
    result = []
    for lora in models:
        ready = await session.scalar(select(Job.finished_at).where(Job.id == lora.job_id)) if lora.job_id else None
        painted = await session.scalar(select(func.max(Job.created_at)).where(
            Job.user_id == lora.user_id, Job.kind == JobKind.generate))
        moments = [_aware(m) for m in (lora.created_at, ready, painted) if m is not None]
        result.append((lora, max(moments)))
    return result


async def plan(session: AsyncSession, policy: Policy, now: datetime) -> Plan:
    found = Plan()
    if policy.selfie_days:
        cutoff = now - timedelta(days=policy.selfie_days)
        rows = await session.execute(
            select(SelfieSet.user_id, SelfieSet.id, func.count(Photo.id))
            .join(LoraModel, LoraModel.set_id == SelfieSet.id)
            .join(Job, Job.id == LoraModel.job_id)
            .join(Photo, Photo.set_id == SelfieSet.id)
            .where(LoraModel.status == LoraStatus.ready, Job.finished_at <= cutoff, Photo.storage_key.is_not(None))
            .group_by(SelfieSet.user_id, SelfieSet.id).order_by(SelfieSet.id))
        found.selfies = [(user_id, set_id, count) for user_id, set_id, count in rows.all()]
    if policy.unused_selfie_days:
        found.unused_cutoff = cutoff = now - timedelta(days=policy.unused_selfie_days)
        rows = await session.execute(
            select(SelfieSet.user_id, SelfieSet.id, func.count(Photo.id))
            .join(Photo, Photo.set_id == SelfieSet.id)
            .where(SelfieSet.status == SetStatus.collecting)
            .group_by(SelfieSet.user_id, SelfieSet.id).having(func.max(Photo.created_at) <= cutoff)
            .order_by(SelfieSet.id))
        found.unused = [(user_id, set_id, count) for user_id, set_id, count in rows.all()]
    if policy.model_days:
        keep_for = timedelta(days=policy.model_days)
        for lora, last_used in await _last_uses(session):
            expiring = ExpiringModel(lora.user_id, lora.id, last_used, last_used + keep_for)
            if now >= expiring.expires_at:
                found.models.append(expiring)
            elif now >= expiring.expires_at - timedelta(days=policy.notice_days) and (
                    lora.expiry_warned_at is None or _aware(lora.expiry_warned_at) < last_used):
                found.notices.append(expiring)
    return found


async def delete_selfies(database: Database, storage: Storage, user_id: int, set_id: int) -> int:
    async with database.transaction() as session:
        keys = list(await session.scalars(select(Photo.storage_key).where(
            Photo.set_id == set_id, Photo.storage_key.is_not(None))))
    for key in keys:
        await storage.delete(key)
    async with database.transaction() as session:
        await session.execute(update(Photo).where(Photo.set_id == set_id).values(
            storage_key=None, original_name="", perceptual_hash=""))
    log.info("retention: deleted %d selfie file(s) of user %s, set %s", len(keys), user_id, set_id)
    return len(keys)


async def delete_unused_selfies(database: Database, storage: Storage, user_id: int, set_id: int,
                                cutoff: datetime) -> int:
    """A set that never trained a model, untouched since ``cutoff``: its photos go, files, face prints
    and all (one sent after the plan was made stays, and the set with it)."""
    async with database.transaction() as session:
        photos = (await session.execute(select(Photo.id, Photo.storage_key).where(
            Photo.set_id == set_id, Photo.created_at <= cutoff))).all()
    keys = [key for _, key in photos if key]
    for key in keys:
        await storage.delete(key)
    async with database.transaction() as session:
        await session.execute(delete(Photo).where(Photo.id.in_([photo_id for photo_id, _ in photos])))
    log.info("retention: deleted %d unused selfie(s) (%d file(s)) of user %s, set %s", len(photos), len(keys),
             user_id, set_id)
    return len(keys)


@dataclass(frozen=True)
class _ModelPart:
    """What of a user's models a model expiry takes, and what in flight it leaves alone."""
    lora_ids: list[int]
    set_ids: list[int]
    files: list[str]
    #: storage keys and folders of what stays: a training still queued, running or not yet
    #: reconciled (its LoRA and preview folder), the outputs of the user's unfinished jobs
    kept: tuple[str, ...]


async def _model_part(session: AsyncSession, user_id: int) -> _ModelPart:
    """Every model of the user goes, except one whose training is not over yet (its row is still
    ``training``: queued, running, or ended but not yet brought up to date by the bot). The selfie
    sets of the models that go go with them, except a set still collecting (a failed retraining's,
    reopened so the user can try again) or training, and a set of a model that stays."""
    prefix = user_prefix(user_id)
    loras = (await session.scalars(select(LoraModel).where(LoraModel.user_id == user_id))).all()
    staying = [lora for lora in loras if lora.status == LoraStatus.training]
    going = [lora for lora in loras if lora.status != LoraStatus.training]
    busy_sets = set(await session.scalars(select(SelfieSet.id).where(
        SelfieSet.user_id == user_id, SelfieSet.status.in_((SetStatus.collecting, SetStatus.training)))))
    busy_sets |= {lora.set_id for lora in staying if lora.set_id is not None}
    set_ids = sorted({lora.set_id for lora in going if lora.set_id is not None} - busy_sets)
    unfinished = (await session.scalars(select(Job).where(
        Job.user_id == user_id, Job.state.not_in(FINAL_JOB_STATES)))).all()
    kept: list[str] = [f"{prefix}loras/{lora.id}.safetensors" for lora in staying]
    kept += [f"{prefix}previews/{lora.id}/" for lora in staying]
    for job in unfinished:
        payload = job.payload or {}
        kept += [str(payload[name]) for name in ("lora_key", "output_prefix") if payload.get(name)]
    kept += [lora.storage_key for lora in staying if lora.storage_key]
    files = [lora.storage_key for lora in going if lora.storage_key]
    files += list(await session.scalars(select(Photo.storage_key).where(
        Photo.set_id.in_(set_ids), Photo.storage_key.is_not(None))))
    return _ModelPart([lora.id for lora in going], set_ids, files, tuple(kept))


def _is_kept(key: str, kept: tuple[str, ...]) -> bool:
    """``key`` is one of the ``kept`` keys or lies in one of the kept folders (ending in ``/``)."""
    return any(key == k or (k.endswith("/") and key.startswith(k)) for k in kept)


async def _clear(storage: Storage, prefix: str, kept: tuple[str, ...]) -> int:
    """Delete what lies under ``prefix`` except what is kept."""
    if not any(k.startswith(prefix) for k in kept):
        return await storage.delete_prefix(prefix)
    removed = 0
    for key in await storage.list(prefix):
        if not _is_kept(key, kept):
            await storage.delete(key)
            removed += 1
    return removed


async def _strip_face_prints(session: AsyncSession, user_id: int) -> int:
    """Finished jobs' payloads lose the selfies' face embeddings they carried (a training's, a
    portrait's likeness references): they are needed only while the job runs."""
    jobs = (await session.scalars(select(Job).where(
        Job.user_id == user_id, Job.state.in_(FINAL_JOB_STATES)))).all()
    stripped = 0
    for job in jobs:
        if job.payload and "reference_embeddings" in job.payload:
            job.payload = {k: v for k, v in job.payload.items() if k != "reference_embeddings"}
            stripped += 1
    return stripped


async def delete_model(database: Database, storage: Storage, user_id: int) -> int:
    """The user's models, portraits and previews, the LoRA files of trainings that failed or were
    cancelled, the selfie sets their models learnt from and the face embeddings finished jobs
    carried; their account, credits, a training not over yet (its set, LoRA and preview) and a set
    still collecting stay."""
    prefix = user_prefix(user_id)
    async with database.transaction() as session:
        part = await _model_part(session, user_id)
    removed = 0
    for key in part.files:
        await storage.delete(key)
        removed += 1
    for set_id in part.set_ids:  # files no photo row names any more (a store cut short)
        removed += await storage.delete_prefix(f"{prefix}sets/{set_id}/")
    for folder in ("outputs/", "previews/", "loras/"):
        removed += await _clear(storage, f"{prefix}{folder}", part.kept)
    async with database.transaction() as session:
        outputs = (await session.execute(select(OutputImage.id, OutputImage.storage_key).where(
            OutputImage.user_id == user_id))).all()
        gone = [row_id for row_id, key in outputs if not _is_kept(key, part.kept)]
        await session.execute(delete(OutputImage).where(OutputImage.id.in_(gone)))
        await session.execute(delete(LoraModel).where(LoraModel.id.in_(part.lora_ids)))
        await session.execute(delete(SelfieSet).where(SelfieSet.id.in_(part.set_ids)))
        stripped = await _strip_face_prints(session, user_id)
    log.info("retention: deleted the model(s), portraits and trained selfie sets of user %s (%d file(s)); "
             "face embeddings taken out of %d finished job(s)", user_id, removed, stripped)
    return removed


async def mark_warned(session: AsyncSession, lora_id: int, now: datetime) -> None:
    await session.execute(update(LoraModel).where(LoraModel.id == lora_id).values(expiry_warned_at=now))


async def apply(database: Database, storage: Storage, found: Plan) -> int:
    """Carry out a plan's deletions (notices are the front ends'); returns the files deleted."""
    removed = 0
    for user_id, set_id, _ in found.selfies:
        removed += await delete_selfies(database, storage, user_id, set_id)
    for model in found.models:
        removed += await delete_model(database, storage, model.user_id)
    for user_id, set_id, _ in found.unused:
        assert found.unused_cutoff is not None
        removed += await delete_unused_selfies(database, storage, user_id, set_id, found.unused_cutoff)
    return removed
