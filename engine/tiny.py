"""Tiny random-initialised SDXL-shaped components, built offline from config.

The shapes are those of diffusers' own SDXL fast tests. Construction is seeded, so two
processes building ``tiny`` get identical weights: a LoRA trained in one loads in the other.
The CLIP tokenizer is byte-level, built from a vocabulary written here (transformers ships none).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
# A few merges so the BPE path is exercised; every pair and every result is in the vocabulary.
_MERGES = ("o h", "oh w", "ohw x</w>", "p e", "r s", "pe rs", "o n</w>", "pers on</w>", "t h", "th e</w>")
TIME_EMBED_DIM = 8
TEXT_HIDDEN = 32


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes (GPT-2/CLIP's table)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = (b for b in range(256) if b not in printable)
    table = {b: chr(b) for b in printable} | {b: chr(256 + i) for i, b in enumerate(extra)}
    return [table[b] for b in range(256)]


@lru_cache(maxsize=1)
def _vocab_and_merges() -> tuple[dict[str, int], tuple[str, ...]]:
    symbols = _byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols]
    for merge in _MERGES:
        left, right = merge.split(" ")
        assert left in tokens and right in tokens, merge
        tokens.append(left + right)
    tokens += [BOS, EOS]
    return {token: i for i, token in enumerate(dict.fromkeys(tokens))}, _MERGES


def tokenizer() -> CLIPTokenizer:
    vocab, merges = _vocab_and_merges()
    return CLIPTokenizer(vocab=dict(vocab), merges=[tuple(m.split(" ")) for m in merges], model_max_length=77,
                         bos_token=BOS, eos_token=EOS, unk_token=EOS, pad_token=EOS)


def text_config(projection_dim: int = TEXT_HIDDEN) -> CLIPTextConfig:
    vocab, _ = _vocab_and_merges()
    return CLIPTextConfig(
        vocab_size=len(vocab), bos_token_id=vocab[BOS], eos_token_id=vocab[EOS], pad_token_id=vocab[EOS],
        hidden_size=TEXT_HIDDEN, intermediate_size=37, num_attention_heads=4, num_hidden_layers=5,
        layer_norm_eps=1e-5, hidden_act="gelu", projection_dim=projection_dim, max_position_embeddings=77,
    )


def unet(*, refiner: bool = False) -> UNet2DConditionModel:
    """Base: cross-attention over both encoders (2×32) and 6 time ids; refiner: encoder 2 only, 5 ids."""
    time_ids = 5 if refiner else 6
    return UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=TIME_EMBED_DIM,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=time_ids * TIME_EMBED_DIM + TEXT_HIDDEN,
        cross_attention_dim=TEXT_HIDDEN if refiner else 2 * TEXT_HIDDEN,
    )


def vae() -> AutoencoderKL:
    return AutoencoderKL(
        block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4, sample_size=128,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
    )


def scheduler() -> EulerDiscreteScheduler:
    return EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  steps_offset=1, timestep_spacing="leading")


def base_components(seed: int = 0) -> dict[str, object]:
    """Everything ``StableDiffusionXLPipeline(**components)`` needs, identical for a given seed."""
    torch.manual_seed(seed)
    components = {"unet": unet(), "scheduler": scheduler(), "vae": vae()}
    torch.manual_seed(seed + 1)
    components["text_encoder"] = CLIPTextModel(text_config())
    torch.manual_seed(seed + 2)
    components["text_encoder_2"] = CLIPTextModelWithProjection(text_config())
    components["tokenizer"] = tokenizer()
    components["tokenizer_2"] = tokenizer()
    return components


def refiner_unet(seed: int = 0) -> UNet2DConditionModel:
    torch.manual_seed(seed + 3)
    return unet(refiner=True)
