"""What the log says about prompt length is true: the tiny model tokenizes with CLIP's real BPE, so
the styles' longest prompts raise no truncation warning, while a prompt that really is too long
is reported, through the process's logging (diffusers' and transformers' own handlers bypassed it)."""

from __future__ import annotations

import logging

import pytest

from engine.generate import GenerationRequest
from styles import load_catalogue
from styles.prompt_fit import composed_prompts
from engine import clip_tokens

TRUNCATION = ("truncated", "Token indices sequence length")


@pytest.fixture
def library_warnings(caplog):
    levels = {name: logging.getLogger(name).level for name in ("diffusers", "transformers")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.WARNING)
    caplog.set_level(logging.WARNING)
    yield caplog
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def truncation_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if any(text in r.getMessage() for text in TRUNCATION)]


def test_the_longest_style_prompts_are_not_reported_truncated(generator, library_warnings) -> None:
    longest = [max((text for _, text in composed_prompts(style)), key=clip_tokens.count) for style in load_catalogue()]
    assert max(map(clip_tokens.count, longest)) >= 74
    generator.generate(GenerationRequest(longest, count=len(longest), steps=1, use_refiner=False, vary_prompts=False))
    assert truncation_records(library_warnings) == []


def test_a_prompt_that_is_too_long_is_reported_through_logging(generator, library_warnings) -> None:
    prompt = "a photo of ohwx person, " + ", ".join(["red scarf"] * 40)
    generator.generate(GenerationRequest(prompt, count=1, steps=1, use_refiner=False, vary_prompts=False))
    records = truncation_records(library_warnings)
    assert records and {r.name.split(".")[0] for r in records} <= {"diffusers", "transformers"}
