"""The gallery over the conversation core, on SQLite and local storage, through httpx's ASGI transport."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from bot.core.replies import UserRef
from bot.core.studio import Studio
from db.models import Job, JobKind, JobState, OutputImage, User
from db.storage import user_prefix
from tests.core.conftest import ALEX, SAM, agreed, make_studio, studio, with_model  # noqa: F401 (fixtures)
from web.app import create_app, gallery_of

SECRET = "the-gallery-secret-for-the-tests-0123"
BOT_TOKEN = "123456:AAE-test-token-for-the-gallery-0123456789"


@pytest.fixture
async def client(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    app = create_app(studio, secret=SECRET, bot_token=BOT_TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gallery") as http:
        http.app = app  # type: ignore[attr-defined]
        yield http


async def link(http: httpx.AsyncClient, user: UserRef = ALEX) -> str:
    made = await gallery_of(http.app).link_for(user)  # type: ignore[attr-defined]
    assert made is not None
    return made


def picture(colour: tuple[int, int, int], size: tuple[int, int] = (64, 80)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


async def account_id(studio: Studio, user: UserRef) -> int:  # noqa: F811
    async with studio.database.read() as session:
        found = await session.scalar(select(User.id).where(User.platform == user.platform,
                                                           User.platform_user_id == user.user_id))
    assert found is not None
    return found


async def painted(studio: Studio, user: UserRef = ALEX, style_id: str = "linkedin-headshot", count: int = 2,  # noqa: F811
                  aspects: tuple[str, ...] = ("4:5", "1:1"), likeness: int | None = 88, store: bool = True) -> Job:
    """A finished generation of ``count`` portraits, each in ``aspects``, as the worker leaves it."""
    uid = await account_id(studio, user)
    async with studio.database.transaction() as session:
        job = Job(user_id=uid, kind=JobKind.generate, state=JobState.succeeded, payload={"style_id": style_id},
                  correlation_id="c0ffee1234", reply_platform=user.platform, reply_chat_id=user.chat_id)
        session.add(job)
        await session.flush()
        images: list[dict[str, Any]] = []
        for index in range(count):
            for aspect in aspects:
                key = f"{user_prefix(uid)}outputs/{job.id}/{index}-{aspect.replace(':', 'x')}.png"
                if store:
                    await studio.storage.put(key, picture((40 * index % 255, 90, 140)))
                images.append({"index": index, "aspect": aspect, "key": key, "width": 64, "height": 80,
                               "size_bytes": 100, "score": 0.4, "likeness": likeness})
                session.add(OutputImage(job_id=job.id, user_id=uid, style_id=style_id, position=index, variant=aspect,
                                        storage_key=key, width=64, height=80, size_bytes=100, score=0.4))
        job.result = {"style_id": style_id, "images": images}
    return job
