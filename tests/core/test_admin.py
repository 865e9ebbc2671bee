from __future__ import annotations

from bot.core.studio import Studio
from tests.core.conftest import ALEX, SAM, agreed, text_of

ADMIN = f"{ALEX.platform}:{ALEX.user_id}"


async def test_only_an_admin_may_grant(make_studio) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = make_studio()
    refused = text_of(await studio.command(ALEX, "grant", ["telegram:502", "5"]))
    assert "admin" in refused.lower()


async def test_an_admin_grants_and_takes_back_credits(make_studio) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = make_studio(admins=ADMIN)
    await agreed(studio, SAM)
    assert "8" in text_of(await studio.command(ALEX, "grant", ["telegram:502", "5"]))
    assert "You have 8 credits" in text_of(await studio.command(SAM, "credits"))
    more = text_of(await studio.command(ALEX, "grant", ["telegram:502", "-9"]))
    assert "You have 8 credits" in text_of(await studio.command(SAM, "credits")), more


async def test_a_misspelt_platform_credits_nobody(make_studio) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = make_studio(admins=ADMIN)
    assert "/grant" in text_of(await studio.command(ALEX, "grant", ["telegrm:502", "5"]))


async def test_refund_without_a_platform_that_refunds_explains_its_use(make_studio) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = make_studio(admins=ADMIN)
    assert "/refund" in text_of(await studio.command(ALEX, "refund", ["charge-1"]))
