"""CLIP's byte-pair encoding, to count the tokens a prompt takes in SDXL's text encoders.

Both SDXL text encoders (CLIP ViT-L and OpenCLIP bigG) tokenize with OpenAI CLIP's BPE vocabulary
and read at most 77 positions, two of them the start and end markers: 75 are left for the
prompt, and whatever is past them is silently dropped. The vocabulary is the
``bpe_simple_vocab_16e6.txt.gz`` that the ``openai-clip`` package ships; it is located without
importing that package (which imports torch), so the bot process can count tokens too. It
tokenizes as transformers' ``CLIPTokenizer`` (which the diffusers pipelines use) does; a test
checks it against that tokenizer built from the same file."""

from __future__ import annotations

import functools
import gzip
import importlib.util
import unicodedata
from pathlib import Path

import regex

CONTEXT_LENGTH = 77
PROMPT_TOKENS = CONTEXT_LENGTH - 2  # start and end markers
MERGES_USED = 49152 - 256 - 2  # the merges CLIP's vocabulary is built from (after the header line)
_WORDS = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE)


class VocabularyMissing(RuntimeError):
    """The ``openai-clip`` package (which ships CLIP's BPE vocabulary) is not installed."""


def vocabulary_file() -> Path:
    spec = importlib.util.find_spec("clip")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "bpe_simple_vocab_16e6.txt.gz"
        if path.is_file():
            return path
    raise VocabularyMissing("CLIP's BPE vocabulary not found: install the `openai-clip` package")


@functools.cache
def bytes_to_unicode() -> dict[int, str]:
    """CLIP's (and GPT-2's) reversible map of bytes to printable characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes), strict=True))


@functools.cache
def merges() -> tuple[tuple[str, str], ...]:
    lines = gzip.open(vocabulary_file(), "rt", encoding="utf-8").read().split("\n")[1:MERGES_USED + 1]
    return tuple(tuple(line.split()) for line in lines)  # type: ignore[misc]


@functools.cache
def vocabulary() -> dict[str, int]:
    """Token → id, in CLIP's order (the same ids as the hub's ``vocab.json``)."""
    symbols = list(bytes_to_unicode().values())
    symbols += [s + "</w>" for s in symbols]
    symbols += ["".join(pair) for pair in merges()]
    symbols += ["<|startoftext|>", "<|endoftext|>"]
    return {symbol: index for index, symbol in enumerate(symbols)}


@functools.cache
def _ranks() -> dict[tuple[str, str], int]:
    return {pair: rank for rank, pair in enumerate(merges())}


@functools.lru_cache(maxsize=65536)
def _bpe(word: str) -> tuple[str, ...]:
    parts = list(word[:-1]) + [word[-1] + "</w>"]
    ranks = _ranks()
    while len(parts) > 1:
        pairs = {(a, b) for a, b in zip(parts, parts[1:])}
        best = min(pairs, key=lambda pair: ranks.get(pair, float("inf")))
        if best not in ranks:
            break
        merged, index = [], 0
        while index < len(parts):
            if index < len(parts) - 1 and (parts[index], parts[index + 1]) == best:
                merged.append(parts[index] + parts[index + 1])
                index += 2
            else:
                merged.append(parts[index])
                index += 1
        parts = merged
    return tuple(parts)


def clean(text: str) -> str:
    """As transformers' CLIP tokenizer normalises (NFC, whitespace runs to one space, lower case; no
    HTML unescaping, which only OpenAI's reference tokenizer does)."""
    return " ".join(unicodedata.normalize("NFC", text).split()).lower()


def tokens(text: str) -> list[str]:
    """The BPE tokens of ``text`` (without the start and end markers)."""
    byte_map = bytes_to_unicode()
    out: list[str] = []
    for word in _WORDS.findall(clean(text)):
        out.extend(_bpe("".join(byte_map[b] for b in word.encode("utf-8"))))
    return out


def count(text: str) -> int:
    return len(tokens(text))


def dropped_words(text: str, limit: int = PROMPT_TOKENS) -> str:
    """The end of ``text`` that falls past ``limit`` tokens, as words (for a message)."""
    kept = tokens(text)[:limit]
    decoder = {v: k for k, v in bytes_to_unicode().items()}
    done = bytearray(decoder[ch] for ch in "".join(kept).replace("</w>", " ") if ch != " " and ch in decoder)
    prefix = bytes(done).decode("utf-8", "replace")
    words, seen = clean(text).split(), ""
    for index, word in enumerate(words):  # the first word not wholly within the kept tokens
        seen += "".join(ch for ch in word if not ch.isspace())
        if len(seen) > len(prefix):
            return " ".join(words[index:])
    return ""
