"""One photo's verdict within its set."""

from __future__ import annotations

from dataclasses import dataclass

from engine.intake.reasons import RejectCode


@dataclass(frozen=True, slots=True)
class PhotoVerdict:
    number: int
    """1-based position in the set, as the user counts photos."""
    filename: str
    ok: bool
    code: RejectCode | None
    message: str
    duplicate_of: int | None = None
    """For a duplicate: the number of the photo it repeats."""
    identity_distance: float | None = None
    """Distance of the face to the set's consensus face."""
