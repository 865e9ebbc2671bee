"""The `studio` command as an operator runs it: a process of its own, with no STUDIO_* variable of
this shell's leaking in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_studio(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    return subprocess.run(
        [sys.executable, "-m", "studio.cli", *args], capture_output=True, text=True, timeout=120,
        env=clean | (env or {}), cwd=cwd,
    )
