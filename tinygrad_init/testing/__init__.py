"""Testing tools: gradcheck, hypothesis strategies and the plugin conformance kit."""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "gradcheck": "gradcheck", "numerical_grad": "gradcheck", "GradcheckError": "gradcheck",
    "shapes": "strategies", "broadcastable_shapes": "strategies", "arrays": "strategies",
    "conformance_cases": "conformance", "parametrize_with_checks": "conformance",
    "ConformanceCase": "conformance",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'tinygrad_init.testing' has no attribute {name!r}")


__all__ = list(_LAZY)
