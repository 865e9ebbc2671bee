"""Hostile or malformed input gets a plain answer, never the apology for an error on our side."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import Photo
from tests.conftest import _fresh_postgres_url
from tests.support.selfies import obama_selfies
from tests.telegram.conftest import agree, running_bot

ALEX = 501


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_settings(request) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    return {"database_url": await _fresh_postgres_url(request.getfixturevalue("postgres_server"))}


@pytest.mark.parametrize("data", ["files:99999999999999999999999", "more:2147483648-ab", "cancel:²", "files:-1",
                                  "files:" + "9" * 58])
async def test_forged_button_data_is_an_unknown_button(tmp_path, telegram, database_settings, data) -> None:
    async with running_bot(tmp_path, telegram, **database_settings):
        await telegram.send_text(ALEX, "/styles")
        picker = await telegram.wait_for_text(ALEX, "Pick a style")
        await telegram.press(ALEX, picker, "Dating", forged_data=data)
        answer = await telegram.wait_for(lambda m: m.chat_id == ALEX and m.message_id > picker.message_id,
                                         what="the answer to the forged button")
        assert "Something went wrong" not in (answer.text or "")


async def test_a_file_name_with_a_nul_is_cleaned_not_fatal(tmp_path, telegram, database_settings) -> None:
    async with running_bot(tmp_path, telegram, **database_settings) as bot:
        await agree(telegram, ALEX)
        await telegram.send_document(ALEX, obama_selfies(1)[0], "selfie\x00.jpg")
        await telegram.send_document(ALEX, obama_selfies(2)[1], "C:\\Users\\alex\\Pictures\\me\u202e2.jpg")
        await telegram.wait_for_text(ALEX, "looks great", timeout=60)
        await bot.settled(ALEX)
        assert not any("Something went wrong" in (t or "") for t in telegram.texts_to(ALEX))
        async with bot.services.database.transaction() as session:
            names = sorted(p.original_name for p in await session.scalars(select(Photo)))
        assert names == ["me2.jpg", "selfie.jpg"]
