"""Every prompt a style can compose must fit SDXL's text encoders, or the end of it is lost.

The bot composes: [style LoRA trigger, ] the prompt with the user's token, a class word and one of
the style's variations, then the engine appends a batch variation (``engine.gen_request.VARIATIONS``)
to the 2nd, 3rd… image. The longest of these must fit CLIP's 75 prompt tokens (real BPE,
``styles.clip_tokens``); so must the negative prompt. A style that does not fit is refused when
the catalogue loads, with the field to shorten and the words that would be dropped."""

from __future__ import annotations

from engine import clip_tokens
from styles.style import Style

PERSONAL_TOKEN = "ohwx"  # the rare token a personal LoRA binds the user's face to
CLASS_WORDS = ("man", "woman", "person")


def batch_variations() -> tuple[str, ...]:
    from engine.gen_request import VARIATIONS  # torch-free

    return VARIATIONS


def longest_suffix() -> str:
    return max((f", {v}" for v in batch_variations() if v), key=clip_tokens.count, default="")


def composed_prompts(style: Style) -> list[tuple[str, str]]:
    """(field to blame, prompt) for every prompt the style can compose, with the longest batch variation."""
    suffix = longest_suffix()
    trigger = f"{style.lora.trigger}, " if style.lora and style.lora.trigger else ""
    out = []
    for index, variation in enumerate(style.variations):
        for class_word in CLASS_WORDS:
            text = trigger + style.prompt.format(token=PERSONAL_TOKEN, class_word=class_word, variation=variation) + suffix
            out.append((f"variations[{index}]" if len(style.variations) > 1 else "prompt", text))
    return out


def misfit(style: Style) -> str | None:
    """Why the style does not fit CLIP's 77 tokens (field named), or None when every prompt fits."""
    worst_field, worst = max(composed_prompts(style), key=lambda item: clip_tokens.count(item[1]))
    used = clip_tokens.count(worst)
    if used > clip_tokens.PROMPT_TOKENS:
        shortest = min(clip_tokens.count(text) for _, text in composed_prompts(style))
        field = "prompt" if shortest > clip_tokens.PROMPT_TOKENS else worst_field
        parts = "lora.trigger + prompt" if style.lora and style.lora.trigger else "prompt"
        return (f"field '{field}': the composed prompt ({parts} with token, class word, variation and batch variation) "
                f"takes {used} of the {clip_tokens.PROMPT_TOKENS} tokens SDXL reads; "
                f"it would drop '{clip_tokens.dropped_words(worst)}'")
    negative = clip_tokens.count(style.negative_prompt)
    if negative > clip_tokens.PROMPT_TOKENS:
        return (f"field 'negative_prompt': takes {negative} of the {clip_tokens.PROMPT_TOKENS} tokens SDXL reads; "
                f"it would drop '{clip_tokens.dropped_words(style.negative_prompt)}'")
    return None
