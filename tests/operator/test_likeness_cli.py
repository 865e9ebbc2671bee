"""`studio likeness PHOTOS_DIR PORTRAITS_DIR`: the bot's likeness figures for any two folders."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from tests.support.selfies import PHOTOS_DIR, obama_selfies
from tests.support.cli import run_studio


def folders(tmp_path: Path) -> tuple[Path, Path]:
    selfies, portraits = tmp_path / "selfies", tmp_path / "portraits"
    selfies.mkdir()
    portraits.mkdir()
    for number, data in enumerate(obama_selfies(4), start=1):
        (selfies / f"selfie-{number}.jpg").write_bytes(data)
    (selfies / "group.jpg").write_bytes((PHOTOS_DIR / "two_people.jpg").read_bytes())
    for name in ("obama2.jpg", "biden.jpg"):
        shutil.copy(PHOTOS_DIR / name, portraits / name)
    Image.fromarray(np.full((256, 256, 3), 128, np.uint8)).save(portraits / "faceless.png")
    return selfies, portraits


def test_likeness_of_two_folders(tmp_path: Path) -> None:
    selfies, portraits = folders(tmp_path)
    done = run_studio("likeness", str(selfies), str(portraits))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert re.match(r"^[34] selfie\(s\) as reference; their own spread \(baseline distance\): 0\.\d{3}$", lines[0])
    assert "  skipped group.jpg: There is more than one person in this photo. Please send photos of just you." in lines
    body = [line for line in lines if line.endswith(("%", "no face found"))]
    assert body[0].startswith("obama2.jpg: distance ") and body[0].endswith("likeness 100 %")
    assert body[1].startswith("biden.jpg: distance 0.8") and int(body[1].split()[-2]) < 50
    assert body[2] == "faceless.png: no face found"
    assert lines[-1].startswith("mean likeness ") and lines[-1].endswith("over 2 of 3 portrait(s)")

    as_json = json.loads(run_studio("likeness", str(selfies), str(portraits), "--json").stdout)
    assert as_json["references"] in (3, 4) and len(as_json["portraits"]) == 3 and as_json["mean_likeness"] > 50


def test_a_folder_without_usable_selfies_is_explained(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run_studio("likeness", str(empty), str(PHOTOS_DIR))
    assert done.returncode == 2 and done.stdout.startswith("Error: no usable selfie")
