"""Generation job: the user's LoRA from storage → a batch of portraits → images to storage.

The base pipelines stay loaded between jobs (``warm_generator``); only the LoRA is swapped.
"""

from __future__ import annotations

import time
from pathlib import Path

from engine.handlers.context import JobContext
from engine.handlers.images import encode_png
from engine.handlers.models import model_spec, warm_generator
from engine.jobs import GenerateJob, GenerateOutput, ImageOutput


def _fetch_lora(context: JobContext, key: str | None, name: str) -> Path | None:
    if key is None:
        return None
    path = context.work_dir / f"{name}.safetensors"
    if not path.exists():
        path.write_bytes(context.storage.get(key))
    return path


def handle_generate(spec: GenerateJob, context: JobContext) -> GenerateOutput:
    from engine.gen_request import GenerationRequest

    started = time.monotonic()
    context.report("preparing")
    model = model_spec(context, spec.base_model)
    request = GenerationRequest(
        prompt=spec.prompt, negative_prompt=spec.negative_prompt, count=spec.count, aspect=spec.aspect,
        steps=spec.steps, guidance=spec.guidance, seed=spec.seed, use_refiner=spec.use_refiner,
        lora=_fetch_lora(context, spec.lora_key, "user_lora"), lora_scale=spec.lora_scale,
        style_lora=_fetch_lora(context, spec.style_lora_key, "style_lora"), style_lora_weight=spec.style_lora_weight,
    )
    generator = warm_generator(context, model)
    plan = generator.plan(request)  # budget and validity checked before loading anything
    context.check_cancel("preparing")
    generator.load()
    steps_per_image = plan["steps"]
    total = steps_per_image * spec.count

    def on_step(progress) -> None:  # type: ignore[no-untyped-def]
        done_before = progress.batch_start * steps_per_image
        offset = 0 if progress.stage == "base" else round(steps_per_image * (plan["split"] or 0))
        per_batch = min(generator.batch_size, spec.count - progress.batch_start)
        context.report("generating", min(total, done_before + (offset + progress.step) * per_batch), total)

    images = generator.generate(request, progress=on_step, should_cancel=context.should_cancel)
    context.report("finishing", total, total)
    outputs = []
    for image in images:
        context.check_cancel("finishing", image.index)
        data = encode_png(image.image)
        key = f"{spec.output_prefix}{image.index}.png"
        context.storage.put(key, data, content_type="image/png")
        width, height = image.size
        outputs.append(ImageOutput(key=key, index=image.index, width=width, height=height, seed=image.seed,
                                   size_bytes=len(data)))
    return GenerateOutput(style_id=spec.style_id, base_model=model.name, images=outputs,
                          seconds=round(time.monotonic() - started, 3))
