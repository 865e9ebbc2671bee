"""A small file must not take gigabytes: checking any one photo the limits allow peaks under 400 MB
(a 132 KB 16-bit grey PNG of 7745² peaked at 2.0 GB, a float TIFF of 6000² at 1.0 GB)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
# The peak of this process's own memory (VmHWM): getrusage's ru_maxrss would also count the forking
# parent's memory (a whole test session's) that the child had before it exec'd Python.
MEASURE = """
import sys
from engine.intake import IntakeConfig, check_photo
check = check_photo(open(sys.argv[1], 'rb').read(), filename='x', config=IntakeConfig())
peak_kb = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM:'))
print(check.code, peak_kb // 1024)
"""


def _write(path: Path, kind: str) -> Path:
    if kind == "16-bit grey PNG, 60 MP":
        pixels = np.zeros((7745, 7745), np.uint16)
        pixels[1000:2000, 1000:2000] = 40000
        Image.fromarray(pixels).save(path, compress_level=1)
    else:
        pixels = np.zeros((6000, 6000), np.float32 if kind.startswith("float") else np.int32)
        pixels[100:200, 100:200] = 0.5 if kind.startswith("float") else 60000
        Image.fromarray(pixels).save(path, compression="tiff_deflate")
    return path


@pytest.mark.parametrize("kind", ["16-bit grey PNG, 60 MP", "float TIFF, 36 MP", "int32 TIFF, 36 MP"])
def test_checking_a_high_bit_depth_picture_peaks_under_400_mb(tmp_path: Path, kind: str) -> None:
    path = _write(tmp_path / ("picture.png" if "PNG" in kind else "picture.tif"), kind)
    result = subprocess.run([sys.executable, "-c", MEASURE, str(path)], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    code, peak_mb = result.stdout.split()
    assert int(peak_mb) < 400, f"{kind}: peak {peak_mb} MB ({code})"
