"""The style catalogue: one TOML file per style, validated on load.

Adding a style is adding a file (to this folder, or to a folder named in ``STUDIO_STYLES_DIRS``).
Errors name the file and the field, so a typo in a style pack is found at start-up, not when a
user picks it.
"""

from __future__ import annotations

import random
import string
import tomllib
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BUILTIN_DIR = Path(__file__).parent
CATEGORIES_FILE = "categories.toml"
ASPECTS = ("1:1", "4:5", "9:16", "16:9", "2:3", "3:2")
PLACEHOLDERS = frozenset({"token", "class_word", "variation"})
SAMPLES_DIR = "samples"
"""A styles folder's sample portraits, one per style: ``samples/<style id>.jpg`` (or .jpeg, .png,
.webp), painted by ``studio samples``; the style picker shows them as a sheet."""
SAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


class StyleError(ValueError):
    pass


class Framing(StrEnum):
    headshot = "headshot"
    half_body = "half_body"
    full_body = "full_body"


class Sampler(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(30, ge=1, le=150)
    guidance_scale: float = Field(7.0, ge=0.0, le=30.0)
    refiner_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="Share of steps done by the refiner.")
    scheduler: str = Field("euler", description="A sampler of engine/schedulers.py, e.g. dpmpp_2m_karras.")

    @property
    def refiner_split(self) -> float | None:
        """The base→refiner hand-off (the generator's ``refiner_split``); None: no refiner."""
        return round(1 - self.refiner_fraction, 4) if self.refiner_fraction > 0 else None

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, value: str) -> str:
        from engine.schedulers import SCHEDULERS

        if value not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {value!r}; one of {', '.join(SCHEDULERS)}")
        return value


