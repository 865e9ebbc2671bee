from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from engine.compat import patch_torchvision_functional_tensor
from engine.restore import FaceRestorer, RestoreConfig, build_gfpgan
from engine.upscale import Upscaler


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def gfpgan_file(tmp_path_factory):
    torch.manual_seed(0)
    net = build_gfpgan()
    assert sum(p.numel() for p in net.parameters()) > 80_000_000  # the full v1.4 network
    path = tmp_path_factory.mktemp("gfpgan") / "GFPGANv1.4-random.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    return path


@pytest.mark.slow
def test_gfpgan_random_weights_restore_a_512_face_and_blend_it(gfpgan_file):
    restorer = FaceRestorer(RestoreConfig(gfpgan_weights=gfpgan_file, blend=0.5))
    assert restorer.available
    face = _noise(512, 512)
    restored = restorer.restore_aligned(face)
    assert restored.size == (512, 512)
    assert np.abs(np.asarray(restored, float) - np.asarray(face, float)).mean() > 1

    photo = _noise(300, 360, seed=1)
    box = (100, 90, 200, 210)
    out = restorer.restore(photo, [box])
    diff = np.abs(np.asarray(out, float) - np.asarray(photo, float)).sum(axis=2)
    assert out.size == photo.size
    assert diff[130:170, 130:170].mean() > 1  # the face changed...
    assert diff[:20, :].max() == 0 and diff[:, :20].max() == 0  # ...the far background did not


def test_restore_without_weights_logs_once_and_passes_through(tmp_path, caplog):
    restorer = FaceRestorer(RestoreConfig(gfpgan_weights=tmp_path / "missing.pth"))
    photo = _noise(64, 64)
    assert not restorer.available
    with caplog.at_level("WARNING"):
        assert restorer.restore(photo, [(10, 10, 40, 40)]) is photo
        assert restorer.restore(photo, [(10, 10, 40, 40)]) is photo
    assert sum("face restoration skipped" in r.message for r in caplog.records) == 1


def _realesrgan_file(path, scale: int):
    patch_torchvision_functional_tensor()
    from basicsr.archs.rrdbnet_arch import RRDBNet

    torch.manual_seed(0)
    net = RRDBNet(num_in_ch=3, num_out_ch=3, num_feat=32, num_block=1, num_grow_ch=32, scale=scale)
    torch.save({"params_ema": net.state_dict()}, path)
    return path


@pytest.mark.parametrize("scale", [2, 4])
def test_realesrgan_file_is_detected_and_upscales_tiled(tmp_path, scale):
    upscaler = Upscaler(_realesrgan_file(tmp_path / f"x{scale}.pth", scale), tile=48, overlap=8)
    model = upscaler.model()
    assert model.architecture.id == "ESRGAN" and model.scale == scale and model.purpose == "SR"
    image = _noise(80, 64)
    out = upscaler.upscale(image, scale=scale)
    assert out.size == (80 * scale, 64 * scale)
    whole = Upscaler(tmp_path / f"x{scale}.pth", tile=512).upscale(image, scale=scale)
    # Tiling with overlap matches the untiled result away from the seams (receptive field < overlap/2).
    assert np.abs(np.asarray(out, float) - np.asarray(whole, float)).mean() < 2


def test_compact_file_and_scale_mismatch(tmp_path):
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    torch.save(Compact(num_feat=16, num_conv=4, upscale=4).state_dict(), tmp_path / "compact.pth")
    upscaler = Upscaler(tmp_path / "compact.pth")
    assert upscaler.model().architecture.id == "Compact"
    assert upscaler.upscale(_noise(32, 40), scale=2).size == (64, 80)


def test_lanczos_fallback_without_weights(caplog):
    with caplog.at_level("WARNING"):
        out = Upscaler(None).upscale(_noise(30, 20), scale=2)
    assert out.size == (60, 40) and "Lanczos" in caplog.text
