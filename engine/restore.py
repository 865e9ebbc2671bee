"""Face restoration: GFPGAN v1.4 (``GFPGANv1Clean``) or a spandrel face model, blended back softly.

Each face (a box from intake's dlib detector) is aligned to the FFHQ 512 px frame the networks
were trained on (eye corners and nose base from dlib's 5-point model → similarity transform, see
``engine.align``), restored, warped back with the inverse transform and blended in
through a feathered ellipse at ``blend`` strength, so the restorer sharpens without replacing the
person's features. Where no usable landmarks are found (or ``align=False``) a square around the
box is restored instead, unaligned.
No weights: logged once, images pass through. facexlib is never used (it downloads detectors at
run time).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from engine import align as alignment
from engine.boxes import Box, as_box, clamp, square_around
from engine.compat import patch_torchvision_functional_tensor
from engine.tensor_image import to_images, to_tensor

log = logging.getLogger(__name__)

FACE_SIZE = 512
# GFPGAN v1.4 (GFPGANv1.4.pth) architecture, as GFPGANer builds it for arch="clean".
GFPGAN_V14 = {"out_size": 512, "num_style_feat": 512, "channel_multiplier": 2, "decoder_load_path": None,
              "fix_decoder": False, "num_mlp": 8, "input_is_latent": True, "different_w": True, "narrow": 1,
              "sft_half": True}


@dataclass(frozen=True)
class RestoreConfig:
    gfpgan_weights: Path | None = None  # e.g. <models_dir>/gfpgan/GFPGANv1.4.pth
    face_model_weights: Path | None = None  # any spandrel face model (CodeFormer needs spandrel_extra_arches)
    prefer: str = "gfpgan"  # "gfpgan" or "face_model" when both are present
    blend: float = 0.6  # weight of the restored face; 1.0 = restorer output only
    margin: float = 0.45  # fallback square crop = face side × (1 + 2 × margin)
    align: bool = True  # align to the FFHQ frame from dlib's 5 landmarks; False = always the square crop

    def __post_init__(self) -> None:
        if not 0.0 <= self.blend <= 1.0:
            raise ValueError("blend must be in [0, 1]")
        if self.prefer not in ("gfpgan", "face_model"):
            raise ValueError("prefer must be gfpgan or face_model")


def build_gfpgan() -> torch.nn.Module:
    """The GFPGAN v1.4 network with random weights (no download)."""
    patch_torchvision_functional_tensor()
    from gfpgan.archs.gfpganv1_clean_arch import GFPGANv1Clean

    return GFPGANv1Clean(**GFPGAN_V14)


def _load_gfpgan(path: Path, device: torch.device) -> torch.nn.Module:
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("params_ema", "params"):
        if isinstance(state, dict) and key in state:
            state = state[key]
            break
    net = build_gfpgan()
    net.load_state_dict(state, strict=True)
    return net.eval().to(device)


def _load_face_model(path: Path, device: torch.device) -> Any:
    import spandrel

    try:
        import spandrel_extra_arches  # CodeFormer lives there (non-commercial licence)

        spandrel_extra_arches.install(ignore_duplicates=True)
    except ImportError:
        pass
    descriptor = spandrel.ModelLoader(device).load_from_file(path)
    if descriptor.purpose != "FaceSR":
        raise ValueError(f"{path} is a {descriptor.architecture.name} {descriptor.purpose} model, not a face restorer")
    return descriptor.eval()


def _feather_mask(size: int, blend: float) -> Image.Image:
    mask = Image.new("L", (size, size), 0)
    inset = size * 0.12
    ImageDraw.Draw(mask).ellipse((inset, inset * 0.8, size - inset, size - inset * 0.6), fill=round(255 * blend))
    return mask.filter(ImageFilter.GaussianBlur(size * 0.06))


@dataclass
class _FacePlan:
    """A face cut out for the network, and how its restored version goes back: through the
    alignment ``matrix`` (warped back, feathered ellipse) or, unaligned, into ``square``."""

    crop: Image.Image
    matrix: np.ndarray | None = None
    square: Box | None = None
    blend: float = 0.8

    def paste(self, image: Image.Image, restored: Image.Image) -> Image.Image:
        if self.matrix is not None:
            face = np.asarray(restored.convert("RGB").resize((FACE_SIZE, FACE_SIZE), Image.Resampling.LANCZOS))
            mask = alignment.face_mask(FACE_SIZE, self.blend)
            return Image.fromarray(alignment.paste_back(np.asarray(image.convert("RGB")), face, mask, self.matrix))
        assert self.square is not None
        square, side = self.square, self.square[2] - self.square[0]
        blended = Image.composite(restored.resize((side, side), Image.Resampling.LANCZOS), self.crop,
                                  _feather_mask(side, self.blend))
        inside = clamp(square, image.size)
        offset = (inside[0] - square[0], inside[1] - square[1])
        region = (offset[0], offset[1], offset[0] + inside[2] - inside[0], offset[1] + inside[3] - inside[1])
        result = image.copy()
        result.paste(blended.crop(region), inside[:2])
        return result


class FaceRestorer:
    """Loads the restorer lazily on first use; ``available`` is False when no weights are configured."""

    def __init__(self, config: RestoreConfig | None = None, device: str | torch.device = "cpu") -> None:
        self.config = config or RestoreConfig()
        self.device = torch.device(device)
        self._net: Any = None
        self._kind = ""
        self._warned = False

    def _choose(self) -> tuple[str, Path] | None:
        present = {kind: path for kind, path in (("gfpgan", self.config.gfpgan_weights),
                                                  ("face_model", self.config.face_model_weights))
                   if path is not None and Path(path).is_file()}
        if not present:
            return None
        kind = self.config.prefer if self.config.prefer in present else next(iter(present))
        return kind, Path(present[kind])

    @property
    def available(self) -> bool:
        return self._choose() is not None

    def _network(self) -> Any:
        if self._net is None:
            chosen = self._choose()
            if chosen is None:
                return None
            self._kind, path = chosen
            loader = _load_gfpgan if self._kind == "gfpgan" else _load_face_model
            self._net = loader(path, self.device)
            log.info("face restorer: %s from %s", self._kind, path)
        return self._net

    def restore_aligned(self, face: Image.Image) -> Image.Image:
        """Run the network on one face crop (resized to 512 px); returns the restored 512 px face."""
        return self.restore_aligned_many([face])[0]

    def restore_aligned_many(self, faces: Sequence[Image.Image]) -> list[Image.Image]:
        """The network on several face crops in one batch (a job's portraits on the GPU at once)."""
        net = self._network()
        if net is None or not faces:
            return list(faces)
        with torch.inference_mode():
            tensor = to_tensor([face.resize((FACE_SIZE, FACE_SIZE), Image.Resampling.LANCZOS) for face in faces],
                               self.device)
            if self._kind == "gfpgan":
                output = (net(tensor * 2 - 1, return_rgb=False, randomize_noise=False)[0] + 1) / 2
            else:
                output = net(tensor)
            return to_images(output)

    def _usable(self, faces_present: bool) -> bool:
        if not faces_present:
            return False
        if not self.available:
            if not self._warned:
                log.warning("face restoration skipped: no GFPGAN/face-model weights configured or found")
                self._warned = True
            return False
        return True

    def restore(self, image: Image.Image, faces: Sequence[Any]) -> Image.Image:
        """Restore every face box in ``image``; without weights, log once and return it unchanged."""
        if not self._usable(bool(faces)):
            return image
        result = image.convert("RGB")
        for face in faces:
            result = self._restore_one(result, as_box(face))
        return result

    def restore_many(self, images: Sequence[Image.Image], faces: Sequence[Any | None],
                     batch: int = 8) -> list[Image.Image]:
        """One face per image (None: left as it is), the network run on up to ``batch`` faces at a
        time: a job's portraits restored together instead of one call each."""
        if not self._usable(any(face is not None for face in faces)):
            return list(images)
        results = [image.convert("RGB") for image in images]
        plans = [(index, self._plan(results[index], as_box(face)))
                 for index, face in enumerate(faces) if face is not None]
        plans = [(index, plan) for index, plan in plans if plan is not None]
        for start in range(0, len(plans), batch):
            chunk = plans[start:start + batch]
            restored = self.restore_aligned_many([plan.crop for _, plan in chunk])
            for (index, plan), face in zip(chunk, restored, strict=True):
                results[index] = plan.paste(results[index], face)
        return results

    def _plan(self, image: Image.Image, face: Box) -> _FacePlan | None:
        matrix = None
        if self.config.align:
            points = alignment.find_landmarks(image, face)
            matrix = alignment.estimate_alignment(points) if points is not None else None
        if matrix is not None:
            aligned = Image.fromarray(alignment.warp_face(np.asarray(image), matrix, FACE_SIZE))
            return _FacePlan(aligned, matrix=matrix, blend=self.config.blend)
        square = square_around(face, self.config.margin)
        if square[2] - square[0] < 8:
            return None
        return _FacePlan(image.crop(square), square=square, blend=self.config.blend)

    def _restore_one(self, image: Image.Image, face: Box) -> Image.Image:
        plan = self._plan(image, face)
        return image if plan is None else plan.paste(image, self.restore_aligned(plan.crop))
