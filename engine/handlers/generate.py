"""Generation job: the user's LoRA from storage → candidates → the ones that look most like the
user → finished portraits (face restored, upscaled, background softened, sharpened, cropped
around the face for every aspect, labelled as AI-generated) → storage.

The base pipelines and the finishing models stay loaded between jobs; only the LoRA is swapped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.handlers.context import JobContext
from engine.handlers.models import model_spec, warm_generator
from engine.jobs import GenerateJob, GenerateOutput, ImageOutput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chosen:
    image: Any  # PIL.Image.Image
    seed: int
    face: Any  # a face box, or None: the finisher looks for one itself
    score: float | None


def _fetch_lora(context: JobContext, key: str | None, name: str) -> Path | None:
    if key is None:
        return None
    path = context.work_dir / f"{name}.safetensors"
    if not path.exists():
        path.write_bytes(context.storage.get(key))
    return path


def choose_portraits(generated: list[Any], references: list[list[float]], count: int) -> list[Chosen]:
    """The ``count`` outputs most like the user, best first. Outputs with no face are dropped while
    enough others are left; the user still gets ``count`` portraits when too few have a face."""
    if not references:
        return [Chosen(g.image, g.seed, None, None) for g in generated[:count]]
    from engine.rank import rank_by_identity

    ranked = rank_by_identity([g.image for g in generated], [np.asarray(r) for r in references], count)
    chosen = [Chosen(r.image, generated[r.index].seed, r.face, round(r.distance, 4)) for r in ranked]
    if len(chosen) < count:
        taken = {r.index for r in ranked}
        rest = [g for i, g in enumerate(generated) if i not in taken][: count - len(chosen)]
        log.warning("only %d of %d outputs show a face; %d without one are kept to make up the batch",
                    len(ranked), len(generated), len(rest))
        chosen += [Chosen(g.image, g.seed, None, None) for g in rest]
    return chosen


def warm_finisher(context: JobContext, device: Any) -> Any:
    from engine.portraits import default_finisher

    return context.cache.get("finisher", lambda: default_finisher(context.options.models_dir, device))


def handle_generate(spec: GenerateJob, context: JobContext) -> GenerateOutput:
    from engine.aspects import slug
    from engine.export import encode_image
    from engine.gen_request import GenerationRequest

    started = time.monotonic()
    context.report("preparing")
    model = model_spec(context, spec.base_model)
    candidates = spec.count + spec.extra_candidates
    request = GenerationRequest(
        prompt=spec.prompt, negative_prompt=spec.negative_prompt, count=candidates, aspect=spec.aspect,
        steps=spec.steps, guidance=spec.guidance, seed=spec.seed, use_refiner=spec.use_refiner,
        lora=_fetch_lora(context, spec.lora_key, "user_lora"), lora_scale=spec.lora_scale,
        style_lora=_fetch_lora(context, spec.style_lora_key, "style_lora"), style_lora_weight=spec.style_lora_weight,
    )
    generator = warm_generator(context, model)
    plan = generator.plan(request)  # budget and validity checked before loading anything
    context.check_cancel("preparing")
    generator.load()
    steps_per_image = plan["steps"]
    total = steps_per_image * candidates

    def on_step(progress) -> None:  # type: ignore[no-untyped-def]
        done_before = progress.batch_start * steps_per_image
        offset = 0 if progress.stage == "base" else round(steps_per_image * (plan["split"] or 0))
        per_batch = min(generator.batch_size, candidates - progress.batch_start)
        context.report("generating", min(total, done_before + (offset + progress.step) * per_batch), total)

    generated = generator.generate(request, progress=on_step, should_cancel=context.should_cancel)
    chosen = choose_portraits(generated, spec.reference_embeddings, spec.count)
    finisher = warm_finisher(context, generator.base.device)
    aspects = spec.aspects
    outputs = []
    for index, portrait in enumerate(chosen):
        for aspect in aspects:
            context.report("finishing", len(outputs), len(chosen) * len(aspects))
            context.check_cancel("finishing", len(outputs))
            finished = finisher.finish_one(portrait.image, aspect, portrait.face)
            data = encode_image(finished, "JPEG")
            key = context.storage.put(f"{spec.output_prefix}{index}-{slug(aspect)}.jpg", data, content_type="image/jpeg")
            outputs.append(ImageOutput(key=key, index=index, width=finished.width, height=finished.height,
                                       seed=portrait.seed, size_bytes=len(data), aspect=aspect, score=portrait.score))
    return GenerateOutput(style_id=spec.style_id, base_model=model.name, images=outputs,
                          seconds=round(time.monotonic() - started, 3))
