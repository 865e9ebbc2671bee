"""Typed job specs and results: what goes into ``jobs.payload`` and comes out in ``jobs.result``.

Everything is plain JSON and refers to files by storage key, so the same spec runs in a local
worker or on a RunPod serverless worker that shares the S3 bucket. Torch-free: the bot builds
specs, the worker parses them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.errors import InvalidConfig


class JobSpec(BaseModel):
    """Base of every job spec; ``kind`` is the jobs.kind column and picks the handler."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[str]

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class NoopJob(JobSpec):
    """Test and benchmark job: ``steps`` steps of ``seconds / steps`` each, cancellable between
    steps; optionally writes a file in its scratch folder (``scratch``), its result to
    ``result_key`` in storage, or raises ``fail`` (``fail_retryable``: an error worth a retry)."""

    kind: ClassVar[str] = "noop"
    seconds: float = Field(0.0, ge=0, le=3600)
    steps: int = Field(1, ge=1, le=100_000)
    result_key: str | None = None
    fail: str | None = None
    fail_retryable: bool = False
    scratch: bool = False


class TrainCrop(BaseModel):
    """One training example: a square of a stored photo (left, top, right, bottom in its pixels)
    and its caption, planned by intake (``engine.intake.plan_crops``) from the photo's face box."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    photo_key: str
    box: tuple[int, int, int, int]
    caption: str = Field(min_length=1)

    @model_validator(mode="after")
    def _a_square_inside(self) -> TrainCrop:
        left, top, right, bottom = self.box
        if left < 0 or top < 0 or right - left < 8 or right - left != bottom - top:
            raise ValueError(f"crop box {self.box} is not a square inside the photo")
        return self


class TrainJob(JobSpec):
    """Train the user's LoRA on the accepted photos of a selfie set."""

    kind: ClassVar[str] = "train"
    user_id: int
    set_id: int | None = None
    photo_keys: list[str] = Field(min_length=1)
    captions: list[str] | None = None  # one per photo; None: the instance prompt
    crops: list[TrainCrop] | None = None
    """The examples to train on (face-centred and upper-body squares with captions); None: each
    photo centre-cropped with its caption, as jobs queued before crops were planned."""
    lora_key: str  # where the trained LoRA (safetensors) is stored
    base_model: str = ""  # "" : the worker's configured model
    token: str = "ohwx"
    class_word: str = "person"
    steps: int | None = Field(None, ge=1)
    seed: int = 0
    reference_embeddings: list[list[float]] = Field(default_factory=list, max_length=30)
    """The selfies' face embeddings: after training, ``validation_images`` portraits are painted with
    the new model and their likeness to these is the model's likeness figure."""
    validation_images: int = Field(2, ge=0, le=8)

    @model_validator(mode="after")
    def _crops_of_its_own_photos(self) -> TrainJob:
        stray = {crop.photo_key for crop in self.crops or ()} - set(self.photo_keys)
        if stray:
            raise ValueError(f"crops name photos outside photo_keys: {sorted(stray)}")
        if self.crops is not None and not self.crops:
            raise ValueError("crops, when given, must not be empty")
        return self


class GenerateJob(JobSpec):
    """Generate a batch of styled portraits with the user's LoRA."""

    kind: ClassVar[str] = "generate"
    user_id: int
    style_id: str = ""
    prompt: str | list[str]
    negative_prompt: str = ""
    lora_key: str | None = None
    lora_scale: float = 1.0
    style_lora_key: str | None = None
    style_lora_weight: float = 0.8
    base_model: str = ""
    count: int = Field(4, ge=1, le=64)
    aspect: str = "1:1"
    steps: int | None = Field(None, ge=1, le=150)
    guidance: float | None = None
    seed: int = 0
    use_refiner: bool = True
    refiner_split: float | None = Field(None, gt=0, lt=1)  # base→refiner hand-off; None: the model's
    scheduler: str | None = None  # a name of engine/schedulers.py; None: the model's own
    output_prefix: str  # portraits are stored as <output_prefix><index>-<aspect>.jpg
    output_aspects: list[str] = Field(default_factory=list)  # a face-centred crop of each portrait per aspect
    reference_embeddings: list[list[float]] = Field(default_factory=list, max_length=30)
    """The user's selfie face embeddings: outputs are ranked by likeness and faceless ones dropped."""
    extra_candidates: int = Field(0, ge=0, le=16)  # generated beyond ``count`` so the best can be kept
    min_likeness: int = Field(0, ge=0, le=100)
    """Likeness bar in % of the user's own baseline (engine.likeness); 0: none. Portraits below it
    are painted again (``likeness_retries`` rounds) and, still below, not charged for."""
    likeness_retries: int = Field(0, ge=0, le=3)

    @property
    def aspects(self) -> list[str]:
        return self.output_aspects or [self.aspect]


