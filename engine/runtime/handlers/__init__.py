"""Job handlers: one function per job kind, the same code in a local worker and on RunPod."""

from engine.runtime.handlers.context import EngineOptions, JobContext, ModelCache
from engine.runtime.handlers.registry import execute, handler_for

__all__ = ["EngineOptions", "JobContext", "ModelCache", "execute", "handler_for"]
