"""Styled portrait generation: base (+ refiner) kept warm, the user's LoRA swapped per request."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

from engine.aspects import generation_size
from engine.device import resolve_device, seeded_generator, weight_dtype
from engine.errors import Cancelled, InvalidConfig
from engine.gen_request import Budget, GeneratedImage, GenerateProgress, GenerationRequest
from engine.models import ModelSpec
from engine.pipelines import LoadOptions, apply_speedups, load_base, load_refiner

__all__ = ["Budget", "GeneratedImage", "GenerateProgress", "GenerationRequest", "Generator"]

log = logging.getLogger(__name__)

LORA_WEIGHTS = "pytorch_lora_weights.safetensors"
ProgressFn = Callable[[GenerateProgress], None]
CancelFn = Callable[[], bool]


def _adapter_name(role: str, path: Path) -> str:
    path = Path(path).resolve()
    stamp = f"{path}:{path.stat().st_mtime_ns}"
    return f"{role}_{hashlib.sha1(stamp.encode()).hexdigest()[:12]}"


def _weights_location(path: Path) -> tuple[str, str]:
    path = Path(path)
    return (str(path), LORA_WEIGHTS) if path.is_dir() else (str(path.parent), path.name)


class Generator:
    """Holds the loaded pipelines; one instance per worker process, reused across jobs."""

    def __init__(self, spec: ModelSpec, *, models_dir: Path = Path("data/models"), device: str = "auto",
                 offline: bool = True, precision: str = "fp16", budget: Budget | None = None,
                 batch_size: int = 4, channels_last: bool = False, compile_unet: bool = False,
                 fuse_loras: bool = True) -> None:
        self.spec = spec
        self.budget = budget or Budget()
        self.batch_size = batch_size
        self._device_setting = device
        self._models_dir = Path(models_dir)
        self._offline = offline
        self._precision = precision
        self._speedups = {"channels_last": channels_last, "compile_unet": compile_unet}
        self._base: StableDiffusionXLPipeline | None = None
        self._refiner: StableDiffusionXLImg2ImgPipeline | None = None
        self._adapters: dict[str, float] = {}
        # LoRAs are fused into the UNet's weights while they stay the same: unfused, peft runs two
        # extra matmuls per adapted layer, and at batch 1 the GPU waits on those launches (H100:
        # 4.8 s per 1024² portrait unfused, see bench/RESULTS.md).
        self.fuse_loras = fuse_loras
        self._fused: tuple[tuple[str, float], ...] = ()
        self._pristine: dict[str, torch.Tensor] = {}  # layer -> its weights as loaded (see _remember_base_weights)
        self._own_schedulers: dict[str, Any] = {}  # "base"/"refiner" -> the model's own scheduler
        self._schedulers: dict[tuple[str, str], Any] = {}
        #: pipeline invocations so far (one per batch of up to ``batch_size`` images)
        self.pipeline_calls = 0

    @classmethod
    def from_pipelines(cls, spec: ModelSpec, base: StableDiffusionXLPipeline,
                       refiner: StableDiffusionXLImg2ImgPipeline | None = None, **options: Any) -> Generator:
        """Wrap pipelines loaded elsewhere (benchmarks, a worker that shares them)."""
        generator = cls(spec, **options)
        generator._base, generator._refiner = base, refiner
        return generator

    # --- loading ---------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._base is not None

    def load(self) -> None:
        if self._base is not None:
            return
        device = resolve_device(self._device_setting)
        options = LoadOptions(self._models_dir, device, weight_dtype(device, self._precision), self._offline)
        self._base = load_base(self.spec, options)
        self._refiner = load_refiner(self.spec, self._base, options)
        if device.type == "cuda":
            for pipe in (self._base, self._refiner):
                if pipe is not None:
                    apply_speedups(pipe, **self._speedups)
        log.info("generator ready: %s on %s (refiner: %s)", self.spec.name, device, self._refiner is not None)

    def unload(self) -> None:
        self._base = self._refiner = None
        self._adapters = {}
        self._fused = ()
        self._pristine = {}
        self._own_schedulers, self._schedulers = {}, {}
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @property
    def base(self) -> StableDiffusionXLPipeline:
        self.load()
        assert self._base is not None
        return self._base

    @property
    def refiner(self) -> StableDiffusionXLImg2ImgPipeline | None:
        self.load()
        return self._refiner

    # --- LoRA swapping ---------------------------------------------------------------------------
    def _set_loras(self, request: GenerationRequest) -> None:
        wanted: dict[str, tuple[Path, float]] = {}
        if request.lora is not None:
            wanted[_adapter_name("user", request.lora)] = (request.lora, request.lora_scale)
        if request.style_lora is not None:
            wanted[_adapter_name("style", request.style_lora)] = (request.style_lora, request.style_lora_weight)
        base = self.base
        fused = tuple((name, weight) for name, (_, weight) in wanted.items()) if self.fuse_loras else ()
        if self._fused and self._fused == fused:
            return  # the same adapters at the same weights are already in the UNet's weights
        if self._fused:
            base.unfuse_lora()
            self._restore_base_weights()
            self._fused = ()
        for name in [n for n in self._adapters if n not in wanted]:
            base.delete_adapters(name)
            del self._adapters[name]
        for name, (path, weight) in wanted.items():
            if name not in self._adapters:
                folder, weight_name = _weights_location(path)
                base.load_lora_weights(folder, weight_name=weight_name, adapter_name=name)
            self._adapters[name] = weight
        if wanted:
            base.set_adapters(list(wanted), adapter_weights=[w for _, w in wanted.values()])
            if fused:
                self._remember_base_weights()
                base.fuse_lora(adapter_names=list(wanted), lora_scale=1.0)
                self._fused = fused

    def _lora_layers(self) -> Iterator[tuple[str, torch.nn.Module]]:
        """(name, the wrapped layer) of every layer a LoRA adapter sits on, in every model of the base."""
        from peft.tuners.tuners_utils import BaseTunerLayer

        for part in ("unet", "text_encoder", "text_encoder_2"):
            model = getattr(self.base, part, None)
            for name, module in model.named_modules() if model is not None else ():
                if isinstance(module, BaseTunerLayer):
                    yield f"{part}.{name}", module.get_base_layer()

    def _remember_base_weights(self) -> None:
        """A copy (in host memory) of each layer's weights as loaded, taken before its first fusion:
        fusing adds a LoRA's product to the weights and unfusing subtracts it, which does not give
        the loaded values back in finite precision; each user served would move the base weights a
        little and leave a trace of their LoRA in them."""
        for name, layer in self._lora_layers():
            if name not in self._pristine:
                copy = layer.weight.detach().to("cpu", copy=True)
                self._pristine[name] = copy.pin_memory() if layer.weight.is_cuda else copy  # a fast copy back

    def _restore_base_weights(self) -> None:
        with torch.no_grad():
            for name, layer in self._lora_layers():
                original = self._pristine.get(name)
                if original is not None:
                    layer.weight.copy_(original)

    # --- samplers --------------------------------------------------------------------------------
    def _set_scheduler(self, name: str | None) -> None:
        """The request's sampler on the base and the refiner (built once per name from each
        pipeline's own scheduler config); None: the model's own."""
        from engine.schedulers import build_scheduler

        for role, pipe in (("base", self.base), ("refiner", self.refiner)):
            if pipe is None:
                continue
            own = self._own_schedulers.setdefault(role, pipe.scheduler)
            if name is None:
                pipe.scheduler = own
                continue
            if (role, name) not in self._schedulers:
                self._schedulers[(role, name)] = build_scheduler(name, own.config)
            pipe.scheduler = self._schedulers[(role, name)]

    # --- generation ------------------------------------------------------------------------------
    def plan(self, request: GenerationRequest) -> dict[str, Any]:
        """Size, steps, guidance and refiner split the request resolves to, budget-checked."""
        width, height = generation_size(request.aspect, self.spec.resolution, self.spec.size_multiple)
        steps = request.steps or self.spec.steps
        if self.spec.max_steps is not None:
            steps = min(steps, self.spec.max_steps)
        split = (request.refiner_split or self.spec.refiner_split) if request.use_refiner else None
        if not self.spec.has_refiner:
            split = None
        cost = self.budget.check(width, height, steps, request.count)
        guidance = request.guidance if request.guidance is not None else self.spec.guidance
        return {"width": width, "height": height, "steps": steps, "split": split, "guidance": guidance,
                "cost": cost}

    def generate(self, request: GenerationRequest, *, progress: ProgressFn | None = None,
                 should_cancel: CancelFn | None = None, base_kwargs: dict[str, Any] | None = None
                 ) -> list[GeneratedImage]:
        """``request.count`` images at the aspect's native size; budget checked before any work.
        ``base_kwargs`` go to the base pipeline's call only (the preview's ``ip_adapter_image``)."""
        return self.generate_many([request], progress=progress, should_cancel=should_cancel,
                                  base_kwargs=base_kwargs)[0]

    def _callback(self, stage: str, start: int, count: int, steps: int, progress: ProgressFn | None,
                  should_cancel: CancelFn | None) -> Callable[..., dict[str, Any]]:
        def on_step_end(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            if progress is not None:
                progress(GenerateProgress(stage, start, count, step + 1, steps))
            if should_cancel is not None and should_cancel():
                raise Cancelled("generation", step + 1)
            return kwargs

        return on_step_end

    # --- several requests in one call ------------------------------------------------------------
    @staticmethod
    def _shared(plan: dict[str, Any], request: GenerationRequest) -> tuple[Any, ...]:
        """What requests must agree on to share pipeline calls: size, schedule and LoRAs."""
        return (plan["width"], plan["height"], plan["steps"], plan["split"], plan["guidance"],
                request.lora is not None, request.lora_scale, request.style_lora is not None,
                request.style_lora_weight, request.scheduler)

    def generate_many(self, requests: list[GenerationRequest], *, progress: ProgressFn | None = None,
                      should_cancel: CancelFn | None = None, base_kwargs: dict[str, Any] | None = None
                      ) -> list[list[GeneratedImage]]:
        """Several compatible requests (same size, schedule, LoRAs and weights) in one call: the
        LoRAs are set once and images of different requests share pipeline batches. Each request
        keeps its own prompts, negative prompt and seeds (``prompt_for``/``seed_for``), so its
        images do not depend on what it was batched with. The LoRA files of the first request are
        used (the caller groups requests by LoRA storage key). Progress ``batch_start``/``count``
        refer to the flattened list of all requests' images."""
        if not requests:
            return []
        plans = [self.plan(request) for request in requests]
        plan = plans[0]
        for request, other in zip(requests[1:], plans[1:], strict=True):
            if self._shared(other, request) != self._shared(plan, requests[0]):
                raise InvalidConfig("these generation requests cannot share a pipeline call")
        if should_cancel is not None and should_cancel():
            raise Cancelled("generation", 0)
        self._set_loras(requests[0])
        self._set_scheduler(requests[0].scheduler)
        refiner = self.refiner if plan["split"] is not None else None
        items = [(owner, index) for owner, request in enumerate(requests) for index in range(request.count)]
        results: list[list[GeneratedImage]] = [[] for _ in requests]
        for start in range(0, len(items), self.batch_size):
            chunk = items[start:start + self.batch_size]
            images = self._batch(requests, plan, chunk, start, len(items), refiner, progress, should_cancel,
                                 base_kwargs or {})
            for (owner, _), image in zip(chunk, images, strict=True):
                results[owner].append(image)
        return results

    def _batch(self, requests: list[GenerationRequest], plan: dict[str, Any], chunk: list[tuple[int, int]],
                     start: int, total: int, refiner: StableDiffusionXLImg2ImgPipeline | None,
                     progress: ProgressFn | None, should_cancel: CancelFn | None,
                     base_kwargs: dict[str, Any]) -> list[GeneratedImage]:
        base = self.base
        prompts = [requests[owner].prompt_for(index) for owner, index in chunk]
        seeds = [requests[owner].seed_for(index) for owner, index in chunk]
        common = {
            "prompt": prompts, "negative_prompt": [requests[owner].negative_prompt for owner, _ in chunk],
            "num_inference_steps": plan["steps"], "guidance_scale": plan["guidance"],
        }
        split = plan["split"]
        base_steps = plan["steps"] if split is None else round(plan["steps"] * split)
        self.pipeline_calls += 1
        with torch.inference_mode():
            generators = [seeded_generator(base.device, s) for s in seeds]
            output = base(
                **common, width=plan["width"], height=plan["height"], generator=generators,
                denoising_end=split, output_type="latent" if refiner is not None else "pil",
                callback_on_step_end=self._callback("base", start, total, base_steps, progress, should_cancel),
                **base_kwargs,
            ).images
            if refiner is not None:
                output = refiner(
                    **common, image=output, denoising_start=split, generator=generators,
                    callback_on_step_end=self._callback("refiner", start, total, plan["steps"] - base_steps,
                                                        progress, should_cancel),
                ).images
        return [GeneratedImage(image, index, seed, prompt, requests[owner].aspect,
                               {"steps": plan["steps"], "refiner_split": split, "guidance": plan["guidance"]})
                for image, (owner, index), seed, prompt in zip(output, chunk, seeds, prompts, strict=True)]
