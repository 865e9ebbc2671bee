"""The style catalogue: one TOML file per style, validated on load.

Adding a style is adding a file (to this folder, or to a folder named in ``STUDIO_STYLES_DIRS``).
Errors name the file and the field, so a typo in a style pack is found at start-up, not when a
user picks it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from styles.prompt_fit import misfit
from styles.style import ASPECTS, Category, Framing, Sampler, Style, StyleError, StyleLora

__all__ = ["ASPECTS", "Catalogue", "Category", "Framing", "Sampler", "Style", "StyleError", "StyleLora", "load_catalogue",
           "load_style"]

BUILTIN_DIR = Path(__file__).parent
CATEGORIES_FILE = "categories.toml"
SAMPLES_DIR = "samples"
"""A styles folder's sample portraits, one per style: ``samples/<style id>.jpg`` (or .jpeg, .png,
.webp), painted by ``studio samples``; the style picker shows them as a sheet."""
SAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(file)"
        parts.append(f"field '{field}': {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise StyleError(f"{path}: not valid TOML: {error}") from None


def load_style(path: Path) -> Style:
    try:
        style = Style.model_validate(_read_toml(path))
    except ValidationError as error:
        raise StyleError(f"{path}: {_describe(error)}") from None
    if problem := misfit(style):
        raise StyleError(f"{path}: {problem}")
    return style


def _load_categories(folder: Path) -> list[Category]:
    path = folder / CATEGORIES_FILE
    if not path.is_file():
        return []
    data = _read_toml(path)
    try:
        return [Category.model_validate(item) for item in data.get("category", [])]
    except ValidationError as error:
        raise StyleError(f"{path}: {_describe(error)}") from None


class Catalogue:
    def __init__(self, styles: Iterable[Style], categories: Iterable[Category],
                 sample_folders: Iterable[Path] = ()) -> None:
        self.categories = {c.id: c for c in sorted(categories, key=lambda c: (c.order, c.id))}
        #: the styles folders' ``samples/`` folders, a later one winning (looked into at each use:
        #: ``studio samples`` may paint them while the bot runs)
        self.sample_folders = list(sample_folders)
        self.styles = {s.id: s for s in sorted(styles, key=lambda s: (self._category_order(s.category), s.order, s.id))}

    def _category_order(self, category: str) -> int:
        return self.categories[category].order if category in self.categories else 1000

    def __iter__(self) -> Iterator[Style]:
        return iter(self.styles.values())

    def __len__(self) -> int:
        return len(self.styles)

    def __contains__(self, style_id: object) -> bool:
        return style_id in self.styles

    def get(self, style_id: str) -> Style:
        try:
            return self.styles[style_id]
        except KeyError:
            raise KeyError(f"no style {style_id!r}") from None

    def sample(self, style_id: str) -> Path | None:
        """The style's sample portrait (``samples/<id>.jpg``, .jpeg, .png or .webp), if a folder has one."""
        for folder in reversed(self.sample_folders):
            found = {path.suffix.lower(): path for path in folder.glob(f"{style_id}.*")}
            for suffix in SAMPLE_SUFFIXES:
                if suffix in found and found[suffix].is_file():
                    return found[suffix]
        return None

    @property
    def samples(self) -> dict[str, Path]:
        """Every style's sample, where there is one."""
        return {style_id: path for style_id in self.styles if (path := self.sample(style_id)) is not None}

    def in_category(self, category: str) -> list[Style]:
        return [s for s in self if s.category == category]

    def used_categories(self) -> list[Category]:
        used = {s.category for s in self}
        return [c for c in self.categories.values() if c.id in used]


def load_catalogue(extra_dirs: Iterable[Path] = ()) -> Catalogue:
    """Built-in styles plus every ``*.toml`` in ``extra_dirs``; a later file with the same id wins."""
    folders = [BUILTIN_DIR, *(Path(d) for d in extra_dirs)]
    styles: dict[str, Style] = {}
    sources: dict[str, Path] = {}
    categories: dict[str, Category] = {}
    for folder in folders:
        if not folder.is_dir():
            raise StyleError(f"{folder}: styles folder does not exist")
        categories |= {c.id: c for c in _load_categories(folder)}
        for path in sorted(folder.glob("*.toml")):
            if path.name != CATEGORIES_FILE:
                style = load_style(path)
                styles[style.id], sources[style.id] = style, path
    for style in styles.values():
        if style.category not in categories:
            raise StyleError(
                f"{sources[style.id]}: field 'category': unknown category {style.category!r}; "
                f"known: {', '.join(categories)}"
            )
    return Catalogue(styles.values(), categories.values(), [folder / SAMPLES_DIR for folder in folders])

