"""A style: the schema one TOML file of a style pack is validated against."""

from __future__ import annotations

import random
import string
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ASPECTS = ("1:1", "4:5", "9:16", "16:9", "2:3", "3:2")
PLACEHOLDERS = frozenset({"token", "class_word", "variation"})


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
