"""Data-dependent initializer ``lsuv``: layer-sequential unit-variance init.

Registers (hook ``tinygrad_init_add_data_initializers``):

- ``lsuv(tol=0.1, max_iter=10, init="orthogonal", target_var=1.0)``
  Mishkin & Matas 2015, "All you need is a good init": every ``Linear`` and
  ``Conv2d`` weight is first drawn with ``init`` (orthogonal; ``init=None`` keeps
  the current weights); then, layer by layer in forward order, the batch ``x``
  is passed through the model and the layer's weight is divided by
  ``sqrt(var(output) / target_var)`` until ``|var(output) - target_var| < tol``
  or ``max_iter`` rescalings were done. ``output`` is the layer's own output
  (before the activation that follows it). Biases are left as they are.

``apply(model, x, *, rng) -> report``: ``report = {"init": ..., "layers": [{"name",
"type", "shape", "var_before", "var_after", "iterations", "converged"}, ...]}``.
A batch the model cannot take raises ``ValueError`` before anything changes; if
anything fails midway, the model is restored.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

import tinygrad_init as tgi
from tinygrad_init import hookimpl
from tinygrad_init.nn import Conv2d, Linear, Module, evaluating
from tinygrad_init.validation import integer, positive


def _check_batch(name: str, model: Any, x: Any) -> np.ndarray:
    if not isinstance(model, Module):
        raise TypeError(f"{name}: model must be a tinygrad_init.nn.Module, got {type(model).__name__}")
    arr = x.data if isinstance(x, tgi.Tensor) else x
    try:
        arr = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: the batch must be a numeric array, got {type(x).__name__}") from None
    if arr.ndim < 1 or arr.shape[0] < 2:
        raise ValueError(f"{name}: the batch of shape {arr.shape} needs at least 2 samples")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: the batch contains NaN or inf")
    try:
        _probe(model, arr.astype(np.float32))
    except Exception as exc:
        raise ValueError(f"{name}: the batch of shape {arr.shape} does not fit the model "
                         f"(nothing was changed): {exc}") from exc
    return arr


def _probe(model: Module, arr: np.ndarray) -> None:
    """One forward pass that changes nothing (eval mode: BatchNorm's statistics stay)."""
    with evaluating(model), tgi.no_grad():
        model(tgi.Tensor(arr))


class _Recorder:
    """Records the layers' outputs through forward hooks while the ``with`` block runs."""

    def __init__(self, layers):
        self.layers, self.outputs, self.order, self.handles = layers, {}, [], []

    def _record(self, layer, inputs, out):
        if id(layer) not in self.outputs:
            self.order.append(layer)
        self.outputs[id(layer)] = out.data

    def __enter__(self):
        self.handles = [layer.register_forward_hook(self._record) for layer in self.layers]
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


class LSUV:
    """Layer-sequential unit variance (Mishkin & Matas 2015).

    For each Linear/Conv2d layer L in forward order: repeat
    ``W_L <- W_L / sqrt(Var[L(x)] / target_var)`` until ``|Var[L(x)] - target_var| < tol``
    or ``max_iter`` times, where ``Var`` is over every element of the layer's output
    on batch ``x``. Weights are pre-initialized by ``init`` (default orthogonal).
    """

    name = "lsuv"
    conformance_examples = [{}, {"init": None, "tol": 0.05}]

    def __init__(self, tol: float = 0.1, max_iter: int = 10, init: Any = "orthogonal",
                 target_var: float = 1.0):
        self.tol = positive(self.name, "tol", tol)
        self.max_iter = integer(self.name, "max_iter", max_iter, minimum=1)
        self.target_var = positive(self.name, "target_var", target_var)
        self.init = None if init is None else tgi.initializer(init)
        self._init_name = init if isinstance(init, str) or init is None else repr(init)

    def __repr__(self):
        return (f"lsuv(tol={self.tol}, max_iter={self.max_iter}, init={self._init_name!r}, "
                f"target_var={self.target_var})")

    def __call__(self, model: Module, x: Any, *, rng: Any = None) -> dict:
        arr = _check_batch(self.name, model, x).astype(np.float32)
        rng = tgi.init.as_generator(rng)
        names = {id(m): n for n, m in model.named_modules()}
        layers = [m for m in model.modules() if isinstance(m, (Linear, Conv2d))]
        if not layers:
            raise ValueError(f"{self.name}: the model has no Linear or Conv2d layer")
        saved = model.state_dict()
        try:
            report = self._run(model, arr, rng, names, layers)
        except BaseException:
            model.load_state_dict(saved)
            raise
        # The measuring passes ran in the model's own mode (BatchNorm normalizes with batch
        # statistics, as in training) but must not leave their running statistics behind.
        buffers = {k: saved[k] for k, _ in model.named_buffers()}
        if buffers:
            model.load_state_dict(buffers, strict=False)
        return report

    def _run(self, model, arr, rng, names, layers) -> dict:
        if self.init is not None:
            for layer in layers:
                w = layer.weight
                w.data = np.asarray(self.init(w.shape, rng, w.dtype), dtype=w.dtype)
        with _Recorder(layers) as rec, tgi.no_grad():
            model(tgi.Tensor(arr))
            order = list(rec.order)  # forward order; layers never called are skipped
            report = []
            for layer in order:
                var = before = float(np.var(rec.outputs[id(layer)], dtype=np.float64))
                it = 0
                while abs(var - self.target_var) >= self.tol and it < self.max_iter:
                    if not var > 0 or not math.isfinite(var):
                        break  # a constant (or non-finite) output cannot be rescaled
                    w = layer.weight
                    w.data = (w.data / math.sqrt(var / self.target_var)).astype(w.dtype)
                    it += 1
                    model(tgi.Tensor(arr))
                    var = float(np.var(rec.outputs[id(layer)], dtype=np.float64))
                report.append({"name": names.get(id(layer), ""), "type": type(layer).__name__,
                               "shape": tuple(layer.weight.shape), "var_before": before,
                               "var_after": var, "iterations": it,
                               "converged": abs(var - self.target_var) < self.tol})
        return {"init": self._init_name, "layers": report}


@hookimpl
def tinygrad_init_add_data_initializers():
    return {"lsuv": LSUV}
