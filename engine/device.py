"""Torch device and dtype choices shared by training, generation and finishing."""

from __future__ import annotations

import torch

from engine.errors import DeviceUnavailable

_PRECISIONS = {"no": torch.float32, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(setting: str = "auto") -> torch.device:
    """``auto`` → cuda when available, else cpu; otherwise the named device (``cuda:1``, ``cpu``)."""
    if setting in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(f"device {setting!r} requested but CUDA is not available")
    return device


def weight_dtype(device: torch.device, precision: str = "fp16") -> torch.dtype:
    """dtype for frozen weights: half precision on GPU, fp32 on CPU (half is slow or unsupported there)."""
    if device.type != "cuda":
        return torch.float32
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return _PRECISIONS[precision]


def seeded_generator(device: torch.device, seed: int) -> torch.Generator:
    generator = torch.Generator(device="cpu" if device.type == "mps" else device)
    return generator.manual_seed(int(seed))


def gpu_memory_gib(device: torch.device | str) -> float | None:
    """The GPU's memory in GiB; None when ``device`` is not a CUDA device."""
    resolved = resolve_device(device) if isinstance(device, str) else device
    if resolved.type != "cuda":
        return None
    return torch.cuda.get_device_properties(resolved).total_memory / 2**30
