"""Engine exceptions, importable without torch so the job runtime can catch them cheaply."""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class Cancelled(EngineError):
    """The caller asked to stop (``should_cancel()`` returned True); no result was produced."""

    def __init__(self, stage: str, step: int) -> None:
        super().__init__(f"{stage} cancelled at step {step}")
        self.stage = stage
        self.step = step


class InvalidConfig(EngineError, ValueError):
    """A training or generation request is invalid; raised before any model loads."""


class BudgetExceeded(EngineError):
    """A generation request would cost more pixel-steps than allowed; refused before work starts."""


class WeightsMissing(EngineError):
    """Model weights are not on this machine; the message names the command that fetches them."""


class DeviceUnavailable(EngineError, RuntimeError):
    """The torch device asked for (``cuda``, ``cuda:1``) is not on this machine."""


class FetchFailed(EngineError):
    """Weights could not be downloaded (no internet, the hub refused); the message says what to do."""


class UnknownModel(EngineError, KeyError):
    """No entry of that name in the model registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
