"""Training job: photos from storage → LoRA trained by engine.train → LoRA file to storage."""

from __future__ import annotations

from engine.handlers.context import JobContext
from engine.handlers.images import decode_image
from engine.handlers.models import model_spec
from engine.jobs import TrainJob, TrainOutput


def handle_train(spec: TrainJob, context: JobContext) -> TrainOutput:
    from engine.train import TrainConfig, train_lora

    context.report("preparing")
    model = model_spec(context, spec.base_model)
    config = TrainConfig.for_model(model, token=spec.token, class_word=spec.class_word, steps=spec.steps, seed=spec.seed)
    captions = spec.captions or [""] * len(spec.photo_keys)  # "": the instance prompt
    photos = []
    for key, caption in zip(spec.photo_keys, captions, strict=True):
        context.check_cancel("preparing")
        photos.append((decode_image(context.storage.get(key), key), caption))
    options = context.options
    # The output folder survives a crash on this machine: a retried job resumes from its checkpoint.
    result = train_lora(
        model, photos, config, context.work_dir / "lora", models_dir=options.models_dir, device=options.device,
        offline=options.offline, should_cancel=context.should_cancel,
        progress=lambda p: context.report("training", p.step, p.total, p.eta_s),
    )
    context.report("finishing", result.steps, result.steps)
    context.storage.put(spec.lora_key, result.lora_path.read_bytes())
    return TrainOutput(
        lora_key=spec.lora_key, base_model=model.name, token=config.token, class_word=config.class_word,
        steps=result.steps, final_loss=float(result.final_loss), seconds=round(result.seconds, 3),
        resumed_from=result.resumed_from,
    )
