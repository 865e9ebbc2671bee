"""The progress bar a user watches only moves forward: stages share one bar, and a stage's step
count that steps back (the base → refiner hand-off rounds differently) is held."""

from __future__ import annotations

from db.queue import ProgressUpdate
from engine.runtime.progress import ProgressTracker


def test_finishing_continues_where_generating_ended() -> None:
    assert ProgressUpdate("preparing").fraction == 0.0
    assert ProgressUpdate("generating", 15, 30).fraction == 0.45
    assert ProgressUpdate("generating", 30, 30).fraction == ProgressUpdate("finishing", 0, 8).fraction == 0.9
    assert ProgressUpdate("finishing", 8, 8).fraction == 1.0
    assert ProgressUpdate("training", 500, 500).fraction == 0.9


def test_a_step_count_that_steps_back_within_a_stage_is_held() -> None:
    tracker = ProgressTracker()
    tracker.update("generating", 21, 30)
    tracker.update("generating", 20, 30)
    assert tracker.snapshot()[1].step == 21
    tracker.update("generating", 22, 30)
    assert tracker.snapshot()[1].step == 22
    tracker.update("finishing", 0, 4)  # a new stage starts its own count
    assert tracker.snapshot()[1].step == 0
