"""Job kind → handler. Train and generate import torch lazily, so the registry itself is light."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from engine.handlers.context import JobContext
from engine.jobs import JobOutput, JobSpec, parse_spec

Handler = Callable[[Any, JobContext], JobOutput]

HANDLERS: dict[str, str] = {
    "noop": "engine.handlers.noop:handle_noop",
    "train": "engine.handlers.train:handle_train",
    "generate": "engine.handlers.generate:handle_generate",
}


def handler_for(kind: str) -> Handler:
    if kind not in HANDLERS:
        from engine.errors import InvalidConfig

        raise InvalidConfig(f"no handler for job kind {kind!r}")
    module, _, name = HANDLERS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def execute(kind: str, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """Parse the payload, run the handler (in the calling thread) and return the JSON result."""
    spec: JobSpec = parse_spec(kind, payload)
    output = handler_for(kind)(spec, context)
    return output.to_result()
