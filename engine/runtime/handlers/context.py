"""What a handler gets besides its spec: progress, cancel, storage, warm models, a work folder.

Handlers run in a worker thread (never on an event loop); storage is async, so blob access is
bridged to the loop that owns the storage object.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from db.storage import Storage
from engine.errors import Cancelled
from engine.runtime.progress import ProgressTracker
from engine.runtime.scratch import job_folder
from telemetry.metrics import timed

if TYPE_CHECKING:  # the GPU image runs the engine without pydantic-settings (bench/gpu_check.sh)
    from config.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class EngineOptions:
    """Engine settings a handler needs (from Settings, or the RunPod container's environment)."""

    base_model: str = "auto"
    device: str = "auto"
    models_dir: Path = Path("data/models")
    offline: bool = True
    work_dir: Path = Path("data/work")
    face_restorer: str = "gfpgan"
    train_steps_per_image: int | None = None  # None: the base model's policy
    train_max_steps: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineOptions:
        return cls(
            base_model=settings.base_model, device=settings.device, models_dir=Path(settings.resolved_models_dir),
            offline=settings.hf_offline, work_dir=Path(settings.data_dir) / "work",
            face_restorer=str(settings.face_restorer), train_steps_per_image=settings.train_steps_per_image,
            train_max_steps=settings.train_max_steps,
        )


class ModelCache:
    """Loaded models kept warm between jobs of one worker process, by key (e.g. "generator:tiny")."""

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: str, factory: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._items:
                self._items[key] = factory()
            return self._items[key]

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def evict(self, prefix: str) -> list[str]:
        """Drop the models whose key starts with ``prefix`` (unloading those that can), so that
        the next job's models fit beside what stays."""
        with self._lock:
            gone = [key for key in self._items if key.startswith(prefix)]
            for key in gone:
                unload = getattr(self._items.pop(key), "unload", None)
                if callable(unload):
                    unload()
        return gone


class StorageBridge:
    """Synchronous get/put for handler threads, run on the loop that owns the async storage."""

    def __init__(self, storage: Storage, loop: asyncio.AbstractEventLoop) -> None:
        self.storage = storage
        self.loop = loop

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def get(self, key: str) -> bytes:
        return self._run(self.storage.get(key))

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> str:
        with timed("upload"):
            return self._run(self.storage.put(key, data, content_type=content_type))


@dataclass
class BatchMember:
    """Another claimed job that shares the lead job's pipeline call (see ``JobContext.companions``):
    its own payload and context in; its own result, or the error it ends with, out."""

    kind: str
    payload: dict[str, Any]
    context: JobContext
    result: dict[str, Any] | None = None
    error: BaseException | None = None


@dataclass
class JobContext:
    job_id: int
    attempt: int
    correlation_id: str
    options: EngineOptions
    storage: StorageBridge
    cache: ModelCache
    progress: ProgressTracker = field(default_factory=ProgressTracker)
    cancel_event: threading.Event = field(default_factory=threading.Event)
    #: other claimed jobs run in the same pipeline call as this one (the lead); empty: a single job
    companions: list[BatchMember] = field(default_factory=list)

    @property
    def work_dir(self) -> Path:
        """This job's scratch folder (``engine.runtime.scratch``): kept across its attempts on this machine
        (training resumes from it), removed by the worker when the job is over."""
        path = job_folder(self.options.work_dir, self.job_id, self.correlation_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def report(self, stage: str, step: int = 0, total: int = 0, eta_seconds: float | None = None) -> None:
        self.progress.update(stage, step, total, eta_seconds)

    def should_cancel(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancel(self, stage: str, step: int = 0) -> None:
        if self.cancel_event.is_set():
            raise Cancelled(stage, step)
