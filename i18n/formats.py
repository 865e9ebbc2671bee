"""Numbers, percentages and dates as the current audience writes them (CLDR, through Babel)."""

from __future__ import annotations

from datetime import date, datetime

from i18n.audience import current


def number(value: int | float) -> str:
    from babel.numbers import format_decimal

    return format_decimal(value, locale=current().language)


def percent(value: int | float) -> str:
    """``value`` in percent points (92 → "92%" in English, "92 %" in French)."""
    from babel.numbers import format_percent

    return format_percent(value / 100, locale=current().language)


def date_text(day: date | datetime) -> str:
    """A day as a person reads it in a sentence: "December 20, 2026", "20 декабря 2026 г."."""
    from babel.dates import format_date

    return format_date(day.date() if isinstance(day, datetime) else day, format="long", locale=current().language)
