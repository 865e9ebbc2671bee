"""The README's main command: `studio run` (what `make run` ends in) with no chat token plays the
whole conversation once in the terminal on the embedded defaults and writes what a user gets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def test_studio_run_without_a_token_plays_the_whole_conversation_and_writes_the_portraits(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env |= {"STUDIO_DATA_DIR": str(tmp_path / "data"), "STUDIO_DEVICE": "cpu"}
    done = subprocess.run([sys.executable, "-m", "studio.cli", "run"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    out = done.stdout
    assert "set STUDIO_TELEGRAM_TOKEN" in out  # it says how to run the bots
    assert "Got 14 photos — 9 look great ✅" in out and "more than one person" in out  # refusals with reasons
    for step in ("quick preview", "Your model is ready", "Here you go!", "🖼  1 picture:", "🖼  4 pictures:",
                 "📎 8 full-resolution files:"):
        assert step in out, step
    demo = tmp_path / "data" / "demo"
    albums = sorted(demo.glob("album-*/portrait-*.jpg"))
    files = sorted(demo.glob("files-*/portrait-*.jpg"))
    assert len(albums) == 4 and len(files) == 8  # 4 portraits; 2 aspects of each to keep
    with Image.open(files[0]) as kept:
        assert kept.format == "JPEG" and min(kept.size) > 0
    assert "Traceback" not in done.stderr
