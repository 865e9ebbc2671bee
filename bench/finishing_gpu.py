"""The GPU part of finishing a job's portraits: face restoration and 2x upscaling, one network call
per portrait (before) against a job's portraits batched (``Finisher.enhance_many``: faces restored
in one batch, same-size portraits upscaled together), alternately in one run. Then the options
production has off: the upscaler in channels-last memory format, and (on a GPU) both batched paths
again with ``torch.backends.cudnn.benchmark``.

Random weights in the production architectures (GFPGAN v1.4-shaped face restorer at 512 px,
Real-ESRGAN x2 RRDB 23 blocks, both through spandrel as a weights file would be loaded), so the
cost is what users get; no landmarks model is needed (the face box is given, the square-crop
path). The mask/blur/crop part runs on the CPU and is measured by ``bench.finishing``.

    python -m bench.finishing_gpu                         # on the GPU machine (bench/gpu_check.sh)
    python -m bench.finishing_gpu --device cpu --tiny     # the CPU dry run (in the suite)
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import torch
from PIL import Image

from engine.restore import FaceRestorer, RestoreConfig
from engine.upscale import Upscaler

log = logging.getLogger("bench.finishing_gpu")


def _weights(folder: Path, tiny: bool) -> tuple[Path, Path]:
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.GFPGAN import GFPGAN

    torch.manual_seed(0)
    restorer, upscaler = folder / "GFPGANv1.4-random.pth", folder / "RealESRGAN_x2-random.pth"
    torch.save({"params_ema": GFPGAN().state_dict()}, restorer)  # spandrel detects only the full shape
    esrgan = ESRGAN(num_filters=8 if tiny else 64, num_blocks=1 if tiny else 23, scale=2)
    torch.save({"params_ema": esrgan.state_dict()}, upscaler)
    return restorer, upscaler


def _portraits(count: int, size: int) -> tuple[list[Image.Image], list[tuple[int, int, int, int]]]:
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)) for _ in range(count)]
    side = size // 4
    box = (size // 2 - side // 2, size // 4, size // 2 + side // 2, size // 4 + side)
    return images, [box] * count


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _old_to_image(tensor: torch.Tensor, index: int) -> Image.Image:
    """Before engine.tensor_image: the float image read back and scaled to bytes on the CPU."""
    array = tensor[index].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray((array * 255).round().astype(np.uint8))


def _readback(device: torch.device, count: int, side: int, rounds: int) -> dict[str, float]:
    """An upscaler's output batch (fp16, as on the GPU) turned into images, old way and new, alternately."""
    from engine.tensor_image import to_images

    dtype = torch.float16 if device.type == "cuda" else torch.float32
    output = torch.rand(count, 3, side, side, device=device, dtype=dtype)
    paths: dict[str, Callable[[], object]] = {
        "float32 on the CPU": lambda: [_old_to_image(output, i) for i in range(count)],
        "bytes from the device": lambda: to_images(output)}
    times = _alternately(paths, device, rounds, warm_up=True)
    return {name: round(statistics.median(values), 4) for name, values in times.items()}


