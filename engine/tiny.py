"""Tiny random-initialised SDXL-shaped components, built offline from config.

The shapes are those of diffusers' own SDXL fast tests. Construction is seeded, so two
processes building ``tiny`` get identical weights: a LoRA trained in one loads in the other.
The CLIP tokenizer is CLIP's real BPE (engine.clip_tokens; 49408 tokens embedded in 32 dimensions).
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from engine import clip_tokens

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
TIME_EMBED_DIM = 8
TEXT_HIDDEN = 32


def tokenizer() -> CLIPTokenizer:
    """CLIP's real BPE (the vocabulary SDXL's encoders use), so prompt lengths are counted as
    in production: a byte-level stand-in counted bytes and warned of truncation falsely."""
    return CLIPTokenizer(vocab=dict(clip_tokens.vocabulary()), merges=list(clip_tokens.merges()), model_max_length=77,
                         bos_token=BOS, eos_token=EOS, unk_token=EOS, pad_token=EOS)


def text_config(projection_dim: int = TEXT_HIDDEN) -> CLIPTextConfig:
    vocab = clip_tokens.vocabulary()
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
