"""Style packs as data: one TOML file per style in this folder (see catalogue.py for the schema)."""

from styles.catalogue import (
    BUILTIN_DIR,
    ASPECTS,
    Catalogue,
    Category,
    Framing,
    Sampler,
    Style,
    StyleError,
    StyleLora,
    load_catalogue,
    load_style,
)

__all__ = [
    "ASPECTS", "BUILTIN_DIR", "Catalogue", "Category", "Framing", "Sampler", "Style", "StyleError", "StyleLora",
    "load_catalogue", "load_style",
]
