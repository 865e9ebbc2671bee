"""The languages the bot speaks: English (the source) and one per catalogue file in ``locales/``.
A seventh language is one more ``.po`` file there and nothing else."""

from __future__ import annotations

from functools import cache
from pathlib import Path

LOCALES = Path(__file__).resolve().parent / "locales"
DEFAULT = "en"


@cache
def languages() -> tuple[str, ...]:
    """English first, then the catalogues' codes (``es``, ``pt_BR``, …) in alphabetical order."""
    return (DEFAULT, *sorted(p.stem for p in LOCALES.glob("*.po")))


def pick(client_code: str | None) -> str | None:
    """The language to speak for a client's language tag (Telegram's ``language_code`` such as
    ``pt-br``; Discord's locale such as ``es-ES`` or ``es-419``): an exact match first, then the
    language alone (``pt`` for ``pt-PT`` speaks Brazilian Portuguese rather than English). None
    for a language the bot does not speak, or no tag."""
    if not client_code:
        return None
    tag = client_code.replace("-", "_").strip()
    by_lower = {code.lower(): code for code in languages()}
    if tag.lower() in by_lower:
        return by_lower[tag.lower()]
    base = tag.split("_")[0].lower()
    if base in by_lower:
        return by_lower[base]
    for code in languages():
        if code.split("_")[0].lower() == base:
            return code
    return None


@cache
def language_name(code: str) -> str:
    """The language's name in itself, as a person looking for it reads it: "Deutsch", "Русский"."""
    from babel import Locale

    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]
