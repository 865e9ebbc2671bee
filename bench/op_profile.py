"""torch.profiler's op tables of one call, written to a file: where a part's time goes on the
device (kernels) and on the CPU (launches, conversions), for the GPU check's rare minutes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_op_profile(run: Callable[[], Any], device: Any, path: Path, rows: int = 40) -> None:
    """Profile one ``run()`` (the device synchronised at its end); tables by device time where
    there is a GPU, and by CPU time."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        run()
        if cuda:
            torch.cuda.synchronize(device)
    averages = prof.key_averages()
    tables = []
    if cuda:
        tables.append("by device time\n" + averages.table(sort_by="self_device_time_total", row_limit=rows))
    tables.append("by CPU time\n" + averages.table(sort_by="self_cpu_time_total", row_limit=rows))
    path.write_text(f"torch {torch.__version__}, {device}\n\n" + "\n\n".join(tables))
