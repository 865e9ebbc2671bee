"""The catalogue template and the translations kept in step with the sentences in the code:
``python -m studio.catalogue`` imports every module that declares an ``i18n.Msg`` or ``Plural``,
writes ``i18n/locales/messages.pot`` from them and merges it into each ``<code>.po`` (a new sentence
arrives there untranslated, a changed one fuzzy; both are said in English until translated).
``--check`` writes nothing and fails when the template is out of date."""

from __future__ import annotations

import argparse
import importlib
import io
import logging
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from i18n import registry
from i18n.languages import LOCALES

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("bot", "engine", "styles", "web", "db")
DECLARES = re.compile(r"\b(Msg|Plural)\(")
TEMPLATE = LOCALES / "messages.pot"
HEADER = "Portrait Studio"
GENDER_NOTE = ("gendered: said to a {gender} (the class word they gave their photos); in a language "
               "that does not agree this sentence with the person, write the same in all three")

log = logging.getLogger(__name__)


def declaring_modules() -> list[str]:
    found = []
    for part in PARTS:
        for path in sorted((ROOT / part).rglob("*.py")):
            if DECLARES.search(path.read_text(encoding="utf-8")):
                found.append(".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"))
    return found


def template() -> Catalog:
    for module in declaring_modules():
        importlib.import_module(module)
    catalog = Catalog(project=HEADER, version="1", fuzzy=False)
    declared = [s for s in registry if any(Path(s.where[0]).resolve().is_relative_to(ROOT / part) for part in PARTS)]
    for sentence in sorted(declared, key=lambda s: (str(Path(s.where[0]).resolve().relative_to(ROOT)), s.where[1])):
        file, line = sentence.where
        where = [(str(Path(file).resolve().relative_to(ROOT)), line)]
        comments = [sentence.note] if sentence.note else []
        if sentence.same:
            comments.append("same: may read the same as the English")
        for context in sentence.contexts():
            notes = comments + ([GENDER_NOTE.format(gender=context)] if context else [])
            msgid = (sentence.singular, sentence.plural) if hasattr(sentence, "plural") else sentence.source
            if (existing := catalog.get(msgid if isinstance(msgid, str) else msgid[0], context)) is not None:
                existing.locations.extend(where)
                continue
            catalog.add(msgid, locations=where, auto_comments=notes, context=context)
    return catalog


def rendered(catalog: Catalog, **options: object) -> bytes:
    out = io.BytesIO()
    # files without line numbers: a sentence moving within its file leaves the catalogues as they are
    write_po(out, catalog, width=100, omit_header=False, sort_output=False, include_lineno=False, **options)
    text = out.getvalue()
    # the header's creation date changes with every run, and the Babel release that wrote it with
    # every upgrade: leave both out so that an unchanged catalogue writes the same bytes
    return re.sub(rb'"(POT-Creation-Date|Generated-By): [^"]*"\n', b"", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when the template is out of date; write nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    fresh = template()
    text = rendered(fresh)
    if args.check:
        if not TEMPLATE.exists() or TEMPLATE.read_bytes() != text:
            log.error("%s is out of date: run python -m studio.catalogue", TEMPLATE.relative_to(ROOT))
            return 1
        return 0
    TEMPLATE.write_bytes(text)
    log.info("%s: %d sentences", TEMPLATE.relative_to(ROOT), len(fresh))
    for path in sorted(LOCALES.glob("*.po")):
        with path.open("rb") as po:
            translated = read_po(po, locale=path.stem)
        translated.update(fresh, update_header_comment=False)
        path.write_bytes(rendered(translated, ignore_obsolete=True))
        log.info("%s: merged", path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
