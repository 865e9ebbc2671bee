"""A sentence of the catalogue. Declared once in English at import; said in the current audience's
language each time it becomes text (``str()``, ``format()``, an f-string). Every one is registered,
which is how the catalogue template is made (``python -m i18n.extract``) and checked."""

from __future__ import annotations

import sys
from typing import Any

from i18n.audience import GENDERS, current
from i18n.catalogues import translations

registry: list[Msg | Plural] = []


def _caller() -> tuple[str, int]:
    """Where a sentence was declared (file, line): shown to translators next to it."""
    frame = sys._getframe(2)
    return frame.f_code.co_filename, frame.f_lineno


class Msg:
    """``gendered``: some languages agree this sentence with the person ("¿Estás seguro/segura?"):
    the catalogues hold it once per gender (msgctxt ``man``, ``woman``, ``person``). ``same``: the
    text is meant to read the same in every language (a brand, a price in Stars)."""

    __slots__ = ("source", "gendered", "same", "note", "where", "__weakref__")

    def __init__(self, source: str, *, gendered: bool = False, same: bool = False, note: str = "") -> None:
        self.source = source
        self.gendered = gendered
        self.same = same
        self.note = note
        self.where = _caller()
        registry.append(self)

    def __str__(self) -> str:
        audience = current()
        said = translations(audience.language)
        if self.gendered:
            return said.pgettext(audience.gender if audience.gender in GENDERS else "person", self.source)
        return said.gettext(self.source)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def format(self, *args: Any, **kwargs: Any) -> str:
        return str(self).format(*args, **kwargs)

    def __add__(self, other: object) -> str:
        return str(self) + str(other)

    def __radd__(self, other: object) -> str:
        return str(other) + str(self)

    def __getattr__(self, name: str) -> Any:  # str's methods (partition, strip, …) on the said text
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(str(self), name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Msg):
            return other is self
        return isinstance(other, str) and str(self) == other

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"Msg({self.source!r})"

    def contexts(self) -> tuple[str | None, ...]:
        return GENDERS if self.gendered else (None,)


class Plural:
    """A sentence about a count: ``Plural("{n} credit", "{n} credits")(3)`` → "3 credits", and in
    Russian one of three forms (1 кредит, 3 кредита, 5 кредитов) as CLDR's rules pick. ``{n}`` is
    the count as the language writes numbers."""

    __slots__ = ("singular", "plural", "same", "note", "where", "__weakref__")
    gendered = False

    def __init__(self, singular: str, plural: str, *, same: bool = False, note: str = "") -> None:
        self.singular = singular
        self.plural = plural
        self.same = same
        self.note = note
        self.where = _caller()
        registry.append(self)

    @property
    def source(self) -> str:
        return self.singular

    def __call__(self, n: int, **kwargs: Any) -> str:
        from i18n.formats import number

        return self.template(n).format(n=number(n), **kwargs)

    def template(self, n: int) -> str:
        return translations(current().language).ngettext(self.singular, self.plural, n)

    def __repr__(self) -> str:
        return f"Plural({self.singular!r}, {self.plural!r})"

    def contexts(self) -> tuple[str | None, ...]:
        return (None,)
