"""The conversation core called directly, on SQLite and local storage: no platform in between."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.replies import IncomingFile, Reply, UserRef
from bot.core.studio import Studio
from db.models import LoraModel, LoraStatus, User
from db.session import Database
from db.storage import LocalStorage
from engine.intake import IntakeConfig
from bot.core.services import Services
from config.settings import Settings
from styles import load_catalogue
from tests.support.selfies import obama_selfies

ALEX = UserRef("telegram", "501", "501", "Alex")
SAM = UserRef("telegram", "502", "502", "Sam")
TEST_INTAKE = IntakeConfig(min_side_px=256)  # the sample set has 480p photos


@pytest.fixture
def make_studio(tmp_path: Path, sqlite_database: Database) -> Callable[..., Studio]:
    def make(**settings: Any) -> Studio:
        values = {"data_dir": tmp_path / "data", "free_credits": 3} | settings
        configured = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        services = Services(configured, sqlite_database, LocalStorage(tmp_path / "storage"), load_catalogue())
        return Studio(services, intake_config=TEST_INTAKE)
    return make


@pytest.fixture
async def studio(make_studio: Callable[..., Studio]) -> AsyncIterator[Studio]:
    yield make_studio()


def text_of(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def actions_of(replies: list[Reply]) -> list[str]:
    return [b.action for r in replies for row in r.buttons for b in row]


async def agreed(studio: Studio, user: UserRef = ALEX) -> None:
    await studio.command(user, "start")
    await studio.action(user, "consent")


async def with_photos(studio: Studio, count: int, user: UserRef = ALEX) -> list[Reply]:
    await agreed(studio, user)
    return await studio.photos(user, [IncomingFile(data, f"selfie{i}.jpg") for i, data in enumerate(obama_selfies(count))])


async def with_model(studio: Studio, user: UserRef = ALEX) -> int:
    """The user has a trained model, as the worker leaves it; their account id."""
    await agreed(studio, user)
    async with studio.database.transaction() as session:
        account = await session.scalar(select(User).where(User.platform_user_id == user.user_id))
        assert account is not None
        session.add(LoraModel(user_id=account.id, base_model="tiny", token="ohwx", class_word="man",
                              status=LoraStatus.ready, storage_key=f"users/{account.id}/loras/1.safetensors"))
        return account.id
