from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.aspects import ASPECTS, generation_size
from engine.errors import BudgetExceeded, Cancelled, InvalidConfig
from engine.generate import Budget, GenerationRequest, Generator

EXPECTED_TINY = {"1:1": (64, 64), "4:5": (56, 72), "9:16": (48, 80), "16:9": (80, 48)}


def test_sdxl_native_sizes():
    assert generation_size("1:1") == (1024, 1024)
    assert generation_size("4:5") == (896, 1152)
    assert generation_size("9:16") == (768, 1344)
    assert generation_size("16:9") == (1344, 768)


@pytest.mark.parametrize("aspect", ASPECTS)
def test_count_and_size_for_each_aspect(generator, trained_lora, aspect):
    images = generator.generate(GenerationRequest("a photo of ohwx person", count=3, aspect=aspect,
                                                  lora=trained_lora.lora_path, steps=2))
    assert len(images) == 3
    assert all(g.size == EXPECTED_TINY[aspect] and g.aspect == aspect for g in images)
    assert [g.seed for g in images] == [0, 1, 2]
    assert len({g.prompt for g in images}) == 3  # prompt varied across the batch
    pixels = [np.asarray(g.image, dtype=np.float32) for g in images]
    assert np.abs(pixels[0] - pixels[1]).mean() > 0.5  # seeds varied too


def test_refiner_pass_runs_and_changes_the_result(generator):
    stages = []
    request = dict(prompt="ohwx person", count=1, steps=4, seed=3)
    refined = generator.generate(GenerationRequest(**request), progress=lambda p: stages.append(p.stage))
    plain = generator.generate(GenerationRequest(**request, use_refiner=False))
    assert stages.count("base") == 2 and stages.count("refiner") == 2
    assert refined[0].extras["refiner_split"] == 0.5 and plain[0].extras["refiner_split"] is None
    assert np.abs(np.asarray(refined[0].image, float) - np.asarray(plain[0].image, float)).mean() > 0.5


def test_user_and_style_loras_as_two_adapters(generator, trained_lora, tmp_path):
    style = tmp_path / "style.safetensors"
    shutil.copy(trained_lora.lora_path, style)
    base = dict(prompt="ohwx person", count=1, steps=2, use_refiner=False)
    plain = generator.generate(GenerationRequest(**base))[0].image
    user = generator.generate(GenerationRequest(**base, lora=trained_lora.lora_path))[0].image
    assert len(generator.base.get_active_adapters()) == 1
    both = generator.generate(GenerationRequest(**base, lora=trained_lora.lora_path, style_lora=style,
                                                style_lora_weight=1.0))[0].image
    assert len(generator.base.get_active_adapters()) == 2
    diff = lambda a, b: np.abs(np.asarray(a, float) - np.asarray(b, float)).mean()  # noqa: E731
    assert diff(plain, user) > 0.1 and diff(user, both) > 0.1
    again = generator.generate(GenerationRequest(**base))[0].image  # LoRAs swapped out again
    assert diff(plain, again) < 1e-6


def test_budget_is_refused_before_any_work(tiny_spec):
    generator = Generator(tiny_spec, device="cpu", budget=Budget(max_pixel_steps=64 * 64 * 4 * 3))
    with pytest.raises(BudgetExceeded, match="pixel-steps"):
        generator.generate(GenerationRequest("ohwx person", count=4, steps=4))
    assert not generator.loaded
    assert generator.plan(GenerationRequest("ohwx person", count=3, steps=4))["cost"] == 64 * 64 * 4 * 3


def test_a_few_step_model_paints_its_cap_whatever_the_style_asks(generator, tiny_spec):
    """Styles are written for 30-step models; a model with ``max_steps`` (Lightning, Turbo, tiny)
    paints at most that many, and a full-size model paints what the style asks."""
    from engine.models import get_spec

    assert tiny_spec.max_steps == 4 and get_spec("sdxl").max_steps is None
    steps: list[int] = []
    generator.generate(GenerationRequest("ohwx person", count=1, steps=30), progress=lambda p: steps.append(p.step))
    assert len(steps) == 4  # base and refiner together, split as the model splits
    assert generator.plan(GenerationRequest("ohwx person", count=1, steps=30))["steps"] == 4
    assert Generator(get_spec("sdxl"), device="cpu").plan(GenerationRequest("ohwx person", steps=32))["steps"] == 32


def test_sdxl_budget_for_a_full_size_request():
    budget = Budget()
    assert budget.check(1024, 1024, 30, 8) == 1024 * 1024 * 30 * 8
    with pytest.raises(BudgetExceeded):
        budget.check(1344, 768, 50, 8)


