from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from engine import train as train_module
from engine.errors import Cancelled, InvalidConfig
from engine.pipelines import LoadOptions, load_base
from engine.train import TrainConfig, train_lora


def test_invalid_config_is_refused_on_construction():
    for bad in ({"rank": 0}, {"learning_rate": 0.5}, {"resolution": 100}, {"mixed_precision": "fp8"},
                {"steps": 5000}, {"token": "two words"}, {"checkpoint_every": 0}, {"snr_gamma": -1.0},
                {"min_steps": 10, "max_steps": 5}):
        with pytest.raises(InvalidConfig):
            TrainConfig(**bad)


def test_invalid_inputs_are_refused_before_any_model_loads(tiny_spec, tmp_path, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(train_module, "load_base", no_loading)
    config = TrainConfig.for_model(tiny_spec, steps=2)
    with pytest.raises(InvalidConfig, match="no training images"):
        train_lora(tiny_spec, [], config, tmp_path, device="cpu")
    with pytest.raises(InvalidConfig, match="multiple of 8"):
        train_lora(tiny_spec, [], TrainConfig.for_model(tiny_spec, steps=2).with_(resolution=68), tmp_path)


def test_steps_follow_the_set_size_with_a_cap():
    config = TrainConfig(steps_per_image=80, min_steps=400, max_steps=1200)
    assert config.total_steps(3) == 400
    assert config.total_steps(12) == 960
    assert config.total_steps(30) == 1200
    assert TrainConfig(steps=50).total_steps(30) == 50


def test_lora_keys_size_and_info(trained_lora, tiny_spec):
    state = load_file(trained_lora.lora_path)
    assert trained_lora.steps == 8 and np.isfinite(trained_lora.final_loss)
    assert len(state) == 192  # 48 attention projections in the tiny UNet × (down, up) × ... per block
    assert all(k.startswith("unet.") and (".lora.down.weight" in k or ".lora.up.weight" in k) for k in state)
    targets = {k.split(".lora.")[0].rsplit(".", 1)[-1] for k in state}
    assert targets == {"to_k", "to_q", "to_v", "0"}  # to_out.0
    downs = [v for k, v in state.items() if "lora.down" in k]
    assert all(v.shape[0] == tiny_spec.train_rank for v in downs)
    assert trained_lora.lora_path.stat().st_size < 512 * 1024
    info = json.loads((trained_lora.lora_path.parent / "lora.json").read_text())
    assert info["token"] == "ohwx" and info["model"] == "tiny"
    with safe_open(trained_lora.lora_path, "pt") as f:
        assert "lora_alpha" in f.metadata().get("lora_adapter_metadata", "")
    assert not (trained_lora.lora_path.parent / "checkpoints").exists()


def test_lora_loads_into_a_fresh_pipeline_and_changes_its_output(trained_lora, tiny_spec):
    pipe = load_base(tiny_spec, LoadOptions(Path("/nonexistent"), torch.device("cpu")))
    pipe.load_lora_weights(str(trained_lora.lora_path.parent), weight_name=trained_lora.lora_path.name,
                           adapter_name="user")

    def render():
        return pipe("a photo of ohwx person", num_inference_steps=2, width=64, height=64, output_type="np",
                    generator=torch.Generator().manual_seed(0)).images[0]

    with_lora = render()
    pipe.disable_lora()
    without = render()
    pipe.enable_lora()
    again = render()
    assert np.abs(with_lora - without).mean() > 1e-3
    np.testing.assert_allclose(with_lora, again, atol=1e-6)


def test_cancel_stops_within_one_step(tiny_spec, photos_with_captions, tmp_path):
    seen = []
    config = TrainConfig.for_model(tiny_spec, steps=20)
    with pytest.raises(Cancelled) as info:
        train_lora(tiny_spec, photos_with_captions, config, tmp_path, device="cpu",
                   progress=lambda p: seen.append(p.step), should_cancel=lambda: len(seen) >= 3)
    assert seen == [1, 2, 3] and info.value.step == 3
    assert not (tmp_path / "pytorch_lora_weights.safetensors").exists()


@pytest.mark.slow
def test_resumed_training_continues_from_its_checkpoint(tiny_spec, photos_with_captions, tmp_path):
    config = TrainConfig.for_model(tiny_spec, steps=8, checkpoint_every=3)
    straight = train_lora(tiny_spec, photos_with_captions, config, tmp_path / "straight", device="cpu")

    steps: list[int] = []
    with pytest.raises(Cancelled):  # a pre-empted run: stopped after step 5, last checkpoint at 3
        train_lora(tiny_spec, photos_with_captions, config, tmp_path / "resumed", device="cpu",
                   progress=lambda p: steps.append(p.step), should_cancel=lambda: len(steps) >= 5)
    assert (tmp_path / "resumed" / "checkpoints" / "step-000003").is_dir()
    resumed_steps: list[int] = []
    resumed = train_lora(tiny_spec, photos_with_captions, config, tmp_path / "resumed", device="cpu",
                         progress=lambda p: resumed_steps.append(p.step))
    assert resumed.resumed_from == 3 and resumed_steps == [4, 5, 6, 7, 8]
    a, b = load_file(straight.lora_path), load_file(resumed.lora_path)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_checkpoint_of_another_run_is_not_resumed(tiny_spec, photos_with_captions, tmp_path):
    seen: list[int] = []
    with pytest.raises(Cancelled):
        train_lora(tiny_spec, photos_with_captions, TrainConfig.for_model(tiny_spec, steps=6, checkpoint_every=2),
                   tmp_path, device="cpu", progress=lambda p: seen.append(p.step), should_cancel=lambda: len(seen) >= 3)
    other = TrainConfig.for_model(tiny_spec, steps=6, checkpoint_every=2, seed=1)
    assert train_lora(tiny_spec, photos_with_captions, other, tmp_path, device="cpu").resumed_from == 0


def test_progress_reports_step_total_loss_and_eta(tiny_spec, photos_with_captions, tmp_path):
    events = []
    config = TrainConfig.for_model(tiny_spec, steps=4, train_text_encoder=True, snr_gamma=None)
    result = train_lora(tiny_spec, photos_with_captions, config, tmp_path, device="cpu", progress=events.append)
    assert [e.step for e in events] == [1, 2, 3, 4] and all(e.total == 4 for e in events)
    assert all(np.isfinite(e.loss) and e.eta_s >= 0 for e in events) and events[-1].eta_s == 0
    keys = load_file(result.lora_path).keys()
    assert any(k.startswith("text_encoder.") for k in keys) and any(k.startswith("text_encoder_2.") for k in keys)


def test_latents_are_cached_in_fp32_from_a_bf16_vae_and_the_vae_goes_back(tiny_spec):
    """Production trains in bf16 (a CPU run of the same path): the latents are encoded in fp32."""
    from engine.train import _cache_latents
    from engine.trainset import make_examples

    from tests.engine.conftest import make_photos

    pipe = load_base(tiny_spec, LoadOptions(Path("/nonexistent"), torch.device("cpu"), torch.bfloat16))
    examples = make_examples([(p, "ohwx") for p in make_photos(2)], 64, "a photo of ohwx person")
    seen = []
    hook = pipe.vae.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].dtype))
    mean, std = _cache_latents(pipe, examples)
    hook.remove()
    assert seen == [torch.float32, torch.float32] and mean.dtype == std.dtype == torch.float32
    assert pipe.vae.dtype == torch.bfloat16
