"""Turning a handler's exception into the job's error code (the front end words the apology)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import BudgetExceeded, Cancelled, InvalidConfig, UnknownModel, WeightsMissing


class JobFailed(Exception):
    """Raised on purpose with a stable error code; ``retryable`` sends the job back to the queue
    (up to its max attempts) instead of failing it."""

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


@dataclass(frozen=True)
class Failure:
    code: str
    message: str
    retryable: bool = False
    expected: bool = True  # False: a bug or an outage worth a traceback in the log


_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (UnknownModel, "unknown_model"),
    (InvalidConfig, "invalid_request"),
    (BudgetExceeded, "too_large"),
    (WeightsMissing, "weights_missing"),
)


def classify(error: BaseException) -> Failure:
    if isinstance(error, Cancelled):
        return Failure("cancelled", str(error))
    if isinstance(error, JobFailed):
        return Failure(error.code, str(error), error.retryable)
    for kind, code in _CODES:
        if isinstance(error, kind):
            return Failure(code, str(error))
    from db.storage import ObjectNotFound

    if isinstance(error, ObjectNotFound):
        return Failure("input_missing", str(error))
    if type(error).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, without importing torch
        return Failure("out_of_memory", str(error), retryable=True, expected=False)
    return Failure("internal_error", f"{type(error).__name__}: {error}", expected=False)
