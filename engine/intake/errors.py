"""The exception a check raises to refuse a photo."""

from __future__ import annotations

from engine.intake.reasons import RejectCode


class PhotoRejected(Exception):
    """A photo failed a check; ``code`` says which, ``detail`` is for logs (never shown to users)."""

    def __init__(self, code: RejectCode, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else str(code))
        self.code = code
        self.detail = detail