class ReferenceImage(BaseModel):
    """One of the user's selfies shown to the preview's adapter: its storage key and face box."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    box: tuple[int, int, int, int] | None = None  # left, top, right, bottom; None: the whole photo
    size: tuple[int, int] | None = None  # (width, height) of the image the box was found in; None: the stored one


class PreviewJob(GenerateJob):
    """A train-free preview while the personal model trains: the style's portraits painted from a
    few selfies through an IP-Adapter (``preview_*`` in engine/models.toml), ranked and finished as
    real ones. Free, one per training. A worker without the adapter's weights skips it."""

    kind: ClassVar[str] = "preview"
    lora_key: None = None
    reference_images: list[ReferenceImage] = Field(min_length=1, max_length=8)
    adapter_scale: float | None = Field(None, ge=0, le=2)  # None: the model's preview_scale
    training_job_id: int | None = None  # the training this preview keeps company


SPECS: dict[str, type[JobSpec]] = {spec.kind: spec for spec in (NoopJob, TrainJob, GenerateJob, PreviewJob)}


def parse_spec(kind: str, payload: dict[str, Any]) -> JobSpec:
    """The typed spec of a job row; InvalidConfig when the kind is unknown or the payload is bad."""
    spec_type = SPECS.get(kind)
    if spec_type is None:
        raise InvalidConfig(f"unknown job kind {kind!r}; known: {', '.join(sorted(SPECS))}")
    try:
        return spec_type.model_validate(payload)
    except ValidationError as error:
        raise InvalidConfig(f"invalid {kind} job: {error.errors()[0]['msg']} at {error.errors()[0]['loc']}") from None


# --- results ---------------------------------------------------------------------------------------


class JobOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_result(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class NoopOutput(JobOutput):
    steps: int
    attempt: int
    result_key: str | None = None


class TrainOutput(JobOutput):
    lora_key: str
    base_model: str
    token: str
    class_word: str
    steps: int
    final_loss: float
    seconds: float
    resumed_from: int = 0
    likeness: int | None = None  # validation portraits' likeness (engine.likeness); None: not measured
    validation_distance: float | None = None  # their mean identity distance to the selfies
    likeness_baseline: float | None = None
    validation_faces: int = 0  # validation portraits in which a face was found


class ImageOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    index: int  # which portrait (0 = the best match)
    width: int
    height: int
    seed: int
    size_bytes: int
    aspect: str = ""  # which crop of the portrait
    score: float | None = None  # identity distance to the user's selfies; lower is more alike
    likeness: int | None = None  # % of the user's own baseline (engine.likeness); None: no face measured


class GenerateOutput(JobOutput):
    style_id: str
    base_model: str
    images: list[ImageOutput]
    seconds: float
    likeness_baseline: float | None = None  # mean distance between the user's selfies
    min_likeness: int = 0
    below_likeness: int = 0  # portraits delivered below ``min_likeness`` (not charged for)
    likeness_rounds: int = 0  # extra rounds painted to reach it


class PreviewOutput(GenerateOutput):
    skipped: str = ""  # why no preview was painted (no adapter weights on this worker); "" when painted


OUTPUTS: dict[str, type[JobOutput]] = {"noop": NoopOutput, "train": TrainOutput, "generate": GenerateOutput,
                                       "preview": PreviewOutput}


def parse_output(kind: str, result: dict[str, Any]) -> JobOutput:
    return OUTPUTS[kind].model_validate(result)
