"""`studio samples`: one sample portrait per style, for the style picker's sheet (bot/core/style_sheet.py).

Painted with the base model alone (no person's LoRA: a sample shows the style, not a user), at
4:5 as the sheet's tiles, with the style's own prompt, sampler and pre-styled LoRA.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from engine.errors import EngineError

log = logging.getLogger(__name__)

SAMPLE_SIZE = (640, 800)  # twice the sheet's tile, 4:5
SAMPLE_ASPECT = "4:5"


@dataclass(frozen=True)
class SampleStyle:
    """What of a style paints its sample (the studio command reads it from the catalogue)."""

    id: str
    prompt: str  # the style's prompt, its first variation filled in
    negative_prompt: str = ""
    steps: int | None = None
    guidance: float | None = None
    refiner_split: float | None = None  # None: no refiner
    scheduler: str | None = None
    lora_source: str | None = None
    lora_weight: float = 0.8


def samples_command(styles: Sequence[SampleStyle], output_dir: Path, *, model: str = "auto", subject: str = "person",
                    seed: int = 0, settings: Any | None = None) -> int:
    """``<output_dir>/<style id>.jpg`` for each style; 0 when every one was painted (a style that
    fails is said and skipped: the others are still painted), 1 when one failed, 2 when none could be."""
    from PIL import Image, ImageOps

    from engine.generate import GenerationRequest, Generator
    from engine.models import resolve_model
    from engine.portraits import compose_prompt
    from engine.runtime.cli import _settings
    from engine.runtime.handlers.generate import style_lora_place
    from engine.runtime.scratch import write_atomically

    settings = _settings(settings)
    models_dir = settings.resolved_models_dir
    try:
        spec = resolve_model(model, models_dir, settings.device, offline=settings.hf_offline)
        generator = Generator(spec, models_dir=models_dir, device=settings.device, offline=settings.hf_offline)
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
    except (EngineError, ValueError, OSError) as error:
        print(f"Error: {error}")
        return 2
    failed = []
    for style in styles:
        started = time.monotonic()
        try:
            lora = style_lora_place(style.lora_source, models_dir) if style.lora_source else None
            if lora is not None and not lora.exists():
                log.warning("style %s: its LoRA %s is not in %s; its sample is painted from the prompt alone",
                            style.id, style.lora_source, models_dir)
                lora = None
            request = GenerationRequest(
                " ".join(compose_prompt(style.prompt, "", subject).split()), negative_prompt=style.negative_prompt,
                count=1, aspect=SAMPLE_ASPECT, steps=style.steps, guidance=style.guidance, seed=seed,
                use_refiner=style.refiner_split is not None, refiner_split=style.refiner_split,
                style_lora=lora, style_lora_weight=style.lora_weight, scheduler=style.scheduler, vary_prompts=False)
            image = generator.generate(request)[0].image
            sample = ImageOps.fit(image.convert("RGB"), SAMPLE_SIZE, Image.Resampling.BICUBIC, centering=(0.5, 0.4))
            encoded = BytesIO()
            sample.save(encoded, "JPEG", quality=88, optimize=True)
            path = write_atomically(output_dir / f"{style.id}.jpg", encoded.getvalue())
        except (EngineError, ValueError, OSError) as error:
            print(f"  {style.id}: not painted: {error}")
            failed.append(style.id)
            continue
        print(f"  {style.id}: {path} ({time.monotonic() - started:.1f} s)")
    if failed:
        print(f"{len(styles) - len(failed)} style samples written to {output_dir}; not painted: {', '.join(failed)}")
        return 1 if len(failed) < len(styles) else 2
    print(f"{len(styles)} style samples written to {output_dir}")
    return 0
