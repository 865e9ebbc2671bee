"""Only weights the product may be sold with (issue 27): every weight it can load is listed with its
licence (engine/licences.toml: `studio models list`, the README), and none that a default install
loads forbids commercial use.

The default path is not taken from the data's own `default` marks: it is what a default install
really loads — the auto base model's components, the dlib files that intake, ranking and face
restoration open while they run on a real photo (recorded as dlib is asked to load them), the
default restorer's file and CLIP's vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from engine import licences
from engine.licences import Weight, find, load_weights, model_weights
from engine.models import AUTO_MODEL, get_spec, load_registry
from tests.support.selfies import PHOTOS_DIR

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def weights() -> dict[str, Weight]:
    return load_weights()


def _dlib_files_loaded_by_the_product(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, str]]:
    """(source, file) of every dlib model the product asks dlib for while intake checks a photo and
    the finisher restores a face in it with its default configuration (the network stood in for)."""
    dlib = pytest.importorskip("dlib")
    from engine.intake import check_photo, faces
    from engine.portraits import default_finisher, detect_face
    from engine.restore import FaceRestorer

    loaded: list[tuple[str, str]] = []

    def recording(constructor, name_of):  # type: ignore[no-untyped-def]
        def load(*args):  # type: ignore[no-untyped-def]
            loaded.append(name_of(*args))
            return constructor(*args)
        return load

    monkeypatch.setattr(faces, "_models", {})  # nothing loaded yet in this process, as at start-up
    monkeypatch.setattr(dlib, "get_frontal_face_detector", recording(
        dlib.get_frontal_face_detector, lambda: ("dlib", "get_frontal_face_detector")))
    for constructor in ("shape_predictor", "face_recognition_model_v1"):
        monkeypatch.setattr(dlib, constructor, recording(
            getattr(dlib, constructor), lambda path: ("face_recognition_models", Path(path).name)))

    class StandIn(FaceRestorer):  # the default restorer's configuration, no weights needed
        @property
        def available(self) -> bool:
            return True

        def restore_aligned_many(self, faces_):  # type: ignore[no-untyped-def]
            return list(faces_)

    data = (PHOTOS_DIR / "obama.jpg").read_bytes()
    checked = check_photo(data)  # detection, landmarks and the descriptor: a selfie's check
    assert checked.ok and checked.embedding is not None
    photo = Image.open(PHOTOS_DIR / "obama.jpg").convert("RGB")
    face = detect_face(photo)  # what ranking and finishing do with a portrait
    assert face is not None
    restorer = StandIn(default_finisher(tmp_path).restorer.config)
    assert restorer.config.align  # the default restores an aligned face: landmarks are loaded
    restorer.restore(photo, [face])
    return loaded


def _default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, weights: dict[str, Weight]
                  ) -> dict[str, Weight | None]:
    """What a default install loads, as {where: listed weight or None}."""
    from engine.clip_tokens import vocabulary_file
    from engine.portraits import default_finisher

    loaded: dict[str, Weight | None] = {}
    for _, where, weight in model_weights(licences.default_model(), weights):
        loaded[where] = weight
    for source, file in _dlib_files_loaded_by_the_product(monkeypatch, tmp_path):
        loaded[f"{source}: {file}"] = find(source, file, weights)
    gfpgan = default_finisher(tmp_path).restorer.config.gfpgan_weights
    assert gfpgan is not None
    loaded[f"<models_dir>/{gfpgan.relative_to(tmp_path).as_posix()}"] = find(
        "models_dir", gfpgan.relative_to(tmp_path).as_posix(), weights)
    loaded[f"openai-clip: {vocabulary_file().name}"] = find("openai-clip", vocabulary_file().name, weights)
    return loaded


def test_no_weight_on_the_default_path_forbids_commercial_use(monkeypatch, tmp_path, weights):
    loaded = _default_path(monkeypatch, tmp_path, weights)
    unlisted = sorted(where for where, weight in loaded.items() if weight is None)
    assert not unlisted, f"loaded by default but not in engine/licences.toml: {unlisted}"
    not_for_sale = sorted(f"{w.title} ({w.licence}, commercial: {w.commercial})"
                          for w in loaded.values() if w is not None and not w.for_sale)
    assert not not_for_sale, f"a default install loads weights it may not sell with: {not_for_sale}"


def test_the_default_marks_are_what_a_default_install_loads(monkeypatch, tmp_path, weights):
    loaded = _default_path(monkeypatch, tmp_path, weights)
    assert {w.key for w in loaded.values() if w is not None} == {w.key for w in weights.values() if w.default}
    assert licences.not_for_sale(weights) == []


def test_dlibs_68_point_model_is_listed_as_non_commercial_and_nothing_loads_it(monkeypatch, tmp_path, weights):
    sixty_eight = find("face_recognition_models", "shape_predictor_68_face_landmarks.dat", weights)
    assert sixty_eight is not None and sixty_eight.commercial == "no" and not sixty_eight.default
    assert ("face_recognition_models", "shape_predictor_68_face_landmarks.dat") not in \
        _dlib_files_loaded_by_the_product(monkeypatch, tmp_path)


def test_every_base_model_and_style_lora_names_only_listed_weights(weights):
    from styles import load_catalogue

    for spec in load_registry().values():
        missing = [where for _, where, weight in model_weights(spec, weights) if weight is None]
        assert not missing, f"{spec.name}: not in engine/licences.toml: {missing}"
    assert model_weights(get_spec("tiny"), weights) == []  # random weights: nothing to license
    for style in load_catalogue():
        if style.lora is not None:
            source = style.lora.source  # a file under the models folder, or a hub id
            listed = find("models_dir", source, weights) or find(source, "", weights)
            assert listed is not None, f"style {style.id}: its LoRA {source} is not in engine/licences.toml"


def test_every_entry_says_where_it_comes_from_its_licence_and_whether_it_may_be_sold(weights):
    assert AUTO_MODEL in load_registry()
    for weight in weights.values():
        assert weight.title and weight.role and weight.origin and weight.licence and weight.spdx, weight.key
        assert weight.commercial in ("yes", "no", "unverified")
        assert weight.commercial == "yes" or weight.note or weight.terms, weight.key  # a "no" says why
    commercial = {w.key: w.commercial for w in weights.values()}
    assert commercial["sdxl-base"] == commercial["sdxl-refiner"] == "yes"
    assert commercial["codeformer"] == "no"


def test_a_weight_file_named_twice_or_an_unknown_field_is_refused(tmp_path):
    entry = ('title = "x"\nrole = "r"\nsource = "a/b"\nlicence = "MIT"\nspdx = "MIT"\n'
             'commercial = "yes"\ndefault = false\n')
    (tmp_path / "twice.toml").write_text(f"[one]\n{entry}\n[two]\n{entry}")
    with pytest.raises(ValueError, match="same file"):
        load_weights(tmp_path / "twice.toml")
    (tmp_path / "typo.toml").write_text(f"[one]\n{entry}licence_url = 'x'\n")
    with pytest.raises(ValueError, match="unknown keys"):
        load_weights(tmp_path / "typo.toml")
    (tmp_path / "maybe.toml").write_text("[one]\n" + entry.replace('"yes"', '"maybe"'))
    with pytest.raises(ValueError, match="commercial must be"):
        load_weights(tmp_path / "maybe.toml")


def test_studio_models_list_shows_every_weight_with_its_licence_and_commercial_use(tmp_path, weights):
    from tests.support.cli import run_studio

    result = run_studio("models", "list", env={"STUDIO_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    for weight in weights.values():
        shown = [line for line in lines if line.lstrip().startswith(weight.title) or weight.where in line]
        assert any(weight.licence in line and f"commercial: {weight.commercial}" in line for line in shown), \
            (weight.key, shown)
    assert lines[-1] == "every weight on the default path may be used commercially"


def test_the_readme_lists_every_weight_as_studio_models_list_markdown_prints_it(weights):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert licences.markdown_table(weights) in readme, "README: paste `studio models list --markdown`"
