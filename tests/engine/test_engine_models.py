from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import UnknownModel, WeightsMissing
from engine.models import fetch_command, get_spec, load_registry, local_dir, resolve_model, weights_present

ROOT = Path(__file__).resolve().parents[2]


def test_registry_has_sdxl_by_hub_id_and_tiny():
    registry = load_registry()
    sdxl = registry["sdxl"]
    assert sdxl.base == "stabilityai/stable-diffusion-xl-base-1.0"
    assert sdxl.refiner == "stabilityai/stable-diffusion-xl-refiner-1.0"
    assert sdxl.vae == "madebyollin/sdxl-vae-fp16-fix"
    assert sdxl.has_refiner and sdxl.resolution == 1024
    assert {"realvisxl", "dreamshaperxl", "tiny"} <= set(registry)
    assert registry["tiny"].kind == "tiny" and registry["tiny"].sources() == []


def test_adding_a_model_is_adding_a_toml_entry(tmp_path):
    path = tmp_path / "models.toml"
    path.write_text('[mine]\nkind = "sdxl"\nbase = "/weights/mine"\nresolution = 1024\n')
    spec = load_registry(path)["mine"]
    assert spec.base == "/weights/mine" and not spec.has_refiner
    path.write_text('[bad]\nkind = "sdxl"\nbase = "x/y"\ncolour = "red"\n')
    with pytest.raises(ValueError, match="colour"):
        load_registry(path)


def test_unknown_model_names_the_known_ones():
    with pytest.raises(UnknownModel, match="tiny"):
        get_spec("sd3")


def test_missing_weights_name_the_fetch_command(tmp_path):
    with pytest.raises(WeightsMissing) as info:
        resolve_model("sdxl", tmp_path, "cpu", offline=True)
    assert fetch_command("sdxl") in str(info.value) == str(info.value)
    assert "studio models fetch sdxl" in str(info.value)


def test_auto_picks_tiny_without_weights_or_gpu(tmp_path):
    assert resolve_model("auto", tmp_path, "auto").name == "tiny"
    sdxl = load_registry()["sdxl"]
    for source in sdxl.sources():  # weights "present" on disk, but no GPU here
        folder = local_dir(source, tmp_path)
        folder.mkdir(parents=True)
        (folder / "model_index.json").write_text("{}")
    assert weights_present(sdxl, tmp_path)
    assert resolve_model("auto", tmp_path, "cpu").name == "tiny"
    assert resolve_model("sdxl", tmp_path, "cpu").name == "sdxl"


def test_light_modules_do_not_import_torch():
    code = ("import sys, engine, engine.models, engine.errors, engine.train_config, engine.gen_request, "
            "engine.aspects; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
