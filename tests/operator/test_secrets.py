"""Secrets never appear in clear: not in an uncaught traceback, not in `studio config`, not in a
database URL error, not in an error message stored on a job."""

from __future__ import annotations

import sys
from pathlib import Path

from db.models import JobState
from db.session import Database
from db.storage import LocalStorage
from engine.runtime.backends.local import LocalBackend
from engine.runtime.handlers.context import EngineOptions
from engine.runtime.worker import Worker, WorkerConfig
from config.redaction import REDACTED, redact, register
from tests.runtime.helpers import enqueue_noop, get, make_user
from tests.support.cli import run_studio

TOKEN = "7654321098:AAF-another-very-secret-bot-token"
ROOT = Path(__file__).resolve().parents[2]


def test_an_uncaught_exception_is_printed_redacted(tmp_path: Path) -> None:
    import subprocess

    script = ("from config.logs import configure_logging\n"
              f"configure_logging('INFO', secrets=['{TOKEN}'])\n"
              f"raise RuntimeError('InvalidToken: The token `{TOKEN}` was rejected by the server.')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert TOKEN not in result.stderr and f"The token `{REDACTED}` was rejected" in result.stderr
    assert "Traceback" in result.stderr  # still there for the operator, just without the secret


def test_studio_config_and_a_bad_url_hide_the_database_password(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://studio:hunter2-pass@db.internal/studio"
    result = run_studio("config", env={"STUDIO_DATABASE_URL": url, "STUDIO_TELEGRAM_TOKEN": TOKEN}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "hunter2-pass" not in result.stdout and TOKEN not in result.stdout
    assert f"postgresql+asyncpg://studio:{REDACTED}@db.internal/studio" in result.stdout
    broken = run_studio("db", "upgrade", env={"STUDIO_DATABASE_URL": "postgresql+nosuchdriver://u:hunter2-pass@h/d"},
                        cwd=tmp_path)
    assert broken.returncode != 0
    assert "hunter2-pass" not in broken.stdout + broken.stderr


def test_shapes_are_redacted_without_being_configured() -> None:
    assert redact("connect to mysql://root:swordfish@10.0.0.1/x failed") == \
        f"connect to mysql://root:{REDACTED}@10.0.0.1/x failed"
    assert redact("GET /bot123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/getMe") == f"GET /bot{REDACTED}/getMe"
    assert redact("Authorization: rpa_0123456789abcdef") == f"Authorization: {REDACTED}"


async def test_an_error_echoing_a_key_is_stored_without_it(database: Database, tmp_path: Path) -> None:
    key = "rpa_SECRETKEY_0123456789"
    register([key])  # as `studio worker` registers the configured RunPod key at start
    user = await make_user(database)
    job_id = await enqueue_noop(database, user, fail=f"401 Unauthorized: invalid api key {key}")
    backend = LocalBackend()
    worker = Worker(database, LocalStorage(tmp_path / "storage"), backend, worker_id="w",
                    config=WorkerConfig(lease_seconds=5, tick_seconds=0.05, idle_seconds=0.05),
                    options=EngineOptions(work_dir=tmp_path / "work"))
    try:
        assert (await worker.run_next()).state == JobState.failed
    finally:
        await backend.close()
    job = await get(database, job_id)
    assert key not in (job.error_message or "") and REDACTED in (job.error_message or "")
