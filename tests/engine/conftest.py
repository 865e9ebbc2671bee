"""Fixtures for the engine tests: tiny random SDXL components on the CPU, seeded."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(2)  # two shared cores on CI machines
logging.getLogger("diffusers").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def tiny_spec():
    from engine.models import load_registry

    return load_registry()["tiny"]


def make_photos(n: int, seed: int = 0) -> list:
    from PIL import Image

    rng = np.random.default_rng(seed)
    photos = []
    for i in range(n):
        base = rng.integers(0, 255, (90 + 4 * i, 80, 3), dtype=np.uint8)
        photos.append(Image.fromarray(base))
    return photos


@pytest.fixture(scope="session")
def photos_with_captions():
    return [(p, "a photo of ohwx person") for p in make_photos(4)]


@pytest.fixture(scope="session")
def trained_lora(tmp_path_factory, tiny_spec, photos_with_captions):
    """One LoRA trained on the tiny model, shared by the tests that only read it."""
    from engine.train import TrainConfig, train_lora

    out = tmp_path_factory.mktemp("lora")
    config = TrainConfig.for_model(tiny_spec, steps=8, learning_rate=5e-3)
    result = train_lora(tiny_spec, photos_with_captions, config, out, device="cpu")
    return result


@pytest.fixture(scope="session")
def generator(tiny_spec):
    from engine.generate import Generator

    return Generator(tiny_spec, device="cpu", models_dir=Path("/nonexistent"))
