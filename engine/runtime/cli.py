"""Plain functions behind ``studio train`` and ``studio generate`` (wired to typer elsewhere)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.aspects import ASPECTS
from engine.errors import EngineError

log = logging.getLogger(__name__)


def _settings(settings: Any | None) -> Any:
    if settings is not None:
        return settings
    from config.settings import load_settings

    return load_settings()


def _training_set(photos_dir: Path, token: str, class_word: str, resolution: int, settings: Any,
                  use_intake: bool) -> list[tuple[Any, str]]:
    """(image, caption) pairs: intake's checked, face-centred crops, or plain centre crops."""
    if not use_intake:
        from engine.trainset import load_photos

        caption = f"a photo of {token} {class_word}"
        return [(photo, caption) for photo in load_photos(photos_dir)]
    from engine.intake import IntakeConfig, accepted_photos, check_photo, check_set, prepare_dataset

    config = IntakeConfig.from_settings(settings, training_resolution=max(64, resolution), min_photos=1)
    files = sorted(p for p in Path(photos_dir).iterdir() if p.is_file())
    checks = [check_photo(p.read_bytes(), filename=p.name, config=config) for p in files]
    report = check_set(checks, config)
    print(report.summary)
    examples = prepare_dataset(accepted_photos(checks, report), token=token, class_word=class_word, config=config)
    return [(e.image, e.caption) for e in examples]


def train_command(photos_dir: Path, output: Path, model: str = "auto", token: str = "ohwx",
                  class_word: str = "person", steps: int | None = None, *, use_intake: bool = True,
                  settings: Any | None = None) -> int:
    """Train a LoRA from the photos in ``photos_dir`` into the folder ``output``; 0 on success."""
    from engine.models import resolve_model
    from engine.train import TrainConfig, TrainProgress, train_lora

    settings = _settings(settings)
    try:
        spec = resolve_model(model, settings.resolved_models_dir, settings.device, offline=settings.hf_offline)
        config = TrainConfig.for_model(spec, token=token, class_word=class_word, steps=steps)
        examples = _training_set(Path(photos_dir), token, class_word, config.resolution, settings, use_intake)
        if not examples:
            print(f"No usable photos in {photos_dir}.")
            return 1
        print(f"Training a LoRA on {spec.name} from {len(examples)} crops, "
              f"{config.total_steps(len(examples))} steps...")

        def report(p: TrainProgress) -> None:
            if p.step == p.total or p.step % max(1, p.total // 10) == 0:
                print(f"  step {p.step}/{p.total}  loss {p.loss:.4f}  eta {p.eta_s:.0f}s")

        result = train_lora(spec, examples, config, Path(output), models_dir=settings.resolved_models_dir,
                            device=settings.device, offline=settings.hf_offline, progress=report)
    except (EngineError, ValueError) as error:
        print(f"Error: {error}")
        return 2
    print(f"LoRA written: {result.lora_path} ({result.lora_path.stat().st_size / 1e6:.1f} MB, "
          f"{result.seconds:.1f} s)")
    return 0


def _lora_info(lora: Path) -> dict[str, Any]:
    folder = lora if lora.is_dir() else lora.parent
    info_file = folder / "lora.json"
    return json.loads(info_file.read_text()) if info_file.is_file() else {}


def generate_command(lora: Path, style_prompt: str, output_dir: Path, model: str = "auto", count: int = 4,
                     aspects: Sequence[str] = ASPECTS, *, negative_prompt: str = "", seed: int = 0,
                     steps: int | None = None, settings: Any | None = None) -> int:
    """Generate ``count`` finished portraits per aspect with the user's LoRA; 0 on success."""
    from engine.generate import GenerationRequest, Generator
    from engine.models import resolve_model
    from engine.portraits import compose_prompt, default_finisher, save_portraits

    settings = _settings(settings)
    lora = Path(lora)
    info = _lora_info(lora)
    try:
        model_name = info.get("model", model) if model == "auto" else model
        spec = resolve_model(model_name, settings.resolved_models_dir, settings.device,
                             offline=settings.hf_offline)
        if info.get("model") and info["model"] != spec.name:
            print(f"Warning: the LoRA was trained on {info['model']!r}, generating with {spec.name!r}.")
        prompt = compose_prompt(style_prompt, info.get("token", "ohwx"), info.get("class_word", "person"))
        generator = Generator(spec, models_dir=settings.resolved_models_dir, device=settings.device,
                              offline=settings.hf_offline)
        finisher = default_finisher(settings.resolved_models_dir, generator.base.device,
                                    prefer=str(settings.face_restorer))
        written: list[Path] = []
        for aspect in aspects:
            started = time.monotonic()
            request = GenerationRequest(prompt, negative_prompt=negative_prompt, count=count, aspect=aspect,
                                        seed=seed, steps=steps, lora=lora)
            images = [g.image for g in generator.generate(request)]
            paths = save_portraits(finisher.finish_all(images, aspect), Path(output_dir), aspect)
            written += paths
            print(f"  {aspect}: {len(paths)} portraits, {paths[0].name if paths else '-'}... "
                  f"({time.monotonic() - started:.1f} s)")
    except (EngineError, ValueError) as error:
        print(f"Error: {error}")
        return 2
    print(f"{len(written)} portraits written to {output_dir}")
    return 0


def finish_command(images: Sequence[Path], aspects: Sequence[str], output_dir: Path, *,
                   settings: Any | None = None) -> int:
    """`studio finish`: the finishing chain (face restored, upscaled, background softened, sharpened,
    cropped around the face for each aspect, exported) on given images; 0 on success."""
    from PIL import Image

    from engine.device import resolve_device
    from engine.portraits import default_finisher
    from engine.export import export_image

    settings = _settings(settings)
    unknown = [a for a in aspects if a not in ASPECTS]
    if unknown:
        print(f"Error: unknown aspect(s) {', '.join(unknown)}; choose from {', '.join(ASPECTS)}")
        return 2
    finisher = default_finisher(settings.resolved_models_dir, resolve_device(settings.device),
                                prefer=str(settings.face_restorer))
    output_dir = Path(output_dir)
    for path in images:
        started = time.monotonic()
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
        except (OSError, ValueError) as error:
            print(f"Error: {path}: {error}")
            return 2
        written = [export_image(finished, output_dir / f"{Path(path).stem}-{aspect.replace(':', 'x')}.jpg")
                   for aspect, finished in finisher.finish_portrait(image, list(aspects)).items()]
        print(f"{path}: {', '.join(p.name for p in written)} ({time.monotonic() - started:.2f} s)")
    return 0
