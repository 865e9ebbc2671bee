"""transformers and diffusers log through their own stderr handler and do not propagate, so their
warnings bypass the process's logging (format, JSON lines, redaction); huggingface_hub has a stderr
handler of its own too and also propagates, so its warnings came out twice, once raw. Once they are
imported, their records go to the root logger like everyone else's, at the level they chose."""

from __future__ import annotations

import logging

LIBRARIES = ("transformers", "diffusers", "huggingface_hub")  # the hub: a handler of its own, and propagates too

# Warnings that say nothing is wrong, logged at every LoRA load or dtype cast: kept at DEBUG, so an
# operator's log shows the warnings that matter. (logger, the message's start)
BENIGN = (
    # the personal LoRA trains the UNet only, so it has no text-encoder keys, by design
    ("diffusers.loaders.lora_base", "No LoRA keys associated to CLIPTextModel"),
    # a cast of a model that has no float32-only modules at all
    ("diffusers.models.modeling_utils", "There are modules in UNet2DConditionModel that should be kept in float32: []"),
)


class _Benign(logging.Filter):
    def __init__(self, start: str) -> None:
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and record.getMessage().startswith(self.start):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG) or logging.getLogger().isEnabledFor(
                logging.DEBUG)
        return True


def route_library_logs() -> None:
    for name in LIBRARIES:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):  # the library's own stderr handler; never re-added once made
            logger.removeHandler(handler)
        logger.propagate = True
    for name, start in BENIGN:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Benign) and f.start == start for f in logger.filters):
            logger.addFilter(_Benign(start))
