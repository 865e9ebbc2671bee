"""Training settings and progress/result records; torch-free so requests can be checked anywhere."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from engine.errors import InvalidConfig
from engine.models import ModelSpec

Precision = Literal["no", "fp16", "bf16"]
DEFAULT_TARGETS = ("to_k", "to_q", "to_v", "to_out.0")
TEXT_ENCODER_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")


@dataclass(frozen=True)
class TrainConfig:
    """DreamBooth-LoRA settings, validated on construction (before any model loads)."""

    token: str = "ohwx"
    class_word: str = "person"
    rank: int = 16
    alpha: float | None = None  # None: alpha = rank (scale 1)
    learning_rate: float = 1e-4
    text_encoder_learning_rate: float = 5e-5
    steps: int | None = None  # explicit step count; None: the policy below
    steps_per_image: int = 100
    min_steps: int = 400
    max_steps: int = 1600
    batch_size: int = 1
    resolution: int = 1024
    seed: int = 0
    mixed_precision: Precision = "bf16"  # GPU only; the CPU trains in fp32
    # None: only where the card is small (see engine.train.use_checkpointing); it costs ~40 % speed.
    gradient_checkpointing: bool | None = None
    train_text_encoder: bool = False
    snr_gamma: float | None = 5.0
    checkpoint_every: int = 100
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    lora_targets: tuple[str, ...] = DEFAULT_TARGETS
    size_multiple: int = field(default=8, repr=False)

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise InvalidConfig("invalid training config: " + "; ".join(problems))

    def problems(self) -> list[str]:
        found = []

        def check(ok: bool, message: str) -> None:
            if not ok:
                found.append(message)

        check(bool(self.token.strip()) and " " not in self.token.strip(), "token must be one word")
        check(bool(self.class_word.strip()), "class_word must not be empty")
        check(1 <= self.rank <= 256, f"rank must be in 1..256 (got {self.rank})")
        check(self.alpha is None or self.alpha > 0, "alpha must be > 0")
        check(0 < self.learning_rate <= 1e-2, f"learning_rate must be in (0, 0.01] (got {self.learning_rate})")
        check(0 < self.text_encoder_learning_rate <= 1e-2, "text_encoder_learning_rate must be in (0, 0.01]")
        check(self.steps is None or self.steps >= 1, "steps must be >= 1")
        check(self.steps_per_image >= 1, "steps_per_image must be >= 1")
        check(1 <= self.min_steps <= self.max_steps, "need 1 <= min_steps <= max_steps")
        check(self.steps is None or self.steps <= self.max_steps, f"steps must be <= max_steps ({self.max_steps})")
        check(1 <= self.batch_size <= 64, "batch_size must be in 1..64")
        check(self.size_multiple >= 1 and self.resolution % self.size_multiple == 0 and 32 <= self.resolution <= 2048,
              f"resolution must be a multiple of {self.size_multiple} in 32..2048 (got {self.resolution})")
        check(self.mixed_precision in ("no", "fp16", "bf16"), "mixed_precision must be no, fp16 or bf16")
        check(self.snr_gamma is None or self.snr_gamma > 0, "snr_gamma must be > 0 or None")
        check(self.checkpoint_every >= 1, "checkpoint_every must be >= 1")
        check(self.warmup_steps >= 0, "warmup_steps must be >= 0")
        check(self.max_grad_norm > 0, "max_grad_norm must be > 0")
        check(bool(self.lora_targets), "lora_targets must not be empty")
        return found

    @classmethod
    def for_model(cls, spec: ModelSpec, **overrides: Any) -> TrainConfig:
        """Defaults from the model's registry entry, then ``overrides``."""
        values: dict[str, Any] = {
            "resolution": spec.resolution, "rank": spec.train_rank, "steps_per_image": spec.train_steps_per_image,
            "min_steps": spec.train_min_steps, "max_steps": spec.train_max_steps,
            "batch_size": spec.train_batch_size, "lora_targets": spec.lora_targets, "size_multiple": spec.size_multiple,
        }
        if spec.kind == "tiny":
            values |= {"checkpoint_every": 4, "learning_rate": 1e-3}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)

    @property
    def lora_alpha(self) -> float:
        return float(self.alpha if self.alpha is not None else self.rank)

    @property
    def instance_prompt(self) -> str:
        return f"a photo of {self.token} {self.class_word}"

    def total_steps(self, n_images: int) -> int:
        """``steps`` when given, else the policy's images seen in steps of ``batch_size``."""
        if self.steps is not None:
            return self.steps
        seen = max(self.min_steps, min(self.max_steps, n_images * self.steps_per_image))
        return -(-seen // self.batch_size)

    def fingerprint(self, n_images: int, captions: list[str]) -> str:
        """Identifies a run, so a checkpoint is only resumed by the same run."""
        data = asdict(self) | {"n_images": n_images, "captions": captions}
        data.pop("checkpoint_every")
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TrainProgress:
    step: int
    total: int
    loss: float
    elapsed_s: float
    eta_s: float


@dataclass(frozen=True)
class TrainResult:
    lora_path: Path
    steps: int
    final_loss: float
    seconds: float
    resumed_from: int = 0
