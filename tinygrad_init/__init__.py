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
    "minimum": "tensor", "op": "tensor", "OpError": "tensor",
    "Initializer": "init", "calculate_gain": "init", "calculate_fans": "init",
    "Schedule": "schedules",
    "Optimizer": "optim", "clip_grad_norm": "optim", "clip_grad_value": "optim",
    "Trainer": "trainer", "History": "trainer",
    "StopReason": "trainer", "TrainingDiverged": "trainer", "NothingToTrain": "trainer",
    "HyperparameterChanged": "trainer", "PerEpoch": "optim",
    "PluginRegistry": "registry", "PluginError": "registry",
}
# the op modules (tinygrad_init/ops/, table in docs/ops.md): public name -> module
for _mod, _names in {
    "compare": "lt le gt ge eq ne less less_equal greater greater_equal equal not_equal "
               "logical_not logical_and logical_or logical_xor isnan isinf isfinite any all "
               "argmax argmin sort topk argsort take_along_axis",
    "shape": "cat squeeze unsqueeze expand broadcast_to permute repeat tile flip roll split "
             "chunk unflatten tril triu diagonal",
    "reduce": "std logsumexp prod cumsum cumprod norm",
    "math": "sin cos tan sinh cosh asin acos atan arcsin arccos arctan square reciprocal rsqrt "
            "exp2 log2 log10 log1p expm1 sign erf floor ceil round trunc remainder mod "
            "floor_divide atan2 arctan2 logaddexp lerp",
    "activation": "gelu silu elu selu celu softplus mish hardswish hardsigmoid hardtanh relu6 "
                  "logsigmoid softsign prelu",
    "index": "gather scatter_add index_select masked_fill one_hot",
    "einsum": "einsum",
}.items():
    _LAZY.update(dict.fromkeys(_names.split(), f"ops.{_mod}"))
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


def __dir__() -> list[str]:
    """The module's names and the lazily loaded ones (``Tensor``, ``Trainer``, ``nn``...), so
    completion finds them before first use."""
    return sorted(set(globals()) | set(__all__))


__all__ = ["hookimpl", "hookspec", "initializer", "data_initializer", "optimizer", "schedule",
           "norm", "search_strategy", "pruner", "callback", "plugins", "available", *_LAZY, "F",
           *sorted(_SUBMODULES)]
