"""Registry of base models (``engine/models.toml``), where their weights live, and fetching them.

Torch-free at import: the registry can be read by the bot and the job runtime. Loading the
weights into pipelines is ``engine.pipelines``.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from engine.errors import FetchFailed, UnknownModel, WeightsMissing

log = logging.getLogger(__name__)

REGISTRY_PATH = Path(__file__).with_name("models.toml")
ModelKind = Literal["sdxl", "tiny"]
_KINDS = ("sdxl", "tiny")
#: what STUDIO_BASE_MODEL=auto paints with when its weights and a GPU are here (its weights' licences:
#: engine/licences.toml, checked by tests/test_licences.py)
AUTO_MODEL = "sdxl"


@dataclass(frozen=True)
class ModelSpec:
    """One base model: where its components come from and its training/generation defaults."""

    name: str
    kind: ModelKind
    description: str = ""
    base: str = ""
    refiner: str | None = None
    vae: str | None = None
    variant: str | None = None
    seed: int = 0
    resolution: int = 1024
    steps: int = 30
    #: a few-step model (SDXL-Lightning, Turbo, LCM) or the tiny test model paints at most this
    #: many steps whatever a style asks (styles are written for 30-step models); None: no cap
    max_steps: int | None = None
    guidance: float = 6.0
    refiner_split: float | None = None
    train_steps_per_image: int = 100
    train_min_steps: int = 400
    train_max_steps: int = 1600
    train_rank: int = 16
    train_batch_size: int = 1
    lora_targets: tuple[str, ...] = ("to_k", "to_q", "to_v", "to_out.0")
    size_multiple: int = 8
    #: the train-free preview's IP-Adapter (hub id or path; "tiny": built from config; "": none)
    preview_adapter: str = ""
    preview_subfolder: str = "sdxl_models"
    preview_weights: str = "ip-adapter-plus-face_sdxl_vit-h.safetensors"
    preview_encoder: str = "models/image_encoder"
    preview_scale: float = 0.7

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"model {self.name!r}: kind must be one of {_KINDS}, got {self.kind!r}")
        if self.kind != "tiny" and not self.base:
            raise ValueError(f"model {self.name!r}: `base` (hub id or path) is required")
        if self.refiner_split is not None and not 0.0 < self.refiner_split < 1.0:
            raise ValueError(f"model {self.name!r}: refiner_split must be in (0, 1)")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"model {self.name!r}: max_steps must be at least 1")
        if not self.train_min_steps <= self.train_max_steps:
            raise ValueError(f"model {self.name!r}: train_min_steps > train_max_steps")
        if not 0.0 <= self.preview_scale <= 2.0:
            raise ValueError(f"model {self.name!r}: preview_scale must be in [0, 2]")

    @property
    def has_refiner(self) -> bool:
        return bool(self.refiner) and self.refiner_split is not None

    def sources(self) -> list[str]:
        """Hub ids / paths of every component this model needs (base, vae, refiner)."""
        if self.kind == "tiny":
            return []
        return [s for s in (self.base, self.vae, self.refiner) if s]


def load_registry(path: Path | None = None) -> dict[str, ModelSpec]:
    """Read ``models.toml`` (or ``path``) into ModelSpecs keyed by name."""
    data = tomllib.loads((path or REGISTRY_PATH).read_text(encoding="utf-8"))
    known = {f.name for f in fields(ModelSpec)}
    registry: dict[str, ModelSpec] = {}
    for name, table in data.items():
        unknown = set(table) - known
        if unknown:
            raise ValueError(f"model {name!r}: unknown keys {sorted(unknown)}")
        values = dict(table)
        if "lora_targets" in values:
            values["lora_targets"] = tuple(values["lora_targets"])
        for key in ("refiner", "vae", "variant"):
            if values.get(key) == "":
                values[key] = None
        registry[name] = ModelSpec(name=name, **values)
    return registry


def get_spec(name: str, registry: dict[str, ModelSpec] | None = None) -> ModelSpec:
    registry = registry if registry is not None else load_registry()
    try:
        return registry[name]
    except KeyError:
        raise UnknownModel(f"unknown base model {name!r}; known: {', '.join(sorted(registry))}") from None


def _is_path(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~")) or Path(source).expanduser().exists()


def local_dir(source: str, models_dir: Path) -> Path:
    """Where a component is looked for on disk: the path itself, or ``models_dir/owner--name``."""
    if _is_path(source):
        return Path(source).expanduser()
    return Path(models_dir) / source.replace("/", "--")


def _is_complete(folder: Path) -> bool:
    return (folder / "model_index.json").is_file() or (folder / "config.json").is_file()


def missing_sources(spec: ModelSpec, models_dir: Path) -> list[str]:
    """Components of ``spec`` whose weights are not in ``models_dir`` (empty for tiny)."""
    return [s for s in spec.sources() if not _is_complete(local_dir(s, models_dir))]


def weights_present(spec: ModelSpec, models_dir: Path) -> bool:
    return not missing_sources(spec, models_dir)


def preview_files(spec: ModelSpec, models_dir: Path) -> list[Path]:
    """The files the preview adapter needs on disk: its weights and its image encoder's config
    (empty for tiny, whose adapter is built from config, and for a model without one)."""
    if spec.preview_adapter in ("", "tiny"):
        return []
    root = local_dir(spec.preview_adapter, models_dir)
    return [root / spec.preview_subfolder / spec.preview_weights, root / spec.preview_encoder / "config.json"]


def preview_available(spec: ModelSpec, models_dir: Path) -> bool:
    """Whether this worker can paint previews for ``spec`` (tiny: always; others: files present)."""
    if not spec.preview_adapter:
        return False
    return all(path.is_file() for path in preview_files(spec, models_dir))


def fetch_command(name: str) -> str:
    return f"studio models fetch {name}"


def require_weights(spec: ModelSpec, models_dir: Path) -> None:
    """Raise WeightsMissing with the fetch command when a component is not on disk."""
    missing = missing_sources(spec, models_dir)
    if missing:
        raise WeightsMissing(
            f"weights for base model {spec.name!r} are not in {models_dir} (missing: {', '.join(missing)}). "
            f"On a machine with internet run `{fetch_command(spec.name)}` (with STUDIO_MODELS_DIR pointing "
            f"at that folder), or use `--model tiny` for the CPU demo."
        )


def cuda_available(device: str = "auto") -> bool:
    if device == "cpu":
        return False
    try:
        import torch
    except ImportError:  # the bot-only install has no torch
        return False
    return bool(torch.cuda.is_available())


def resolve_model(
    name_or_auto: str,
    models_dir: Path,
    device: str = "auto",
    *,
    offline: bool = True,
    registry: dict[str, ModelSpec] | None = None,
) -> ModelSpec:
    """Pick the model to use.

    ``auto``: ``sdxl`` when its weights are in ``models_dir`` and a GPU is there, else ``tiny``.
    A named model whose weights are missing raises WeightsMissing when ``offline`` (the hub
    cannot be reached); online, ``from_pretrained`` will download into the cache later.
    """
    registry = registry if registry is not None else load_registry()
    if name_or_auto == "auto":
        sdxl = get_spec(AUTO_MODEL, registry)
        if weights_present(sdxl, models_dir) and cuda_available(device):
            return sdxl
        log.info("base model auto -> tiny (sdxl weights present: %s, GPU: %s)",
                 weights_present(sdxl, models_dir), cuda_available(device))
        return get_spec("tiny", registry)
    spec = get_spec(name_or_auto, registry)
    if offline:
        require_weights(spec, models_dir)
    return spec


def _allow_patterns(variant: str | None) -> list[str]:
    weights = f"*.{variant}.safetensors" if variant else "*.safetensors"
    return ["*.json", "*.txt", weights]


def _download(snapshot_download: Any, name: str, source: str, target: Path, **options: Any) -> None:
    """One hub snapshot into ``target``; a hub that can't be reached or refuses is a FetchFailed."""
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    from engine.library_logs import route_library_logs

    route_library_logs()  # the hub's warnings (a retried download) through the process's logging, once
    try:
        snapshot_download(source, local_dir=target, **options)
    except LocalEntryNotFoundError as error:  # what the hub client raises when it can't connect at all
        raise FetchFailed(
            f"can't reach the model hub to download {source} (no internet access here?): run "
            f"`studio models fetch {name}` on a machine with internet access and copy {target} to this "
            f"machine's models folder (STUDIO_MODELS_DIR)") from error
    except HfHubHTTPError as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise FetchFailed(f"the model hub refused {source}: {first} (a gated model needs HF_TOKEN and the "
                          "licence accepted on its page; internet access is needed)") from error


