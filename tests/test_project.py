"""The project's promises about itself: two commands, CI calls the test one, config documented,
the bot side never pulls torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from config.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    head = readme[: readme.index("## What the bot does")]
    assert "make run" in head and "make test" in head
    ci = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == "make test"


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [env_name(name) for name in Settings.model_fields if f"`{env_name(name)}`" not in readme]
    assert missing == []


def test_bot_side_modules_never_import_torch() -> None:
    code = (
        "import sys, studio.cli, studio.app, db.session, db.jobs, db.credits, db.storage, styles\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
