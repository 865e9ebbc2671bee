"""What a finished job turns into in the chat: the album and its buttons, the model-ready
message with the style picker, or an apology that carries the error id and says the credit is back."""

from __future__ import annotations

from typing import Any

from bot.core import texts
from bot.core.job_refs import job_ref
from bot.core.replies import Button, Document, Picture, Reply
from i18n import percent
from db.models import Job, JobKind, JobState
from db.storage import Storage


def result_images(job: Job) -> list[dict[str, Any]]:
    """Every stored image of a generation: each portrait in each aspect, best portrait first."""
    images = (job.result or {}).get("images", [])
    return sorted(images, key=lambda image: image.get("index", 0))


def album_images(job: Job) -> list[dict[str, Any]]:
    """One picture per portrait, in the style's first aspect (the others are in the originals)."""
    images = result_images(job)
    first = images[0].get("aspect", "") if images else ""
    return [image for image in images if image.get("aspect", "") == first]


def _aspect_label(image: dict[str, Any]) -> str:
    return f" · {image['aspect']}" if image.get("aspect") else ""


def _extension(key: str) -> str:
    return key.rsplit(".", 1)[-1] if "." in key.rsplit("/", 1)[-1] else "png"


def likeness_lines(job: Job, refunded: int) -> list[str]:
    """The legend of the captions' likeness figures, and what fell short of the bar and was not charged."""
    result = job.result or {}
    lines = []
    if any(image.get("likeness") is not None for image in result.get("images", [])):
        lines.append(texts.LIKENESS_LEGEND)
    if short := int(result.get("below_likeness") or 0):
        lines.append(texts.LIKENESS_SHORT(short, bar=percent(result.get("min_likeness", 0)),
                                          refund=texts.CREDIT_COUNT(refunded)))
    return lines


async def album_reply(storage: Storage, job: Job, title: str, credits_left: int, refunded: int = 0) -> Reply:
    images = album_images(job)
    pictures = []
    for number, image in enumerate(images, start=1):
        template = texts.ALBUM_FIRST_CAPTION if number == 1 else texts.ALBUM_CAPTION
        caption = template.format(title=title, index=number, count=len(images))
        if image.get("likeness") is not None:
            caption += texts.LIKENESS_CAPTION.format(percent=percent(image["likeness"]))
        pictures.append(Picture(await storage.get(image["key"]), f"portrait-{job.id}-{number}.{_extension(image['key'])}",
                                caption))
    left = texts.CREDITS_LEFT.format(credits=texts.CREDIT_COUNT(credits_left))
    legend = likeness_lines(job, refunded)
    return Reply(
        "\n".join(map(str, [texts.DELIVERED.format(credits_left=left), *legend])),
        ((Button(texts.BUTTON_FILES, f"files:{job_ref(job)}"),),
         (Button(texts.BUTTON_MORE, f"more:{job_ref(job)}"), Button(texts.BUTTON_ANOTHER, "styles"))),
        album=tuple(pictures),
        shared_text="\n".join(map(str, [texts.DELIVERED.format(credits_left="").strip(), *legend])),  # the balance is theirs alone
    )


async def originals_reply(storage: Storage, job: Job, title: str) -> Reply:
    images = result_images(job)
    portraits = len({image.get("index", 0) for image in images})
    documents = []
    for image in images:
        number = image.get("index", 0) + 1
        aspect = image.get("aspect", "").replace(":", "x")
        name = f"portrait-{job.id}-{number}{'-' + aspect if aspect else ''}.{_extension(image['key'])}"
        caption = texts.ORIGINALS_CAPTION.format(title=title, index=number, count=portraits) + _aspect_label(image)
        documents.append(Document(await storage.get(image["key"]), name, caption))
    return Reply(documents=tuple(documents))


def failure_reply(job: Job, *, model_paints: bool = False) -> Reply:
    """``model_paints``: the user has a model that paints (a failed training was a retrain)."""
    refund = texts.refunded(job.credits_reserved) if job.credits_reserved else ""
    if job.state == JobState.cancelled:
        return Reply(texts.CANCELLED.format(refund=refund).strip())
    template = texts.TRAIN_FAILED if job.kind == JobKind.train else texts.GENERATE_FAILED
    text = template.format(refund=refund, error_id=job.correlation_id).replace("  ", " ")
    # the next step: the same again (a training's set collects again once it failed), or another style
    if job.kind != JobKind.train:
        return Reply(text, ((Button(texts.BUTTON_TRY_AGAIN, f"more:{job_ref(job)}"), Button(texts.BUTTON_ANOTHER, "styles")),))
    if model_paints:  # not as if the face learnt before were lost too
        return Reply(f"{text}\n{texts.RETRAIN_FAILED_MODEL_PAINTS}",
                     ((Button(texts.BUTTON_TRY_AGAIN, "train"), Button(texts.BUTTON_SEE_STYLES, "styles")),))
    return Reply(text, ((Button(texts.BUTTON_TRY_AGAIN, "train"),),))


async def preview_album(storage: Storage, job: Job, title: str) -> Reply:
    """The quick preview's portraits, each marked as one, and what they are (no buttons: the
    personal model is still training)."""
    images = album_images(job)
    pictures = [
        Picture(await storage.get(image["key"]), f"preview-{job.id}-{number}.{_extension(image['key'])}",
                texts.PREVIEW_CAPTION.format(title=title, index=number, count=len(images)))
        for number, image in enumerate(images, start=1)
    ]
    return Reply(texts.PREVIEW_DELIVERED, album=tuple(pictures))


def model_ready_after_preview(picker: Reply, style_id: str, title: str, likeness: int | None = None) -> Reply:
    """The model-ready message after a preview: the preview's style in one tap above the picker."""
    paint = (Button(texts.BUTTON_PAINT_WITH_MODEL.format(title=title), f"style:{style_id}"),)
    text = texts.MODEL_READY_AFTER_PREVIEW.format(title=title)
    if likeness is not None:
        text += "\n" + texts.MODEL_TEST_LIKENESS.format(likeness=percent(likeness))
    return Reply(text, (paint, *picker.buttons))
