"""A style's title and description (and a category's title) are said in the user's language, from
``[i18n.<code>]`` tables in its TOML; the English stays the file's own fields, prompts stay English,
and a translation table that is not right is refused at load with its file and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from i18n import Audience, languages, speaking
from styles import BUILTIN_DIR, StyleError, load_catalogue
from tests.styles.test_styles import NEW_STYLE

TRANSLATED = ("es", "pt_BR", "ru", "de", "fr")
BRAND_ONLY_CATEGORIES = {"modeling": "Instagram"}
"""Categories whose title is a brand, read the same in every language: they have no translations."""
SAME_AS_ENGLISH: set[tuple[str, str, str]] = set()
"""(style id, language, field) of a translation that may read exactly as the English (none so far)."""



def said(language: str, read):  # noqa: ANN001, ANN201 - a tiny helper
    with speaking(Audience(language=language)):
        return read()


def test_the_bot_speaks_the_languages_the_styles_are_translated_into() -> None:
    assert set(TRANSLATED) <= set(languages())


def test_every_shipped_style_has_its_title_and_description_in_every_language() -> None:
    catalogue = load_catalogue()
    problems = []
    for style in catalogue:
        assert set(style.i18n) == set(TRANSLATED), style.id
        for code in TRANSLATED:
            text = style.i18n[code]
            for field, english in (("title", style.english_title), ("description", style.english_description)):
                value = getattr(text, field)
                if not value or not value.strip():
                    problems.append(f"{style.id} [{code}] {field}: empty")
                elif value.strip() == english.strip() and (style.id, code, field) not in SAME_AS_ENGLISH:
                    problems.append(f"{style.id} [{code}] {field}: reads as the English {english!r}")
    assert not problems, "\n".join(problems)


def test_every_category_has_its_title_in_every_language_but_a_brand() -> None:
    catalogue = load_catalogue()
    for category in catalogue.categories.values():
        if category.id in BRAND_ONLY_CATEGORIES:
            assert category.english_title == BRAND_ONLY_CATEGORIES[category.id] and not category.i18n
            assert all(said(code, lambda c=category: c.title) == category.english_title for code in TRANSLATED)
            continue
        assert set(category.i18n) == set(TRANSLATED), category.id
        for code in TRANSLATED:
            title = category.i18n[code].title
            assert title and title.strip() and title != category.english_title, (category.id, code)


@pytest.mark.parametrize("code", ["en", *TRANSLATED])
def test_no_two_buttons_read_the_same_in_a_language(code: str) -> None:
    catalogue = load_catalogue()
    styles = said(code, lambda: [s.title for s in catalogue])
    categories = said(code, lambda: [c.title for c in catalogue.used_categories()])
    assert len(set(styles)) == len(styles) and len(set(categories)) == len(categories)


def test_a_style_is_said_in_the_audiences_language_and_in_english_otherwise() -> None:
    catalogue = load_catalogue()
    style = catalogue.get("linkedin-headshot")
    assert style.title == "LinkedIn Headshot"  # nobody set: English
    with speaking(Audience(language="ru")):
        assert style.title == "Фото для LinkedIn"
        assert style.description.startswith("Аккуратное и уверенное фото по плечи")
        assert catalogue.categories["professional"].title == "Бизнес"
        assert catalogue.categories["modeling"].title == "Instagram"
        assert f"{style.emoji} {style.title}" == "👔 Фото для LinkedIn"  # as the picker's button makes it
    assert said("es", lambda: style.title) == "Foto para LinkedIn"
    assert said("de", lambda: style.title) == "LinkedIn-Porträt"
    assert said("fr", lambda: style.title) == "Portrait LinkedIn"
    assert said("pt_BR", lambda: style.title) == "Foto para LinkedIn"
    assert said("it", lambda: (style.title, style.description)) == (style.english_title, style.english_description)
    assert said("ru", lambda: style.english_title) == "LinkedIn Headshot" == style.titles["en"]
    assert style.titles["ru"] == "Фото для LinkedIn" and set(style.titles) == {"en", *TRANSLATED}
    assert said("ru", lambda: catalogue.get("ghibli-art").title) == "Аниме в стиле Ghibli"


def test_the_prompts_and_the_operators_listing_stay_english() -> None:
    style = load_catalogue().get("barbie-look")
    english = style.prompts("ohwx", "woman", 4, seed=2)
    with speaking(Audience(language="ru")):
        assert style.prompts("ohwx", "woman", 4, seed=2) == english
        dumped = style.model_dump(mode="json")  # `studio styles --json`
    assert dumped["title"] == "Barbie Look" and dumped["i18n"]["ru"]["title"] == "Образ Барби"


def test_a_style_without_translations_or_with_a_partial_one_reads_english_where_it_has_none(tmp_path: Path) -> None:
    (tmp_path / "astronaut.toml").write_text(NEW_STYLE + '\n[i18n.de]\ntitle = "Astronaut im All"\n')
    (tmp_path / "diver.toml").write_text(NEW_STYLE.replace('"astronaut"', '"diver"').replace('"Astronaut"', '"Diver"'))
    catalogue = load_catalogue([tmp_path])
    with speaking(Audience(language="de")):
        assert catalogue.get("astronaut").title == "Astronaut im All"
        assert catalogue.get("astronaut").description == "You, in a spacesuit on the Moon."
        assert catalogue.get("diver").title == "Diver"


@pytest.mark.parametrize(
    ("table", "field", "message"),
    [
        ('[i18n.xx]\ntitle = "Astronaut"', "i18n", "unknown language 'xx'"),
        ('[i18n.pt-BR]\ntitle = "Astronauta"', "i18n", "unknown language 'pt-BR'"),
        ('[i18n.en]\ntitle = "Astronaut"', "i18n", "the English is the file's own fields"),
        ('[i18n.ru]\ntitel = "Космонавт"', "i18n.ru.titel", "unknown field; a language's table has title, description"),
        ('[i18n.ru]\nprompt = "фото {token}"', "i18n.ru.prompt", "unknown field"),
        ('[i18n.ru]\ntitle = ""', "i18n.ru.title", "at least 1 character"),
        ('[i18n.ru]\ntitle = "  "', "i18n.ru.title", "is empty"),
        ('[i18n.ru]\ntitle = 3', "i18n.ru.title", "string"),
        ('i18n = "ru"', "i18n", "dictionary"),
    ],
)
def test_a_bad_translation_table_is_refused_with_its_file_and_field(tmp_path: Path, table: str, field: str,
                                                                   message: str) -> None:
    path = tmp_path / "astronaut.toml"
    path.write_text(NEW_STYLE + "\n" + table + "\n")
    with pytest.raises(StyleError) as caught:
        load_catalogue([tmp_path])
    assert str(path) in str(caught.value) and f"field '{field}'" in str(caught.value), str(caught.value)
    assert message in str(caught.value), str(caught.value)


def test_a_bad_category_translation_names_the_file_and_the_category(tmp_path: Path) -> None:
    text = (BUILTIN_DIR / "categories.toml").read_text().replace('i18n.ru.title = "Спортзал"', 'i18n.russian.title = "Спортзал"')
    (tmp_path / "categories.toml").write_text(text)
    with pytest.raises(StyleError) as caught:
        load_catalogue([tmp_path])
    assert str(tmp_path / "categories.toml") in str(caught.value)
    assert "category 'gym': field 'i18n': unknown language 'russian'" in str(caught.value)


def test_an_operators_pack_can_translate_its_own_style_and_override_a_category(tmp_path: Path) -> None:
    shutil.copy(BUILTIN_DIR / "categories.toml", tmp_path / "categories.toml")
    categories = (tmp_path / "categories.toml").read_text().replace('i18n.fr.title = "Artistique"', 'i18n.fr.title = "Dessin"')
    (tmp_path / "categories.toml").write_text(categories)
    (tmp_path / "astronaut.toml").write_text(NEW_STYLE + '\n[i18n.fr]\ntitle = "Astronaute"\ndescription = "Vous, en scaphandre sur la Lune."\n')
    catalogue = load_catalogue([tmp_path])
    with speaking(Audience(language="fr")):
        assert catalogue.categories["art"].title == "Dessin"
        assert (catalogue.get("astronaut").title, catalogue.get("astronaut").description) == (
            "Astronaute", "Vous, en scaphandre sur la Lune.")
