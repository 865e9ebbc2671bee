from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.aspects import ASPECTS, ratio
from engine.runtime.cli import generate_command, train_command
from engine.portraits import compose_prompt
from engine.models import get_spec

SHARED = Path("/work/shared/photos")


@pytest.fixture()
def settings(tmp_path):
    from config.settings import load_settings

    return load_settings(data_dir=tmp_path / "data", device="cpu", base_model="tiny")


def test_compose_prompt_fills_style_placeholders():
    style = "fashion photo of {token} {class_word} in pink, {variation}, glossy light"
    assert compose_prompt(style, "ohwx", "woman") == "fashion photo of ohwx woman in pink, glossy light"
    assert compose_prompt("oil painting", "sks", "man") == "a photo of sks man, oil painting"


@pytest.mark.slow
def test_train_then_generate_every_aspect_with_tiny(tmp_path, settings):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (96, 80, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    assert train_command(photos, tmp_path / "lora", model="tiny", steps=4, use_intake=False, settings=settings) == 0
    lora = tmp_path / "lora" / "pytorch_lora_weights.safetensors"
    assert lora.is_file() and json.loads((tmp_path / "lora" / "lora.json").read_text())["model"] == "tiny"

    out = tmp_path / "out"
    assert generate_command(tmp_path / "lora", "studio portrait, {variation}", out, model="auto", count=2,
                            aspects=list(ASPECTS), settings=settings) == 0
    for aspect in ASPECTS:
        files = sorted(out.glob(f"{aspect.replace(':', 'x')}_*.jpg"))
        assert len(files) == 2
        with Image.open(files[0]) as image:
            assert abs(image.width / image.height - float(ratio(aspect))) < 0.03


@pytest.mark.slow
def test_train_command_uses_intake_on_real_photos(tmp_path, settings):
    names = [n for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "obama-720p.jpg") if (SHARED / n).exists()]
    if len(names) < 2:
        pytest.skip("shared test photos not present")
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in names:
        shutil.copy(SHARED / name, photos / name)
    assert train_command(photos, tmp_path / "lora", model="tiny", steps=2, settings=settings) == 0
    assert (tmp_path / "lora" / "pytorch_lora_weights.safetensors").is_file()


def test_missing_sdxl_weights_give_the_fetch_command(tmp_path, settings, capsys):
    assert train_command(tmp_path, tmp_path / "lora", model="sdxl", settings=settings) == 2
    assert "studio models fetch sdxl" in capsys.readouterr().out


def test_gpu_benchmark_exits_clearly_without_cuda(caplog):
    import torch

    from bench.engine_gpu import main

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: run the benchmark itself")
    assert main([]) == 2
    assert "needs a CUDA GPU" in caplog.text


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gpu_image_site(tmp_path_factory) -> Path:
    from bench.gpu_image import site_folder

    return site_folder(tmp_path_factory.mktemp("gpu-image") / "site")


