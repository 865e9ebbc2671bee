"""Logging set-up: one format for every process, with secrets redacted from every record.

httpx (used by python-telegram-bot) logs request URLs that contain the bot token; the
redaction filter sits on the handler so no record can print a configured secret.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterable
from types import TracebackType
from typing import TextIO

from config.redaction import REDACTED, redact, register

__all__ = ["REDACTED", "SecretRedactingFilter", "configure_logging"]

class SecretRedactingFilter(logging.Filter):
    """Takes every registered secret, and every secret-shaped string, out of a record and its traceback."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        register(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class OneLineFormatter(logging.Formatter):
    """Text records, one line each: line breaks inside a message (a database error's '[SQL: ...]'
    part) are written as ' | '; a traceback, when there is one, still follows on its own lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        text = super().formatMessage(record)
        return " | ".join(part for part in text.splitlines() if part.strip()) if "\n" in text or "\r" in text else text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("error_id", "job_id", "user_id"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info or record.exc_text:
            payload["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(level: str = "INFO", *, secrets: Iterable[str] = (), json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SecretRedactingFilter(secrets))
    handler.setFormatter(
        JsonFormatter() if json_lines else OneLineFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # libraries' warnings.warn(...) become log records ("py.warnings")
    warnings.showwarning = _warning_as_one_line
    if json_lines or not sys.stderr.isatty():
        _quiet_progress_bars()
    _route_uncaught_exceptions()
    # Chatty libraries: keep their warnings, drop their per-request info lines.
    for name in ("httpx", "httpcore", "discord.http", "botocore", "urllib3", "aiosqlite", "alembic", "werkzeug"):
        logging.getLogger(name).setLevel(max(logging.getLevelName(level), logging.WARNING))


def _warning_as_one_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                         file: TextIO | None = None, line: str | None = None) -> None:
    """A library's warning is one record (logging's own capture adds the source line on a second line)."""
    if file is not None:  # someone asked for it on a stream of their own
        file.write(warnings.formatwarning(message, category, filename, lineno, line))
        return
    logging.getLogger("py.warnings").warning("%s: %s (%s:%s)", category.__name__, message, filename, lineno)


def _quiet_progress_bars() -> None:
    """tqdm bars (transformers' 'Loading weights', hub downloads, peft) are for a terminal: in a log file or
    a service's journal they are lines of carriage returns between the records. Also for the worker
    child, which inherits the environment; an operator's own setting wins."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    if "huggingface_hub" in sys.modules:  # imported already: its switch was read at import
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()


def _route_uncaught_exceptions() -> None:
    """Uncaught exceptions (the main thread's and other threads') are logged, so redacted, instead
    of printed raw by Python: a rejected token in a traceback never reaches the terminal in clear."""
    log = logging.getLogger("studio.uncaught")

    def on_uncaught(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, trace)
            return
        log.critical("uncaught %s", kind.__name__, exc_info=(kind, error, trace))

    def on_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            on_uncaught(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = on_uncaught
    threading.excepthook = on_thread
