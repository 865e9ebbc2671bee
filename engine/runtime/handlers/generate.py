"""Generation job: the user's LoRA from storage → candidates → the ones that look most like the
user → finished portraits (face restored, upscaled, background softened, sharpened, cropped
around the face for every aspect, labelled as AI-generated) → storage.

The base pipelines and the finishing models stay loaded between jobs; only the LoRA is swapped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine import likeness
from engine.runtime.handlers.context import BatchMember, JobContext
from engine.runtime.handlers.models import model_spec, warm_generator
from engine.jobs import GenerateJob, GenerateOutput, ImageOutput
from telemetry.metrics import observe_stage, timed

log = logging.getLogger(__name__)

FINISHING_THREADS = 8  # portraits polished at once (each on a core of its own)

#: style LoRA sources already reported missing by this process (each is logged once)
_missing_style_loras: set[str] = set()
_missing_lock = threading.Lock()


@dataclass(frozen=True)
class Chosen:
    image: Any  # PIL.Image.Image
    seed: int
    face: Any  # a face box, or None: the finisher looks for one itself
    score: float | None
    likeness: int | None = None  # engine.likeness.percent of ``score``; None: no face or no baseline


MoreCandidates = Callable[[int, int], list[Any]]
"""(round, how many) -> newly generated candidates with fresh seeds."""


@dataclass(frozen=True)
class Selection:
    chosen: list[Chosen]
    baseline: float | None = None
    below: int = 0  # chosen portraits measured below the job's likeness bar
    rounds: int = 0  # extra rounds painted to reach it


def _fetch_lora(context: JobContext, key: str | None, name: str) -> Path | None:
    """The stored LoRA in this job's folder, fetched anew for each attempt and written atomically:
    a copy torn by a killed worker, or one of another job, is never what gets loaded."""
    if key is None:
        return None
    from engine.runtime.scratch import write_atomically

    return write_atomically(context.work_dir / f"{name}.safetensors", context.storage.get(key))


def style_lora_place(source: str, models_dir: Path) -> Path:
    """Where a style's ``[lora] source`` is looked for on disk: the path itself when absolute, a
    file name under the models folder, or the folder a hub id is fetched to (``owner--name``)."""
    path = Path(source).expanduser()
    if path.is_absolute():
        return path
    if source.endswith(".safetensors"):
        return models_dir / source
    return models_dir / source.replace("/", "--")


def _style_lora(context: JobContext, source: str | None) -> Path | None:
    """The style's pre-styled LoRA: on disk (``style_lora_place``), else the storage object of that
    key. None when it is in neither: the style's prompt describes the look on its own, so the job
    goes on without it, with one warning per source per process. A file that is there but cannot
    be loaded still fails the job, when the generator loads it."""
    from db.storage import ObjectNotFound, StorageError, validate_key

    if source is None:
        return None
    models_dir = Path(context.options.models_dir)
    place = style_lora_place(source, models_dir)
    if place.exists():
        return place
    try:
        return _fetch_lora(context, validate_key(source), "style_lora")
    except ObjectNotFound:
        in_storage = True
    except StorageError:  # not a storage key (an absolute path)
        in_storage = False
    with _missing_lock:
        if source in _missing_style_loras:
            return None
        _missing_style_loras.add(source)
    how = (f"put the LoRA file at {place}" if place.suffix == ".safetensors"
           else f"download the hub repo {source} into {place}")
    if place.is_relative_to(models_dir):
        how += " (STUDIO_MODELS_DIR)"
    if in_storage:
        how += " or upload it to storage under that key"
    log.warning("style LoRA %r is missing: not at %s%s; generating with the style's prompt alone. To use it, %s.",
                source, place, " nor in storage under that key" if in_storage else "", how)
    return None


def choose_portraits(generated: list[Any], references: list[list[float]], count: int) -> list[Chosen]:
    """The ``count`` outputs most like the user, best first. Outputs with no face are dropped while
    enough others are left; the user still gets ``count`` portraits when too few have a face."""
    if not references:
        return [Chosen(g.image, g.seed, None, None) for g in generated[:count]]
    return _choose(generated, _rank(generated, references), count, None)


def _rank(images: list[Any], references: list[list[float]], offset: int = 0) -> list[Any]:
    from engine.rank import rank_by_identity

    with timed("ranking"):
        ranked = rank_by_identity([g.image for g in images], [np.asarray(r) for r in references], len(images))
    return [replace(r, index=r.index + offset) for r in ranked]


def _choose(generated: list[Any], ranked: list[Any], count: int, spread: float | None) -> list[Chosen]:
    ranked = sorted(ranked, key=lambda r: (r.distance, r.index))[:count]
    chosen = [Chosen(r.image, generated[r.index].seed, r.face, round(r.distance, 4), likeness.percent(r.distance, spread))
              for r in ranked]
    if len(chosen) < count:
        taken = {r.index for r in ranked}
        rest = [g for i, g in enumerate(generated) if i not in taken][: count - len(chosen)]
        log.warning("only %d of %d outputs show a face; %d without one are kept to make up the batch",
                    len(ranked), len(generated), len(rest))
        chosen += [Chosen(g.image, g.seed, None, None) for g in rest]
    return chosen


def select_portraits(spec: GenerateJob, generated: list[Any], more: MoreCandidates | None = None,
                     context: JobContext | None = None) -> Selection:
    """The job's portraits, best match first, each with its likeness to the user's own baseline.
    While fewer than ``count`` measured portraits reach ``min_likeness``, up to ``likeness_retries``
    more rounds are painted with new seeds (never when no output shows a face: nothing to judge)."""
    references = spec.reference_embeddings
    if not references:
        return Selection(choose_portraits(generated, references, spec.count))
    spread = likeness.baseline(references)
    pool = list(generated)
    ranked = _rank(pool, references)
    rounds = 0
    bar = spec.min_likeness
    while bar and spread and more is not None and rounds < spec.likeness_retries and ranked:
        good = sum(1 for r in ranked if (likeness.percent(r.distance, spread) or 0) >= bar)
        if good >= spec.count:
            break
        rounds += 1
        if context is not None:
            context.report("likeness", rounds, spec.likeness_retries)
        extra = more(rounds, spec.count - good)
        log.info("likeness: %d of %d portraits reach %d %%; painting %d more (round %d)", good, spec.count, bar,
                 len(extra), rounds)
        ranked += _rank(extra, references, len(pool))
        pool += extra
    chosen = _choose(pool, ranked, spec.count, spread)
    below = sum(1 for c in chosen if bar and c.likeness is not None and c.likeness < bar)
    return Selection(chosen, spread, below, rounds)


def warm_finisher(context: JobContext, device: Any) -> Any:
    from engine.portraits import default_finisher

    return context.cache.get("finisher", lambda: default_finisher(context.options.models_dir, device,
                                                                       prefer=context.options.face_restorer))


def _request(spec: GenerateJob, context: JobContext) -> Any:
    from engine.gen_request import GenerationRequest

    return GenerationRequest(
        prompt=spec.prompt, negative_prompt=spec.negative_prompt, count=spec.count + spec.extra_candidates,
        aspect=spec.aspect, steps=spec.steps, guidance=spec.guidance, seed=spec.seed, use_refiner=spec.use_refiner,
        refiner_split=spec.refiner_split, scheduler=spec.scheduler,
        lora=_fetch_lora(context, spec.lora_key, "user_lora"), lora_scale=spec.lora_scale,
        style_lora=_style_lora(context, spec.style_lora_key), style_lora_weight=spec.style_lora_weight,
    )


def _finish(spec: GenerateJob, context: JobContext, generated: list[Any], device: Any, model_name: str,
            started: float, more: MoreCandidates | None = None) -> GenerateOutput:
    """Rank the candidates against the user's selfies (painting more while too few are alike
    enough), finish every chosen one per aspect, store them."""
    from engine.aspects import slug
    from engine.export import encode_image

    selection = select_portraits(spec, generated, more, context)
    chosen = selection.chosen
    finishing = time.monotonic()
    uploading = 0.0  # of which storing (observed as the upload stage)
    finisher = warm_finisher(context, device)
    aspects = spec.aspects
    total = len(chosen) * len(aspects)
    # Restored and upscaled together in batches (the GPU's part), then masked, blurred, sharpened,
    # cropped per aspect and encoded on several cores at once: each portrait once, whatever its aspects.
    context.check_cancel("finishing", 0)
    enhanced = finisher.enhance_many([p.image for p in chosen], [p.face for p in chosen])
    context.report("finishing", 0, total)

    def polish(item: Any) -> dict[str, tuple[Any, bytes]]:
        return {aspect: (image, encode_image(image, "JPEG")) for aspect, image in finisher.polish(item, aspects).items()}

    outputs = []
    with ThreadPoolExecutor(max_workers=max(1, min(len(enhanced), os.cpu_count() or 1, FINISHING_THREADS))) as pool:
        for index, (portrait, finished) in enumerate(zip(chosen, pool.map(polish, enhanced), strict=True)):
            context.check_cancel("finishing", len(outputs))
            for aspect, (image, data) in finished.items():
                stored = time.monotonic()
                key = context.storage.put(f"{spec.output_prefix}{index}-{slug(aspect)}.jpg", data,
                                          content_type="image/jpeg")
                uploading += time.monotonic() - stored
                outputs.append(ImageOutput(key=key, index=index, width=image.width, height=image.height,
                                           seed=portrait.seed, size_bytes=len(data), aspect=aspect,
                                           score=portrait.score, likeness=portrait.likeness))
            context.report("finishing", len(outputs), total)
    observe_stage("finishing", time.monotonic() - finishing - uploading)
    return GenerateOutput(style_id=spec.style_id, base_model=model_name, images=outputs,
                          seconds=round(time.monotonic() - started, 3), likeness_baseline=selection.baseline,
                          below_likeness=selection.below, likeness_rounds=selection.rounds,
                          min_likeness=spec.min_likeness)


def more_candidates(spec: GenerateJob, context: JobContext, generator: Any, request: Any) -> MoreCandidates:
    """Another round of candidates for one job: fresh seeds, at most the job's own size each round."""

    def paint(round_number: int, needed: int) -> list[Any]:
        count = min(spec.count + spec.extra_candidates, max(2, 2 * needed))
        more = replace(request, count=count, seed=spec.seed + 1000 * round_number)
        with timed("generation", count):
            return generator.generate(more, should_cancel=context.should_cancel)

    return paint


