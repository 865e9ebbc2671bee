"""Every weight the product can load and its licence (``engine/licences.toml``), per base model and
for the rest (face models, restorer, upscaler, style LoRAs), and which of them a default install loads.

Torch-free: read by ``studio models list`` and by tests/test_licences.py, which fails when a weight
on the default path may not be used commercially.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

from engine.models import AUTO_MODEL, ModelSpec, get_spec, load_registry, weights_present

LICENCES_PATH = Path(__file__).with_name("licences.toml")
Commercial = Literal["yes", "no", "unverified"]
_COMMERCIAL = ("yes", "no", "unverified")


@dataclass(frozen=True)
class Weight:
    """One weight file (or folder) the product can load, where it comes from and its licence."""

    key: str
    title: str
    role: str
    source: str  # hub id, "face_recognition_models", "openai-clip", "dlib" or "models_dir"
    licence: str
    spdx: str
    commercial: Commercial
    default: bool
    file: str = ""
    origin: str = ""
    terms: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.commercial not in _COMMERCIAL:
            raise ValueError(f"weight {self.key!r}: commercial must be one of {_COMMERCIAL}, got {self.commercial!r}")

    @property
    def where(self) -> str:
        """How the product finds it: ``owner/name[/file]``, ``<models_dir>/file``, ``package: file``."""
        if self.source == "models_dir":
            return f"<models_dir>/{self.file}"
        if "/" in self.source:  # a hub id
            return f"{self.source}/{self.file}" if self.file else self.source
        return f"{self.source}: {self.file}" if self.file else self.source

    @property
    def for_sale(self) -> bool:
        return self.commercial == "yes"


def load_weights(path: Path | None = None) -> dict[str, Weight]:
    """``licences.toml`` (or ``path``) as Weights keyed by their table name; (source, file) is unique."""
    data = tomllib.loads((path or LICENCES_PATH).read_text(encoding="utf-8"))
    known = {f.name for f in fields(Weight)} - {"key"}
    weights: dict[str, Weight] = {}
    seen: dict[tuple[str, str], str] = {}
    for key, table in data.items():
        unknown = set(table) - known
        if unknown:
            raise ValueError(f"weight {key!r}: unknown keys {sorted(unknown)}")
        weight = Weight(key=key, **table)
        where = (weight.source, weight.file)
        if where in seen:
            raise ValueError(f"weights {seen[where]!r} and {key!r} name the same file {weight.where}")
        seen[where] = key
        weights[key] = weight
    return weights


def find(source: str, file: str = "", weights: dict[str, Weight] | None = None) -> Weight | None:
    """The listed weight loaded from ``source`` (and ``file`` inside it), or None if not listed."""
    for weight in (weights if weights is not None else load_weights()).values():
        if weight.source == source and weight.file == file:
            return weight
    return None


def model_components(spec: ModelSpec) -> list[tuple[str, str, str]]:
    """(component, source, file) of every weight a base model loads: base, refiner, VAE and the
    preview's IP-Adapter and image encoder (none for tiny: it is built from config)."""
    if spec.kind == "tiny":
        return []
    parts = [("base", spec.base, ""), ("refiner", spec.refiner or "", ""), ("vae", spec.vae or "", "")]
    if spec.preview_adapter not in ("", "tiny"):
        parts += [("preview adapter", spec.preview_adapter, f"{spec.preview_subfolder}/{spec.preview_weights}"),
                  ("preview encoder", spec.preview_adapter, spec.preview_encoder)]
    return [(name, source, file) for name, source, file in parts if source]


def model_weights(spec: ModelSpec, weights: dict[str, Weight] | None = None
                  ) -> list[tuple[str, str, Weight | None]]:
    """(component, where, listed weight or None when engine/licences.toml does not list it)."""
    weights = weights if weights is not None else load_weights()
    return [(name, f"{source}/{file}" if file else source, find(source, file, weights))
            for name, source, file in model_components(spec)]


def not_for_sale(weights: dict[str, Weight] | None = None) -> list[Weight]:
    """Weights on the default path whose licence does not (or not surely) allow commercial use."""
    return [w for w in (weights if weights is not None else load_weights()).values() if w.default and not w.for_sale]


def _model_lines(spec: ModelSpec, models_dir: Path, weights: dict[str, Weight]) -> list[str]:
    if spec.kind == "tiny":
        return [f"{spec.name:<16} random weights built from config: nothing is loaded"]
    present = "weights present" if weights_present(spec, models_dir) else "weights missing"
    lines = [f"{spec.name:<16} {present}{' (the default: STUDIO_BASE_MODEL=auto)' if spec.name == AUTO_MODEL else ''}"]
    for name, where, weight in model_weights(spec, weights):
        licence, commercial = (weight.licence, weight.commercial) if weight else ("not listed", "unverified")
        lines.append(f"    {name:<16} {where:<72} {licence:<28} commercial: {commercial}")
    return lines


def listing(models_dir: Path, registry: dict[str, ModelSpec] | None = None,
            weights: dict[str, Weight] | None = None) -> list[str]:
    """``studio models list``: each base model with its weights' licences, then every other weight,
    then whether everything a default install loads may be used commercially."""
    registry = registry if registry is not None else load_registry()
    weights = weights if weights is not None else load_weights()
    lines = [line for spec in registry.values() for line in _model_lines(spec, models_dir, weights)]
    in_models = {(source, file) for spec in registry.values() for _, source, file in model_components(spec)}
    others = [w for w in weights.values() if (w.source, w.file) not in in_models]
    lines.append("other weights (default: loaded by a default install; optional: only when an operator adds it)")
    for weight in sorted(others, key=lambda w: (not w.default, w.commercial != "yes")):
        lines.append(f"    {weight.title:<44} {weight.licence:<28} commercial: {weight.commercial:<10} "
                     f"{'default' if weight.default else 'optional'}")
        lines.append(f"        {weight.where}: {weight.role}")
    bad = not_for_sale(weights)
    lines.append("NOT for sale on the default path: " + ", ".join(w.title for w in bad) if bad else
                 "every weight on the default path may be used commercially")
    return lines


def markdown_table(weights: dict[str, Weight] | None = None) -> str:
    """The README's table of every weight (``studio models list --markdown``)."""
    rows = ["| weight | used for | where it comes from | licence | commercial use | default |",
            "| --- | --- | --- | --- | --- | --- |"]
    for weight in (weights if weights is not None else load_weights()).values():
        rows.append(f"| {weight.title} | {weight.role} | `{weight.where}` | {weight.licence} | {weight.commercial} "
                    f"| {'yes' if weight.default else 'no'} |")
    return "\n".join(rows)


def default_model() -> ModelSpec:
    """The base model a default install paints with (STUDIO_BASE_MODEL=auto with its weights and a GPU)."""
    return get_spec(AUTO_MODEL)
