"""What the lent GPU machine's Python can import: its image's packages (as the device library last
read them, 2026-11-17) and what bench/gpu_wheels.sh carries there. The suite runs the GPU check's
CPU dry run with only these importable (``site_folder``) (tests/engine/test_engine_cli.py), so a new import in the
engine or the bench fails here, not in the first minutes of a GPU loan."""

from __future__ import annotations

import sys
from pathlib import Path

IMAGE_PACKAGES = """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx
humanize hypothesis idna imageio iniconfig interface-meta jax jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py
markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions
nanobind narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-ml-py onnx onnx-ir onnxruntime
onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas
pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow
pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov
pytest-mock pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu
safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers
setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio
torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer
typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
huggingface-hub nvidia
""".split()

#: carried by bench/gpu_wheels.sh as wheels ("dlib": installed here as dlib, built with BLAS; carried as the
#: dlib-bin wheel, the same module)
CARRIED_WHEELS = ["diffusers", "importlib-metadata", "spandrel", "einops", "dlib", "dlib-bin", "pydantic", "pydantic-core",
                  "annotated-types", "typing-inspection", "sqlalchemy", "greenlet"]
#: carried as data files laid out as these packages would be (looked up with find_spec, never imported)
CARRIED_DATA = ["openai-clip", "face-recognition-models"]


def _normal(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _with_requirements(names: set[str], installed: dict) -> set[str]:  # type: ignore[type-arg]
    """``names`` and what their installed versions require (the image's own versions of them bring
    what they need; local versions may need other helpers, which are not our code's imports)."""
    from packaging.requirements import Requirement

    todo, seen = list(names), set(names)
    while todo:
        dist = installed.get(todo.pop())
        for line in (dist.requires or []) if dist is not None else []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            name = _normal(requirement.name)
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def site_folder(target: Path) -> Path:
    """A site-packages stand-in under ``target``: links to what the allowed distributions installed
    here (packages, modules, bundled libraries, metadata) and nothing else. Run Python with ``-S`` and
    this folder and the project on PYTHONPATH to import as the GPU machine would."""
    from importlib.metadata import distributions

    installed = {_normal(d.metadata["Name"] or ""): d for d in distributions()}
    allowed = _with_requirements({_normal(name) for name in [*IMAGE_PACKAGES, *CARRIED_WHEELS, *CARRIED_DATA]},
                                 installed)
    target.mkdir(parents=True, exist_ok=True)
    for dist in installed.values():
        name = dist.metadata["Name"] or ""
        if _normal(name) not in allowed or not dist.files:
            continue
        for file in dist.files:
            top = file.parts[0]
            if top in ("..", "") or top.endswith(".pth") or top == "__pycache__":
                continue
            source = Path(str(dist.locate_file(top)))
            link = target / top
            if source.exists() and not link.exists():
                link.symlink_to(source, target_is_directory=source.is_dir())
    return target
