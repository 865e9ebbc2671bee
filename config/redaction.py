"""Secrets out of every text that leaves the process: log lines, tracebacks (also uncaught ones),
error messages stored in the database, `studio config`.

Two kinds of secret are taken out: the configured ones, registered at start (bot tokens, keys,
the database password), and those recognisable by their shape wherever they come from (a password
inside a URL, a Telegram bot token, a bearer token)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

REDACTED = "[redacted]"

_known: list[str] = []
_lock = threading.Lock()
_SHAPES = (
    (re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s'\"]*:)[^@\s'\"]+(?=@)"), r"\g<scheme>" + REDACTED),
    (re.compile(r"(?<![0-9])\d{5,16}:[A-Za-z0-9_-]{30,}"), REDACTED),  # a Telegram bot token
    (re.compile(r"(?i)\b(bearer|authorization:)\s+[A-Za-z0-9._~+/=-]{12,}"), r"\1 " + REDACTED),
)


def register(secrets: Iterable[str]) -> None:
    """Secrets to take out from now on (only ones of 4 characters or more: shorter would mangle text)."""
    with _lock:
        merged = set(_known) | {s for s in secrets if s and len(s) >= 4}
        _known[:] = sorted(merged, key=len, reverse=True)


def redact(text: str) -> str:
    for secret in _known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text