def run_as_on_the_gpu_machine(site: Path, module: str, args: list[str]) -> None:
    """``python -m module args`` importing only what the GPU machine's image has and the GPU check
    carries there (bench/gpu_image.py): a new import fails here, not in a GPU loan's first minutes."""
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    done = subprocess.run([sys.executable, "-S", "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("dtype", ["auto", "bf16"])
def test_gpu_benchmark_dry_run_on_the_cpu(tmp_path, dtype, gpu_image_site):
    """The GPU check's own script, end to end on the tiny model, so it cannot rot between GPU loans;
    in production's precision (bf16 on the CPU) in process, and with the GPU image's packages alone."""
    figures = tmp_path / "figures.json"
    args = ["--tiny", "--device", "cpu", "--dtype", dtype, "--train-steps", "4", "--warmup", "1",
            "--images", "1", "--warm-images", "0", "--batch", "2", "--json", str(figures)]
    whole_job = dtype == "auto"
    if whole_job:
        run_as_on_the_gpu_machine(gpu_image_site, "bench.engine_gpu", args)
    else:
        from bench.engine_gpu import main

        assert main([*args, "--skip-job", "--profile", str(tmp_path / "profile.txt")]) == 0
        assert "aten::" in (tmp_path / "profile.txt").read_text()  # the op table of one portrait
    result = json.loads(figures.read_text())
    assert result["training"]["steps_timed"] == 4 and result["training"]["s_per_step"] > 0
    assert result["training"]["dtype"] == ("float32" if dtype == "auto" else "bfloat16")
    assert result["generation"]["s_per_image"] > 0 and result["generation"]["batch"] == 2
    timeline = result["generation"]["timeline"]  # one portrait split into the steps and what surrounds them
    assert timeline["base_steps"] + timeline["refiner_steps"] == get_spec("tiny").steps and timeline["refiner_steps"] > 0
    assert timeline["vae_decode_s"] > 0 and timeline["after_last_step_s"] > 0
    assert timeline["fixed_s"] + timeline["steps_s"] == pytest.approx(timeline["total_s"])
    preview = result["preview"]  # the IP-Adapter loaded into the pipeline and a preview painted, twice
    assert preview["adapter"] == "tiny adapter" and preview["images"] == 2
    assert preview["preview_s"] > 0 and preview["adapter_first_load_s"] > 0 and preview["adapter_warm_load_s"] > 0
    if not whole_job:
        return
    job = result["job"]  # handle_generate itself: the trained LoRA from storage, ranked against real selfies,
    assert job["references"] == "4 real selfies" and job["candidates"] == 6  # finished in every aspect, stored
    assert job["files"] == 4 * len(job["aspects"]) and job["generate_s"] > 0 and 0 < job["finishing_share"] < 1
    assert job["job_s"] >= job["generate_s"] + job["enhance_s"]


def test_gpu_benchmark_builds_full_size_sdxl_shapes():
    """The full-size random SDXL the GPU check times, built on the meta device (no memory, no time):
    the tiny dry run never reaches this builder, and a stale call in it cost a GPU loan its first run."""
    import torch

    from bench.engine_gpu import _random_sdxl

    base, refiner = _random_sdxl(torch.device("meta"), torch.float16)
    assert round(sum(p.numel() for p in base.unet.parameters()) / 1e9, 2) == 2.57
    assert round(sum(p.numel() for p in refiner.unet.parameters()) / 1e9, 2) == 2.26
    assert base.tokenizer("a photo of ohwx man").input_ids[0] == base.text_encoder.config.bos_token_id == 49406


def test_gpu_finishing_benchmark_dry_run_on_the_cpu(tmp_path, gpu_image_site):
    """bench/finishing_gpu.py (the GPU check's finishing part) end to end: production-shaped restorer
    loaded from a weights file, a small upscaler, one by one against batched."""
    figures = tmp_path / "finishing.json"
    profile = tmp_path / "profile.txt"
    run_as_on_the_gpu_machine(gpu_image_site, "bench.finishing_gpu",
                              ["--device", "cpu", "--tiny", "--json", str(figures), "--profile", str(profile)])
    assert "aten::" in profile.read_text()  # the op table of one batched restore + upscale
    result = json.loads(figures.read_text())
    assert result["portraits"] == 2
    assert set(result["job_seconds"]) == {"one by one", "batched"}
    assert set(result["options_seconds"]) == {"upscale", "upscale, channels-last"}  # cudnn.benchmark: CUDA only
    assert all(value > 0 for value in result["per_portrait"].values())


@pytest.mark.gpu
def test_gpu_benchmark_runs_on_a_gpu():
    from bench.engine_gpu import main

    assert main(["--train-steps", "8", "--warmup", "2", "--images", "1", "--batch", "2"]) == 0


def test_every_part_of_the_gpu_check_asks_for_options_its_script_has():
    """bench/gpu_check.sh runs on a rare, short GPU loan: an option its parts pass that a bench no
    longer has (or misspells) fails here, not there."""
    import re
    import shlex

    from bench.engine_gpu import parse_args

    script = (ROOT / "bench" / "gpu_check.sh").read_text()
    parts = re.findall(r"^bench (\S+) \$\{\w+:-\d+\} (.*)$", script, flags=re.MULTILINE)
    assert {name for name, _ in parts} >= {"engine", "preview", "channels-last", "checkpointing", "compiled"}
    for _, options in parts:
        parse_args(shlex.split(options.replace('"$OUT/', '"out/').replace("${COMPILE_MODE:-regional}", "regional")))
    finishing = re.search(r"python3 -m bench\.finishing_gpu (.*?) >", script)
    assert finishing is not None and "--profile" in finishing.group(1)
