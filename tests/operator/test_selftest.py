"""`studio selftest` (issue 27) on the tiny model: it trains on the shipped sample selfies, paints the preview and
one portrait per style asked, and leaves a JSON report (its path the last line printed, one entry per style with a
numeric likeness, each stage timed) and a contact sheet that is a readable image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from studio.selftest import SAMPLES_DIR
from tests.support.cli import run_studio

pytestmark = pytest.mark.slow
STYLES = ["linkedin-headshot", "ghibli-art"]


def test_selftest_on_the_tiny_model_writes_the_report_and_the_contact_sheet(tmp_path: Path) -> None:
    out = tmp_path / "selftest"
    args = ["selftest", "--steps", "1", "-o", str(out)]
    for style in STYLES:
        args += ["--style", style]
    result = run_studio(*args, env={"STUDIO_DATA_DIR": str(tmp_path / "data"), "STUDIO_BASE_MODEL": "tiny"},
                        cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    last = result.stdout.strip().splitlines()[-1]
    assert Path(last) == out / "selftest.json"
    report = json.loads(Path(last).read_text())
    assert [entry["style"] for entry in report["styles"]] == STYLES
    for entry in report["styles"]:
        assert isinstance(entry["likeness"], int | float) and not isinstance(entry["likeness"], bool)
        assert Path(entry["path"]).is_file()
    assert isinstance(report["preview"]["likeness"], int)
    assert report["model"] == "tiny" and report["accepted"] >= 8
    for stage in ("selfies", "train", "load", "preview", *(f"style {s}" for s in STYLES), "contact sheet", "total"):
        assert report["stages"][stage] >= 0
    with Image.open(report["contact_sheet"]) as sheet:
        sheet.load()
        assert sheet.width > 300 and sheet.height > 300


def test_an_unknown_style_is_refused_before_any_work(tmp_path: Path) -> None:
    result = run_studio("selftest", "--style", "no-such-style", "-o", str(tmp_path / "out"),
                        env={"STUDIO_DATA_DIR": str(tmp_path / "data"), "STUDIO_BASE_MODEL": "tiny"}, cwd=tmp_path)
    assert result.returncode == 2 and "unknown style(s) no-such-style" in result.stdout


def test_the_sample_selfies_ship_with_their_notice() -> None:
    from bot.console.samples import ONE_PERSON

    assert all((SAMPLES_DIR / name).is_file() for name in ONE_PERSON)
    assert "MIT License" in (SAMPLES_DIR / "NOTICE.md").read_text()
