"""The progress message a user watches: a title, a bar, the time left, and a second line only where
it tells them something the title does not."""

from __future__ import annotations

from bot.core import texts
from bot.core.progress import progress_text
from db.models import Job, JobKind, JobState

PAINTING = texts.GENERATE_QUEUED.format(count=4, title="LinkedIn Headshot")


def _job(kind: JobKind, stage: str, progress: float = 0.2) -> Job:
    return Job(kind=kind, state=JobState.running, stage=stage, progress=progress, eta_seconds=30)


def test_the_main_stage_is_not_said_twice() -> None:
    training = progress_text(_job(JobKind.train, "training"), texts.TRAIN_QUEUED)
    assert training == "🧠 Learning your face…  ▰▰▱▱▱▱▱▱▱▱ 20% · less than a minute left"
    painting = progress_text(_job(JobKind.generate, "generating"), PAINTING)
    assert "\n" not in painting and painting.startswith("🎨 Painting 4 LinkedIn Headshot portraits…")


def test_a_stage_other_than_the_title_gets_its_own_line() -> None:
    checking = progress_text(_job(JobKind.train, "validating", 0.9), texts.TRAIN_QUEUED)
    assert checking.endswith("\nChecking your likeness…")
    finishing = progress_text(_job(JobKind.generate, "finishing", 0.9), PAINTING)
    assert finishing.endswith("\nFinishing touches…")
    assert progress_text(_job(JobKind.generate, "preparing", 0.0), PAINTING).endswith("\nGetting ready…")
