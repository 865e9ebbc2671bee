"""Scratch folders: each job run writes under a folder of its own, named by what no other job can
have (its id, never handed out twice, and its 128-bit correlation id), that goes when the job ends.

A job's folder lives while the job may still run (a retry on this machine resumes its training
checkpoint from it) and is removed when the job reaches a final state, or when its rows are gone
(the user deleted everything). A worker sweeps the folders of jobs that are over at start and
periodically (a job whose retry ran on another worker left its folder here).
Files are written to a temporary name and renamed, so a killed writer never leaves half a file.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

_FOLDER = re.compile(r"^job-(\d+)-([0-9a-f]{8,64})$")


def folder_name(job_id: int, correlation_id: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{8,64}", correlation_id):
        raise ValueError(f"not a correlation id: {correlation_id!r}")
    return f"job-{int(job_id)}-{correlation_id}"


def job_folder(root: Path, job_id: int, correlation_id: str) -> Path:
    return Path(root) / folder_name(job_id, correlation_id)


def parse_folder(name: str) -> tuple[int, str] | None:
    """(job id, correlation id) of a job folder's name; None for anything else."""
    match = _FOLDER.match(name)
    return (int(match.group(1)), match.group(2)) if match else None


def remove_job_folder(root: Path, job_id: int, correlation_id: str) -> bool:
    folder = job_folder(root, job_id, correlation_id)
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def entries(root: Path) -> list[str]:
    root = Path(root)
    return sorted(entry.name for entry in root.iterdir()) if root.is_dir() else []


def sweep(root: Path, names: Iterable[str], keep: Iterable[tuple[int, str]]) -> list[str]:
    """Remove the entries ``names`` of ``root`` (listed by ``entries`` *before* ``keep`` was read,
    so that a folder made meanwhile is never among them) but the folders of the jobs in ``keep``
    (those that may still run); returns the names removed. Folders of an older naming go too."""
    root = Path(root)
    wanted = {folder_name(job_id, cid) for job_id, cid in keep if re.fullmatch(r"[0-9a-f]{8,64}", cid)}
    removed = []
    for name in names:
        entry = root / name
        if name in wanted or not (entry.exists() or entry.is_symlink()):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


def write_atomically(path: Path, data: bytes) -> Path:
    """``data`` at ``path``, or ``path`` untouched: written to a temporary file beside it, flushed,
    then renamed over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
