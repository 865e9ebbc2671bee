"""Every prompt a style composes fits the 77 positions of SDXL's CLIP text encoders, counted with
CLIP's real BPE vocabulary (the one the `openai-clip` package ships), and a style that does not
fit is refused when the catalogue loads, its file and field named."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest

from bot.core import texts
from bot.core.usecases.training import PERSONAL_TOKEN
from engine.gen_request import VARIATIONS
from engine import clip_tokens
from styles import BUILTIN_DIR, StyleError, load_catalogue
from styles.prompt_fit import CLASS_WORDS, PERSONAL_TOKEN as STYLES_TOKEN, composed_prompts


@functools.cache
def real_tokenizer():  # transformers' own CLIP tokenizer, built from the same vocabulary file
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=clip_tokens.vocabulary(), merges=list(clip_tokens.merges()), model_max_length=77)


def every_composed_prompt() -> list[str]:
    prompts = []
    for style in load_catalogue():
        for variation in VARIATIONS:  # every batch variation, not only the longest the check assumes
            for _, text in composed_prompts(style):
                prompts.append(text.rsplit(", ", 1)[0] + (f", {variation}" if variation else ""))
        prompts.append(style.negative_prompt)
    return prompts


def test_the_vocabulary_is_clips() -> None:
    vocabulary = clip_tokens.vocabulary()
    assert len(vocabulary) == 49408 and vocabulary["<|endoftext|>"] == 49407 and vocabulary["a</w>"] == 320


def test_every_built_in_style_fits_77_tokens_of_the_real_bpe() -> None:
    tokenizer = real_tokenizer()
    lengths = {text: len(tokenizer(text).input_ids) for text in every_composed_prompt()}  # with start and end
    assert max(lengths.values()) <= 77, max(lengths, key=lengths.get)
    assert max(lengths.values()) >= 70  # the longest really are near the edge: the check is not vacuous


def test_the_counter_is_clips_tokenizer() -> None:
    tokenizer = real_tokenizer()
    samples = every_composed_prompt() + ["Don't   it's AMAZING!!! 24mm f/1.8, café naïve &amp; 3d-render"]
    assert [clip_tokens.tokens(text) for text in samples] == [tokenizer.tokenize(text) for text in samples]


def test_the_token_and_class_words_checked_are_the_bots() -> None:
    assert STYLES_TOKEN == PERSONAL_TOKEN and set(CLASS_WORDS) == set(texts.CLASS_WORDS)


def style_pack(tmp_path: Path, name: str, old: str, new: str) -> Path:
    pack = tmp_path / "pack"
    pack.mkdir()
    shutil.copy(BUILTIN_DIR / "categories.toml", pack)
    text = (BUILTIN_DIR / name).read_text()
    assert old in text
    (pack / name).write_text(text.replace(old, new))
    return pack / name


def test_one_more_phrase_in_a_variation_is_refused_with_file_and_field(tmp_path: Path) -> None:
    path = style_pack(tmp_path, "movie-look.toml", '"trench coat, smoky 1940s film noir office, light through window blinds"',
                      '"trench coat, smoky 1940s film noir office, light through window blinds, rain outside"')
    with pytest.raises(StyleError) as refused:
        load_catalogue([path.parent])
    message = str(refused.value)
    assert message.startswith(f"{path}: field 'variations[5]'") and "of the 75 tokens" in message
    assert message.endswith("takes 77 of the 75 tokens SDXL reads; it would drop 'three-quarter view'")


def test_a_prompt_too_long_for_every_variation_names_the_prompt(tmp_path: Path) -> None:
    path = style_pack(tmp_path, "barbie-look.toml", 'prompt = "', 'prompt = "a very detailed high quality award winning photo, ')
    with pytest.raises(StyleError, match=r"field 'prompt': the composed prompt \(lora.trigger \+ prompt"):
        load_catalogue([path.parent])


def test_a_long_negative_prompt_is_refused(tmp_path: Path) -> None:
    path = style_pack(tmp_path, "gym-abs.toml", 'oily skin', 'oily skin, sweaty skin, tattoos, piercings')
    with pytest.raises(StyleError, match=r"field 'negative_prompt': takes 83 of the 75 tokens SDXL reads; it would drop 'plastic skin, cartoon, 3d render'"):
        load_catalogue([path.parent])


def test_the_bot_process_counts_without_torch() -> None:
    import subprocess
    import sys

    code = "import sys; from styles import load_catalogue; load_catalogue(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
