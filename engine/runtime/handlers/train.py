"""Training job: photos from storage → LoRA trained by engine.train → LoRA file to storage."""

from __future__ import annotations

import logging
from typing import Any

from engine.runtime.handlers.context import EngineOptions, JobContext
from engine.runtime.handlers.images import decode_image
from engine.runtime.handlers.models import model_spec
from engine.errors import InvalidConfig
from engine.jobs import TrainJob, TrainOutput
from telemetry.metrics import timed

log = logging.getLogger(__name__)


# A warm SDXL generator holds ~10 GiB of weights (20.5 GiB at its peak, H100); training beside it
# takes 14 GiB with gradient checkpointing, 36 GiB without (bench/RESULTS.md). Below this much
# memory the generator goes before a training job, and is loaded again by the next generation.
TRAIN_BESIDE_GENERATOR_GIB = 40


def gpu_memory_gib(device: str) -> float | None:
    from engine.device import gpu_memory_gib as memory_of  # torch, only when a training job runs

    return memory_of(device)


def make_room_for_training(context: JobContext) -> list[str]:
    memory = gpu_memory_gib(context.options.device)
    if memory is None or memory >= TRAIN_BESIDE_GENERATOR_GIB:
        return []
    evicted = context.cache.evict("generator:")
    if evicted:
        import torch

        torch.cuda.empty_cache()
        log.info("%.0f GiB GPU: unloaded %s to train", memory, ", ".join(evicted))
    return evicted


def training_examples(spec: TrainJob, context: JobContext) -> list[tuple[Any, str]]:
    """(image, caption) pairs: the planned crops of each photo (each photo decoded once), or for a
    job without crops every photo whole with its caption (the trainer centre-crops it)."""
    images: dict[str, Any] = {}

    def photo(key: str) -> Any:
        context.check_cancel("preparing")
        if key not in images:
            images[key] = decode_image(context.storage.get(key), key)
        return images[key]

    if spec.crops is None:
        captions = spec.captions or [""] * len(spec.photo_keys)  # "": the instance prompt
        return [(photo(key), caption) for key, caption in zip(spec.photo_keys, captions, strict=True)]
    examples = []
    for crop in spec.crops:
        image = photo(crop.photo_key)
        left, top, right, bottom = crop.box
        if right > image.width or bottom > image.height:
            raise InvalidConfig(f"crop {crop.box} lies outside photo {crop.photo_key} ({image.width}x{image.height})")
        examples.append((image.crop(crop.box), crop.caption))
    return examples


def training_config(spec: TrainJob, model: Any, options: EngineOptions) -> Any:
    """The model's training policy, the operator's overrides (settings), then the job's own."""
    from engine.train import TrainConfig

    cap = options.train_max_steps
    config = TrainConfig.for_model(model, token=spec.token, class_word=spec.class_word, steps=spec.steps, seed=spec.seed,
                                   steps_per_image=options.train_steps_per_image, max_steps=cap,
                                   min_steps=min(cap, model.train_min_steps) if cap else None)
    if spec.crops is not None and spec.steps is None:
        # The policy counts the set's photos: a photo's close-up and upper-body crops are one image.
        config = config.with_(steps=config.total_steps(len(spec.photo_keys)))
    return config


def handle_train(spec: TrainJob, context: JobContext) -> TrainOutput:
    from engine.train import train_lora

    context.report("preparing")
    model = model_spec(context, spec.base_model)
    make_room_for_training(context)
    options = context.options
    config = training_config(spec, model, options)
    photos = training_examples(spec, context)
    # The output folder survives a crash on this machine: a retried job resumes from its checkpoint.
    with timed("training"):
        result = train_lora(
            model, photos, config, context.work_dir / "lora", models_dir=options.models_dir, device=options.device,
            offline=options.offline, should_cancel=context.should_cancel,
            progress=lambda p: context.report("training", p.step, p.total, p.eta_s),
        )
    validation = validate_likeness(spec, context, model, result.lora_path)
    context.report("finishing", result.steps, result.steps)
    # Stored last: a training cancelled or failed before this (validation included) leaves no LoRA
    # in storage, where no model row would ever point at it (only /delete would find it).
    context.check_cancel("finishing", result.steps)
    context.storage.put(spec.lora_key, result.lora_path.read_bytes())
    return TrainOutput(
        lora_key=spec.lora_key, base_model=model.name, token=config.token, class_word=config.class_word,
        steps=result.steps, final_loss=float(result.final_loss), seconds=round(result.seconds, 3),
        resumed_from=result.resumed_from, **validation,
    )


VALIDATION_PROMPT = "a photo of {token} {class_word}, portrait, looking at the camera, natural light"


def validate_likeness(spec: TrainJob, context: JobContext, model: Any, lora_path: Any) -> dict[str, Any]:
    """The new model's likeness figure: a few portraits painted with it (the warm generator, which
    the user's first style needs next anyway), measured against the selfies as the bot measures
    every portrait. Empty when the job sent no selfie embeddings or asked for no portraits."""
    if not spec.reference_embeddings or spec.validation_images <= 0:
        return {}
    import numpy as np

    from engine import likeness
    from engine.gen_request import GenerationRequest
    from engine.rank import rank_by_identity
    from engine.runtime.handlers.models import warm_generator

    context.report("validating")
    if str(context.options.device).startswith("cuda"):
        import torch

        torch.cuda.empty_cache()  # the training pipeline's memory, before the generator loads
    generator = warm_generator(context, model)
    generator.load()
    request = GenerationRequest(
        prompt=VALIDATION_PROMPT.format(token=spec.token, class_word=spec.class_word), count=spec.validation_images,
        aspect="1:1", seed=spec.seed, use_refiner=False, lora=lora_path, vary_prompts=False)
    images = generator.generate(request, should_cancel=context.should_cancel)
    references = [np.asarray(r) for r in spec.reference_embeddings]
    ranked = rank_by_identity([g.image for g in images], references, len(images))
    spread = likeness.baseline(spec.reference_embeddings)
    distance = round(float(np.mean([r.distance for r in ranked])), 4) if ranked else None
    figure = likeness.percent(distance, spread)
    log.info("model likeness: %s (%d of %d validation portraits show a face, distance %s, baseline %s)",
             f"{figure} %" if figure is not None else "not measured", len(ranked), len(images), distance, spread)
    return {"likeness": figure, "validation_distance": distance, "likeness_baseline": spread,
            "validation_faces": len(ranked)}