def handle_generate(spec: GenerateJob, context: JobContext) -> GenerateOutput:
    started = time.monotonic()
    context.report("preparing")
    model = model_spec(context, spec.base_model)
    candidates = spec.count + spec.extra_candidates
    request = _request(spec, context)
    generator = warm_generator(context, model)
    plan = generator.plan(request)  # budget and validity checked before loading anything
    context.check_cancel("preparing")
    generator.load()
    with timed("generation", candidates):  # per portrait painted
        generated = generator.generate(request, progress=step_reporter(context, generator, plan, candidates),
                                       should_cancel=context.should_cancel)
    return _finish(spec, context, generated, generator.base.device, model.name, started,
                   more_candidates(spec, context, generator, request))


def step_reporter(context: JobContext, generator: Any, plan: dict[str, Any], candidates: int) -> Any:
    """A generator progress callback that reports one job's "generating" steps."""
    steps_per_image = plan["steps"]
    total = steps_per_image * candidates

    def on_step(progress) -> None:  # type: ignore[no-untyped-def]
        done_before = progress.batch_start * steps_per_image
        offset = 0 if progress.stage == "base" else round(steps_per_image * (plan["split"] or 0))
        per_batch = min(generator.batch_size, candidates - progress.batch_start)
        context.report("generating", min(total, done_before + (offset + progress.step) * per_batch), total)

    return on_step


