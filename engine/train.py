"""DreamBooth-style LoRA training for SDXL (after diffusers' ``train_dreambooth_lora_sdxl.py``).

LoRA (peft) on the UNet attention projections, optionally on both text encoders; latents and
text embeddings cached once; SNR-weighted loss; every random draw derives from (seed, step), so a
run resumed from a checkpoint continues exactly as if it had not stopped.
"""

from __future__ import annotations

import json
import logging
import math
import time
from contextlib import nullcontext
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, StableDiffusionXLPipeline
from diffusers.training_utils import cast_training_params, compute_snr
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig, inject_adapter_in_model
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from PIL import Image

from engine.checkpoints import clear_checkpoints, latest_checkpoint, save_checkpoint
from engine.device import gpu_memory_gib, resolve_device, weight_dtype
from engine.errors import Cancelled, InvalidConfig
from engine.models import ModelSpec
from engine.pipelines import LoadOptions, load_base
from engine.train_config import TEXT_ENCODER_TARGETS, TrainConfig, TrainProgress, TrainResult
from engine.trainset import Example, make_examples

__all__ = ["Cancelled", "TrainConfig", "TrainProgress", "TrainResult", "train_lora", "train_on_pipeline"]

log = logging.getLogger(__name__)

LORA_WEIGHTS = "pytorch_lora_weights.safetensors"
LORA_INFO = "lora.json"
ProgressFn = Callable[[TrainProgress], None]
CancelFn = Callable[[], bool]


def check_inputs(images_with_captions: Sequence[tuple[Image.Image, str]], config: TrainConfig,
                 spec: ModelSpec | None = None) -> None:
    """Everything that can be refused without loading a model."""
    problems = []
    if not images_with_captions:
        problems.append("no training images")
    for i, item in enumerate(images_with_captions):
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Image.Image)
                and isinstance(item[1], str)):
            problems.append(f"item {i} is not (PIL.Image, caption)")
        elif min(item[0].size) < 16:
            problems.append(f"image {i} is too small ({item[0].size})")
    if spec is not None and config.resolution % spec.size_multiple:
        problems.append(f"resolution {config.resolution} is not a multiple of {spec.size_multiple}")
    if problems:
        raise InvalidConfig("; ".join(problems))


def train_lora(
    model: ModelSpec,
    images_with_captions: Sequence[tuple[Image.Image, str]],
    config: TrainConfig,
    output_dir: Path,
    *,
    models_dir: Path = Path("data/models"),
    device: str = "auto",
    offline: bool = True,
    progress: ProgressFn | None = None,
    should_cancel: CancelFn | None = None,
) -> TrainResult:
    """Train the user's LoRA on ``model``; resumes from ``output_dir``'s checkpoint of the same run.

    Captions should contain ``config.token``; an empty caption becomes ``config.instance_prompt``.
    Raises InvalidConfig before loading anything, Cancelled when ``should_cancel()`` turns True.
    """
    check_inputs(images_with_captions, config, model)
    torch_device = resolve_device(device)
    dtype = torch.float32 if config.mixed_precision == "no" else weight_dtype(torch_device, config.mixed_precision)
    pipe = load_base(model, LoadOptions(Path(models_dir), torch_device, dtype, offline))
    result = train_on_pipeline(pipe, images_with_captions, config, output_dir,
                               progress=progress, should_cancel=should_cancel)
    info = json.loads((Path(output_dir) / LORA_INFO).read_text())
    (Path(output_dir) / LORA_INFO).write_text(json.dumps(info | {"model": model.name}, indent=2))
    return result


def _encode(pipe: StableDiffusionXLPipeline, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    embeds, _, pooled, _ = pipe.encode_prompt(captions, device=pipe.device, do_classifier_free_guidance=False)
    return embeds, pooled


def _time_ids(example: Example, resolution: int) -> list[int]:
    return [*example.original_size, *example.crop_top_left, resolution, resolution]


def _cache_latents(pipe: StableDiffusionXLPipeline, examples: list[Example]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of each image's latent distribution (sampled per step, as diffusers does), in
    fp32: the VAE encodes in fp32 whatever the weights' dtype (diffusers' SDXL LoRA script keeps it
    in fp32; half precision overflows in SDXL's VAE), then goes back to it."""
    vae = pipe.vae
    weights = vae.dtype
    upcast = weights != torch.float32
    if upcast:
        vae.to(torch.float32)
    means, stds = [], []
    with torch.no_grad():
        for example in examples:
            pixels = torch.from_numpy(example.pixels)[None].to(vae.device, vae.dtype)
            dist = vae.encode(pixels).latent_dist
            means.append(dist.mean.float())
            stds.append(dist.std.float())
    if upcast:
        vae.to(weights)
    return torch.cat(means), torch.cat(stds)


def _batch_indices(step: int, batch_size: int, n: int, seed: int) -> list[int]:
    """Epoch-wise shuffles, each derived from (seed, epoch) alone."""
    indices = []
    for position in range(step * batch_size, (step + 1) * batch_size):
        epoch, offset = divmod(position, n)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch))
        indices.append(int(order[offset]))
    return indices


