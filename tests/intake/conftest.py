from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.intake import IntakeConfig, PhotoCheck, check_photo
from tests.intake.helpers import LENIENT, PHOTOS, read


@pytest.fixture(scope="session")
def lenient() -> IntakeConfig:
    return LENIENT


@pytest.fixture(scope="session")
def real_checks() -> dict[str, PhotoCheck]:
    """Every sample photo checked once per session with the lenient config."""
    names = sorted(p.name for p in PHOTOS.iterdir() if p.suffix in {".jpg", ".png"})
    return {name: check_photo(read(name), filename=name, config=LENIENT) for name in names}


@pytest.fixture
def check() -> Callable[..., PhotoCheck]:
    def run(data: bytes, filename: str = "", config: IntakeConfig = LENIENT) -> PhotoCheck:
        return check_photo(data, filename=filename, config=config)

    return run
