"""Where one portrait's time goes: the fixed cost around the denoising steps, and the steps.

One 1024² portrait alone took 2.21 s on the H100 (bench/RESULTS.md, 2026-11-27) while 10 steps
more or fewer moved it by ~0.45 s: about a third of it is not the steps. This splits a single
``Generator.generate`` into parts from its own step callbacks, the device synchronised at each
stamp (so the steps are counted as the GPU runs them, launches included):

- ``before_first_step_s``: prompt encoding (both text encoders, prompt and negative), latents,
  time ids, up to the first base step (that step itself subtracted);
- ``base_step_s`` / ``refiner_step_s``: mean step of each UNet after its first;
- ``handoff_s``: from the last base step to the refiner's first (its prompt encoding, its set-up);
- ``after_last_step_s``: the VAE decode and the conversion to a PIL image (``vae_decode_s`` is the
  decode alone, timed on its own).

``--profile FILE`` also writes torch.profiler's op table of one portrait (CPU and CUDA time).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _mean_step(stamps: list[float]) -> float | None:
    """The mean gap between step ends; None with fewer than two steps (nothing to average)."""
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    return sum(gaps) / len(gaps) if gaps else None


def portrait_timeline(generator: Any, request: Any, device: Any) -> dict[str, Any]:
    """The parts of one ``generator.generate(request)`` (one portrait), in seconds; a part that did
    not happen (no refiner) or cannot be told (a single step) is None."""
    stamps: dict[str, list[float]] = {"base": [], "refiner": []}

    def on_step(progress: Any) -> None:
        _sync(device)
        stamps[progress.stage].append(time.perf_counter())

    _sync(device)
    started = time.perf_counter()
    generator.generate(request, progress=on_step)
    _sync(device)
    ended = time.perf_counter()
    base, refiner = stamps["base"], stamps["refiner"]
    base_step, refiner_step = _mean_step(base), _mean_step(refiner)
    last = (refiner or base or [started])[-1]
    parts: dict[str, Any] = {
        "total_s": ended - started, "base_steps": len(base), "refiner_steps": len(refiner),
        "before_first_step_s": base[0] - started - (base_step or 0.0) if base else None,
        "base_step_s": base_step, "after_last_step_s": ended - last,
        "refiner_step_s": refiner_step,
        "handoff_s": refiner[0] - base[-1] - (refiner_step or 0.0) if refiner and base else None,
        "vae_decode_s": _vae_decode_seconds(generator, request, device),
    }
    # every step counted at its UNet's mean (a lone step's time stays in the fixed part)
    parts["steps_s"] = len(base) * (base_step or 0.0) + len(refiner) * (refiner_step or 0.0)
    parts["fixed_s"] = parts["total_s"] - parts["steps_s"]
    return parts


def describe_timeline(t: dict[str, Any]) -> str:
    """One line of the parts, for the check's log."""
    def seconds(value: float | None, digits: int = 3) -> str:
        return "n/a" if value is None else f"{value:.{digits}f} s"

    refiner = (f", hand-off to the refiner {seconds(t['handoff_s'])}, {t['refiner_steps']} refiner steps × "
               f"{seconds(t['refiner_step_s'], 4)}") if t["refiner_steps"] else ", no refiner"
    return (f"before the first step {seconds(t['before_first_step_s'])}, {t['base_steps']} base steps × "
            f"{seconds(t['base_step_s'], 4)}{refiner}, after the last step {seconds(t['after_last_step_s'])} "
            f"(VAE decode alone {seconds(t['vae_decode_s'])}); fixed part {seconds(t['fixed_s'], 2)}, "
            f"steps {seconds(t['steps_s'], 2)}")


def _vae_decode_seconds(generator: Any, request: Any, device: Any) -> float:
    """The decode of one portrait's latents alone (the pipeline's own scaling), warm."""
    import torch

    vae = generator.base.vae
    plan = generator.plan(request)
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    latents = torch.randn(1, vae.config.latent_channels, plan["height"] // factor, plan["width"] // factor,
                          device=vae.device, dtype=vae.dtype)
    with torch.inference_mode():
        vae.decode(latents / vae.config.scaling_factor)  # warm
        _sync(device)
        started = time.perf_counter()
        vae.decode(latents / vae.config.scaling_factor)
        _sync(device)
    return time.perf_counter() - started


def profile_portrait(generator: Any, request: Any, device: Any, path: Path) -> None:
    """torch.profiler's op tables of one portrait."""
    from bench.op_profile import write_op_profile

    write_op_profile(lambda: generator.generate(request), device, path)
