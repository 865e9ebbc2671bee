"""A tiny random-initialised IP-Adapter *plus* for the ``tiny`` base model, built offline from config.

It is written to a folder laid out like ``h94/IP-Adapter`` (``sdxl_models/<weights>`` and
``models/image_encoder/``), in the checkpoint format of the real adapter, so the tiny model loads
it through the very call that loads the real one (``pipe.load_ip_adapter``): diffusers converts
it, builds the image projection and swaps in its IP attention processors, as it does for SDXL.
The shapes follow diffusers' own IP-Adapter tests (``create_ip_adapter_plus_state_dict``).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import torch
from diffusers.models.attention_processor import IPAdapterAttnProcessor
from diffusers.models.embeddings import IPAdapterPlusImageProjection
from safetensors.torch import save_file
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from engine import tiny

SUBFOLDER = "sdxl_models"
WEIGHTS = "ip-adapter-plus-face_sdxl_vit-h.safetensors"
ENCODER = "models/image_encoder"
VISION_HIDDEN = 32
IMAGE_SIZE = 32


def image_encoder(seed: int = 0) -> CLIPVisionModelWithProjection:
    """A tiny CLIP ViT (the real one is ViT-H/14 at 224 px); the plus adapter reads its
    penultimate hidden states."""
    torch.manual_seed(seed + 4)
    return CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=VISION_HIDDEN, projection_dim=VISION_HIDDEN, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, image_size=IMAGE_SIZE, patch_size=4, num_channels=3,
    ))


def _hidden_size(unet: torch.nn.Module, name: str) -> int:
    channels = list(unet.config.block_out_channels)
    if name.startswith("mid_block"):
        return channels[-1]
    block = int(name.split(".")[1])
    return list(reversed(channels))[block] if name.startswith("up_blocks") else channels[block]


def _ip_attention(unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The adapter's key/value projections, numbered as in the original checkpoints (1, 3, 5...:
    one per cross-attention layer, in the UNet's processor order)."""
    weights: dict[str, torch.Tensor] = {}
    key_id = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        state = IPAdapterAttnProcessor(hidden_size=_hidden_size(unet, name),
                                       cross_attention_dim=unet.config.cross_attention_dim, scale=1.0).state_dict()
        weights[f"{key_id}.to_k_ip.weight"] = state["to_k_ip.0.weight"]
        weights[f"{key_id}.to_v_ip.weight"] = state["to_v_ip.0.weight"]
        key_id += 2
    return weights


def _renamed(key: str) -> str:
    """A diffusers ``IPAdapterPlusImageProjection`` key in the original (Resampler) naming."""
    parts = key.split(".")
    if key.startswith("layers.") and parts[2] in ("ln0", "ln1"):
        return f"layers.{parts[1]}.0.{'norm1' if parts[2] == 'ln0' else 'norm2'}.{parts[-1]}"
    if key.startswith("layers.") and parts[2] == "attn":
        return key.replace("to_out.0", "to_out").replace(".attn.", ".0.")
    if key.startswith("layers.") and parts[2] == "ff":
        return (key.replace(".ff.0.", ".1.0.").replace(".ff.1.net.0.proj.", ".1.1.")
                .replace(".ff.1.net.2.", ".1.3."))
    return key


def _image_projection(cross_attention_dim: int, embed_dims: int = VISION_HIDDEN, hidden_dims: int = 64,
                      heads: int = 1, num_queries: int = 4) -> dict[str, torch.Tensor]:
    projection = IPAdapterPlusImageProjection(embed_dims=embed_dims, output_dims=cross_attention_dim,
                                              hidden_dims=hidden_dims, dim_head=64, heads=heads, num_queries=num_queries)
    weights: dict[str, torch.Tensor] = OrderedDict()
    state = projection.state_dict()
    for key, value in state.items():
        if ".to_v." in key:
            continue  # the original checkpoints hold one to_kv matrix
        name = _renamed(key)
        if ".to_k." in key:
            weights[name.replace("to_k", "to_kv")] = torch.cat([value, state[key.replace(".to_k.", ".to_v.")]])
        else:
            weights[name] = value
    return weights


def state_dict(unet: torch.nn.Module, embed_dims: int = VISION_HIDDEN, hidden_dims: int = 64, heads: int = 1,
               num_queries: int = 4, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """A plus adapter for ``unet`` as one flat checkpoint (``image_proj.*`` and ``ip_adapter.*``),
    random weights; ``embed_dims``: the image encoder's hidden size."""
    projection = _image_projection(unet.config.cross_attention_dim, embed_dims, hidden_dims, heads, num_queries)
    flat = {f"image_proj.{k}": v.to(dtype).contiguous() for k, v in projection.items()}
    flat |= {f"ip_adapter.{k}": v.to(dtype).contiguous() for k, v in _ip_attention(unet).items()}
    return flat


def write_folder(root: Path, weights: dict[str, torch.Tensor], encoder: CLIPVisionModelWithProjection) -> Path:
    """``root`` laid out like ``h94/IP-Adapter``: the adapter's weights and its image encoder."""
    (root / SUBFOLDER).mkdir(parents=True, exist_ok=True)
    save_file(weights, str(root / SUBFOLDER / WEIGHTS))
    encoder.save_pretrained(root / ENCODER)
    return root


@lru_cache(maxsize=4)
def folder(seed: int = 0) -> Path:
    """A folder laid out like ``h94/IP-Adapter`` with the tiny adapter, written once per process."""
    root = Path(tempfile.mkdtemp(prefix="tiny-ip-adapter-"))
    atexit.register(shutil.rmtree, root, True)
    torch.manual_seed(seed + 5)
    return write_folder(root, state_dict(tiny.unet()), image_encoder(seed))
