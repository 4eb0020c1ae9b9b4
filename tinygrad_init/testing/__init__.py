"""Testing tools: gradcheck, check_op, hypothesis strategies and the plugin conformance kit."""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "gradcheck": "gradients", "numerical_grad": "gradients", "GradcheckError": "gradients",
    "check_op": "gradients",
    "shapes": "strategies", "broadcastable_shapes": "strategies", "arrays": "strategies",
    "conformance_cases": "conformance", "parametrize_with_checks": "conformance",
    "ConformanceCase": "conformance",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'tinygrad_init.testing' has no attribute {name!r}")


__all__ = list(_LAZY)
