"""Settings: typed, from the environment or .env, secrets never shown, bad values named."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from config.logs import REDACTED, SecretRedactingFilter, configure_logging
from config.settings import ConfigError, Settings, load_settings, require_secret
from tests.support.cli import run_studio

TOKEN = "123456789:AAE-very-secret-telegram-token"


def test_defaults_are_the_embedded_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.resolved_database_url == "sqlite+aiosqlite:///data/studio.db"
    assert settings.resolved_storage_dir == Path("data/storage")
    assert settings.storage_backend == "local" and settings.engine_backend == "local"
    assert settings.telegram_token is None and settings.discord_token is None


def test_environment_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"STUDIO_TELEGRAM_TOKEN={TOKEN}\nSTUDIO_FREE_CREDITS=5\n")
    monkeypatch.setenv("STUDIO_FREE_CREDITS", "7")  # the environment wins over .env
    monkeypatch.setenv("STUDIO_ADMINS", "telegram:1, discord:2")
    settings = load_settings()
    assert settings.free_credits == 7
    assert settings.telegram_token is not None and settings.telegram_token.get_secret_value() == TOKEN
    assert settings.is_admin("discord", "2") and not settings.is_admin("telegram", "2")
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("variable", "value"),
    [("STUDIO_FREE_CREDITS", "lots"), ("STUDIO_STORAGE_BACKEND", "ftp"), ("STUDIO_DATABASE_URL", "sqlite:///x.db"),
     ("STUDIO_ADMINS", "12345"), ("STUDIO_MIN_PHOTOS", "0")],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert variable in str(caught.value) and "\n" not in str(caught.value)


def test_cli_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    result = run_studio("styles", env={"STUDIO_FREE_CREDITS": "lots"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Configuration error: STUDIO_FREE_CREDITS: Input should be a valid integer, unable to parse string as an "
        "integer (got 'lots')"
    ]
    assert "Traceback" not in result.stderr


def test_a_missing_secret_stops_only_the_front_end_that_needs_it() -> None:
    settings = Settings(_env_file=None, discord_token="discord-secret")  # type: ignore[call-arg]
    assert require_secret(settings, "discord_token", "the Discord bot") == "discord-secret"
    with pytest.raises(ConfigError, match="STUDIO_TELEGRAM_TOKEN is not set; the Telegram bot needs it"):
        require_secret(settings, "telegram_token", "the Telegram bot")


def test_secrets_are_redacted_from_every_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", secrets=[TOKEN])
    try:
        logging.getLogger("studio.test").warning("HTTP Request: POST http://127.0.0.1/bot%s/getUpdates", TOKEN)
        try:
            raise RuntimeError(f"bad token {TOKEN}")
        except RuntimeError:
            logging.getLogger("studio.test").exception("failed")
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert f"/bot{REDACTED}/getUpdates" in err and f"bad token {REDACTED}" in err


def test_redaction_filter_leaves_other_records_alone() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    assert SecretRedactingFilter([TOKEN]).filter(record)
    assert record.getMessage() == "hello world"


def test_credit_packs_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_CREDIT_PACKS", "small:10:250, big:50:1000:1234567890123, disc:5::99")
    packs = load_settings(_env_file=None).credit_packs
    assert [(p.id, p.credits, p.stars, p.discord_sku_id) for p in packs] == [
        ("small", 10, 250, None), ("big", 50, 1000, 1234567890123), ("disc", 5, None, 99)]
    monkeypatch.setenv("STUDIO_CREDIT_PACKS", '[{"id": "small", "credits": 10, "stars": 250}]')
    assert [p.id for p in load_settings(_env_file=None).credit_packs] == ["small"]
    monkeypatch.delenv("STUDIO_CREDIT_PACKS")
    assert load_settings(_env_file=None).credit_packs == []  # nothing is sold


@pytest.mark.parametrize("value", ["small:10", "small:ten:250", "small:10:0", "Small Pack:10:250", "a:1:5,a:2:9",
                                   "a:1:5:7,b:2:9:7"])
def test_a_bad_credit_pack_names_its_variable(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_CREDIT_PACKS", value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert "STUDIO_CREDIT_PACKS" in str(caught.value) and "\n" not in str(caught.value)
