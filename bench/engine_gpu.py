"""GPU benchmark of the engine: LoRA training and 1024² base+refiner generation on full-size SDXL.

    python -m bench.engine_gpu [--models-dir data/models] [--train-steps 40] [--channels-last] [--compile]

Uses the real SDXL weights when they are in --models-dir (``studio models fetch sdxl``), else the
full-size SDXL architectures built from config with random weights (same shapes, same cost).
Targets (issue 5, H100): a personal LoRA in under 5 minutes, under 2 s per 1024² image.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _random_sdxl(device, dtype):  # type: ignore[no-untyped-def]
    """SDXL 1.0 base + refiner shapes (UNets 2.6 B / 2.3 B params, CLIP-L + bigG, VAE) with random weights."""
    import torch
    from diffusers import (AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline,
                           StableDiffusionXLPipeline, UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from engine import tiny

    vocab, _ = tiny._vocab_and_merges()
    ids = {"bos_token_id": vocab[tiny.BOS], "eos_token_id": vocab[tiny.EOS], "pad_token_id": vocab[tiny.EOS],
           "vocab_size": 49408, "max_position_embeddings": 77}
    clip_l = CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                            projection_dim=768, hidden_act="quick_gelu", **ids)
    clip_g = CLIPTextConfig(hidden_size=1280, intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32,
                            projection_dim=1280, hidden_act="gelu", **ids)
    unet = UNet2DConditionModel(
        sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816)
    refiner_unet = UNet2DConditionModel(
        sample_size=128, block_out_channels=(384, 768, 1536, 1536), layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=4, attention_head_dim=(6, 12, 24, 24), cross_attention_dim=1280,
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2560)
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), latent_channels=4, sample_size=1024, scaling_factor=0.13025,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2, force_upcast=False)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    encoder_2 = CLIPTextModelWithProjection(clip_g)
    base = StableDiffusionXLPipeline(
        vae=vae, text_encoder=CLIPTextModel(clip_l), text_encoder_2=encoder_2, tokenizer=tiny.tokenizer(),
        tokenizer_2=tiny.tokenizer(), unet=unet, scheduler=scheduler).to(device, dtype)
    refiner = StableDiffusionXLImg2ImgPipeline(
        vae=base.vae, text_encoder=None, text_encoder_2=base.text_encoder_2, tokenizer=None,
        tokenizer_2=base.tokenizer_2, unet=refiner_unet, scheduler=EulerDiscreteScheduler.from_config(scheduler.config),
        requires_aesthetics_score=True).to(device, dtype)
    for pipe in (base, refiner):
        pipe.set_progress_bar_config(disable=True)
    return base, refiner


def _load(args, device, dtype):  # type: ignore[no-untyped-def]
    from engine.models import get_spec, weights_present
    from engine.pipelines import LoadOptions, load_base, load_refiner

    spec = get_spec("sdxl")
    if weights_present(spec, args.models_dir):
        options = LoadOptions(args.models_dir, device, dtype, offline=True)
        base = load_base(spec, options)
        return spec, base, load_refiner(spec, base, options), "real SDXL 1.0 weights"
    base, refiner = _random_sdxl(device, dtype)
    return spec, base, refiner, "random weights, SDXL 1.0 architecture"


def _photos(n: int):  # type: ignore[no-untyped-def]
    from PIL import Image

    rng = np.random.default_rng(0)
    return [(Image.fromarray(rng.integers(0, 255, (1024, 1024, 3), dtype=np.uint8)), "a photo of ohwx person")
            for _ in range(n)]


def bench_training(args, spec, load) -> dict[str, float]:  # type: ignore[no-untyped-def]
    import torch

    from engine.train import TrainConfig, train_on_pipeline

    base, _, _ = load()
    config = TrainConfig.for_model(spec, steps=args.train_steps, mixed_precision="bf16",
                                   gradient_checkpointing=not args.no_checkpointing, checkpoint_every=10_000)
    stamps: list[float] = []
    torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as out:
        train_on_pipeline(base, _photos(args.photos), config, Path(out),
                          progress=lambda p: stamps.append(time.perf_counter()))
    warm = stamps[args.warmup:]
    per_step = (warm[-1] - warm[0]) / max(1, len(warm) - 1)
    policy_steps = TrainConfig.for_model(spec).total_steps(args.photos)
    return {"s_per_step": per_step, "policy_steps": policy_steps, "total_min": per_step * policy_steps / 60,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30}


def bench_generation(args, spec, load) -> dict[str, float]:  # type: ignore[no-untyped-def]
    import torch

    from engine.generate import GenerationRequest, Generator
    from engine.pipelines import apply_speedups

    base, refiner, _ = load()
    if args.no_sdpa:
        from diffusers.models.attention_processor import AttnProcessor

        for pipe in (base, refiner):
            pipe.unet.set_attn_processor(AttnProcessor())
    for pipe in (base, refiner):
        apply_speedups(pipe, channels_last=args.channels_last, compile_unet=args.compile)
    generator = Generator.from_pipelines(spec, base, refiner, batch_size=args.batch)
    single = GenerationRequest("a photo of ohwx person, studio portrait", count=1, steps=30, aspect="1:1")
    for _ in range(2):  # warm-up (and compilation)
        generator.generate(single)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(args.images):
        generator.generate(single)
    torch.cuda.synchronize()
    per_image = (time.perf_counter() - started) / args.images
    batched = GenerationRequest(single.prompt, count=args.batch * 2, steps=30, aspect="1:1")
    generator.generate(GenerationRequest(single.prompt, count=args.batch, steps=30))
    torch.cuda.synchronize()
    started = time.perf_counter()
    generator.generate(batched)
    torch.cuda.synchronize()
    per_minute = batched.count / (time.perf_counter() - started) * 60
    return {"s_per_image": per_image, "images_per_min": per_minute,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=Path("data/models"))
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--train-steps", type=int, default=40, help="timed steps (total is extrapolated)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--no-sdpa", action="store_true", help="classic attention, to compare with SDPA")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNets")
    parser.add_argument("--no-checkpointing", action="store_true", help="training without gradient checkpointing")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-generate", action="store_true")
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("bench.engine_gpu needs a CUDA GPU and none is available here; nothing was measured.")
        return 2
    device, dtype = torch.device("cuda"), torch.float16
    state: dict[str, object] = {}

    def load():  # type: ignore[no-untyped-def]
        # Fresh pipelines for each part: training adds LoRA layers to the base it is given.
        state.clear()
        torch.cuda.empty_cache()
        spec, base, refiner, source = _load(args, device, dtype)
        state["source"] = source
        return base, refiner, spec

    name = torch.cuda.get_device_name()
    print(f"device: {name}, torch {torch.__version__}")
    from engine.models import get_spec

    spec = get_spec("sdxl")
    if not args.skip_train:
        r = bench_training(args, spec, lambda: load())
        print(f"[{state['source']}] LoRA training at 1024 px, {args.photos} photos, rank {spec.train_rank}, fp16 weights + fp32 LoRA: "
              f"{r['s_per_step']:.3f} s/step; policy {r['policy_steps']:.0f} steps -> {r['total_min']:.1f} min; "
              f"peak VRAM {r['peak_gib']:.1f} GiB")
    if not args.skip_generate:
        g = bench_generation(args, spec, lambda: load())
        options = ", ".join(o for o, on in (("SDPA", not args.no_sdpa), ("fp16 VAE", True),
                                            ("channels-last", args.channels_last), ("compile", args.compile)) if on)
        print(f"[{state['source']}] 1024² base 30 steps + refiner (split 0.8), {options}: "
              f"{g['s_per_image']:.2f} s/image; batch {args.batch}: {g['images_per_min']:.1f} images/min; "
              f"peak VRAM {g['peak_gib']:.1f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
