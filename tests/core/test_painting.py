from __future__ import annotations

from sqlalchemy import select

from bot.core.studio import Studio
from db.models import Job, JobKind
from tests.core.conftest import ALEX, SAM, actions_of, agreed, text_of, with_model


async def paint(studio: Studio, style: str = "dating-profile", source: str = "100") -> list:  # type: ignore[type-arg]
    return await studio.action(ALEX, f"style:{style}", source_message_id=source)


async def test_a_style_tap_queues_one_job_with_a_progress_message(studio: Studio) -> None:
    await with_model(studio)
    first = await paint(studio)
    assert first[0].progress_of_job is not None
    assert await paint(studio) == []  # a double tap on the same button: the same job
    assert (await paint(studio, source="101"))[0].progress_of_job != first[0].progress_of_job
    async with studio.database.read() as session:
        jobs = (await session.scalars(select(Job).where(Job.kind == JobKind.generate))).all()
    assert len(jobs) == 2 and jobs[0].payload["style_id"] == "dating-profile"


async def test_a_style_before_any_model_asks_for_selfies(studio: Studio) -> None:
    await agreed(studio)
    assert "selfies" in text_of(await paint(studio)).lower()


async def test_an_unknown_style_gets_the_picker(studio: Studio) -> None:
    await with_model(studio)
    assert all(a.startswith("cat:") for a in actions_of(await paint(studio, style="no-such-style")))


async def test_more_like_another_users_portraits_is_refused(studio: Studio) -> None:
    await with_model(studio)
    job_id = (await paint(studio))[0].progress_of_job
    async with studio.database.read() as session:
        job = await session.get(Job, job_id)
    await agreed(studio, SAM)
    refused = await studio.action(SAM, f"more:{job.id}-{job.correlation_id[:6]}")  # type: ignore[union-attr]
    assert refused[0].private and "belongs to someone else" in text_of(refused)


async def test_more_like_portraits_that_are_gone_says_so(studio: Studio) -> None:
    await with_model(studio)
    assert "aren't here any more" in text_of(await studio.action(ALEX, "more:99999-abcdef"))
