"""GPU benchmark of the engine as production runs it: bf16 LoRA training and fp16 1024² generation.

    python -m bench.engine_gpu [--models-dir data/models] [--train-steps 30] [--compile] [--json FILE]
    python -m bench.engine_gpu --tiny --device cpu          # the CPU dry run the suite makes

Uses the real SDXL weights when they are in --models-dir (``studio models fetch sdxl``), else the
full-size SDXL architectures built from config with random weights on the device (same shapes,
same cost). Measured, each with its own clock:

- training as the worker trains (bf16 weights, fp32 LoRA, gradient checkpointing as set): model
  load, latent + text caching, steps (s/step after warm-up), saving the LoRA; the whole job for the
  steps policy of ``--photos`` photos is extrapolated from these parts;
- generation as the worker generates (fp16 weights, SDPA, the trained user LoRA loaded): one 1024²
  portrait, base 30 steps + refiner, and a 4-portrait batch (images per minute).

- the train-free preview as the worker paints it (issue 13): the IP-Adapter plus-face loaded into
  the warm base pipeline (first time with its CLIP ViT-H encoder, then warm), and one preview at
  1024² (one portrait and one extra candidate for the likeness ranking, base + refiner). Real
  adapter weights when fetched, else random ones of the real shapes.

Targets (issue 16, one H100, full-size SDXL): LoRA for 12 photos ≤ 3 min including load; one
1024² portrait ≤ 1.5 s; a 4-portrait job ≤ 20 s end to end. Issue 13: the preview in the chat
≤ 60 s after the set is accepted, adapter load included, on a warm worker.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.portrait_timeline import describe_timeline, portrait_timeline, profile_portrait

log = logging.getLogger("bench.engine_gpu")


def _random_sdxl(device, dtype):  # type: ignore[no-untyped-def]
    """SDXL 1.0 base + refiner shapes (UNets 2.6 B / 2.3 B params, CLIP-L + bigG, VAE) with random weights,
    built directly on ``device`` (initialising 5 B parameters on a CPU takes minutes)."""
    import torch
    from diffusers import (AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline,
                           StableDiffusionXLPipeline, UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from engine import clip_tokens, tiny

    vocab = clip_tokens.vocabulary()
    ids = {"bos_token_id": vocab[tiny.BOS], "eos_token_id": vocab[tiny.EOS], "pad_token_id": vocab[tiny.EOS],
           "vocab_size": 49408, "max_position_embeddings": 77}
    clip_l = CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                            projection_dim=768, hidden_act="quick_gelu", **ids)
    clip_g = CLIPTextConfig(hidden_size=1280, intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32,
                            projection_dim=1280, hidden_act="gelu", **ids)
    with torch.device(device):
        unet = UNet2DConditionModel(
            sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
            use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816).to(dtype)
        refiner_unet = UNet2DConditionModel(
            sample_size=128, block_out_channels=(384, 768, 1536, 1536), layers_per_block=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=4, attention_head_dim=(6, 12, 24, 24), cross_attention_dim=1280,
            use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2560).to(dtype)
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512), latent_channels=4, sample_size=1024, scaling_factor=0.13025,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=2, force_upcast=False).to(dtype)
        encoder = CLIPTextModel(clip_l).to(dtype)
        encoder_2 = CLIPTextModelWithProjection(clip_g).to(dtype)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    base = StableDiffusionXLPipeline(
        vae=vae, text_encoder=encoder, text_encoder_2=encoder_2, tokenizer=tiny.tokenizer(),
        tokenizer_2=tiny.tokenizer(), unet=unet, scheduler=scheduler, add_watermarker=False)
    refiner = StableDiffusionXLImg2ImgPipeline(
        vae=base.vae, text_encoder=None, text_encoder_2=base.text_encoder_2, tokenizer=None,
        tokenizer_2=base.tokenizer_2, unet=refiner_unet, scheduler=EulerDiscreteScheduler.from_config(scheduler.config),
        requires_aesthetics_score=True, add_watermarker=False)
    for pipe in (base, refiner):
        pipe.set_progress_bar_config(disable=True)
    return base, refiner


def _load(args, spec, device, dtype, *, refiner: bool):  # type: ignore[no-untyped-def]
    """(base, refiner or None, where the weights came from)."""
    from engine.models import weights_present
    from engine.pipelines import LoadOptions, load_base, load_refiner

    if spec.kind == "tiny" or weights_present(spec, args.models_dir):
        options = LoadOptions(args.models_dir, device, dtype, offline=True)
        base = load_base(spec, options)
        source = "tiny random model" if spec.kind == "tiny" else f"real {spec.name} weights"
        return base, (load_refiner(spec, base, options) if refiner else None), source
    base, refiner_pipe = _random_sdxl(device, dtype)
    if not refiner:
        del refiner_pipe
    return base, (refiner_pipe if refiner else None), f"random weights, {spec.name} architecture"


def _photos(n: int, size: int):  # type: ignore[no-untyped-def]
    from PIL import Image

    rng = np.random.default_rng(0)
    return [(Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)), "a photo of ohwx person")
            for _ in range(n)]


class Clock:
    """Wall-clock seconds of named parts, the device synchronised at both ends."""

    def __init__(self, device) -> None:  # type: ignore[no-untyped-def]
        self.device = device
        self.parts: dict[str, float] = {}

    def sync(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def time(self, name: str, fn: Callable[[], Any]) -> Any:
        self.sync()
        started = time.perf_counter()
        result = fn()
        self.sync()
        self.parts[name] = time.perf_counter() - started
        return result


def _reset_memory(device) -> None:  # type: ignore[no-untyped-def]
    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device) -> float:  # type: ignore[no-untyped-def]
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")


def bench_training(args, spec, device, lora_dir: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Training as the worker trains it; returns measured parts and the policy-length estimate."""
    from engine.device import weight_dtype
    from engine.train import TrainConfig, train_on_pipeline

    _reset_memory(device)
    config = TrainConfig.for_model(spec, steps=args.train_steps, checkpoint_every=10_000,
                                   gradient_checkpointing=args.checkpointing, batch_size=args.train_batch)
    dtype = weight_dtype(device, config.mixed_precision) if args.dtype == "auto" else _dtype(args.dtype)
    clock = Clock(device)
    base, _, source = clock.time("load", lambda: _load(args, spec, device, dtype, refiner=False))
    stamps: list[float] = []
    clock.sync()
    started = time.perf_counter()
    result = train_on_pipeline(base, _photos(args.photos, spec.resolution), config, lora_dir,
                               progress=lambda p: (clock.sync(), stamps.append(time.perf_counter())))
    clock.sync()
    total = time.perf_counter() - started
    warm = stamps[min(args.warmup, len(stamps) - 2):]
    per_step = (warm[-1] - warm[0]) / max(1, len(warm) - 1)
    first_step_at = stamps[0] - started  # caching + adapters + the first (slow) step
    after_last = (started + total) - stamps[-1]  # saving the LoRA
    # The policy's number of images seen (steps at batch 1), in steps of this batch size.
    policy_steps = -(-TrainConfig.for_model(spec, batch_size=1).total_steps(args.photos) // config.batch_size)
    estimate = clock.parts["load"] + first_step_at + per_step * (policy_steps - 1) + after_last
    del base
    return {"source": source, "dtype": str(dtype).removeprefix("torch."), "load_s": clock.parts["load"],
            "prepare_and_first_step_s": first_step_at, "s_per_step": per_step, "save_s": after_last,
            "steps_timed": len(stamps), "batch_size": config.batch_size, "policy_steps": policy_steps, "job_estimate_s": estimate,
            "final_loss": result.final_loss, "peak_gib": _peak_gib(device)}


PROFILED_STEPS = 4
"""Steps of the profiled portrait: a 30-step one is ~2 M profiler events, minutes to read back."""


def bench_generation(args, spec, device, lora: Path | None,  # type: ignore[no-untyped-def]
                     on_measured: Callable[[dict[str, Any]], None] = lambda figures: None) -> dict[str, Any]:
    """Generation as the worker generates: fp16 weights, SDPA, the user's LoRA loaded."""
    from engine.generate import GenerationRequest, Generator
    from engine.pipelines import apply_speedups

    _reset_memory(device)
    dtype = weight_dtype_for(args, device)
    clock = Clock(device)
    base, refiner, source = clock.time("load", lambda: _load(args, spec, device, dtype, refiner=True))
    if device.type == "cuda":
        for pipe in (base, refiner):
            if pipe is not None:
                apply_speedups(pipe, channels_last=args.channels_last, compile_unet=args.compile,
                               compile_mode=args.compile_mode)
    generator = Generator.from_pipelines(spec, base, refiner, batch_size=args.batch, fuse_loras=args.lora == "fused")
    if args.lora == "none":
        lora = None
    steps = args.steps or spec.steps
    single = GenerationRequest("a photo of ohwx person, studio portrait", count=1, steps=steps, aspect="1:1",
                               lora=lora)
    clock.time("first_image", lambda: generator.generate(single))  # LoRA load, warm-up (and compilation)
    for _ in range(args.warm_images):
        generator.generate(single)
    _reset_memory(device)
    clock.time("images", lambda: [generator.generate(single) for _ in range(args.images)])
    job = GenerationRequest(single.prompt, count=args.batch, steps=steps, aspect="1:1", lora=lora)
    clock.time("batch", lambda: generator.generate(job))
    per_image = clock.parts["images"] / args.images
    figures = {"source": source, "dtype": str(dtype).removeprefix("torch."), "load_s": clock.parts["load"],
               "first_image_s": clock.parts["first_image"], "s_per_image": per_image, "batch": args.batch,
               "batch_s": clock.parts["batch"], "images_per_min": args.batch / clock.parts["batch"] * 60,
               "peak_gib": _peak_gib(device), "timeline": portrait_timeline(generator, single, device)}
    on_measured(figures)  # saved before the profile: a slow or failing profile loses nothing measured
    if args.profile is not None:
        try:  # a short portrait: the fixed part's ops are the same, the steps' ops only repeat
            profile_portrait(generator, replace(single, steps=min(steps, PROFILED_STEPS)), device, args.profile)
        except Exception:
            log.exception("the profile of one portrait failed; the figures above stand")
    del generator, base, refiner
    return figures


def _preview_adapter(args, spec, base, scratch: Path):  # type: ignore[no-untyped-def]
    """(AdapterSource, where its weights came from): the registry's adapter when it is here (tiny's
    is built from config), else random weights with the shapes of h94's SDXL plus-face adapter and
    its CLIP ViT-H/14 encoder, written in the same layout."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from engine import tiny_ip_adapter
    from engine.models import preview_available
    from engine.preview import AdapterSource, adapter_source

    if spec.preview_adapter == "tiny":
        return adapter_source(spec, args.models_dir), "tiny adapter"
    if preview_available(spec, args.models_dir):
        return adapter_source(spec, args.models_dir), f"real {spec.preview_adapter} weights"
    with torch.device(base.device):  # initialising 632 M parameters on a CPU takes a while
        encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=1280, intermediate_size=5120, num_attention_heads=16, num_hidden_layers=32, patch_size=14,
            image_size=224, projection_dim=1024, hidden_act="gelu")).to(torch.float16)
    weights = tiny_ip_adapter.state_dict(base.unet, embed_dims=1280, hidden_dims=1280, heads=20, num_queries=16,
                                         dtype=torch.float16)
    root = tiny_ip_adapter.write_folder(scratch / "ip-adapter", weights, encoder)
    del encoder, weights
    return (AdapterSource(str(root), tiny_ip_adapter.SUBFOLDER, tiny_ip_adapter.WEIGHTS, tiny_ip_adapter.ENCODER,
                          {"local_files_only": True}), "random weights, plus-face SDXL + ViT-H shapes")


def bench_preview(args, spec, device, scratch: Path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The preview as the worker paints it: adapter into the warm base pipeline, one preview (one
    portrait + one extra candidate) at the model's resolution, adapter out again."""
    from engine.generate import GenerationRequest, Generator
    from engine.preview import PreviewPainter, face_crop

    _reset_memory(device)
    dtype = weight_dtype_for(args, device)
    clock = Clock(device)
    base, refiner, source = clock.time("load", lambda: _load(args, spec, device, dtype, refiner=True))
    generator = Generator.from_pipelines(spec, base, refiner, batch_size=args.batch)
    adapter, adapter_from = _preview_adapter(args, spec, base, scratch)
    painter = PreviewPainter(generator, adapter, scale=spec.preview_scale)
    faces = [face_crop(image, None) for image, _ in _photos(3, 512)]
    request = GenerationRequest("professional corporate headshot of a man, studio light", count=2,
                                steps=args.steps or spec.steps, aspect="1:1")
    clock.time("first_preview", lambda: painter.paint(request, faces))  # the encoder's load and warm-up too
    first_load = painter.last_load_seconds
    _reset_memory(device)
    clock.time("preview", lambda: painter.paint(request, faces))
    warm_load = painter.last_load_seconds
    del painter, generator, base, refiner
    return {"source": source, "adapter": adapter_from, "dtype": str(dtype).removeprefix("torch."),
            "load_s": clock.parts["load"], "adapter_first_load_s": first_load,
            "first_preview_s": clock.parts["first_preview"], "adapter_warm_load_s": warm_load,
            "preview_s": clock.parts["preview"], "images": request.count, "peak_gib": _peak_gib(device)}


PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "photos"


def _references() -> tuple[list[list[float]], str]:
    """The face prints intake takes from four real selfies (dlib), as a user's job carries them; none
    where dlib or its models are missing (the GPU image lacks them unless bench/gpu_wheels.sh carried them)."""
    try:
        from engine.intake import IntakeConfig, check_photo

        config = IntakeConfig(min_side_px=256)
        checks = [check_photo((PHOTOS / name).read_bytes(), config=config)
                  for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "obama-720p.jpg")]
        return [c.embedding.tolist() for c in checks if c.embedding is not None], "4 real selfies"
    except (ImportError, RuntimeError) as error:
        log.warning("no reference faces (%s): the job runs without ranking", error)
        return [], f"none ({type(error).__name__})"


