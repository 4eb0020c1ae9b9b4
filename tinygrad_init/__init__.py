"""tinygrad_init: a tiny NumPy autograd engine whose initializers, optimizers,
schedules, norms and search strategies are plugins.

Names are imported lazily, so ``import tinygrad_init`` is cheap and loads no plugin.
"""
from __future__ import annotations

import importlib
from typing import Any

from .hookspecs import hookimpl, hookspec
from .registry import (available, callback, data_initializer, initializer, norm, optimizer,
                       plugins, pruner, schedule, search_strategy)

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "Tensor": "tensor", "no_grad": "tensor", "is_grad_enabled": "tensor",
    "concatenate": "tensor", "stack": "tensor", "where": "tensor", "maximum": "tensor",
    "minimum": "tensor",
    "Initializer": "init", "calculate_gain": "init", "calculate_fans": "init",
    "Schedule": "schedules",
    "Optimizer": "optim", "clip_grad_norm": "optim", "clip_grad_value": "optim",
    "Trainer": "trainer", "History": "trainer",
    "PluginRegistry": "registry", "PluginError": "registry",
}
_SUBMODULES = {"nn", "functional", "datasets", "testing", "search", "validation", "registry",
               "hookspecs", "tensor", "init", "optim", "trainer", "cli", "checkpoint", "plot"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    if name == "F":
        return importlib.import_module(".functional", __name__)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'tinygrad_init' has no attribute {name!r}")


__all__ = ["hookimpl", "hookspec", "initializer", "data_initializer", "optimizer", "schedule",
           "norm", "search_strategy", "pruner", "callback", "plugins", "available", *_LAZY, "F",
           *sorted(_SUBMODULES)]
