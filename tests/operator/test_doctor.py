"""`studio doctor` (issue 27): one table of the whole set-up; exit 0 when nothing blocks a deployment, 1 with the
row saying what to do when something does; a configured secret never reaches the terminal."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import pytest

from config.settings import load_settings
from studio.doctor import FAIL, OK, WARN, Row, render, settings_rows
from tests.support.discord_server import FakeDiscord
from tests.support.telegram_server import FakeTelegram
from tests.support.cli import run_studio

TOKEN = "7654321098:AAF-doctor-test-secret-token-value-x"
DISCORD_TOKEN = "discord-doctor-secret-token-value-1234567890"
PASSWORD = "hunter2-doctor-pass"

pytestmark = pytest.mark.slow


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rows_of(output: str) -> dict[str, tuple[str, str]]:
    """check -> (status, the rest of its first line) from the printed table."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"^(\S.*?)\s{2,}(OK|WARN|FAIL)\s+(.*)$", line)
        if match:
            found[match.group(1).strip()] = (match.group(2), match.group(3))
    return found


def text_of(output: str, check: str) -> str:
    """Every line of one row (its wrapped continuation lines too), joined."""
    lines, inside = [], False
    for line in output.splitlines():
        if line.startswith(check + " "):
            inside = True
        elif inside and line[:1] not in (" ", ""):
            break
        if inside:
            lines.append(line)
    return " ".join(" ".join(lines).split())


async def doctor(env: dict[str, str], cwd: Path):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(run_studio, "doctor", env=env, cwd=cwd)


async def test_a_good_setup_is_all_ok_and_exits_0(tmp_path: Path) -> None:
    telegram, discord = FakeTelegram(TOKEN), FakeDiscord(DISCORD_TOKEN)
    await telegram.start()
    await discord.start()
    try:
        env = {"STUDIO_DATA_DIR": str(tmp_path / "data"), "STUDIO_BASE_MODEL": "tiny",
               "STUDIO_TELEGRAM_TOKEN": TOKEN, "STUDIO_TELEGRAM_BASE_URL": telegram.base_url,
               "STUDIO_DISCORD_TOKEN": DISCORD_TOKEN, "STUDIO_DISCORD_API_BASE_URL": discord.api_base_url}
        upgraded = await asyncio.to_thread(run_studio, "db", "upgrade", env=env, cwd=tmp_path)
        assert upgraded.returncode == 0, upgraded.stderr
        result = await doctor(env, tmp_path)
    finally:
        await telegram.stop()
        await discord.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    rows = rows_of(result.stdout)
    for check in ("settings", "front ends", "database", "storage", "telegram token", "discord token",
                  "weight face landmarks", "weight face descriptor", "face library"):
        assert rows[check][0] == OK, (check, output)
    assert "migrations current" in text_of(result.stdout, "database")
    assert "@portrait_studio_test_bot" in text_of(result.stdout, "telegram token")
    assert "getMe" in [method for method, _ in telegram.calls]
    assert "worker would run" in rows and rows["worker would run"][0] == WARN  # tiny served on purpose
    assert "device" in " ".join(rows)
    assert TOKEN not in output and DISCORD_TOKEN not in output
    assert "Traceback" not in output


async def test_a_wrong_token_and_an_unreachable_database_fail_saying_what_to_do(tmp_path: Path) -> None:
    telegram = FakeTelegram(TOKEN)
    await telegram.start()
    wrong = TOKEN[:-6] + "WRONG1"
    try:
        env = {"STUDIO_DATA_DIR": str(tmp_path / "data"), "STUDIO_BASE_MODEL": "tiny",
               "STUDIO_DATABASE_URL": f"postgresql+asyncpg://studio:{PASSWORD}@127.0.0.1:{closed_port()}/studio",
               "STUDIO_TELEGRAM_TOKEN": wrong, "STUDIO_TELEGRAM_BASE_URL": telegram.base_url,
               "STUDIO_TELGRAM_TOKEN": "typo"}
        result = await doctor(env, tmp_path)
    finally:
        await telegram.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    rows = rows_of(result.stdout)
    assert rows["telegram token"][0] == FAIL
    assert "refused the token" in text_of(result.stdout, "telegram token")
    assert "set STUDIO_TELEGRAM_TOKEN" in text_of(result.stdout, "telegram token")
    assert rows["database"][0] == FAIL
    assert "STUDIO_DATABASE_URL" in text_of(result.stdout, "database")
    assert rows["variable STUDIO_TELGRAM_TOKEN"][0] == WARN
    assert rows["discord token"][0] == OK and "not set" in rows["discord token"][1]  # one front end is enough
    assert "problem(s) block a deployment" in result.stdout
    assert wrong not in output and PASSWORD not in output and "Traceback" not in output


