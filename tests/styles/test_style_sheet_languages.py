"""The picker's sample sheet says the styles' titles in the language of the person looking: one sheet
per language, drawn in a font that has their letters (Cyrillic for Russian, accents for the rest)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFont

from bot.core import style_sheet
from bot.core.style_sheet import GAP, LABEL_HEIGHT, TILE, StyleSheets, compose_sheet, title_font
from i18n import Audience, speaking
from styles import load_catalogue
from tests.support.style_samples import styles_folder_with_samples

TRANSLATED = ("es", "pt_BR", "ru", "de", "fr")


def said(language: str, call):  # noqa: ANN001, ANN201 - a tiny helper
    with speaking(Audience(language=language)):
        return call()


def every_title(language: str) -> str:
    catalogue = load_catalogue()
    return said(language, lambda: "".join([s.title for s in catalogue] + [c.title for c in catalogue.categories.values()]))


def system_font(font: object) -> str:
    path = getattr(font, "path", None)
    if not isinstance(path, (str, os.PathLike)):  # Pillow's own font is read from memory
        pytest.skip("no system font here (the image installs fonts-dejavu-core): titles fall back to Pillow's font")
    return str(path)


def letters_missing(path: str, text: str) -> set[str]:
    """The letters of ``text`` the font file has no glyph for, read from its character map (fontTools
    where installed; else Pillow: a letter it lacks is drawn as the box of a noncharacter)."""
    letters = {ch for ch in text if not ch.isspace()}
    try:
        from fontTools.ttLib import TTFont
    except ImportError:
        font = ImageFont.truetype(path, 22)
        box = np.asarray(font.getmask("\ufdd0"))
        return {ch for ch in letters if (mask := np.asarray(font.getmask(ch))).shape == box.shape and (mask == box).all()}
    with TTFont(path, fontNumber=0, lazy=True) as font:
        cmap = font.getBestCmap()
    return {ch for ch in letters if ord(ch) not in cmap}


@pytest.fixture
def fresh_fonts() -> Iterator[None]:
    """Font choices forgotten before and after (they are cached per process)."""
    def forget() -> None:
        style_sheet._fonts.cache_clear()
        style_sheet._has.cache_clear()
        style_sheet.title_font.cache_clear()

    forget()
    yield
    forget()


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_font_chosen_for_a_languages_titles_has_all_their_letters(language: str) -> None:
    titles = every_title(language)
    path = system_font(title_font(titles))
    assert not letters_missing(path, titles), (path, "".join(sorted(letters_missing(path, titles))))
    assert not style_sheet.missing_letters(style_sheet._fonts().index(title_font(titles)), titles)


def test_the_sheet_in_russian_says_the_russian_titles(tmp_path: Path) -> None:
    sheets = StyleSheets(load_catalogue([styles_folder_with_samples(tmp_path)]))
    english = asyncio.run(sheets.for_category("gym"))
    russian = said("ru", lambda: asyncio.run(sheets.for_category("gym")))
    assert english is not None and russian is not None and russian.data != english.data
    assert russian.filename == english.filename == "styles-gym.jpg"
    # the same samples: what differs is the titles beneath them, and the Russian ones are letters, not boxes
    with Image.open(BytesIO(english.data)) as one, Image.open(BytesIO(russian.data)) as other:
        assert one.size == other.size
        top = GAP + TILE[1]
        band = (GAP, top, GAP + TILE[0], top + LABEL_HEIGHT)  # the first tile's title
        first, second = (np.asarray(image.convert("L").crop(band), dtype=int) for image in (one, other))
        assert np.abs(first - second).mean() > 2
        assert (second < 128).sum() > 100  # ink: the title was drawn
    catalogue = sheets.catalogue
    titles = said("ru", lambda: "".join(s.title for s in catalogue.in_category("gym")))
    assert {"М", "у", "ж", "С", "П"} <= set(titles)
    assert not letters_missing(system_font(title_font(titles)), titles)


def test_a_sheet_is_kept_per_language(tmp_path: Path, monkeypatch) -> None:
    composed: list[str] = []
    real = style_sheet.compose_sheet
    monkeypatch.setattr(style_sheet, "compose_sheet", lambda tiles: (composed.append(tiles[0][0]), real(tiles))[1])
    sheets = StyleSheets(load_catalogue([styles_folder_with_samples(tmp_path)]))
    english = asyncio.run(sheets.for_category("gym"))
    russian = said("ru", lambda: asyncio.run(sheets.for_category("gym")))
    assert said("ru", lambda: asyncio.run(sheets.for_category("gym"))) is russian
    assert asyncio.run(sheets.for_category("gym")) is english
    assert said("de", lambda: asyncio.run(sheets.for_category("gym"))) not in (english, russian)
    assert composed == ["Muscular Physique", "Мускулистое тело", "Muskulöser Körper"]


def test_the_first_font_that_has_the_letters_is_chosen(fresh_fonts: None, monkeypatch) -> None:
    """Pillow's own font has ASCII only: listed first, it still draws English, and Russian or French
    go to the next font, which has their letters."""
    full = ImageFont.truetype(system_font(title_font()), style_sheet.FONT_SIZE)
    ascii_only = ImageFont.load_default(size=style_sheet.FONT_SIZE)
    if not isinstance(ascii_only, ImageFont.FreeTypeFont):
        pytest.skip("Pillow without FreeType")
    style_sheet._fonts.cache_clear()
    monkeypatch.setattr(style_sheet, "_fonts", lambda: (ascii_only, full))
    assert title_font("Muscular Physique") is ascii_only
    assert title_font("Мускулистое тело") is full
    assert title_font("Physique musclé") is full


def test_with_no_font_that_has_the_letters_the_sheet_is_still_made(fresh_fonts: None, monkeypatch, caplog) -> None:
    monkeypatch.setattr(style_sheet, "TITLE_FONTS", ("NoSuchFont-Regular.ttf",))
    with caplog.at_level(logging.INFO):
        data = compose_sheet([("Мускулистое тело", None), ("Physique musclé", None)])
    with Image.open(BytesIO(data)) as sheet:
        assert sheet.format == "JPEG"
    assert "sample sheet titles use Pillow's font" in caplog.text
    assert "drawn as boxes" in caplog.text and "М" in caplog.text
