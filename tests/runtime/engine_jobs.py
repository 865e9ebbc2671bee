"""Helpers for runtime tests that run the real (tiny) engine: photos in storage, train/generate jobs."""

from __future__ import annotations

import io

import numpy as np

from db import jobs
from db.models import JobKind
from db.session import Database
from db.storage import Storage
from engine.jobs import GenerateJob, TrainJob


async def store_photos(storage: Storage, user_id: int, n: int = 4, seed: int = 0) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    keys = []
    for i in range(n):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (90 + 4 * i, 80, 3), dtype=np.uint8)).save(buffer, "PNG")
        key = f"users/{user_id}/photos/{i}.png"
        await storage.put(key, buffer.getvalue(), content_type="image/png")
        keys.append(key)
    return keys


def train_spec(user_id: int, photo_keys: list[str], steps: int = 24) -> TrainJob:
    return TrainJob(user_id=user_id, photo_keys=photo_keys, lora_key=f"users/{user_id}/lora/model.safetensors",
                    base_model="tiny", steps=steps, seed=3)


def generate_spec(user_id: int, lora_key: str, name: str, count: int = 2, aspects: tuple[str, ...] = ()) -> GenerateJob:
    return GenerateJob(user_id=user_id, style_id="linkedin-headshot", prompt="a photo of ohwx person, headshot",
                       lora_key=lora_key, base_model="tiny", count=count, output_prefix=f"users/{user_id}/out/{name}/",
                       output_aspects=list(aspects))


async def enqueue_spec(database: Database, spec: TrainJob | GenerateJob, *, cost: int = 1, max_attempts: int = 3) -> int:
    async with database.transaction() as session:
        queued = await jobs.enqueue(session, user_id=spec.user_id, kind=JobKind(spec.kind), payload=spec.to_payload(),
                                    cost=cost, max_attempts=max_attempts)
        return queued.job.id
