"""Job kind → handler. Train and generate import torch lazily, so the registry itself is light."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from engine.runtime.handlers.context import BatchMember, JobContext
from engine.jobs import JobOutput, JobSpec, parse_spec

Handler = Callable[[Any, JobContext], JobOutput]

HANDLERS: dict[str, str] = {
    "noop": "engine.runtime.handlers.noop:handle_noop",
    "train": "engine.runtime.handlers.train:handle_train",
    "generate": "engine.runtime.handlers.generate:handle_generate",
    "preview": "engine.runtime.handlers.preview:handle_preview",
}


def handler_for(kind: str) -> Handler:
    if kind not in HANDLERS:
        from engine.errors import InvalidConfig

        raise InvalidConfig(f"no handler for job kind {kind!r}")
    module, _, name = HANDLERS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


#: kinds whose compatible jobs can share one call: kind → "module:batch handler"
BATCH_HANDLERS: dict[str, str] = {"generate": "engine.runtime.handlers.generate:handle_generate_batch"}


def execute(kind: str, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """Parse the payload, run the handler (in the calling thread) and return the JSON result.
    With ``context.companions`` the jobs run together (see ``execute_batch``)."""
    if context.companions:
        return execute_batch(kind, payload, context)
    spec: JobSpec = parse_spec(kind, payload)
    output = handler_for(kind)(spec, context)
    return output.to_result()


def execute_batch(kind: str, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """Run the lead job and its companions in one handler call. Every companion gets its own
    result or error; the lead's result is returned (its error raised), as for a single job."""
    lead = BatchMember(kind, payload, context)
    members = [lead, *context.companions]
    try:
        if kind not in BATCH_HANDLERS:
            from engine.errors import InvalidConfig

            raise InvalidConfig(f"jobs of kind {kind!r} cannot run in a batch")
        module, _, name = BATCH_HANDLERS[kind].partition(":")
        getattr(importlib.import_module(module), name)(members)
    except Exception as error:  # the shared call failed: every job ends as a single job would
        for member in members:
            if member.result is None and member.error is None:
                member.error = error
    if lead.error is not None:
        raise lead.error
    assert lead.result is not None
    return lead.result
