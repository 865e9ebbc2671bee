"""Training checkpoints: LoRA tensors + optimizer state + step, written atomically, newest kept."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"


@dataclass(frozen=True)
class Checkpoint:
    step: int
    folder: Path

    def lora_state(self, name: str) -> dict[str, torch.Tensor]:
        return load_file(self.folder / f"{name}.safetensors")

    def optimizer_state(self) -> dict[str, Any]:
        return torch.load(self.folder / "optimizer.pt", map_location="cpu", weights_only=True)


def _root(output_dir: Path) -> Path:
    return Path(output_dir) / CHECKPOINTS


def save_checkpoint(output_dir: Path, step: int, fingerprint: str, lora_states: dict[str, dict[str, torch.Tensor]],
                    optimizer_state: dict[str, Any]) -> Path:
    """Write ``checkpoints/step-NNNNNN`` via a temporary folder and a rename, then drop older ones."""
    root = _root(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name, state in lora_states.items():
        save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, tmp / f"{name}.safetensors")
    torch.save(optimizer_state, tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, "fingerprint": fingerprint}))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in root.glob("step-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    log.debug("checkpoint at step %d in %s", step, final)
    return final


def latest_checkpoint(output_dir: Path, fingerprint: str) -> Checkpoint | None:
    """The newest complete checkpoint of the same run, or None."""
    for folder in sorted(_root(output_dir).glob("step-*"), reverse=True):
        try:
            state = json.loads((folder / "state.json").read_text())
        except (OSError, ValueError):
            continue
        if state.get("fingerprint") != fingerprint:
            log.warning("ignoring checkpoint %s: it belongs to a different training run", folder)
            continue
        return Checkpoint(int(state["step"]), folder)
    return None


def clear_checkpoints(output_dir: Path) -> None:
    shutil.rmtree(_root(output_dir), ignore_errors=True)
