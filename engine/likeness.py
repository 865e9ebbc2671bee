"""Likeness as the user can read it: a portrait's identity distance to their selfies, measured
against how far their own selfies are from each other (their baseline). 100 % means "as close to
you as your own photos are to each other"; lower is the share of that closeness the portrait
reaches (baseline / distance). Distances are intake's face-embedding distances (dlib 128-d, where
0.6 separates people), so a portrait is judged by the same yardstick as a selfie. Torch-free."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

import numpy as np

BASELINE_FLOOR = 0.3
"""Near-identical selfies (a burst) would make any portrait look unlike: the baseline is at least this."""


def baseline(references: Sequence[Sequence[float]]) -> float | None:
    """The mean distance between the user's selfies (None with fewer than two)."""
    vectors = [np.asarray(r, dtype=np.float64) for r in references]
    if len(vectors) < 2:
        return None
    spread = float(np.mean([np.linalg.norm(a - b) for a, b in combinations(vectors, 2)]))
    return max(spread, BASELINE_FLOOR)


def percent(distance: float | None, spread: float | None) -> int | None:
    """The likeness of a portrait at ``distance`` (None: no face or no baseline to compare with)."""
    if distance is None or spread is None:
        return None
    return 100 if distance <= spread else int(math.floor(100 * spread / distance))


def describe(values: Sequence[int | None]) -> str:
    """"94 %" style summary of a set's likeness figures, best first (for logs and the CLI)."""
    known = sorted((v for v in values if v is not None), reverse=True)
    return ", ".join(f"{v} %" for v in known) or "no face found"
