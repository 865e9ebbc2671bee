"""What a local engine worker checks and says before it claims its first job: which model and
device it will serve, and that it never serves the tiny random test model to real users by accident."""

from __future__ import annotations

import logging
import platform
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class TinyFallbackRefused(RuntimeError):
    """``STUDIO_BASE_MODEL=auto`` would fall back to the tiny random model while chat users are served."""


def chosen_model(settings: Any, front_ends: list[str]) -> str:
    """The base model the worker will serve; raises TinyFallbackRefused (one line, what to do)
    when ``auto`` finds no SDXL weights or no GPU and a chat front end is configured, UnknownModel for
    a name not in engine/models.toml, WeightsMissing for a named model whose weights are not here
    (offline: every job would fail)."""
    from engine.models import cuda_available, get_spec, require_weights, weights_present

    if settings.base_model != "auto":  # a model named on purpose: it must exist, and be here when offline
        spec = get_spec(str(settings.base_model))  # UnknownModel
        if settings.hf_offline:
            require_weights(spec, Path(settings.resolved_models_dir))  # WeightsMissing
        return spec.name
    models_dir = Path(settings.resolved_models_dir)
    sdxl = get_spec("sdxl")
    weights, gpu = weights_present(sdxl, models_dir), cuda_available(settings.device)
    if weights and gpu:
        return "sdxl"
    if front_ends:
        missing = " and ".join(what for what, ok in ((f"SDXL weights in {models_dir}", weights),
                                                     ("a CUDA GPU", gpu)) if not ok)
        raise TinyFallbackRefused(
            f"STUDIO_BASE_MODEL=auto found no {missing}, and {' and '.join(front_ends)} users would be served "
            "the tiny random test model (64 px noise): the worker does not start. Fetch the weights "
            "(`studio models fetch sdxl`) on a GPU machine, name a model (STUDIO_BASE_MODEL=sdxl), or set "
            "STUDIO_BASE_MODEL=tiny to serve the test model on purpose.")
    log.info("base model auto -> tiny (no chat front end configured: the terminal demo)")
    return "tiny"


def describe_environment(settings: Any, model: str) -> str:
    """One line for the start-up log: device, CUDA and driver, torch and diffusers, model, precision."""
    import diffusers
    import torch

    from engine.device import resolve_device, weight_dtype

    device = resolve_device(settings.device)
    parts = [f"model {model}", f"device {device}"]
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        driver = "?"
        try:
            import pynvml  # nvidia-ml-py, where installed

            pynvml.nvmlInit()
            driver = pynvml.nvmlSystemGetDriverVersion()
        except Exception:
            pass
        parts += [f"{props.name} ({props.total_memory / 2**30:.0f} GiB)", f"CUDA {torch.version.cuda}",
                  f"driver {driver}"]
    parts += [f"generation {str(weight_dtype(device, 'fp16')).removeprefix('torch.')}",
              f"training {str(weight_dtype(device, 'bf16')).removeprefix('torch.')}",
              f"torch {torch.__version__}", f"diffusers {diffusers.__version__}", f"python {platform.python_version()}"]
    return ", ".join(parts)
