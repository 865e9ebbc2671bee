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
    yield path
    path.unlink()  # 330 MB: not left behind for the rest of the run


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


@pytest.mark.slow
def test_codeformer_file_in_the_restore_folder_is_detected_and_used_when_preferred(gfpgan_file, obama, tmp_path):
    """CodeFormer (spandrel's extra architectures) with random weights, found by the default
    finisher in ``<models_dir>/restore/`` next to GFPGAN, and chosen by ``prefer="face_model"``."""
    pytest.importorskip("spandrel_extra_arches")
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormer

    from engine.portraits import default_finisher

    torch.manual_seed(0)
    (tmp_path / "restore").mkdir()
    (tmp_path / "gfpgan").mkdir()
    torch.save(CodeFormer().state_dict(), tmp_path / "restore" / "codeformer-random.pth")
    (tmp_path / "gfpgan" / "GFPGANv1.4.pth").symlink_to(gfpgan_file)

    assert default_finisher(tmp_path).restorer._choose()[0] == "gfpgan"  # GFPGAN stays the default
    restorer = default_finisher(tmp_path, prefer="face_model").restorer
    photo, box = obama
    out = restorer.restore(photo, [box])  # one 512 px CodeFormer pass on the aligned face
    assert restorer._kind == "face_model" and type(restorer._net.model).__name__ == "CodeFormer"
    assert out.size == photo.size
    diff = np.abs(np.asarray(out, float) - np.asarray(photo, float)).sum(axis=2)
    left, top, right, bottom = box
    assert diff[top:bottom, left:right].mean() > 1 and diff[:20, :].max() == 0


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


# --- FFHQ alignment before restoration (engine.align) ---------------------------------------------


@pytest.fixture(scope="module")
def obama():
    from engine.intake.faces import detect_faces
    from tests.support.selfies import PHOTOS_DIR

    photo = Image.open(PHOTOS_DIR / "obama.jpg").convert("RGB")
    faces = detect_faces(photo)
    assert faces
    return photo, faces[0].as_tuple()


class _InvertingRestorer(FaceRestorer):
    """A stand-in network: the "restored" face is the negative of its input (no weights needed)."""

    seen: list

    @property
    def available(self) -> bool:
        return True

    def restore_aligned(self, face: Image.Image) -> Image.Image:
        self.seen = [*getattr(self, "seen", []), face]
        return Image.fromarray(255 - np.asarray(face.convert("RGB").resize((512, 512))))


def test_face_mask_covers_eyes_and_mouth_and_is_zero_at_the_border():
    from engine import align

    mask = align.face_mask(512, 0.6)
    assert mask.max() == pytest.approx(0.6, abs=1e-3)
    assert mask[0].max() == mask[-1].max() == mask[:, 0].max() == mask[:, -1].max() == 0
    assert mask[240, 256] == pytest.approx(0.6, abs=1e-3)  # between the eyes
    assert mask[371, 200] > 0.5 and mask[371, 313] > 0.5  # mouth corners


def test_eye_centres_are_the_middle_of_each_eyes_two_corners_in_dlibs_five_points():
    from engine import align

    # dlib's order: image-right eye outer, inner corner; image-left eye outer, inner corner; nose base
    five = np.array([[48, 20], [38, 22], [8, 20], [18, 18], [28, 40]], float)
    assert align.eye_centres(five).tolist() == [[13, 19], [43, 21]]


def test_alignment_puts_dlibs_five_points_where_the_template_has_them(obama):
    from engine import align

    photo, box = obama
    points = align.find_landmarks(photo, box)
    assert points is not None and points.shape == (5, 2)
    matrix = align.estimate_alignment(points)
    assert matrix is not None
    mapped = points @ matrix[:, :2].T + matrix[:, 2]
    # every one of the five points within 8 px of the template's (512 px face), 5 px on average
    residual = np.hypot(*(mapped - align.DLIB5_TEMPLATE_512).T)
    assert residual.max() < 8 and residual.mean() < 5
    # the eyes land within 10 px of the FFHQ template's eye centres, level: the aligned face is upright
    eyes = align.eye_centres(mapped)
    assert np.hypot(*(eyes - align.FFHQ_TEMPLATE_512[:2]).T).max() < 10
    assert abs(eyes[0, 1] - eyes[1, 1]) < 3


def _footprint(shape: tuple[int, int], matrix: np.ndarray, mask: np.ndarray, grow: int = 2) -> np.ndarray:
    """Pixels of the photo whose aligned position lies on (or within ``grow`` px of) the mask's support."""
    import cv2

    support = cv2.dilate((mask > 0).astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    u = np.rint(matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]).astype(int)
    v = np.rint(matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]).astype(int)
    ok = (u >= 0) & (u < mask.shape[1]) & (v >= 0) & (v < mask.shape[0])
    inside = np.zeros(shape, dtype=bool)
    inside[ok] = support[v[ok], u[ok]] > 0
    return inside