def _lora_states(pipe: StableDiffusionXLPipeline, config: TrainConfig) -> dict[str, dict[str, torch.Tensor]]:
    states = {"unet": get_peft_model_state_dict(pipe.unet)}
    if config.train_text_encoder:
        states["text_encoder"] = get_peft_model_state_dict(pipe.text_encoder)
        states["text_encoder_2"] = get_peft_model_state_dict(pipe.text_encoder_2)
    return states


def _save_lora(pipe: StableDiffusionXLPipeline, config: TrainConfig, output_dir: Path) -> Path:
    states = {name: convert_state_dict_to_diffusers(state) for name, state in _lora_states(pipe, config).items()}
    metadata = {"unet_lora_adapter_metadata": pipe.unet.peft_config["default"].to_dict()}
    if config.train_text_encoder:
        metadata["text_encoder_lora_adapter_metadata"] = pipe.text_encoder.peft_config["default"].to_dict()
        metadata["text_encoder_2_lora_adapter_metadata"] = pipe.text_encoder_2.peft_config["default"].to_dict()
    StableDiffusionXLPipeline.save_lora_weights(
        output_dir, unet_lora_layers=states["unet"], text_encoder_lora_layers=states.get("text_encoder"),
        text_encoder_2_lora_layers=states.get("text_encoder_2"), weight_name=LORA_WEIGHTS, **metadata,
    )
    return Path(output_dir) / LORA_WEIGHTS


# Peak VRAM of SDXL LoRA training at 1024 px, batch 4, bf16, no checkpointing: 36 GiB on an H100;
# with a warm generator beside it (20.5 GiB) that wants a 64 GB card.
CHECKPOINTING_BELOW_GIB = 64


def use_checkpointing(config: TrainConfig, device: torch.device) -> bool:
    """Gradient checkpointing as configured; unset, only on a CUDA card under CHECKPOINTING_BELOW_GIB."""
    memory = gpu_memory_gib(device)
    if memory is None:
        return False
    if config.gradient_checkpointing is not None:
        return config.gradient_checkpointing
    return memory < CHECKPOINTING_BELOW_GIB


def _add_adapters(pipe: StableDiffusionXLPipeline, config: TrainConfig) -> list[dict]:
    """Freeze the model, add LoRA layers (seeded init), return optimizer parameter groups."""
    for module in (pipe.unet, pipe.vae, pipe.text_encoder, pipe.text_encoder_2):
        module.requires_grad_(False)
    torch.manual_seed(config.seed)
    pipe.unet.add_adapter(LoraConfig(r=config.rank, lora_alpha=config.lora_alpha, init_lora_weights="gaussian",
                                     target_modules=list(config.lora_targets)))
    trained = [pipe.unet]
    if config.train_text_encoder:
        for encoder in (pipe.text_encoder, pipe.text_encoder_2):
            # peft's own injection: transformers' `add_adapter` wants a newer peft than diffusers does.
            inject_adapter_in_model(LoraConfig(r=config.rank, lora_alpha=config.lora_alpha, init_lora_weights="gaussian",
                                               target_modules=list(TEXT_ENCODER_TARGETS)), encoder)
            trained.append(encoder)
    if pipe.unet.dtype != torch.float32:
        cast_training_params(trained, dtype=torch.float32)  # LoRA weights train in fp32
    if use_checkpointing(config, pipe.device):
        pipe.unet.enable_gradient_checkpointing()
        if config.train_text_encoder:
            pipe.text_encoder.gradient_checkpointing_enable()
            pipe.text_encoder_2.gradient_checkpointing_enable()
    groups = [{"params": [p for p in pipe.unet.parameters() if p.requires_grad], "lr": config.learning_rate}]
    if config.train_text_encoder:
        params = [p for m in (pipe.text_encoder, pipe.text_encoder_2) for p in m.parameters() if p.requires_grad]
        groups.append({"params": params, "lr": config.text_encoder_learning_rate})
    return groups


def _loss(pred: torch.Tensor, target: torch.Tensor, timesteps: torch.Tensor, scheduler: DDPMScheduler,
          snr_gamma: float | None) -> torch.Tensor:
    if snr_gamma is None:
        return F.mse_loss(pred.float(), target.float())
    snr = compute_snr(scheduler, timesteps)
    weights = torch.clamp(snr, max=snr_gamma) / snr
    if scheduler.config.prediction_type == "v_prediction":
        weights = torch.clamp(snr, max=snr_gamma) / (snr + 1)
    per_sample = F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
    return (per_sample * weights).mean()


