from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine.intake import IntakeConfig, detect_faces, face_distance, face_embedding
from engine.intake.cli import check_command
from config.settings import Settings
from tests.intake.helpers import PHOTOS, assert_human_sentence, load


def test_check_command_json(tmp_path: Path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    paths = [PHOTOS / "obama.jpg", PHOTOS / "obama3.jpg", PHOTOS / "two_people.jpg", bad, tmp_path / "missing.jpg"]
    out = io.StringIO()
    code = check_command(paths, True, IntakeConfig(min_side_px=256, min_photos=2), out=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert code == 1
    assert [set(line) for line in lines[:-1]] == [{"file", "ok", "code", "message"}] * 5
    assert [(line["ok"], line["code"]) for line in lines[:-1]] == [
        (True, None), (True, None), (False, "multiple_faces"), (False, "not_an_image"), (False, "unreadable"),
    ]
    for line in lines[:-1]:
        assert_human_sentence(line["message"])
    assert lines[-1] == {"set": True, "accepted": 2, "rejected": 3, "ready_to_train": True}


def test_check_command_text(tmp_path: Path) -> None:
    out = io.StringIO()
    code = check_command([PHOTOS / "obama.jpg", PHOTOS / "obama-720p.jpg"], False, IntakeConfig(), out=out)
    text = out.getvalue()
    assert code == 0
    assert "2 of 2 accepted." in text and "Send 6 more good photos" in text


def test_face_api(real_checks) -> None:
    image = load("two_people.jpg")
    faces = detect_faces(image)
    assert len(faces) == 2 and faces[0].area >= faces[1].area
    for face in faces:
        assert 0 <= face.left < face.right <= image.width and 0 <= face.top < face.bottom <= image.height
    embeddings = [face_embedding(image, face) for face in faces]
    assert all(e.shape == (128,) and e.dtype == np.float64 for e in embeddings)
    assert face_distance(embeddings[0], embeddings[1]) > 0.6  # two different men
    biden = real_checks["biden.jpg"].embedding
    assert min(face_distance(biden, e) for e in embeddings) < 0.6  # Biden is one of them
    assert face_distance(biden, biden) == 0.0


def test_config_from_settings() -> None:
    settings = Settings(_env_file=None, max_file_mb=10, min_side_px=640, max_megapixels=40,  # type: ignore[call-arg]
                        min_photos=10, max_photos=20)
    config = IntakeConfig.from_settings(settings, training_resolution=768)
    assert (config.max_file_bytes, config.min_side_px, config.max_pixels) == (10_000_000, 640, 40_000_000)
    assert (config.min_photos, config.max_photos, config.training_resolution) == (10, 20, 768)
    default = IntakeConfig()
    assert (default.max_file_bytes, default.min_side_px, default.max_pixels) == (25_000_000, 512, 60_000_000)
    assert (default.min_photos, default.max_photos, default.training_resolution) == (8, 30, 1024)


def test_intake_never_imports_torch() -> None:
    code = (
        "import sys, engine.intake\n"
        "from engine.intake import check_photo, IntakeConfig\n"
        f"check_photo(open({str(PHOTOS / 'obama2.jpg')!r}, 'rb').read(), config=IntakeConfig())\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in {'torch', 'cv2', 'studio'}]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