@pytest.mark.slow
def test_aligned_gfpgan_restore_changes_pixels_only_inside_the_feathered_face_mask(gfpgan_file, obama, monkeypatch):
    from engine import align

    photo, box = obama
    restorer = FaceRestorer(RestoreConfig(gfpgan_weights=gfpgan_file, blend=0.6))
    monkeypatch.setattr("engine.restore.square_around", lambda *a: pytest.fail("aligned path expected"))
    out = restorer.restore(photo, [box])
    assert out.size == photo.size
    diff = np.abs(np.asarray(out, float) - np.asarray(photo, float)).sum(axis=2)

    matrix = align.estimate_alignment(align.find_landmarks(photo, box))
    inside = _footprint(diff.shape, matrix, align.face_mask(512, 0.6))
    assert inside.mean() < 0.25  # the face region is a small part of the photo...
    assert diff[~inside].max() == 0  # ...and nothing outside it changed
    eyes = align.eye_centres(align.find_landmarks(photo, box))
    (lx, ly), (rx, ry) = np.rint(eyes).astype(int)
    assert diff[ly - 10:ry + 40, lx:rx].mean() > 1  # the face itself did change
    left, top, right, bottom = box
    assert diff[top:bottom, left:right].mean() > diff[inside].mean() * 0.5


def test_aligned_path_feeds_the_network_an_ffhq_aligned_face(obama):
    from engine import align

    photo, box = obama
    restorer = _InvertingRestorer(RestoreConfig(blend=1.0))
    out = restorer.restore(photo, [box])
    assert len(restorer.seen) == 1 and restorer.seen[0].size == (512, 512)
    matrix = align.estimate_alignment(align.find_landmarks(photo, box))
    expected = align.warp_face(np.asarray(photo), matrix)
    assert np.array_equal(np.asarray(restorer.seen[0]), expected)
    # with blend 1 the middle of the face is the network's output (the negative), warped back
    cx, cy = np.rint(align.eye_centres(align.find_landmarks(photo, box)).mean(axis=0)).astype(int)
    got = np.asarray(out, float)[cy, cx]
    assert np.abs(got - (255 - np.asarray(photo, float)[cy, cx])).max() < 30


@pytest.mark.parametrize("how", ["no_landmarks", "align_off"])
def test_restore_falls_back_to_the_square_crop_without_landmarks(how, monkeypatch):
    from engine import align
    from engine.boxes import square_around

    calls = []
    if how == "no_landmarks":
        monkeypatch.setattr(align, "find_landmarks", lambda image, box: calls.append(box))
    monkeypatch.setattr(align, "warp_face", lambda *a: pytest.fail("square crop expected"))
    restorer = _InvertingRestorer(RestoreConfig(blend=0.5, align=how != "align_off"))
    photo = _noise(300, 360, seed=1)
    box = (100, 90, 200, 210)
    out = restorer.restore(photo, [box])
    assert calls == ([box] if how == "no_landmarks" else [])
    assert len(restorer.seen) == 1  # the square crop, not an aligned face, went through the network
    diff = np.abs(np.asarray(out, float) - np.asarray(photo, float)).sum(axis=2)
    left, top, right, bottom = square_around(box, restorer.config.margin)
    assert diff[130:170, 130:170].mean() > 1
    outside = np.ones_like(diff, dtype=bool)
    outside[max(top, 0):bottom, max(left, 0):right] = False
    assert diff[outside].max() == 0


@pytest.mark.parametrize(("five", "plausible"), [
    # image-right eye outer, inner corner; image-left eye outer, inner corner; nose base
    (((135, 85), (115, 85), (65, 85), (85, 85), (100, 125)), True),
    (((135, 85), (115, 85), (65, 85), (85, 85), (100, 55)), False),  # nose above the eyes
    (((135, 85), (115, 85), (65, 85), (85, 85), (150, 125)), False),  # nose beside the face
    (((165, 85), (145, 85), (35, 85), (55, 85), (100, 135)), False),  # eyes far apart for the box
    (((115, 85), (135, 85), (85, 85), (65, 85), (100, 125)), False),  # corners swapped: inner outside
])
def test_implausible_landmarks_are_rejected(monkeypatch, five, plausible):
    from engine import align
    from engine.intake import faces

    monkeypatch.setattr(faces, "face_landmarks", lambda image, box: [tuple(map(float, p)) for p in five])
    found = align.find_landmarks(_noise(220, 220), (40, 40, 160, 160))
    assert (found is not None) == plausible
    if plausible:
        assert np.allclose(found, five)


# --- a job's portraits restored and upscaled together (one network call, not one per portrait) ------


