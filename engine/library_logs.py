"""transformers and diffusers log through their own stderr handler and do not propagate, so their
warnings bypass the process's logging (format, JSON lines, redaction). Once they are imported,
their records go to the root logger like everyone else's, at the level they chose."""

from __future__ import annotations

import logging

LIBRARIES = ("transformers", "diffusers")


def route_library_logs() -> None:
    for name in LIBRARIES:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):  # the library's own stderr handler; never re-added once made
            logger.removeHandler(handler)
        logger.propagate = True
