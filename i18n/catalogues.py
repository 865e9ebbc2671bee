"""The compiled catalogues, one per language, read from ``locales/<code>.po`` on first use."""

from __future__ import annotations

import gettext
import io
from functools import cache

from i18n.languages import DEFAULT, LOCALES


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The language's catalogue; English, and a language without a file, say the source. A message
    a catalogue lacks (or marks fuzzy) is said in English rather than not at all."""
    path = LOCALES / f"{language}.po"
    if language == DEFAULT or not path.exists():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)
