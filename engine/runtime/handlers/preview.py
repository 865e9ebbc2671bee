"""Preview job: a few of the user's selfies → the style painted through the preview IP-Adapter (no
personal model yet) → ranked by likeness and finished exactly as real portraits → storage.

A worker without the adapter's weights skips previews: the job succeeds with nothing painted and
``skipped`` saying why (logged once per model per process); the bot then shows nothing.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from typing import Any

from engine.runtime.handlers.context import JobContext
from engine.runtime.handlers.generate import _finish, _request, step_reporter
from engine.runtime.handlers.models import model_spec, warm_generator
from engine.jobs import PreviewJob, PreviewOutput

log = logging.getLogger(__name__)

#: base models whose missing preview adapter this process has reported (each is logged once)
_reported: set[str] = set()
_reported_lock = threading.Lock()


def _skip(spec: PreviewJob, model: Any, why: str, started: float) -> PreviewOutput:
    with _reported_lock:
        first = model.name not in _reported
        _reported.add(model.name)
    if first:
        log.warning("previews skipped on this worker: %s", why)
    return PreviewOutput(style_id=spec.style_id, base_model=model.name, images=[], skipped=why,
                         seconds=round(time.monotonic() - started, 3))


def _references(spec: PreviewJob, context: JobContext) -> list[Any]:
    from PIL import Image, ImageOps

    from engine.preview import face_crop

    crops = []
    for reference in spec.reference_images:
        with Image.open(io.BytesIO(context.storage.get(reference.key))) as image:
            crops.append(face_crop(ImageOps.exif_transpose(image), reference.box, reference.size))
    return crops


def warm_painter(context: JobContext, model: Any, generator: Any) -> Any:
    """One PreviewPainter per base model, beside (and evicted with) that model's generator."""
    from engine.preview import PreviewPainter, adapter_source

    options = context.options

    def build() -> Any:
        source = adapter_source(model, options.models_dir, offline=options.offline)
        return PreviewPainter(generator, source, scale=model.preview_scale)

    return context.cache.get(f"generator:{model.name}:preview", build)


def handle_preview(spec: PreviewJob, context: JobContext) -> PreviewOutput:
    from engine.models import preview_available

    started = time.monotonic()
    context.report("preparing")
    model = model_spec(context, spec.base_model)
    if not preview_available(model, context.options.models_dir) and (context.options.offline
                                                                       or not model.preview_adapter):
        return _skip(spec, model, f"the preview adapter of {model.name!r} is not in {context.options.models_dir} "
                                      f"(`studio models fetch {model.name}` fetches it)", started)
    request = _request(spec, context)
    generator = warm_generator(context, model)
    plan = generator.plan(request)  # budget and validity checked before loading anything
    references = _references(spec, context)
    context.check_cancel("preparing")
    generator.load()
    painter = warm_painter(context, model, generator)
    candidates = spec.count + spec.extra_candidates
    generated = painter.paint(request, references, scale=spec.adapter_scale,
                              progress=step_reporter(context, generator, plan, candidates),
                              should_cancel=context.should_cancel)
    output = _finish(spec, context, generated, generator.base.device, model.name, started)
    log.info("preview painted in %.1f s (adapter loaded in %.1f s)", time.monotonic() - started,
             painter.last_load_seconds)
    return PreviewOutput(**output.model_dump())
