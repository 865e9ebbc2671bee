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


def test_the_likeness_stages_hold_the_bar_where_painting_ended() -> None:
    """A training's likeness check and a generation's extra likeness round came after 90 % and showed
    0 %: every stage a handler reports has its place on the bar."""
    import ast
    from pathlib import Path

    from db.queue import STAGE_SHARES

    assert ProgressUpdate("validating").fraction == ProgressUpdate("likeness", 1, 1).fraction == 0.9
    reported = set()
    for path in (Path(__file__).resolve().parents[2] / "engine" / "runtime" / "handlers").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "report"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                reported.add(node.args[0].value)
    assert reported and reported <= STAGE_SHARES.keys()


def test_a_step_count_that_steps_back_within_a_stage_is_held() -> None:
    tracker = ProgressTracker()
    tracker.update("generating", 21, 30)
    tracker.update("generating", 20, 30)
    assert tracker.snapshot()[1].step == 21
    tracker.update("generating", 22, 30)
    assert tracker.snapshot()[1].step == 22
    tracker.update("finishing", 0, 4)  # a new stage starts its own count
    assert tracker.snapshot()[1].step == 0
