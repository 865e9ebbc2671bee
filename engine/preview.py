"""The train-free preview: a style painted from a few of the user's selfies through an IP-Adapter
(plus-face for SDXL), on the warm generator's own base pipeline, while the personal model trains.

The adapter is loaded into the base pipeline for one preview and taken out after it, so the
generations that share the pipeline run exactly as without it. Its CLIP image encoder (the bulk
of the load) stays warm between previews; the adapter's weights are read again each time (a
second or two from the page cache).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from engine.errors import WeightsMissing
from engine.generate import CancelFn, GeneratedImage, GenerationRequest, Generator, ProgressFn
from engine.models import ModelSpec, local_dir, preview_available, preview_files

log = logging.getLogger(__name__)

FACE_MARGIN = 0.6  # the reference crop: the face box grown by this share of its size on every side


def face_crop(image: Image.Image, box: Sequence[int] | None, size: Sequence[int] | None = None) -> Image.Image:
    """A square crop around the face (the adapter is trained on face crops), or the whole photo.
    ``size``: the (width, height) the box was measured in, when the stored image was resized."""
    image = image.convert("RGB")
    if box is None:
        return image
    sx, sy = (image.width / size[0], image.height / size[1]) if size and size[0] and size[1] else (1.0, 1.0)
    left, top, right, bottom = box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy
    side = max(right - left, bottom - top) * (1 + 2 * FACE_MARGIN)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half = min(side / 2, cx, cy, image.width - cx, image.height - cy, max(image.size))
    if half < 8:
        return image
    return image.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))


@dataclass(frozen=True)
class AdapterSource:
    """Where ``load_ip_adapter`` finds the adapter: a folder (or hub id) and its load arguments."""

    location: str
    subfolder: str
    weights: str
    encoder: str
    options: dict[str, Any]


def adapter_source(spec: ModelSpec, models_dir: Path, *, offline: bool = True) -> AdapterSource:
    """The spec's adapter: tiny's built from config, else fetched into ``models_dir`` (or the hub
    cache when online). WeightsMissing, with the fetch command, when offline and absent."""
    if spec.preview_adapter == "tiny":
        from engine import tiny_ip_adapter

        return AdapterSource(str(tiny_ip_adapter.folder(spec.seed)), tiny_ip_adapter.SUBFOLDER,
                             tiny_ip_adapter.WEIGHTS, tiny_ip_adapter.ENCODER, {"local_files_only": True})
    if not spec.preview_adapter:
        raise WeightsMissing(f"base model {spec.name!r} names no preview adapter")
    folder = local_dir(spec.preview_adapter, models_dir)
    if preview_available(spec, models_dir):
        return AdapterSource(str(folder), spec.preview_subfolder, spec.preview_weights, spec.preview_encoder,
                             {"local_files_only": True})
    if offline:
        missing = [str(p) for p in preview_files(spec, models_dir) if not p.is_file()]
        raise WeightsMissing(f"preview adapter {spec.preview_adapter!r} of {spec.name!r} is not in {models_dir} "
                             f"(missing: {', '.join(missing)}); run `studio models fetch {spec.name}`")
    return AdapterSource(spec.preview_adapter, spec.preview_subfolder, spec.preview_weights, spec.preview_encoder,
                         {"cache_dir": str(Path(models_dir) / "hub")})


class PreviewPainter:
    """Paints previews on a Generator's base pipeline; one per base model per worker process."""

    def __init__(self, generator: Generator, source: AdapterSource, *, scale: float = 0.7) -> None:
        self.generator = generator
        self.source = source
        self.scale = scale
        self._encoder: Any = None
        #: seconds the last preview spent loading the adapter (the benchmark reports it)
        self.last_load_seconds = 0.0

    @contextmanager
    def adapter(self, scale: float | None = None) -> Iterator[Any]:
        """The base pipeline with the adapter in it, for the duration of the block."""
        pipe = self.generator.base
        started = time.perf_counter()
        if self._encoder is not None:
            pipe.register_modules(image_encoder=self._encoder)  # diffusers then loads the adapter alone
        source = self.source
        pipe.load_ip_adapter(source.location, subfolder=source.subfolder, weight_name=source.weights,
                             image_encoder_folder=source.encoder, **source.options)
        self._encoder = pipe.image_encoder
        pipe.set_ip_adapter_scale(self.scale if scale is None else scale)
        self.last_load_seconds = time.perf_counter() - started
        try:
            yield pipe
        finally:
            pipe.unload_ip_adapter()

    def paint(self, request: GenerationRequest, references: Sequence[Image.Image], *, scale: float | None = None,
              progress: ProgressFn | None = None, should_cancel: CancelFn | None = None) -> list[GeneratedImage]:
        """``request.count`` images of the person in ``references`` (their face tokens side by side)."""
        if not references:
            raise ValueError("a preview needs at least one reference image")
        self.generator.plan(request)  # budget and validity before loading anything
        with self.adapter(scale):
            return self.generator.generate(request, progress=progress, should_cancel=should_cancel,
                                           base_kwargs={"ip_adapter_image": [list(references)]})

    def unload(self) -> None:
        self._encoder = None
