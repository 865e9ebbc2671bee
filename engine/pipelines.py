"""Build diffusers SDXL pipelines for a ModelSpec: from_pretrained for real models, config for tiny.

Everything downstream (training, generation) takes these pipelines, so ``--model sdxl`` and
``--model tiny`` run the same code after this point.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

from engine import tiny
from engine.library_logs import route_library_logs
from engine.models import ModelSpec, local_dir, require_weights

log = logging.getLogger(__name__)
route_library_logs()  # diffusers and transformers are imported by now


@dataclass(frozen=True)
class LoadOptions:
    models_dir: Path
    device: torch.device
    dtype: torch.dtype = torch.float32
    offline: bool = True


def _source(source: str, options: LoadOptions) -> tuple[str, dict[str, Any]]:
    """A local folder when the component was fetched there, else the hub id with a cache dir."""
    folder = local_dir(source, options.models_dir)
    if folder.exists():
        return str(folder), {"local_files_only": True}
    return source, {"cache_dir": str(Path(options.models_dir) / "hub"), "local_files_only": options.offline}


def _variant(spec: ModelSpec, folder_or_id: str) -> dict[str, Any]:
    if not spec.variant:
        return {}
    folder = Path(folder_or_id)
    if folder.is_dir() and not any(folder.rglob(f"*.{spec.variant}.safetensors")):
        return {}  # fetched without variant files
    return {"variant": spec.variant}


def load_base(spec: ModelSpec, options: LoadOptions) -> StableDiffusionXLPipeline:
    """The base text-to-image pipeline (fp16-safe VAE swapped in when the spec names one)."""
    if spec.kind == "tiny":
        pipe = StableDiffusionXLPipeline(**tiny.base_components(spec.seed), force_zeros_for_empty_prompt=True)
    else:
        if options.offline:
            require_weights(spec, options.models_dir)
        path, kwargs = _source(spec.base, options)
        extra: dict[str, Any] = {}
        if spec.vae:
            vae_path, vae_kwargs = _source(spec.vae, options)
            extra["vae"] = AutoencoderKL.from_pretrained(vae_path, torch_dtype=options.dtype, **vae_kwargs)
        pipe = StableDiffusionXLPipeline.from_pretrained(
            path, torch_dtype=options.dtype, use_safetensors=True, add_watermarker=False,
            **_variant(spec, path), **kwargs, **extra,
        )
    return _placed(pipe, options, cast=spec.kind == "tiny")


def _placed(pipe, options: LoadOptions, *, cast: bool):  # type: ignore[no-untyped-def]
    pipe.set_progress_bar_config(disable=True)
    if cast and options.dtype != torch.float32:  # tiny is built in fp32; real weights load in their dtype
        return pipe.to(options.device, options.dtype)
    return pipe.to(options.device)


def load_refiner(spec: ModelSpec, base: StableDiffusionXLPipeline,
                 options: LoadOptions) -> StableDiffusionXLImg2ImgPipeline | None:
    """The refiner img2img pipeline sharing the base's second text encoder and VAE, or None."""
    if not spec.has_refiner:
        return None
    shared = {"text_encoder_2": base.text_encoder_2, "tokenizer_2": base.tokenizer_2, "vae": base.vae}
    if spec.kind == "tiny":
        pipe = StableDiffusionXLImg2ImgPipeline(
            unet=tiny.refiner_unet(spec.seed), scheduler=tiny.scheduler(), text_encoder=None, tokenizer=None,
            requires_aesthetics_score=True, force_zeros_for_empty_prompt=False, **shared,
        )
    else:
        assert spec.refiner is not None
        path, kwargs = _source(spec.refiner, options)
        pipe = StableDiffusionXLImg2ImgPipeline.from_pretrained(
            path, torch_dtype=options.dtype, use_safetensors=True, add_watermarker=False,
            **_variant(spec, path), **kwargs, **shared,
        )
    return _placed(pipe, options, cast=spec.kind == "tiny")


def apply_speedups(pipe: StableDiffusionXLPipeline | StableDiffusionXLImg2ImgPipeline, *,
                   channels_last: bool = False, compile_unet: bool = False,
                   compile_mode: str = "max-autotune") -> None:
    """GPU options: SDPA is diffusers' default attention on torch 2; these add the rest."""
    if channels_last:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
    if compile_unet and compile_mode == "regional":
        # the repeated transformer block compiled once and reused (diffusers' regional compilation):
        # whole-UNet compilation of SDXL did not finish in 6 minutes on the H100 (bench/RESULTS.md)
        pipe.unet.compile_repeated_blocks(fullgraph=True)
    elif compile_unet:
        pipe.unet = torch.compile(pipe.unet, mode=compile_mode, fullgraph=True)
