"""Whether what a bot sent is in the user's language: the catalogue's sentences said in a language
(``said``), and the English of every sentence of the catalogue found in a text (``english_in``),
for journey tests that read everything a fake platform server recorded."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from i18n import Audience, Msg, Plural, registry, speaking
from i18n.audience import GENDERS

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
LETTER = re.compile(r"[^\W\d_]")
CYRILLIC = re.compile(r"[\u0400-\u04ff]")
MIN_WORDS = 3
"""A run of the English this many words long, found inside a text, is English the bot said ("longer
than a few words": shorter runs, such as "Portrait Studio", may be names)."""
PLURAL_SAMPLES = (0, 1, 2, 3, 5, 11, 21, 22, 25)
"""Counts that reach every plural form of the shipped languages (Russian has three)."""


def said(audience: Audience, sentence: Msg | Callable[[], Any], **values: Any) -> str:
    """``sentence`` (a Msg, formatted with ``values``; or a function that composes a text) as the
    bot says it to ``audience``."""
    with speaking(audience):
        if isinstance(sentence, Msg):
            return sentence.format(**values) if values else str(sentence)
        return str(sentence())


@dataclass(frozen=True)
class EnglishSentence:
    template: str
    where: str
    pattern: re.Pattern[str]
    """The whole template, each placeholder anything: a text (or a line of it) that is this English."""
    runs: tuple[str, ...]
    """Its literal runs of MIN_WORDS or more words: English found inside a longer text."""


@cache
def catalogue() -> tuple[Msg | Plural, ...]:
    """Every sentence the product declares (as ``python -m studio.catalogue`` finds them)."""
    from studio.catalogue import PARTS, declaring_modules

    for module in declaring_modules():
        importlib.import_module(module)
    return tuple(s for s in registry if any(Path(s.where[0]).resolve().is_relative_to(ROOT / part) for part in PARTS))


def _where(sentence: Msg | Plural) -> str:
    file, line = sentence.where
    return f"{Path(file).resolve().relative_to(ROOT)}:{line}"


@cache
def english_sentences() -> tuple[EnglishSentence, ...]:
    """The English of every sentence that has words (a ``same`` one reads alike everywhere: not)."""
    found = []
    for sentence in catalogue():
        if sentence.same:
            continue
        templates = (sentence.singular, sentence.plural) if isinstance(sentence, Plural) else (sentence.source,)
        for template in templates:
            literal = PLACEHOLDER.split(template)
            if not ENGLISH_WORD.search("".join(literal)):
                continue
            pattern = re.compile(".*?".join(re.escape(part) for part in literal), re.DOTALL)
            runs = tuple(run.strip() for run in literal if len(ENGLISH_WORD.findall(run)) >= MIN_WORDS)
            found.append(EnglishSentence(template, _where(sentence), pattern, runs))
    return tuple(found)


def renderings(sentence: Msg | Plural, language: str) -> set[str]:
    """Every way ``sentence`` reads in ``language`` (each gender, each plural form): templates."""
    out = set()
    for gender in GENDERS:
        with speaking(Audience(language, gender)):
            if isinstance(sentence, Plural):
                out |= {sentence.template(n) for n in PLURAL_SAMPLES}
            else:
                out.add(str(sentence))
    return out


@cache
def kept_by_translators(language: str) -> frozenset[str]:
    """English runs a translation into ``language`` keeps as they are (a name inside a translated
    sentence): not a sign of English. An untranslated sentence (said in English) keeps nothing."""
    kept = set()
    for sentence in catalogue():
        templates = (sentence.singular, sentence.plural) if isinstance(sentence, Plural) else (sentence.source,)
        translated = renderings(sentence, language) - set(templates)
        for template in templates:
            for run in PLACEHOLDER.split(template):
                run = run.strip()
                if len(ENGLISH_WORD.findall(run)) >= MIN_WORDS and any(run in text for text in translated):
                    kept.add(run)
    return frozenset(kept)


def english_in(text: str, language: str) -> list[str]:
    """The catalogue's English sentences in ``text`` (the whole text, one of its lines, or a run of
    MIN_WORDS or more words of one), each as "file:line «template»"."""
    lines = [text.strip(), *(line.strip() for line in text.splitlines())]
    kept = kept_by_translators(language)
    found = []
    for sentence in english_sentences():
        whole = any(line and sentence.pattern.fullmatch(line) for line in lines)
        inside = [run for run in sentence.runs if run not in kept and run in text]
        if whole or inside:
            found.append(f"{sentence.where} «{sentence.template[:80]}»"
                         + (f" (found {inside[0]!r})" if inside else ""))
    return found


def has_words(text: str) -> bool:
    return bool(LETTER.search(text))


def is_cyrillic(text: str) -> bool:
    return bool(CYRILLIC.search(text))


def wrong_language(texts: Iterable[tuple[str, str]], language: str, *, exempt: Iterable[str] = (),
                   alphabet: Callable[[str], bool] | None = None) -> list[str]:
    """Each (where, text) the bot sent that holds the catalogue's English, or (``alphabet``: the
    language's letters, e.g. ``is_cyrillic``) has words but none in the language's alphabet; the
    ``exempt`` texts (names, brands) are passed over."""
    skip = set(exempt)
    problems = []
    for where, text in texts:
        if not text or text in skip:
            continue
        for english in english_in(text, language):
            problems.append(f"{where}: {text[:120]!r} is English: {english}")
        if alphabet is not None and has_words(text) and not alphabet(text):
            problems.append(f"{where}: {text[:120]!r} has no {language} letters")
    return problems