# --- several jobs in one pipeline call ---------------------------------------------------------------


def batch_key(payload: dict[str, Any]) -> tuple[Any, ...] | None:
    """What generation jobs must share to run in one pipeline call (None: the payload is invalid,
    the job runs alone). Prompts, seeds, counts, output aspects and references may differ."""
    from engine.jobs import parse_spec

    try:
        spec = parse_spec("generate", payload)
    except Exception:
        return None
    assert isinstance(spec, GenerateJob)
    return (spec.lora_key, spec.base_model, spec.aspect, spec.steps, spec.guidance, spec.use_refiner,
            spec.refiner_split, spec.scheduler,
            spec.style_lora_key, spec.style_lora_weight, spec.lora_scale)


def batch_images(payload: dict[str, Any]) -> int:
    """How many images a generation job adds to a shared pipeline call."""
    return int(payload.get("count", 4)) + int(payload.get("extra_candidates", 0) or 0)


def handle_generate_batch(members: list[BatchMember]) -> None:
    """Compatible generation jobs (same ``batch_key``) in one ``Generator.generate_many`` call:
    the LoRA is set once and images of different jobs share pipeline batches; each job keeps its
    own prompts and seeds, then is ranked, finished and stored on its own. Sets every member's
    result or error: a job that is invalid, over budget or cancelled ends alone; the others go on.
    The call stops early only when every job in it was cancelled. An exception raised here (the
    shared call failed) is every remaining job's error."""
    from engine.jobs import parse_spec

    started = time.monotonic()
    live: list[tuple[BatchMember, GenerateJob, Any]] = []
    generator = model = None
    for member in members:
        context = member.context
        try:
            spec = parse_spec(member.kind, member.payload)
            assert isinstance(spec, GenerateJob)
            context.report("preparing")
            model = model_spec(context, spec.base_model)
            request = _request(spec, context)
            generator = warm_generator(context, model)
            generator.plan(request)  # budget and validity of each job on its own, as when run alone
            context.check_cancel("preparing")
        except Exception as error:
            member.error = error
            continue
        live.append((member, spec, request))
    if not live:
        return
    assert generator is not None and model is not None
    generator.load()
    plan = generator.plan(live[0][2])
    steps_per_image = plan["steps"]
    totals = [steps_per_image * request.count for _, _, request in live]

    def on_step(progress) -> None:  # type: ignore[no-untyped-def]
        offset = 0 if progress.stage == "base" else round(steps_per_image * (plan["split"] or 0))
        per_batch = min(generator.batch_size, progress.count - progress.batch_start)
        done = progress.batch_start * steps_per_image + (offset + progress.step) * per_batch
        fraction = min(1.0, done / (steps_per_image * progress.count))
        for (member, _, _), total in zip(live, totals, strict=True):
            member.context.report("generating", round(fraction * total), total)

    def all_cancelled() -> bool:
        return all(member.context.should_cancel() for member, _, _ in live)

    log.info("generating %d job(s) (%d images) in one call", len(live), sum(r.count for _, _, r in live))
    with timed("generation", sum(request.count for _, _, request in live)):
        generated = generator.generate_many([request for _, _, request in live], progress=on_step,
                                            should_cancel=all_cancelled)
    for (member, spec, request), images in zip(live, generated, strict=True):
        try:
            member.context.check_cancel("generating")
            member.result = _finish(spec, member.context, images, generator.base.device, model.name, started,
                                    more_candidates(spec, member.context, generator, request)).to_result()
        except Exception as error:
            member.error = error
