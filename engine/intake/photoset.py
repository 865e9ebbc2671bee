"""Set-level verdicts: same person by consensus, near-duplicates, counts, readiness.

Works on stored per-photo results (embedding, hashes), so it is cheap to call after every batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.intake.config import IntakeConfig
from engine.intake.faces import distance_matrix, face_distance
from engine.intake.phash import hash_distance
from engine.intake.photo import PhotoCheck
from engine.intake.reasons import RejectCode, message_for
from engine.intake.summary import summarise
from engine.intake.verdict import PhotoVerdict


@dataclass(frozen=True, slots=True)
class SetReport:
    verdicts: tuple[PhotoVerdict, ...]
    accepted: int
    rejected: int
    min_photos: int
    ready_to_train: bool
    mixed_people: bool
    """No clear majority of one face: the set looks like several people."""
    summary: str

    @property
    def accepted_numbers(self) -> list[int]:
        return [v.number for v in self.verdicts if v.ok]

    @property
    def still_needed(self) -> int:
        return max(0, self.min_photos - self.accepted)


def _consensus_outliers(embeddings: np.ndarray, keys: Sequence[str], threshold: float) -> tuple[np.ndarray, bool]:
    """Distances to the consensus face and whether the set has no clear majority.

    The anchor is the face with the most same-person neighbours (ties: smallest median
    distance, then the smallest sha256), so the result does not depend on upload order.
    """
    n = len(embeddings)
    d = distance_matrix(embeddings)
    neighbours = (d < threshold).sum(axis=1) - 1
    medians = np.array([np.median(np.delete(d[i], i)) for i in range(n)])
    anchor = min(range(n), key=lambda i: (-int(neighbours[i]), float(medians[i]), keys[i]))
    core = d[anchor] < threshold
    consensus = embeddings[core].mean(axis=0)
    distances = np.array([face_distance(e, consensus) for e in embeddings])
    return distances, int(core.sum()) * 2 <= n


def check_set(checks: Sequence[PhotoCheck], config: IntakeConfig | None = None) -> SetReport:
    """Verdicts for the whole set, in upload order; photo-level refusals are kept as they are."""
    config = config or IntakeConfig()
    codes: list[RejectCode | None] = [c.code if not c.ok else None for c in checks]
    duplicate_of: dict[int, int] = {}
    identity: dict[int, float] = {}
    mixed = False

    with_face = [i for i, c in enumerate(checks) if c.ok and c.embedding is not None]
    if len(with_face) >= 2:
        embeddings = np.stack([np.asarray(checks[i].embedding, dtype=np.float64) for i in with_face])
        keys = [checks[i].sha256 for i in with_face]
        distances, mixed = _consensus_outliers(embeddings, keys, config.same_person_distance)
        for i, dist in zip(with_face, distances, strict=True):
            identity[i] = float(dist)
            if dist >= config.same_person_distance:
                codes[i] = RejectCode.different_person

    kept: list[int] = []
    for i, check in enumerate(checks):
        if codes[i] is not None or not check.ok:
            continue
        for j in kept:
            if _same_picture(check, checks[j], config):
                codes[i] = RejectCode.duplicate
                duplicate_of[i] = j
                break
        else:
            kept.append(i)

    for i in kept[config.max_photos:]:
        codes[i] = RejectCode.too_many_photos

    verdicts = tuple(
        PhotoVerdict(
            number=i + 1,
            filename=check.filename,
            ok=codes[i] is None,
            code=codes[i],
            message=check.message if codes[i] is None or codes[i] == check.code else message_for(codes[i]),
            duplicate_of=duplicate_of[i] + 1 if i in duplicate_of else None,
            identity_distance=identity.get(i),
        )
        for i, check in enumerate(checks)
    )
    accepted = sum(v.ok for v in verdicts)
    ready = accepted >= config.min_photos and not mixed
    return SetReport(
        verdicts=verdicts,
        accepted=accepted,
        rejected=len(verdicts) - accepted,
        min_photos=config.min_photos,
        ready_to_train=ready,
        mixed_people=mixed,
        summary=summarise(verdicts, accepted=accepted, ready=ready, mixed=mixed, config=config),
    )


def _same_picture(a: PhotoCheck, b: PhotoCheck, config: IntakeConfig) -> bool:
    if a.sha256 == b.sha256:
        return True
    if a.phash is None or b.phash is None:
        return False
    return hash_distance(a.phash, b.phash) <= config.duplicate_hash_distance