def train_on_pipeline(
    pipe: StableDiffusionXLPipeline,
    images_with_captions: Sequence[tuple[Image.Image, str]],
    config: TrainConfig,
    output_dir: Path,
    *,
    progress: ProgressFn | None = None,
    should_cancel: CancelFn | None = None,
) -> TrainResult:
    """The training loop on an already loaded base pipeline (which it modifies: LoRA layers are added)."""
    check_inputs(images_with_captions, config)
    started = time.monotonic()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    device = pipe.device
    examples = make_examples(images_with_captions, config.resolution, config.instance_prompt)
    captions = [e.caption for e in examples]
    total = config.total_steps(len(examples))
    fingerprint = config.fingerprint(len(examples), captions)
    amp_dtype = pipe.unet.dtype if pipe.unet.dtype != torch.float32 else None

    # Cached once: latent distributions, conditioning and (frozen encoders) text embeddings.
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    latent_mean, latent_std = _cache_latents(pipe, examples)
    scaling = pipe.vae.config.scaling_factor
    shift = getattr(pipe.vae.config, "shift_factor", None) or 0.0
    time_ids = torch.tensor([_time_ids(e, config.resolution) for e in examples], device=device, dtype=torch.float32)
    groups = _add_adapters(pipe, config)
    cached_text = None
    if not config.train_text_encoder:
        with torch.no_grad():
            cached_text = _encode(pipe, captions)

    optimizer = torch.optim.AdamW(groups, weight_decay=1e-4, fused=device.type == "cuda")
    warmup = config.warmup_steps
    lr_schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / (warmup + 1)))
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16 and device.type == "cuda")

    start = 0
    checkpoint = latest_checkpoint(output_dir, fingerprint)
    if checkpoint is not None and checkpoint.step < total:
        set_peft_model_state_dict(pipe.unet, checkpoint.lora_state("unet"))
        if config.train_text_encoder:
            set_peft_model_state_dict(pipe.text_encoder, checkpoint.lora_state("text_encoder"))
            set_peft_model_state_dict(pipe.text_encoder_2, checkpoint.lora_state("text_encoder_2"))
        state = checkpoint.optimizer_state()
        optimizer.load_state_dict(state["optimizer"])
        lr_schedule.load_state_dict(state["schedule"])
        scaler.load_state_dict(state["scaler"])
        start = checkpoint.step
        log.info("resuming training from step %d of %d", start, total)

    trainable = [p for group in groups for p in group["params"]]
    pipe.unet.train()
    loss_value = math.nan
    loop_started = time.monotonic()
    for step in range(start, total):
        if should_cancel is not None and should_cancel():
            raise Cancelled("training", step)
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        index = torch.tensor(_batch_indices(step, config.batch_size, len(examples), config.seed))
        eps = torch.randn(latent_mean[index].shape, generator=generator).to(device)
        latents = ((latent_mean[index] + latent_std[index] * eps) - shift) * scaling
        noise = torch.randn(latents.shape, generator=generator).to(device)
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(index),),
                                  generator=generator).to(device)
        noisy = noise_scheduler.add_noise(latents, noise, timesteps)
        if noise_scheduler.config.prediction_type == "v_prediction":
            target = noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise

        autocast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
        with autocast:
            if cached_text is not None:
                embeds, pooled = cached_text[0][index.to(device)], cached_text[1][index.to(device)]
            else:
                embeds, pooled = _encode(pipe, [captions[i] for i in index.tolist()])
            pred = pipe.unet(noisy.to(pipe.unet.dtype), timesteps, embeds,
                             added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids[index.to(device)]}).sample
        loss = _loss(pred, target, timesteps, noise_scheduler, config.snr_gamma)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        lr_schedule.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.detach())

        done = step + 1
        if done % config.checkpoint_every == 0 and done < total:
            save_checkpoint(output_dir, done, fingerprint, _lora_states(pipe, config),
                            {"optimizer": optimizer.state_dict(), "schedule": lr_schedule.state_dict(),
                             "scaler": scaler.state_dict()})
        if progress is not None:
            elapsed = time.monotonic() - loop_started
            eta = elapsed / (done - start) * (total - done)
            progress(TrainProgress(done, total, loss_value, time.monotonic() - started, eta))

    pipe.unet.eval()
    lora_path = _save_lora(pipe, config, output_dir)
    info = {"token": config.token, "class_word": config.class_word, "instance_prompt": config.instance_prompt,
            "rank": config.rank, "alpha": config.lora_alpha, "steps": total, "final_loss": loss_value,
            "resolution": config.resolution, "text_encoder": config.train_text_encoder}
    (output_dir / LORA_INFO).write_text(json.dumps(info, indent=2))
    clear_checkpoints(output_dir)
    seconds = time.monotonic() - started
    log.info("LoRA trained: %d steps, loss %.4f, %.1f s -> %s", total, loss_value, seconds, lora_path)
    return TrainResult(lora_path, total, loss_value, seconds, resumed_from=start)
