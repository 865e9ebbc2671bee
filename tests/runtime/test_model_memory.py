"""The model cache makes room for what the next job needs: on a small GPU a warm generator is
unloaded before a training job (a 24 GB card holds one or the other), on an 80 GB one it stays."""

from __future__ import annotations

import asyncio

import pytest

from engine.runtime.handlers import train as train_handler
from engine.runtime.handlers.context import EngineOptions, JobContext, ModelCache, StorageBridge


class WarmGenerator:
    def __init__(self) -> None:
        self.unloaded = False

    def unload(self) -> None:
        self.unloaded = True


@pytest.mark.parametrize(("gib", "evicted"), [(24.0, True), (79.6, False), (None, False)])
async def test_a_warm_generator_goes_before_training_only_where_memory_is_short(monkeypatch, tmp_path, gib, evicted):
    monkeypatch.setattr(train_handler, "gpu_memory_gib", lambda device: gib)
    monkeypatch.setattr("torch.cuda.empty_cache", lambda: None)
    cache = ModelCache()
    generator = cache.get("generator:sdxl", WarmGenerator)
    finisher = cache.get("finisher", object)
    context = JobContext(job_id=1, attempt=1, correlation_id="ab" * 16, options=EngineOptions(work_dir=tmp_path),
                         storage=StorageBridge(None, asyncio.get_running_loop()), cache=cache)  # type: ignore[arg-type]
    assert train_handler.make_room_for_training(context) == (["generator:sdxl"] if evicted else [])
    assert generator.unloaded is evicted and ("generator:sdxl" in cache) is not evicted
    assert cache.get("finisher", object) is finisher  # what training does not compete with stays
