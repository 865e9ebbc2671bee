"""The real `studio worker` command as a child process, configured through STUDIO_* variables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def studio_worker(data_dir: Path, *, log_name: str = "worker.log", **settings: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env |= {"STUDIO_DATA_DIR": str(data_dir), "STUDIO_BASE_MODEL": "tiny", "STUDIO_DEVICE": "cpu",
            "STUDIO_JOB_LEASE_SECONDS": "10"}
    env |= {f"STUDIO_{key.upper()}": value for key, value in settings.items()}
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / log_name).open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "studio.cli", "worker"], cwd=ROOT, env=env,
                                   stdout=log, stderr=log)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
