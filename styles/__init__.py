"""Style packs as data: one TOML file per style in this folder (see catalogue.py for the schema, and
for how a style's title and description are said in the user's language)."""

from styles.catalogue import (
    BUILTIN_DIR,
    ASPECTS,
    Catalogue,
    Category,
    CategoryText,
    Framing,
    Sampler,
    Style,
    StyleError,
    StyleLora,
    StyleText,
    load_catalogue,
    load_style,
)

__all__ = [
    "ASPECTS", "BUILTIN_DIR", "Catalogue", "Category", "CategoryText", "Framing", "Sampler", "Style", "StyleError",
    "StyleLora", "StyleText", "load_catalogue", "load_style",
]