class StyleLora(BaseModel):
    """A pre-styled LoRA loaded as a second adapter (movie look, Barbie...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="File under the models folder, or a hub id.")
    weight: float = Field(0.8, gt=0.0, le=2.0)
    trigger: str = ""


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    emoji: str = ""
    order: int = 100


def _placeholders(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise ValueError(f"is not a valid template: {error}") from None


class Style(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,47}$")
    title: str = Field(min_length=1, max_length=64)
    category: str
    emoji: str = ""
    description: str = Field(min_length=1, max_length=300)
    framing: Framing
    prompt: str = Field(min_length=10)
    negative_prompt: str = ""
    variations: tuple[str, ...] = Field(min_length=1)
    aspects: tuple[str, ...] = Field(("4:5",), min_length=1)
    order: int = 100
    sampler: Sampler = Sampler()
    lora: StyleLora | None = None
    min_likeness: int | None = Field(None, ge=0, le=100)
    """Likeness bar for this style in % (engine.likeness); None: STUDIO_MIN_LIKENESS; 0: no bar
    (a drawing is not meant to measure like a photo of the face)."""

    @field_validator("prompt")
    @classmethod
    def _prompt_template(cls, value: str) -> str:
        names = _placeholders(value)
        if unknown := names - PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}}; allowed: {{token}}, {{class_word}}, {{variation}}")
        if "token" not in names:
            raise ValueError("must contain {token}, the user's personal token")
        return value

    @field_validator("negative_prompt", "variations")
    @classmethod
    def _no_placeholders(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for text in (value,) if isinstance(value, str) else value:
            if _placeholders(text):
                raise ValueError("must not contain {placeholders}")
        return value

    @field_validator("aspects")
    @classmethod
    def _known_aspects(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for aspect in value:
            if aspect not in ASPECTS:
                raise ValueError(f"unknown aspect {aspect!r}; allowed: {', '.join(ASPECTS)}")
        return value

    @model_validator(mode="after")
    def _variation_used(self) -> Style:
        if "{variation}" not in self.prompt and len(self.variations) > 1:
            raise ValueError("prompt: has several variations but no {variation} placeholder")
        return self

    def prompts(self, token: str, class_word: str, count: int, *, seed: int = 0) -> list[str]:
        """``count`` prompts for one batch: every variation used before any repeats, order seeded."""
        order = list(self.variations)
        random.Random(f"{self.id}:{seed}").shuffle(order)
        lora_trigger = f"{self.lora.trigger}, " if self.lora and self.lora.trigger else ""
        return [
            lora_trigger + self.prompt.format(token=token, class_word=class_word, variation=order[i % len(order)])
            for i in range(count)
        ]


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(file)"
        parts.append(f"field '{field}': {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise StyleError(f"{path}: not valid TOML: {error}") from None


def load_style(path: Path) -> Style:
    from styles.prompt_fit import misfit

    try:
        style = Style.model_validate(_read_toml(path))
    except ValidationError as error:
        raise StyleError(f"{path}: {_describe(error)}") from None
    if problem := misfit(style):
        raise StyleError(f"{path}: {problem}")
    return style


def _load_categories(folder: Path) -> list[Category]:
    path = folder / CATEGORIES_FILE
    if not path.is_file():
        return []
    data = _read_toml(path)
    try:
        return [Category.model_validate(item) for item in data.get("category", [])]
    except ValidationError as error:
        raise StyleError(f"{path}: {_describe(error)}") from None


class Catalogue:
    def __init__(self, styles: Iterable[Style], categories: Iterable[Category],
                 sample_folders: Iterable[Path] = ()) -> None:
        self.categories = {c.id: c for c in sorted(categories, key=lambda c: (c.order, c.id))}
        #: the styles folders' ``samples/`` folders, a later one winning (looked into at each use:
        #: ``studio samples`` may paint them while the bot runs)
        self.sample_folders = list(sample_folders)
        self.styles = {s.id: s for s in sorted(styles, key=lambda s: (self._category_order(s.category), s.order, s.id))}

    def _category_order(self, category: str) -> int:
        return self.categories[category].order if category in self.categories else 1000

    def __iter__(self) -> Iterator[Style]:
        return iter(self.styles.values())

    def __len__(self) -> int:
        return len(self.styles)

    def __contains__(self, style_id: object) -> bool:
        return style_id in self.styles

    def get(self, style_id: str) -> Style:
        try:
            return self.styles[style_id]
        except KeyError:
            raise KeyError(f"no style {style_id!r}") from None

    def sample(self, style_id: str) -> Path | None:
        """The style's sample portrait (``samples/<id>.jpg``, .jpeg, .png or .webp), if a folder has one."""
        for folder in reversed(self.sample_folders):
            found = {path.suffix.lower(): path for path in folder.glob(f"{style_id}.*")}
            for suffix in SAMPLE_SUFFIXES:
                if suffix in found and found[suffix].is_file():
                    return found[suffix]
        return None

    @property
    def samples(self) -> dict[str, Path]:
        """Every style's sample, where there is one."""
        return {style_id: path for style_id in self.styles if (path := self.sample(style_id)) is not None}

    def in_category(self, category: str) -> list[Style]:
        return [s for s in self if s.category == category]

    def used_categories(self) -> list[Category]:
        used = {s.category for s in self}
        return [c for c in self.categories.values() if c.id in used]


def load_catalogue(extra_dirs: Iterable[Path] = ()) -> Catalogue:
    """Built-in styles plus every ``*.toml`` in ``extra_dirs``; a later file with the same id wins."""
    folders = [BUILTIN_DIR, *(Path(d) for d in extra_dirs)]
    styles: dict[str, Style] = {}
    sources: dict[str, Path] = {}
    categories: dict[str, Category] = {}
    for folder in folders:
        if not folder.is_dir():
            raise StyleError(f"{folder}: styles folder does not exist")
        categories |= {c.id: c for c in _load_categories(folder)}
        for path in sorted(folder.glob("*.toml")):
            if path.name != CATEGORIES_FILE:
                style = load_style(path)
                styles[style.id], sources[style.id] = style, path
    for style in styles.values():
        if style.category not in categories:
            raise StyleError(
                f"{sources[style.id]}: field 'category': unknown category {style.category!r}; "
                f"known: {', '.join(categories)}"
            )
    return Catalogue(styles.values(), categories.values(), [folder / SAMPLES_DIR for folder in folders])