class _BatchCountingNet(torch.nn.Module):
    """A small fixed network standing in for the restorer's: records the batch sizes it is given."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.batches: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(x.shape[0])
        return torch.sigmoid(self.conv(x))


class _SmallNetRestorer(FaceRestorer):
    @property
    def available(self) -> bool:
        return True

    def _network(self):
        if self._net is None:
            self._net, self._kind = _BatchCountingNet().eval(), "face_model"
        return self._net


def test_restore_many_restores_a_jobs_faces_in_one_batch_as_one_by_one_would(obama):
    photo, box = obama
    other = _noise(300, 360, seed=2)
    restorer = _SmallNetRestorer(RestoreConfig(blend=0.6))
    together = restorer.restore_many([photo, other, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)],
                                     [box, None, (photo.width - box[2], box[1], photo.width - box[0], box[3])])
    assert restorer._net.batches == [2]  # both faces in one forward pass; the faceless image untouched
    assert np.array_equal(np.asarray(together[1]), np.asarray(other))
    alone = restorer.restore(photo, [box])
    assert restorer._net.batches == [2, 1]
    assert np.abs(np.asarray(together[0], float) - np.asarray(alone, float)).max() <= 1  # same result


def test_upscale_many_batches_same_size_portraits_as_one_by_one_would(tmp_path):
    upscaler = Upscaler(_realesrgan_file(tmp_path / "x2.pth", 2), tile=512)
    sizes = []
    model = upscaler.model()
    original = model.model.forward
    model.model.forward = lambda x: (sizes.append(tuple(x.shape)), original(x))[1]
    images = [_noise(48, 40, seed=1), _noise(64, 40, seed=2), _noise(48, 40, seed=3)]
    together = upscaler.upscale_many(images, scale=2)
    assert sorted(sizes) == [(1, 3, 40, 64), (2, 3, 40, 48)]  # same-size portraits in one call
    assert [image.size for image in together] == [(96, 80), (128, 80), (96, 80)]
    for image, batched in zip(images, together, strict=True):
        assert np.abs(np.asarray(upscaler.upscale(image, 2), float) - np.asarray(batched, float)).max() <= 1


@pytest.mark.parametrize("size", [(1024, 1024), (896, 1152), (1152, 896), (768, 1344), (640, 1536)])
def test_on_a_gpu_every_generated_portrait_is_upscaled_as_one_tile(tmp_path, size):
    """Production's upscaler on CUDA: half precision and one tile per SDXL-sized portrait. With
    512 px tiles a 1024² portrait went through the network as 9 overlapping tiles (2.25× the work)."""
    from engine.portraits import default_finisher
    from engine.upscale import tiled

    (tmp_path / "upscale").mkdir()
    _realesrgan_file(tmp_path / "upscale" / "x2.pth", 2)
    upscaler = default_finisher(tmp_path, "cuda").upscaler  # nothing is loaded: no CUDA needed here
    assert upscaler.half and upscaler.device.type == "cuda"
    calls = []
    width, height = size
    tiled(lambda patch: (calls.append(patch.shape), torch.zeros(1, 3, patch.shape[2] * 2, patch.shape[3] * 2))[1],
          torch.zeros(1, 3, height, width), 2, upscaler.tile, upscaler.overlap)
    assert calls == [(1, 3, height, width)]
    assert not Upscaler(None, "cpu").half  # on the CPU: float32 (half convolutions are slow or missing there)


def test_pixels_survive_the_trip_through_tensors_exactly():
    from engine.tensor_image import to_images, to_tensor

    images = [_noise(40, 24, seed=1), _noise(40, 24, seed=2).convert("L")]
    batch = to_tensor(images, torch.device("cpu"))
    assert batch.shape == (2, 3, 24, 40) and batch.dtype == torch.float32 and 0 <= batch.min() <= batch.max() <= 1
    back = to_images(batch)
    assert np.array_equal(np.asarray(back[0]), np.asarray(images[0]))
    assert np.array_equal(np.asarray(back[1]), np.asarray(images[1].convert("RGB")))
    assert np.asarray(to_images(torch.full((1, 3, 2, 2), 1.7))[0]).max() == 255  # out of range is clipped
    assert to_tensor(images[:1], torch.device("cpu"), torch.float16).dtype == torch.float16


def test_channels_last_upscaling_paints_the_same_portrait(tmp_path):
    """The memory format is a speed option (bench/finishing_gpu.py measures it): the pixels stay."""
    weights = _realesrgan_file(tmp_path / "x2.pth", 2)
    image = _noise(48, 40)
    channels_last = Upscaler(weights, tile=512, channels_last=True)
    out = channels_last.upscale(image, scale=2)
    plain = Upscaler(weights, tile=512).upscale(image, scale=2)
    kernels = [p for p in channels_last.model().model.parameters() if p.dim() == 4]
    assert kernels and all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
                           for p in kernels if p.shape[1] > 1 and p.shape[-1] > 1)
    assert out.size == plain.size == (96, 80)
    assert np.abs(np.asarray(out, float) - np.asarray(plain, float)).max() <= 1