def test_no_front_end_at_all_is_a_failure_naming_both_variables(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    rows = {row.check: row for row in settings_rows(settings, environ={})}
    assert rows["front ends"].status == FAIL
    assert "STUDIO_TELEGRAM_TOKEN" in rows["front ends"].todo and "STUDIO_DISCORD_TOKEN" in rows["front ends"].todo


def test_the_table_has_a_header_and_a_verdict() -> None:
    table = render([Row("database", OK, "fine"), Row("storage", FAIL, "can't write", "make it writable")])
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["check", "status", "detail", "what"]
    assert any(line.startswith("storage") and "FAIL" in line and "make it writable" in line for line in lines)
    assert lines[-1] == "1 problem(s) block a deployment, 0 warning(s)"


def _complete(folder: Path, size: int = 2048) -> None:
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text("{}")
    (folder / "weights.safetensors").write_bytes(b"\0" * size)


def test_each_weight_of_a_real_model_is_a_row_with_its_size_and_licence(tmp_path: Path) -> None:
    from engine.models import get_spec, local_dir
    from studio.doctor import weight_rows

    spec = get_spec("sdxl")
    models = tmp_path / "models"
    _complete(local_dir(spec.base, models))
    _complete(local_dir(str(spec.vae), models))  # the refiner is missing
    restorer = models / "gfpgan" / "GFPGANv1.4.pth"
    restorer.parent.mkdir(parents=True)
    restorer.write_bytes(b"\0" * 3000)
    rows = {row.check: row for row in weight_rows(load_settings(data_dir=tmp_path, models_dir=models,
                                                                base_model="sdxl"))}
    assert rows["weight base (sdxl)"].status == OK and "KB" in rows["weight base (sdxl)"].detail
    assert "licence:" in rows["weight base (sdxl)"].detail
    assert rows["weight refiner (sdxl)"].status == FAIL
    assert "studio models fetch sdxl" in rows["weight refiner (sdxl)"].todo
    assert rows["weight preview adapter"].status == WARN and "preview" in rows["weight preview adapter"].todo
    assert rows["weight face restorer"].status == OK and "3.0 KB" in rows["weight face restorer"].detail
    assert rows["weight upscaler"].status == WARN and rows["weight upscaler"].todo


def test_every_row_that_is_not_ok_says_what_to_do(tmp_path: Path) -> None:
    from studio.doctor import diagnose

    settings = load_settings(data_dir=tmp_path / "data", base_model="tiny")
    rows = diagnose(settings, environ={"STUDIO_FREE_CREDIT": "5"})
    assert any(row.status == FAIL for row in rows)  # no front end
    assert [row.check for row in rows if row.status != OK and not row.todo] == []
    assert {"settings", "database", "storage", "telegram token", "discord token", "worker would run"} <= {
        row.check for row in rows}


def test_dlib_without_blas_is_a_warning_that_says_how_to_rebuild_it() -> None:
    from types import SimpleNamespace

    from studio.doctor import face_library_row

    row = face_library_row(SimpleNamespace(__version__="20.0.1", DLIB_USE_BLAS=False))
    assert row.status == WARN and "without BLAS" in row.detail and "libopenblas-dev" in row.todo
    assert face_library_row(SimpleNamespace(__version__="20.0.1", DLIB_USE_BLAS=True)).status == OK


def test_a_fresh_install_is_looked_at_not_created(tmp_path: Path) -> None:
    from studio.doctor import _database

    settings = load_settings(data_dir=tmp_path / "data")
    row = asyncio.run(_database(settings))
    assert row.status == WARN and "studio db upgrade" in row.todo
    assert not (tmp_path / "data" / "studio.db").exists()
