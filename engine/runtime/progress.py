"""Progress of the running job, written by the handler thread and read by the worker's monitor."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from db.queue import ProgressUpdate

STAGES = ("queued", "preparing", "training", "generating", "finishing")


class ProgressTracker:
    """Latest stage/step/total/ETA. The ETA comes from the handler, or from this stage's step rate."""

    def __init__(self, on_stage_change: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._current = ProgressUpdate("preparing")
        self._version = 0
        self._stage_started = time.monotonic()
        self._stage_first_step = 0
        self.on_stage_change = on_stage_change

    def update(self, stage: str, step: int = 0, total: int = 0, eta_seconds: float | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            changed = stage != self._current.stage
            if changed:
                self._stage_started, self._stage_first_step = now, step
            elif total == self._current.total_steps and step < self._current.step:
                step = self._current.step  # a stage's count never goes back (e.g. the base → refiner hand-off)
            if eta_seconds is None and total > 0 and step > self._stage_first_step:
                rate = (now - self._stage_started) / (step - self._stage_first_step)
                eta_seconds = rate * (total - step)
            self._current = ProgressUpdate(stage, step, total, None if eta_seconds is None else round(eta_seconds, 1))
            self._version += 1
        if changed and self.on_stage_change is not None:
            self.on_stage_change()

    def snapshot(self) -> tuple[int, ProgressUpdate]:
        with self._lock:
            return self._version, self._current
