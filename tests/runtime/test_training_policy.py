"""The training policy: images seen per photo (a photo's crops count as one), the operator's
override from the settings, and a job's explicit step count above both."""

from __future__ import annotations

from engine.jobs import TrainCrop, TrainJob
from engine.models import load_registry
from engine.runtime.handlers.context import EngineOptions
from engine.runtime.handlers.train import training_config
from config.settings import Settings

SDXL = load_registry()["sdxl"]


def job(photos: int, *, crops_per_photo: int = 2, steps: int | None = None) -> TrainJob:
    keys = [f"users/1/sets/1/{n}.jpg" for n in range(photos)]
    crops = [TrainCrop(photo_key=key, box=(0, 0, 512, 512), caption="a photo of ohwx man")
             for key in keys for _ in range(crops_per_photo)]
    return TrainJob(user_id=1, photo_keys=keys, crops=crops, lora_key="users/1/loras/1.safetensors", steps=steps)


def test_a_photos_crops_count_as_one_image() -> None:
    # 12 photos x 100 images seen, at batch 4: 300 steps (~2.9 min on an H100), whatever the crops
    assert training_config(job(12), SDXL, EngineOptions()).steps == 300
    assert training_config(job(12, crops_per_photo=1), SDXL, EngineOptions()).steps == 300
    assert training_config(job(30), SDXL, EngineOptions()).steps == 1600 // 4  # the cap


def test_the_operator_sets_the_policy() -> None:
    settings = Settings(_env_file=None, train_steps_per_image=150, train_max_steps=2000)  # type: ignore[call-arg]
    options = EngineOptions.from_settings(settings)
    assert training_config(job(12), SDXL, options).steps == 12 * 150 // 4
    assert training_config(job(20), SDXL, options).steps == 2000 // 4
    low_cap = EngineOptions(train_max_steps=200)  # below the model's minimum: the cap wins
    assert training_config(job(12), SDXL, low_cap).steps == 200 // 4


def test_a_jobs_own_step_count_wins() -> None:
    assert training_config(job(12, steps=7), SDXL, EngineOptions(train_steps_per_image=150)).steps == 7
