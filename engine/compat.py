"""Import shims for old packages on current torchvision."""

from __future__ import annotations

import sys


def patch_torchvision_functional_tensor() -> None:
    """basicsr 1.4.2 (pulled in by gfpgan) imports a module torchvision renamed to ``_functional_tensor``."""
    name = "torchvision.transforms.functional_tensor"
    if name not in sys.modules:
        from torchvision.transforms import _functional_tensor

        sys.modules[name] = _functional_tensor
