"""Generation requests, results, progress and the pixel-step budget; torch-free."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.aspects import ASPECTS
from engine.errors import BudgetExceeded, InvalidConfig

# Appended to the prompt of the 2nd, 3rd... image of a batch so a batch is not n near-copies.
VARIATIONS = ("", "soft natural light", "three-quarter view", "subtle smile", "studio lighting",
              "looking at the camera", "shallow depth of field", "golden hour light")


@dataclass(frozen=True)
class GenerationRequest:
    """One batch of portraits. ``None`` fields take the model's defaults (models.toml)."""

    prompt: str | Sequence[str]
    negative_prompt: str = ""
    count: int = 4
    aspect: str = "1:1"
    steps: int | None = None
    guidance: float | None = None
    seed: int = 0
    use_refiner: bool = True
    refiner_split: float | None = None
    lora: Path | None = None
    lora_scale: float = 1.0
    style_lora: Path | None = None
    style_lora_weight: float = 0.8
    vary_prompts: bool = True
    scheduler: str | None = None  # engine/schedulers.py; None: the pipeline's own

    def __post_init__(self) -> None:
        problems = []
        prompts = self.prompts()
        if not prompts or not all(p.strip() for p in prompts):
            problems.append("prompt must not be empty")
        if not 1 <= self.count <= 64:
            problems.append(f"count must be in 1..64 (got {self.count})")
        if self.aspect not in ASPECTS:
            problems.append(f"aspect must be one of {', '.join(ASPECTS)} (got {self.aspect!r})")
        if self.steps is not None and not 1 <= self.steps <= 150:
            problems.append("steps must be in 1..150")
        if self.guidance is not None and not 0 <= self.guidance <= 30:
            problems.append("guidance must be in 0..30")
        if self.scheduler is not None:
            from engine.schedulers import SCHEDULERS

            if self.scheduler not in SCHEDULERS:
                problems.append(f"scheduler must be one of {', '.join(SCHEDULERS)} (got {self.scheduler!r})")
        if self.refiner_split is not None and not 0 < self.refiner_split < 1:
            problems.append("refiner_split must be in (0, 1)")
        for name, path in (("lora", self.lora), ("style_lora", self.style_lora)):
            if path is not None and not Path(path).exists():
                problems.append(f"{name} {path} does not exist")
        if problems:
            raise InvalidConfig("invalid generation request: " + "; ".join(problems))

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)

    def prompt_for(self, index: int) -> str:
        """Prompts cycle over the batch; with ``vary_prompts`` each image also gets a variation."""
        prompts = self.prompts()
        prompt = prompts[index % len(prompts)]
        variation = VARIATIONS[index % len(VARIATIONS)] if self.vary_prompts else ""
        return f"{prompt}, {variation}" if variation else prompt

    def seed_for(self, index: int) -> int:
        return self.seed + index


@dataclass(frozen=True)
class Budget:
    """Largest work one request may ask for: width × height × steps × images (refiner steps included)."""

    max_pixel_steps: int = 1024 * 1024 * 30 * 8

    def check(self, width: int, height: int, steps: int, count: int) -> int:
        cost = width * height * steps * count
        if cost > self.max_pixel_steps:
            raise BudgetExceeded(
                f"request costs {cost:,} pixel-steps ({count} × {width}×{height} × {steps} steps), "
                f"over the budget of {self.max_pixel_steps:,}"
            )
        return cost


@dataclass(frozen=True)
class GenerateProgress:
    stage: str  # "base" or "refiner"
    batch_start: int  # index of the first image of the running batch
    count: int
    step: int
    steps: int


@dataclass
class GeneratedImage:
    image: Any  # PIL.Image.Image
    index: int
    seed: int
    prompt: str
    aspect: str
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size