def _alternately(paths: dict[str, Callable[[], object]], device: torch.device, rounds: int, *,
                 warm_up: bool) -> dict[str, list[float]]:
    """Each path's seconds per round, the paths taking turns so that drift hits them all."""
    if warm_up:  # load, kernels (and cuDNN's choices where it benchmarks)
        for run in paths.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, run in paths.items():
            _sync(device)
            started = time.perf_counter()
            run()
            _sync(device)
            times[name].append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="small networks and portraits (the CPU dry run)")
    parser.add_argument("--portraits", type=int, default=4, help="a job's portraits")
    parser.add_argument("--size", type=int, default=1024, help="generated portrait side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--profile", type=Path, default=None,
                        help="write torch.profiler's op tables of one batched restore + upscale here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    device = torch.device(args.device)
    size = 64 if args.tiny else args.size
    if args.tiny:  # the full-size face restorer (spandrel detects no other shape) costs ~5 s a call on a CPU
        args.portraits, args.rounds = 2, 1
    with TemporaryDirectory() as folder:
        restorer_file, upscaler_file = _weights(Path(folder), args.tiny)
        restorer = FaceRestorer(RestoreConfig(face_model_weights=restorer_file, prefer="face_model", align=False), device)
        upscaler = Upscaler(upscaler_file, device)  # production's tile and precision for this device
        channels_last = Upscaler(upscaler_file, device, channels_last=True)  # the option production has off
        images, boxes = _portraits(args.portraits, size)

        def one_by_one() -> None:
            for image, box in zip(images, boxes, strict=True):
                upscaler.upscale(restorer.restore(image, [box]), 2)

        split: dict[str, list[float]] = {"restore": [], "upscale": []}
        restored: list[Image.Image] = []  # the last batched restore's portraits, for the upscaler's options

        def batched() -> None:
            _sync(device)
            started = time.perf_counter()
            restored[:] = restorer.restore_many(images, boxes)
            _sync(device)
            middle = time.perf_counter()
            upscaler.upscale_many(restored, 2)
            _sync(device)
            split["restore"].append(middle - started)
            split["upscale"].append(time.perf_counter() - middle)

        paths = {"one by one": one_by_one, "batched": batched}
        times = _alternately(paths, device, args.rounds, warm_up=not args.tiny)
        # the options production has off, on the upscaler alone (the restorer is the same either way)
        upscales = {"upscale": lambda: upscaler.upscale_many(restored, 2),
                    "upscale, channels-last": lambda: channels_last.upscale_many(restored, 2)}
        options = _alternately(upscales, device, args.rounds, warm_up=not args.tiny)
        if device.type == "cuda":  # cuDNN timing each convolution's algorithms for these fixed sizes
            torch.backends.cudnn.benchmark = True
            tuned = _alternately({"batched": lambda: upscaler.upscale_many(restorer.restore_many(images, boxes), 2),
                                  **upscales}, device, args.rounds, warm_up=True)
            torch.backends.cudnn.benchmark = False
            options |= {f"{name}, cudnn.benchmark": values for name, values in tuned.items()}
        readback = _readback(device, args.portraits, 2 * size, args.rounds)
        _report(args, device, size, times, split, readback, options)  # before the profile: it may be slow or fail
        if args.profile is not None:
            from bench.op_profile import write_op_profile

            try:
                write_op_profile(lambda: upscaler.upscale_many(restorer.restore_many(images, boxes), 2), device,
                                 args.profile)
            except Exception:
                log.exception("the profile of one batched restore + upscale failed; the figures above stand")
    return 0


def _report(args: argparse.Namespace, device: torch.device, size: int, times: dict[str, list[float]],
            split: dict[str, list[float]], readback: dict[str, float], options: dict[str, list[float]]) -> None:
    parts = {name: round(statistics.median(values[-args.rounds:]), 4) for name, values in split.items()}
    figures = {name: round(statistics.median(values), 4) for name, values in times.items()}
    per_portrait = {name: round(value / args.portraits, 4) for name, value in figures.items()}
    log.info("[finishing on %s] %d portraits %d² → %d²: one by one %.3f s, batched %.3f s (%.3f s a portrait), %.2fx",
             device, args.portraits, size, 2 * size, figures["one by one"], figures["batched"],
             per_portrait["batched"], figures["one by one"] / max(figures["batched"], 1e-9))
    log.info("[finishing on %s] batched: restoring %.3f s, upscaling %.3f s", device, parts["restore"], parts["upscale"])
    optional = {name: round(statistics.median(values), 4) for name, values in options.items()}
    for name, value in optional.items():
        if name == "upscale":
            log.info("[finishing on %s] upscale alone (batched): %.3f s for %d portraits", device, value, args.portraits)
            continue
        reference = optional["upscale"] if name.startswith("upscale") else figures["batched"]
        log.info("[finishing on %s] %s: %.3f s for %d portraits, %.2fx %s", device, name, value, args.portraits,
                 reference / max(value, 1e-9), "the plain upscale" if name.startswith("upscale") else "batched")
    log.info("[finishing on %s] %d upscaled portraits read back to images: as float32 on the CPU %.3f s, "
             "as bytes from the device %.3f s", device, args.portraits, readback["float32 on the CPU"],
             readback["bytes from the device"])
    if args.json:
        args.json.write_text(json.dumps({"device": str(device), "portraits": args.portraits, "size": size,
                                         "job_seconds": figures, "per_portrait": per_portrait,
                                         "batched_parts_seconds": parts, "readback_seconds": readback,
                                         "options_seconds": optional}, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