def test_cancel_during_generation(generator):
    events = []
    with pytest.raises(Cancelled):
        generator.generate(GenerationRequest("ohwx person", count=2, steps=4),
                           progress=events.append, should_cancel=lambda: len(events) >= 1)
    assert len(events) == 1


def test_invalid_requests(tmp_path):
    for bad in ({"count": 0}, {"aspect": "3:2"}, {"steps": 0}, {"lora": tmp_path / "missing.safetensors"},
                {"prompt": ""}, {"refiner_split": 1.5}):
        with pytest.raises(InvalidConfig):
            GenerationRequest(**({"prompt": "ohwx person"} | bad))


def test_a_fused_lora_paints_what_the_unfused_one_does_and_is_fused_once(tiny_spec, trained_lora, monkeypatch):
    """LoRAs are fused into the UNet while they stay the same (the H100 waits on peft's extra launches
    otherwise); fused or not, the portrait is the same, and a second request does not fuse again."""
    request = GenerationRequest("ohwx person", count=1, steps=2, use_refiner=False, lora=trained_lora.lora_path)
    unfused = Generator(tiny_spec, device="cpu", models_dir=Path("/nonexistent"), fuse_loras=False)
    fused = Generator(tiny_spec, device="cpu", models_dir=Path("/nonexistent"))
    expected = np.asarray(unfused.generate(request)[0].image, float)
    fusions = []
    original = type(fused.base).fuse_lora
    monkeypatch.setattr(type(fused.base), "fuse_lora",
                        lambda self, *a, **k: (fusions.append(k), original(self, *a, **k))[1])
    first = np.asarray(fused.generate(request)[0].image, float)
    second = np.asarray(fused.generate(request)[0].image, float)
    assert np.abs(first - expected).mean() < 0.5 and np.abs(second - first).mean() < 1e-6
    assert len(fusions) == 1
    plain = np.asarray(fused.generate(GenerationRequest("ohwx person", count=1, steps=2, use_refiner=False))[0].image,
                       float)
    assert np.abs(plain - expected).mean() > 0.1  # unfused again: the LoRA is gone


def test_the_scheduler_a_request_names_is_the_one_that_runs(tiny_spec):
    from diffusers import DPMSolverMultistepScheduler, EulerDiscreteScheduler

    generator = Generator(tiny_spec, device="cpu", models_dir=Path("/nonexistent"))
    seen = []
    request = dict(prompt="ohwx person", count=1, steps=4, refiner_split=0.5)
    generator.generate(GenerationRequest(**request, scheduler="dpmpp_2m_karras"),
                       progress=lambda p: seen.append((p.stage, generator.base.scheduler, generator.refiner.scheduler)))
    base_scheduler, refiner_scheduler = seen[0][1], seen[-1][2]
    assert isinstance(base_scheduler, DPMSolverMultistepScheduler) and base_scheduler.config.use_karras_sigmas
    assert isinstance(refiner_scheduler, DPMSolverMultistepScheduler)
    generator.generate(GenerationRequest(**request))  # none named: the model's own again
    assert type(generator.base.scheduler) is EulerDiscreteScheduler
    with pytest.raises(InvalidConfig, match="scheduler must be one of"):
        GenerationRequest(**request, scheduler="lms_fancy")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_base_weights_are_exactly_the_same_after_any_number_of_users(tiny_spec, trained_lora, tmp_path, dtype):
    """Fusing a user's LoRA into the warm UNet and unfusing it for the next rounds in the weights'
    precision: every user served moved the base weights a little and left a trace of their LoRA in
    them. Unfusing now puts back the exact weights the model was loaded with (also in half precision,
    where the rounding is largest: bf16 here, as the CPU can run it)."""
    import torch
    from safetensors.torch import load_file, save_file

    generator = Generator(tiny_spec, device="cpu", models_dir=Path("/nonexistent"))
    generator.load()
    generator.base.to(dtype=getattr(torch, dtype))
    loaded = {name: p.detach().clone() for name, p in generator.base.unet.named_parameters()}
    trained = load_file(str(trained_lora.lora_path))
    for user in range(3):  # three users one after another, each with a LoRA of their own
        lora = tmp_path / f"user{user}.safetensors"
        save_file({k: v * (3.0 + user) for k, v in trained.items()}, str(lora))
        generator.generate(GenerationRequest("ohwx person", count=1, steps=1, use_refiner=False, lora=lora))
    generator.generate(GenerationRequest("a person", count=1, steps=1, use_refiner=False))  # no LoRA
    now = {name.replace(".base_layer.", "."): p for name, p in generator.base.unet.named_parameters() if "lora_" not in name}
    assert now.keys() == loaded.keys()
    moved = [name for name, p in loaded.items() if not torch.equal(p, now[name])]
    assert moved == []
