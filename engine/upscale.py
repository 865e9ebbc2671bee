"""Upscaling with any spandrel-detected super-resolution file (Real-ESRGAN, SwinIR, Compact...), tiled.

Without a weights file the fallback is explicit: Lanczos resampling, logged once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from engine.tensor_image import to_images, to_tensor

log = logging.getLogger(__name__)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def tiled(model: Any, image: torch.Tensor, scale: int, tile: int, overlap: int) -> torch.Tensor:
    """Run ``model`` on overlapping tiles; each output pixel comes from the tile it is deepest inside."""
    count, channels, height, width = image.shape
    if height <= tile and width <= tile:
        return model(image)  # one tile: no canvas to allocate and copy into
    output = image.new_zeros((count, channels, height * scale, width * scale))
    ys, xs = _starts(height, tile, overlap), _starts(width, tile, overlap)
    for y in ys:
        for x in xs:
            patch = model(image[:, :, y:y + tile, x:x + tile])
            # Keep the tile's centre part: trim half the overlap on inner edges.
            top = 0 if y == ys[0] else overlap // 2
            left = 0 if x == xs[0] else overlap // 2
            bottom = min(tile, height - y)
            right = min(tile, width - x)
            output[:, :, (y + top) * scale:(y + bottom) * scale, (x + left) * scale:(x + right) * scale] = \
                patch[:, :, top * scale:bottom * scale, left * scale:right * scale]
    return output


#: the longest side of SDXL's buckets (640×1536): on a GPU every generated portrait is one tile, so no
#: pixel is upscaled twice (512 px tiles ran a 1024² portrait as 9 overlapping tiles, 2.25× the work)
GPU_TILE = 1536
CPU_TILE = 512


class Upscaler:
    """``upscale(image, scale)``: the model's own factor, then resized to the asked one if they differ.
    On a GPU it runs in half precision (as Real-ESRGAN's own inference does) with whole-portrait tiles.
    ``channels_last``: the network and its input in that memory format (tensor cores' own layout for
    convolutions; production has it off until a GPU run shows it pays, bench/finishing_gpu.py)."""

    def __init__(self, weights: Path | None = None, device: str | torch.device = "cpu", *,
                 tile: int | None = None, overlap: int = 32, half: bool = True, channels_last: bool = False) -> None:
        self.weights = Path(weights) if weights else None
        self.device = torch.device(device)
        on_gpu = self.device.type == "cuda"
        self.tile = tile or (GPU_TILE if on_gpu else CPU_TILE)
        self.overlap = overlap
        self.half = half and on_gpu
        self.channels_last = channels_last
        self._model: Any = None
        self._warned = False

    @property
    def available(self) -> bool:
        return self.weights is not None and self.weights.is_file()

    def model(self) -> Any:
        """The spandrel ImageModelDescriptor (architecture, scale, purpose), loaded once."""
        if self._model is None and self.available:
            import spandrel

            descriptor = spandrel.ModelLoader(self.device).load_from_file(self.weights)
            if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose != "SR":
                raise ValueError(f"{self.weights} is not a super-resolution model ({descriptor.purpose})")
            if self.half and descriptor.supports_half:
                descriptor.model.half()
            if self.channels_last:
                descriptor.model.to(memory_format=torch.channels_last)
            self._model = descriptor.eval()
            log.info("upscaler: %s x%d from %s", descriptor.architecture.name, descriptor.scale, self.weights)
        return self._model

    def upscale(self, image: Image.Image, scale: int = 2) -> Image.Image:
        return self.upscale_many([image], scale)[0]

    def upscale_many(self, images: list[Image.Image], scale: int = 2, batch: int = 4) -> list[Image.Image]:
        """Each image ``scale`` times larger; images of one size go through the network together,
        ``batch`` at a time (a job's portraits in one call on the GPU instead of one call each)."""
        model = self.model()
        if model is None:
            if not self._warned:
                log.warning("no upscaler weights%s: Lanczos resampling instead",
                            f" at {self.weights}" if self.weights else " configured")
                self._warned = True
            return [image.convert("RGB").resize((image.width * scale, image.height * scale), Image.Resampling.LANCZOS)
                    for image in images]
        out: list[Image.Image | None] = [None] * len(images)
        by_size: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            by_size.setdefault(image.size, []).append(index)
        for (width, height), indices in by_size.items():
            for start in range(0, len(indices), batch):
                chunk = indices[start:start + batch]
                dtype = torch.float16 if self.half and model.supports_half else torch.float32
                with torch.inference_mode():
                    tensor = to_tensor([images[i] for i in chunk], self.device, dtype,
                                       channels_last=self.channels_last)
                    result = to_images(tiled(model, tensor, model.scale, self.tile, self.overlap))
                for index, image in zip(chunk, result, strict=True):
                    target = (width * scale, height * scale)
                    out[index] = image if image.size == target else image.resize(target, Image.Resampling.LANCZOS)
        return [image for image in out if image is not None]
