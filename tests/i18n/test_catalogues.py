"""The catalogues against the sentences in the code: the template is up to date, and every shipped
language says every sentence, with the same placeholders, commands and markup as the English."""

from __future__ import annotations

import gettext
import re
import string

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from i18n import Audience, Plural, speaking
from i18n.languages import LOCALES, languages
from studio import catalogue

TRANSLATED = [code for code in languages() if code != "en"]
COMMAND = re.compile(r"(?<![\w/])/[a-z]+\b")
MARKUP = ("`", "\n", "•", "«", "{", "}")
SAME_NOTE = "same: may read the same as the English"


def load(code: str) -> Catalog:
    with (LOCALES / f"{code}.po").open("rb") as po:
        return read_po(po, locale=code)


def template() -> Catalog:
    with catalogue.TEMPLATE.open("rb") as pot:
        return read_po(pot)


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def forms(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple | list) else [message.string]


def sources(message: Message) -> list[str]:
    return list(message.id) if isinstance(message.id, tuple | list) else [message.id]


def test_the_template_has_every_sentence_of_the_code() -> None:
    assert catalogue.main(["--check"]) == 0, "run: python -m studio.catalogue"


def test_six_languages_ship() -> None:
    assert set(languages()) >= {"en", "es", "pt_BR", "ru", "de", "fr"}


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_sentence_is_translated(code: str) -> None:
    translated = load(code)
    missing = []
    for message in template():
        if not message.id:
            continue
        found = translated.get(message.id, message.context)
        if found is None or found.fuzzy or not all(forms(found)):
            missing.append(f"{message.context or ''}|{sources(message)[0][:60]}")
    assert not missing, f"{code}: {len(missing)} untranslated: {missing[:10]}"


@pytest.mark.parametrize("code", TRANSLATED)
def test_plural_forms_follow_cldr(code: str) -> None:
    translated = load(code)
    expected = Catalog(locale=code).num_plurals
    assert translated.num_plurals == expected
    for message in translated:
        if message.id and message.pluralizable and not message.fuzzy:
            assert len(forms(message)) == expected, (code, message.id)


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_catalogue_picks_the_form_cldr_picks_for_every_count(code: str) -> None:
    """The Plural-Forms expression a catalogue carries is what gettext runs: it must choose CLDR's
    form for each count, a million included (es, fr and pt say "1.000.000 de créditos")."""
    picked = gettext.c2py(load(code).plural_expr)
    expected = gettext.c2py(Catalog(locale=code).plural_expr)
    counts = [*range(0, 250), 1001, 1_000_000, 2_000_000, 3_500_000, 11_000_111]
    assert [picked(n) for n in counts] == [expected(n) for n in counts]


@pytest.mark.parametrize(("code", "said"), [("en", "1,000,000 credits"), ("es", "1.000.000 de créditos"),
                                            ("ru", "1 000 000 кредитов"), ("es", "3 créditos")])
def test_a_count_is_said_in_its_form(code: str, said: str) -> None:
    count = 3 if said.startswith("3") else 1_000_000
    credits = Plural("{n} credit", "{n} credits")
    with speaking(Audience(code)):
        assert credits(count).replace("\u00a0", " ") == said


@pytest.mark.parametrize("code", TRANSLATED)
def test_placeholders_commands_and_markup_match_the_english(code: str) -> None:
    translated = load(code)
    wrong = []
    for message in template():
        found = translated.get(message.id, message.context) if message.id else None
        if found is None or found.fuzzy:  # a fuzzy guess is never said (it waits for a translator)
            continue
        english = sources(message)
        for form in forms(found):
            if not form:
                continue
            # every placeholder of the English is kept (a plural's singular may leave out {n}: "один кредит")
            want = fields(english[-1])
            have = fields(form)
            if not have <= want or not (want - {"n"}) <= have:
                wrong.append(f"placeholders {sorted(have)} ≠ {sorted(want)}: {form[:60]}")
            if sorted(COMMAND.findall(form)) != sorted(COMMAND.findall(english[-1])):
                wrong.append(f"commands {COMMAND.findall(form)} ≠ {COMMAND.findall(english[-1])}: {form[:60]}")
            for mark in MARKUP:
                if form.count(mark) != english[-1].count(mark):
                    wrong.append(f"{mark!r} ×{form.count(mark)} ≠ ×{english[-1].count(mark)}: {form[:60]}")
    assert not wrong, f"{code}: " + "\n".join(wrong[:15])


@pytest.mark.parametrize("code", TRANSLATED)
def test_no_translation_is_a_copy_of_the_english(code: str) -> None:
    translated = load(code)
    copies = []
    for message in template():
        if not message.id or SAME_NOTE in message.auto_comments:
            continue
        found = translated.get(message.id, message.context)
        if found is not None and "same" in found.user_comments:  # the translator's word: it is the same there
            continue
        if found is not None and any(f == s and re.search(r"[^\W\d_]{3}", s) for f, s in zip(forms(found), sources(message))):
            copies.append(sources(message)[0][:60])
    assert not copies, f"{code}: said in English: {copies[:10]}"
