"""The worker never serves users the tiny random model by accident, and says what it serves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.runtime.startup import TinyFallbackRefused, chosen_model
from config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def settings(tmp_path: Path, **values: str) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, device="cpu", **values)  # type: ignore[call-arg]


def test_auto_without_weights_is_refused_when_users_are_served(tmp_path: Path) -> None:
    with pytest.raises(TinyFallbackRefused, match="no SDXL weights in .* and a CUDA GPU, and telegram users"):
        chosen_model(settings(tmp_path), ["telegram"])
    assert chosen_model(settings(tmp_path), []) == "tiny"  # the terminal demo
    assert chosen_model(settings(tmp_path, base_model="tiny"), ["telegram"]) == "tiny"  # asked for by name


def test_the_worker_exits_with_one_line_and_says_what_to_do(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env |= {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_DEVICE": "cpu", "STUDIO_TELEGRAM_TOKEN": "1:x" * 4}
    result = subprocess.run([sys.executable, "-m", "studio.cli", "worker", "--once"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "STUDIO_BASE_MODEL=tiny" in errors[0] and "studio models fetch sdxl" in errors[0]
    assert "Traceback" not in result.stderr


def test_the_worker_logs_device_versions_model_and_precision(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env |= {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_DEVICE": "cpu", "STUDIO_BASE_MODEL": "tiny"}
    result = subprocess.run([sys.executable, "-m", "studio.cli", "worker", "--once"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(line for line in result.stderr.splitlines() if "engine: model" in line)
    for part in ("model tiny", "device cpu", "generation float32", "torch 2.", "diffusers 0."):
        assert part in line, line


async def test_a_worker_that_dies_is_started_again_and_one_that_refuses_stops_the_bots(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`studio run`'s worker killed mid-job (out of memory, a GPU fault) left every job hanging and
    kept taking credits for work nobody would run: it is started again (its job's lease runs out and
    the new worker retries or refunds it); a worker that refuses to start still stops the bots."""
    import asyncio

    from studio import app
    from studio.worker_process import WorkerProcess

    monkeypatch.setattr(app, "WORKER_RESTART_SECONDS", (0.05, 0.2))
    dying = WorkerProcess(log_file=tmp_path / "worker.log", command=(sys.executable, "-c", "raise SystemExit(3)"))
    dying.start()
    stop, refused = asyncio.Event(), []
    supervisor = asyncio.create_task(app.supervise_worker(dying, stop, refused, poll_seconds=0.02))
    for _ in range(500):
        if dying.starts >= 3:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(supervisor, 5)
    dying.stop()
    assert dying.starts >= 3 and refused == []

    refusing = WorkerProcess(command=(sys.executable, "-c", f"raise SystemExit({app.REFUSED_EXIT})"))
    refusing.start()
    stop, refused = asyncio.Event(), []
    await asyncio.wait_for(app.supervise_worker(refusing, stop, refused, poll_seconds=0.02), 10)
    assert refused == [app.REFUSED_EXIT] and stop.is_set() and refusing.starts == 1


def test_the_reason_a_worker_gave_is_read_from_its_own_run_not_an_earlier_one(tmp_path) -> None:
    """worker.log is appended to across runs: yesterday's refusal is not why today's worker died."""
    from studio.app import worker_reason
    from studio.worker_process import WorkerProcess

    log_file = tmp_path / "worker.log"
    log_file.write_text("2026-11-26 10:00:00 ERROR engine: weights for base model 'sdxl' are not in /models\n")
    killed = WorkerProcess(log_file=log_file, command=(sys.executable, "-c", "print('loading', flush=True)"))
    killed.start()
    assert killed.process is not None and killed.process.wait(30) == 0
    killed.stop()
    assert worker_reason(log_file, killed.log_offset) == "no error in its log"
    assert "weights for base model" in worker_reason(log_file)  # the whole file: yesterday's line