def _finishing_models(folder: Path, tiny: bool) -> Path:
    """A models folder with production-shaped restorer and upscaler weights (random) where the
    worker looks for them (``restore/``, ``upscale/``)."""
    from bench.finishing_gpu import _weights

    folder.mkdir(parents=True, exist_ok=True)
    restorer, upscaler = _weights(folder, tiny)
    for sub, path in (("restore", restorer), ("upscale", upscaler)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        path.rename(folder / sub / path.name)
    return folder


def bench_job(args, spec, device, lora: Path | None, scratch: Path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A whole generate job as the worker runs it (``handle_generate``): the user's LoRA from
    storage, 4 portraits + 2 extra candidates of a real style, ranking against real selfies,
    finishing (restorer and upscaler from weight files) of every aspect, JPEG encoding and storing.
    Its parts are timed by wrapping the generator and the finisher."""
    import asyncio
    import threading

    from db.storage import LocalStorage
    from engine.generate import Generator
    from engine.jobs import GenerateJob
    from engine.runtime.handlers.context import EngineOptions, JobContext, ModelCache, StorageBridge
    from engine.runtime.handlers.generate import handle_generate, warm_finisher
    from styles.catalogue import load_catalogue

    _reset_memory(device)
    dtype = weight_dtype_for(args, device)
    clock = Clock(device)
    base, refiner, source = clock.time("load", lambda: _load(args, spec, device, dtype, refiner=True))
    models = _finishing_models(scratch / "job-models", args.tiny)
    storage = LocalStorage(scratch / "job-storage")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    bridge = StorageBridge(storage, loop)
    lora_key = bridge.put("users/1/lora/model.safetensors", lora.read_bytes()) if lora is not None else None
    references, references_from = _references()
    style = load_catalogue().get("linkedin-headshot")
    seconds = {"generate": 0.0, "enhance": 0.0}
    cache = ModelCache()
    generator = cache.get(f"generator:{spec.name}",
                          lambda: Generator.from_pipelines(spec, base, refiner, batch_size=args.batch))
    options = EngineOptions(base_model=spec.name, device=str(device), models_dir=models, offline=False,
                            work_dir=scratch / "job-work")

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*a: Any, **k: Any) -> Any:
            clock.sync()
            started = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                clock.sync()
                seconds[name] += time.perf_counter() - started
        return run

    generator.generate = timed("generate", generator.generate)
    count = 4
    job = GenerateJob(
        user_id=1, style_id=style.id, prompt=style.prompts("ohwx", "man", count, seed=7), negative_prompt=style.negative_prompt,
        lora_key=lora_key, base_model=spec.name, count=count, aspect=style.aspects[0], steps=args.steps or style.sampler.steps,
        guidance=style.sampler.guidance_scale, seed=7, use_refiner=style.sampler.refiner_split is not None,
        refiner_split=style.sampler.refiner_split,
        scheduler=style.sampler.scheduler, output_prefix="users/1/outputs/pending/", output_aspects=list(style.aspects),
        reference_embeddings=references, extra_candidates=count // 2, min_likeness=70, likeness_retries=1)
    runs = []
    try:
        for attempt in (1, 2):  # the first is warm-up: the LoRA's load and fuse, the finishing networks' load
            context = JobContext(job_id=attempt, attempt=1, correlation_id=f"{attempt:032x}", options=options,
                                 storage=bridge, cache=cache)
            finisher = warm_finisher(context, device)
            if not hasattr(finisher.enhance_many, "__wrapped_by_bench__"):
                finisher.enhance_many = timed("enhance", finisher.enhance_many)
                finisher.enhance_many.__wrapped_by_bench__ = True  # type: ignore[attr-defined]
            for name in seconds:
                seconds[name] = 0.0
            _reset_memory(device)
            output = clock.time("job", lambda: handle_generate(job, context))
            runs.append((clock.parts["job"], dict(seconds), output))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    total, parts, output = runs[-1]
    rest = total - parts["generate"] - parts["enhance"]
    del generator, base, refiner, cache
    return {"source": source, "dtype": str(dtype).removeprefix("torch."), "style": style.id, "references": references_from,
            "portraits": count, "candidates": count + job.extra_candidates, "aspects": list(style.aspects),
            "files": len(output.images), "first_job_s": runs[0][0], "job_s": total,
            "generate_s": parts["generate"], "enhance_s": parts["enhance"], "rank_polish_store_s": rest,
            "finishing_share": (parts["enhance"] + rest) / total, "likeness_rounds": output.likeness_rounds,
            "peak_gib": _peak_gib(device)}


def weight_dtype_for(args, device):  # type: ignore[no-untyped-def]
    from engine.device import weight_dtype

    return weight_dtype(device, "fp16") if args.dtype == "auto" else _dtype(args.dtype)


def _dtype(name: str):  # type: ignore[no-untyped-def]
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def _environment(device) -> dict[str, str]:  # type: ignore[no-untyped-def]
    import diffusers
    import peft
    import torch
    import transformers

    env = {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
           "peft": peft.__version__, "device": str(device)}
    if device.type == "cuda":
        env |= {"gpu": torch.cuda.get_device_name(device), "cuda": str(torch.version.cuda)}
    return env


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=Path("data/models"))
    parser.add_argument("--tiny", action="store_true", help="the tiny random model (the suite's dry run)")
    parser.add_argument("--device", default="auto", help="auto (CUDA required), cuda, cpu")
    parser.add_argument("--dtype", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                        help="auto: production's (bf16 training, fp16 generation on CUDA; fp32 on the CPU)")
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--train-steps", type=int, default=30, help="timed steps (the whole job is extrapolated)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--checkpointing", action=argparse.BooleanOptionalAction, default=False,
                        help="gradient checkpointing in training (off: production's default on an 80 GB card)")
    parser.add_argument("--lora", default="fused", choices=["fused", "unfused", "none"],
                        help="the trained user LoRA in generation: fused into the weights (production), unfused, none")
    parser.add_argument("--train-batch", type=int, default=None, help="training batch size (default: production's)")
    parser.add_argument("--steps", type=int, default=None, help="generation steps (default: the model's)")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--warm-images", type=int, default=1)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNets")
    parser.add_argument("--compile-mode", default="max-autotune",
                        help="torch.compile mode, or regional: the UNets' repeated transformer block alone "
                             "(diffusers' compile_repeated_blocks; whole-UNet default mode did not compile in 6 min)")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--skip-preview", action="store_true")
    parser.add_argument("--skip-job", action="store_true", help="skip the whole generate job (handle_generate)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write torch.profiler's op tables of one portrait here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)

    import torch

    from engine.models import get_spec

    if args.device == "auto" and not torch.cuda.is_available():
        log.error("bench.engine_gpu needs a CUDA GPU and none is available here; nothing was measured "
                  "(--device cpu --tiny is the dry run).")
        return 2
    device = torch.device("cuda" if args.device == "auto" else args.device)
    spec = get_spec("tiny" if args.tiny else "sdxl")
    figures: dict[str, Any] = {"environment": _environment(device)}
    log.info("environment: %s", figures["environment"])
    lora: Path | None = None
    with tempfile.TemporaryDirectory() as scratch:
        if not args.skip_train:
            t = bench_training(args, spec, device, Path(scratch) / "lora")
            figures["training"] = t
            _save(args, figures)  # each part as soon as it is measured: a later one may fail
            lora = Path(scratch) / "lora" / "pytorch_lora_weights.safetensors"
            log.info("[%s] training, %s weights + fp32 LoRA rank %d, batch %d, checkpointing %s: load %.1f s, caching + "
                     "first step %.1f s, %.3f s/step (%d steps timed), save %.1f s; %d photos -> %d steps -> "
                     "job %.0f s (%.1f min) including load; peak VRAM %.1f GiB",
                     t["source"], t["dtype"], spec.train_rank, t["batch_size"], "on" if args.checkpointing else "off", t["load_s"],
                     t["prepare_and_first_step_s"], t["s_per_step"], t["steps_timed"], t["save_s"], args.photos,
                     t["policy_steps"], t["job_estimate_s"], t["job_estimate_s"] / 60, t["peak_gib"])
        if not args.skip_generate:
            def measured(g: dict[str, Any]) -> None:
                figures["generation"] = g
                _save(args, figures)  # each part as soon as it is measured: a later one may fail

            g = bench_generation(args, spec, device, lora, measured)
            options = ", ".join(o for o, on in ((f"user LoRA {args.lora}", lora is not None and args.lora != "none"), ("channels-last", args.channels_last),
                                                (f"compile {args.compile_mode}", args.compile)) if on) or "plain"
            log.info("[%s] generation %s, %dpx base %d steps + refiner, %s: load %.1f s, first image %.1f s, "
                     "%.2f s/image; %d-portrait batch %.1f s (%.1f images/min); peak VRAM %.1f GiB",
                     g["source"], g["dtype"], spec.resolution, args.steps or spec.steps, options, g["load_s"],
                     g["first_image_s"], g["s_per_image"], g["batch"], g["batch_s"], g["images_per_min"],
                     g["peak_gib"])
            t = g["timeline"]
            log.info("[%s] one portrait, %.2f s synchronised at each step (%.2f s unsynchronised, above): %s",
                     g["source"], t["total_s"], g["s_per_image"], describe_timeline(t))
        if not args.skip_preview:
            p = bench_preview(args, spec, device, Path(scratch))
            figures["preview"] = p
            _save(args, figures)  # each part as soon as it is measured: a later one may fail
            log.info("[%s, %s adapter] preview %s, %dpx, %d images (1 kept after ranking), base %d steps + refiner: "
                     "adapter load %.1f s first (with its image encoder), %.1f s warm; first preview %.1f s, "
                     "warm preview %.1f s (adapter load included); peak VRAM %.1f GiB",
                     p["source"], p["adapter"], p["dtype"], spec.resolution, p["images"], args.steps or spec.steps,
                     p["adapter_first_load_s"], p["adapter_warm_load_s"], p["first_preview_s"], p["preview_s"],
                     p["peak_gib"])
        if not args.skip_job:
            j = bench_job(args, spec, device, lora, Path(scratch))
            figures["job"] = j
            _save(args, figures)  # each part as soon as it is measured: a later one may fail
            log.info("[%s] whole generate job (%s, %d portraits from %d candidates, aspects %s, references: %s): "
                     "%.1f s (first %.1f s) = generation %.1f s + restore/upscale %.1f s + rank, polish, encode, "
                     "store %.1f s; finishing share %.0f %%; %d files; peak VRAM %.1f GiB",
                     j["source"], j["style"], j["portraits"], j["candidates"], ",".join(j["aspects"]), j["references"],
                     j["job_s"], j["first_job_s"], j["generate_s"], j["enhance_s"], j["rank_polish_store_s"],
                     100 * j["finishing_share"], j["files"], j["peak_gib"])
    _save(args, figures)
    return 0


def _save(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    sys.exit(main())
