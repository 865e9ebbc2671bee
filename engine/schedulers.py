"""The samplers a style may name, as diffusers schedulers built from the base model's own config."""

from __future__ import annotations

from typing import Any

# name -> (diffusers class name, extra config); the names styles use (A1111's, the common ones)
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {}),
    "dpmpp_2m_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "dpmpp_2m_sde_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True,
                                                            "algorithm_type": "sde-dpmsolver++"}),
    "ddim": ("DDIMScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
}


def build_scheduler(name: str, config: Any) -> Any:
    """A fresh scheduler ``name`` from a pipeline scheduler's config (its betas and spacing kept)."""
    import diffusers

    class_name, extra = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(config, **extra)
