"""The style catalogue: one TOML file per style, validated on load.

Adding a style is adding a file (to this folder, or to a folder named in ``STUDIO_STYLES_DIRS``).
Errors name the file and the field, so a typo in a style pack is found at start-up, not when a
user picks it.

What a user reads of a style is said in their language. The file's own ``title`` and
``description`` are the English (the source; also what operators read in logs and in
``studio styles``); each other language is a table of its own, named by its code as in
``i18n/locales/<code>.po`` (``es``, ``pt_BR``, ``ru``, ``de``, ``fr``)::

    title = "LinkedIn Headshot"
    description = "A polished, confident head-and-shoulders photo …"

    [i18n.ru]
    title = "Фото для LinkedIn"
    description = "Аккуратное и уверенное фото по плечи …"

A category of ``categories.toml`` has its ``title`` the same way, under its ``[[category]]``:
``[category.i18n.ru]`` with ``title = "Деловые"``. The tables are written at the end of the file
(TOML puts every plain key before the first table). Prompts, negative prompts and variations are
never translated: CLIP reads English.

``style.title``, ``style.description`` and ``category.title`` are the text in the language of the
current audience (``i18n.current()``), field by field: a language the style has no table for, or a
field its table leaves out, reads the English. ``english_title`` (and ``english_description``) is
always the English; ``titles`` is every language's title by code (``titles["en"]`` included), for
matching what a user typed in any of them. A table for a language the bot does not speak (a typo
such as ``pt-BR``, or a language without a ``.po`` file), a table for ``en`` (the English is the
file's own fields), an unknown field in a table or an empty text is refused at load, with the file
and the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

import i18n
from styles.prompt_fit import misfit
from styles.style import ASPECTS, Framing, Sampler, StyleError, StyleLora
from styles.style import Category as CategorySchema
from styles.style import Style as StyleSchema

__all__ = ["ASPECTS", "Catalogue", "Category", "CategoryText", "Framing", "Sampler", "Style", "StyleError", "StyleLora",
           "StyleText", "load_catalogue", "load_style"]

BUILTIN_DIR = Path(__file__).parent
CATEGORIES_FILE = "categories.toml"
SAMPLES_DIR = "samples"
"""A styles folder's sample portraits, one per style: ``samples/<style id>.jpg`` (or .jpeg, .png,
.webp), painted by ``studio samples``; the style picker shows them as a sheet."""
SAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("is empty: leave the field out to show the English")
    return value


class StyleText(BaseModel):
    """A style's text in one language (``[i18n.<code>]``); a field left out reads the English."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = Field(None, min_length=1, max_length=64)
    description: str | None = Field(None, min_length=1, max_length=300)

    @field_validator("title", "description")
    @classmethod
    def _said(cls, value: str | None) -> str | None:
        return _not_blank(value)


class CategoryText(BaseModel):
    """A category's title in one language (``[category.i18n.<code>]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = Field(None, min_length=1, max_length=64)

    @field_validator("title")
    @classmethod
    def _said(cls, value: str | None) -> str | None:
        return _not_blank(value)


def _known_languages(tables: dict[str, Any]) -> dict[str, Any]:
    spoken = [code for code in i18n.languages() if code != i18n.DEFAULT]
    for code in tables:
        if code == i18n.DEFAULT:
            raise ValueError(f"no [i18n.{code}] table: the English is the file's own fields")
        if code not in spoken:
            raise ValueError(f"unknown language {code!r}; the bot speaks "
                             f"{', '.join(spoken) or 'English only'} (i18n/locales/<code>.po)")
    return tables


class _Said:
    """A text field read in the current audience's language: the model keeps the English in its
    field (so dumps, equality and errors are the file's own), this reads the translation over it."""

    def __init__(self, field: str) -> None:
        self.field = field

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        english = instance.__dict__[self.field]
        text = instance.i18n.get(i18n.current().language)
        return getattr(text, self.field, None) or english

    def __set__(self, instance: Any, value: object) -> None:
        raise AttributeError(f"{type(instance).__name__} is frozen: {self.field} cannot be set")


class _InEveryLanguage:
    """What a style and a category share: the English in the schema's own fields, every other
    language in ``i18n``."""

    __dict__: dict[str, Any]
    i18n: dict[str, Any]

    @property
    def english_title(self) -> str:
        return self.__dict__["title"]

    @property
    def titles(self) -> dict[str, str]:
        """Every language's title by code, English first."""
        return {i18n.DEFAULT: self.english_title} | {code: text.title for code, text in self.i18n.items() if text.title}

    def __hash__(self) -> int:  # the translations (a dict) are not hashed; equal styles still hash alike
        return hash(tuple(value for name, value in self.__dict__.items() if name != "i18n"))


class Style(_InEveryLanguage, StyleSchema):
    """A style with its text in every language it has (see the module's docstring)."""

    i18n: dict[str, StyleText] = Field(default_factory=dict)

    @field_validator("i18n")
    @classmethod
    def _languages(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _known_languages(value)

    @property
    def english_description(self) -> str:
        return self.__dict__["description"]

    __hash__ = _InEveryLanguage.__hash__


class Category(_InEveryLanguage, CategorySchema):
    """A category with its title in every language it has."""

    i18n: dict[str, CategoryText] = Field(default_factory=dict)

    @field_validator("i18n")
    @classmethod
    def _languages(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _known_languages(value)

    __hash__ = _InEveryLanguage.__hash__


# Set on the classes once made: pydantic keeps a field's value in the instance, and a data
# descriptor of the class is read before it.
Style.title = _Said("title")  # type: ignore[assignment]
Style.description = _Said("description")  # type: ignore[assignment]
Category.title = _Said("title")  # type: ignore[assignment]


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(file)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
            if len(item["loc"]) == 3 and item["loc"][0] == "i18n":  # [i18n.<code>] has the user-visible texts
                message += f"; a language's table has {', '.join(StyleText.model_fields)}"
        parts.append(f"field '{field}': {message}")
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
    categories = []
    for index, item in enumerate(_read_toml(path).get("category", [])):
        try:
            categories.append(Category.model_validate(item))
        except ValidationError as error:
            name = item.get("id", f"#{index + 1}") if isinstance(item, dict) else f"#{index + 1}"
            raise StyleError(f"{path}: category {name!r}: {_describe(error)}") from None
    return categories


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

