"""The style catalogue: shipped styles, validation that names file and field, adding a style."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from styles import BUILTIN_DIR, StyleError, load_catalogue
from tests.support.cli import run_studio

REQUIRED = {
    "linkedin-headshot": "professional", "professional-full-body": "professional",
    "instagram-masculine": "modeling", "instagram-feminine": "modeling", "dating-profile": "dating",
    "gym-muscular": "gym", "gym-lifting": "gym", "gym-workout": "gym", "gym-abs": "gym",
    "ghibli-art": "art", "movie-look": "looks", "barbie-look": "looks",
}

NEW_STYLE = '''
id = "astronaut"
title = "Astronaut"
category = "art"
description = "You, in a spacesuit on the Moon."
framing = "half_body"
prompt = "photo of {token} {class_word} as an astronaut, {variation}"
variations = ["on the Moon", "inside the ISS"]
aspects = ["16:9"]
'''


def test_the_shipped_catalogue() -> None:
    catalogue = load_catalogue()
    assert {s.id: s.category for s in catalogue if s.id in REQUIRED} == REQUIRED
    for style in catalogue:
        prompts = style.prompts("ohwx", "woman", 6, seed=1)
        assert all("ohwx woman" in p for p in prompts)
        assert len(set(prompts)) == min(6, len(style.variations)), style.id  # a batch is not copies
        assert "nsfw" in style.negative_prompt
    assert [c.id for c in catalogue.used_categories()] == ["professional", "modeling", "dating", "gym", "art", "looks"]
    assert catalogue.get("barbie-look").lora is not None


def test_prompts_are_deterministic_per_seed() -> None:
    style = load_catalogue().get("dating-profile")
    assert style.prompts("tok", "man", 4, seed=3) == style.prompts("tok", "man", 4, seed=3)


def test_adding_a_style_is_adding_a_file(tmp_path: Path) -> None:
    (tmp_path / "astronaut.toml").write_text(NEW_STYLE)
    catalogue = load_catalogue([tmp_path])
    assert "astronaut" in catalogue and len(catalogue) == len(load_catalogue()) + 1
    result = run_studio("styles", "--json", env={"STUDIO_STYLES_DIRS": str(tmp_path)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = {s["id"]: s["category"] for s in json.loads(result.stdout)["styles"]}
    assert listed["astronaut"] == "art" and REQUIRED.items() <= listed.items()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('prompt = "photo of {token} {class_word} as an astronaut, {variation}"', 'prompt = "photo of a {class_word}, {variation}"'), "prompt"),
        (('prompt = "photo of {token} {class_word} as an astronaut, {variation}"', 'prompt = "photo of {token} {name}, {variation}"'), "prompt"),
        (('aspects = ["16:9"]', 'aspects = ["7:3"]'), "aspects"),
        (('framing = "half_body"', 'framing = "portrait"'), "framing"),
        (('title = "Astronaut"', 'titel = "Astronaut"'), "titel"),
        (('category = "art"', 'category = "space"'), "category"),
    ],
)
def test_a_broken_style_names_file_and_field(tmp_path: Path, change: tuple[str, str], field: str) -> None:
    path = tmp_path / "astronaut.toml"
    path.write_text(NEW_STYLE.replace(*change))
    with pytest.raises(StyleError) as caught:
        load_catalogue([tmp_path])
    assert str(path) in str(caught.value) and f"field '{field}'" in str(caught.value)


def test_a_file_that_is_not_toml(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("id = \n")
    with pytest.raises(StyleError, match="broken.toml: not valid TOML"):
        load_catalogue([tmp_path])


def test_an_operator_can_override_a_builtin_style(tmp_path: Path) -> None:
    shutil.copy(BUILTIN_DIR / "categories.toml", tmp_path / "categories.toml")
    text = (BUILTIN_DIR / "ghibli-art.toml").read_text().replace('title = ', 'title = "Anime portrait" #', 1)
    (tmp_path / "ghibli-art.toml").write_text(text)
    assert load_catalogue([tmp_path]).get("ghibli-art").title == "Anime portrait"


def test_a_broken_style_pack_stops_start_up_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "astronaut.toml").write_text(NEW_STYLE.replace('aspects = ["16:9"]', 'aspects = ["7:3"]'))
    result = run_studio("styles", env={"STUDIO_STYLES_DIRS": str(tmp_path)}, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("Style catalogue error: ") and "astronaut.toml: field 'aspects': unknown aspect '7:3'" in result.stderr


def test_a_style_naming_an_unknown_scheduler_is_refused_with_its_file_and_field(tmp_path):

    import pytest

    from styles import StyleError, load_catalogue
    from styles.catalogue import BUILTIN_DIR

    folder = tmp_path / "pack"
    folder.mkdir()
    source = (BUILTIN_DIR / "linkedin-headshot.toml").read_text()
    (folder / "odd.toml").write_text(source.replace('id = "linkedin-headshot"', 'id = "odd"').replace(
        'scheduler = "dpmpp_2m_karras"', 'scheduler = "lms_fancy"'))
    with pytest.raises(StyleError, match=r"odd\.toml.*scheduler.*lms_fancy"):
        load_catalogue([folder])


def test_the_refiner_never_repaints_a_large_face() -> None:
    """The refiner is its own UNet, which the user's LoRA never reaches: a style whose face is large
    (headshot, half body) runs without it; only full-body frames keep a short refiner pass."""
    for style in load_catalogue():
        if style.framing in ("headshot", "half_body"):
            assert style.sampler.refiner_fraction == 0, style.id
        else:
            assert style.sampler.refiner_fraction <= 0.2, style.id


def test_a_samplers_refiner_fraction_is_the_generators_hand_off() -> None:
    from styles.catalogue import Sampler

    assert Sampler(refiner_fraction=0.2).refiner_split == 0.8
    assert Sampler(refiner_fraction=0.0).refiner_split is None  # no refiner
