"""PIL images to and from the 0–1 float tensors the restoration and upscaling networks take.

The pixels travel as bytes and are converted on the networks' device: a 2048² portrait read back
as float32 is 50 MB over the bus and a float multiply, round and cast on the CPU, where as bytes it
is 12.6 MB and the arithmetic runs on the GPU (see bench/finishing_gpu.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image


def to_tensor(images: Sequence[Image.Image], device: torch.device, dtype: torch.dtype = torch.float32, *,
              channels_last: bool = False) -> torch.Tensor:
    """Same-size images as one (N, 3, H, W) batch in [0, 1]; ``channels_last``: in that memory format
    (the images' own pixel order, so no copy reorders them)."""
    stacked = np.stack([np.asarray(image.convert("RGB")) for image in images])
    batch = torch.from_numpy(stacked).to(device, non_blocking=False)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    return batch.permute(0, 3, 1, 2).to(dtype, memory_format=layout).div_(255.0)


def to_images(tensor: torch.Tensor) -> list[Image.Image]:
    """An (N, 3, H, W) batch in [0, 1] back to images, rounded to the nearest byte."""
    data = tensor.detach().float().clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(array) for array in data]
