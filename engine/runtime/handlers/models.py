"""Which base model a job runs on, and the warm generator of each model."""

from __future__ import annotations

from typing import Any

from engine.runtime.handlers.context import JobContext


def model_spec(context: JobContext, requested: str) -> Any:
    from engine.models import resolve_model

    options = context.options
    return resolve_model(requested or options.base_model, options.models_dir, options.device, offline=options.offline)


def warm_generator(context: JobContext, spec: Any) -> Any:
    """One Generator per base model per process, loaded once and reused by every later job."""
    from engine.generate import Generator

    options = context.options

    def build() -> Any:
        return Generator(spec, models_dir=options.models_dir, device=options.device, offline=options.offline)

    return context.cache.get(f"generator:{spec.name}", build)
