"""A test handler the test holds at a gate, to land a cancel, a shutdown or a /delete in the
window between the handler's last step and the worker's next heartbeat.

Register it over a kind with ``monkeypatch.setitem(registry.HANDLERS, "noop", HANDLER)``. Like a
training attempt, it first writes the user's material into its scratch folder; then it waits at
the gate, and then ends as ``Gate.ending`` says."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from engine.jobs import NoopJob, NoopOutput
from engine.runtime.handlers.context import JobContext
from engine.runtime.handlers.errors import JobFailed
from engine.runtime.scratch import write_atomically

HANDLER = "tests.runtime.gated:handle_gated"
SCRATCH_FILE = "user_lora.safetensors"


@dataclass
class Gate:
    #: "out_of_memory" (a retryable error), "step" (one more cancellable step, then done)
    ending: str = "out_of_memory"
    #: a storage key read after the gate (the next selfie or the LoRA: gone after a /delete)
    read_key: str | None = None
    #: a storage key written after the gate, before the read (what a job stores meanwhile)
    write_key: str | None = None
    started: threading.Event = field(default_factory=threading.Event)
    open: threading.Event = field(default_factory=threading.Event)


GATE = Gate()


def reset(**settings: object) -> Gate:
    global GATE
    GATE = Gate(**settings)  # type: ignore[arg-type]
    return GATE


def handle_gated(spec: NoopJob, context: JobContext) -> NoopOutput:
    gate = GATE
    write_atomically(context.work_dir / SCRATCH_FILE, b"the user's face, as weights")
    gate.started.set()
    if not gate.open.wait(30):
        raise RuntimeError("the test never opened the gate")
    if gate.write_key:
        context.storage.put(gate.write_key, b"written after the gate")
    if gate.read_key:
        context.storage.get(gate.read_key)
    if gate.ending == "out_of_memory":
        raise JobFailed("out_of_memory", "CUDA out of memory", retryable=True)
    context.check_cancel("generating", 1)
    return NoopOutput(steps=1, attempt=context.attempt, result_key=None)