def fetch_model(name: str, models_dir: Path, *, token: str | None = None,
                registry: dict[str, ModelSpec] | None = None) -> list[Path]:
    """Download every hub component of ``name`` into ``models_dir`` (needs internet)."""
    from huggingface_hub import snapshot_download

    spec = get_spec(name, registry)
    fetched: list[Path] = []
    for source in spec.sources():
        if _is_path(source):
            log.info("%s is a local path; nothing to fetch", source)
            continue
        target = local_dir(source, models_dir)
        variant = None if source == spec.vae else spec.variant
        log.info("fetching %s into %s", source, target)
        _download(snapshot_download, name, source, target, allow_patterns=_allow_patterns(variant), token=token)
        fetched.append(target)
    if spec.preview_adapter not in ("", "tiny") and not _is_path(spec.preview_adapter):
        target = local_dir(spec.preview_adapter, models_dir)
        patterns = [f"{spec.preview_subfolder}/{spec.preview_weights}", f"{spec.preview_encoder}/*.json",
                    f"{spec.preview_encoder}/*.safetensors"]
        log.info("fetching the preview adapter %s (%s) into %s", spec.preview_adapter, spec.preview_weights, target)
        _download(snapshot_download, name, spec.preview_adapter, target, allow_patterns=patterns, token=token)
        fetched.append(target)
    return fetched
