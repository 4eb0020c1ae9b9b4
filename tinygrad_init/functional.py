"""Losses, penalties, metrics and functional forms of layers (``tgi.F``).

Losses take Tensors (or arrays) and return a Tensor; ``reduction`` is ``"mean"`` (default),
``"sum"`` or ``"none"``, as in PyTorch. Targets are data: they never receive a gradient.

============================================  ============================================
``cross_entropy(z, t)``                        ``-log_softmax(z)[i, t_i]``, ``z`` (N, C)
``binary_cross_entropy_with_logits(x, y)``     ``max(x, 0) - x*y + log(1 + exp(-|x|))``
``mse_loss(x, y)``                             ``(x - y)**2``
``l1_loss(x, y)``                              ``|x - y|``
``l1_penalty(params)``                         ``sum_p sum |p|``
``l2_penalty(params)``                         ``sum_p sum p**2``  (no 1/2, see below)
============================================  ============================================
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .tensor import Tensor

__all__ = ["cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss",
           "l1_penalty", "l2_penalty", "accuracy", "conv2d", "max_pool2d", "avg_pool2d",
           "conv1d", "conv_transpose2d", "max_pool1d", "avg_pool1d", "adaptive_avg_pool2d", "pad",
           "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax", "dropout"]

_REDUCTIONS = ("mean", "sum", "none")


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _data(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _reduce(fn: str, loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{fn}: reduction={reduction!r} is invalid: must be one of "
                     + ", ".join(repr(r) for r in _REDUCTIONS))


def _same_shape(fn: str, a: Any, b: np.ndarray, an: str = "input", bn: str = "target") -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{fn}: {an} shape {tuple(a.shape)} and {bn} shape {tuple(b.shape)} "
                         "differ (no broadcasting: pass matching shapes)")


def _class_targets(fn: str, targets: Any, n: int, num_classes: int) -> np.ndarray:
    t = _data(targets)
    if t.shape != (n,):
        raise ValueError(f"{fn}: targets shape {t.shape} does not match logits: expected ({n},) "
                         f"class indices for logits of {n} rows")
    if t.dtype.kind == "f":
        bad = ~np.isfinite(t) | (t != np.round(np.nan_to_num(t)))
        if bad.any():
            raise ValueError(f"{fn}: target {t[bad][0].item()!r} is not an integer class index "
                             f"(num_classes={num_classes})")
    elif t.dtype.kind not in "iub":
        raise ValueError(f"{fn}: targets of dtype {t.dtype} are not integer class indices")
    out = (t < 0) | (t >= num_classes)  # before the cast: 1e20 or 2**63 would wrap around
    if out.any():
        v = t[out][0].item()
        raise ValueError(f"{fn}: target {int(v) if float(v).is_integer() else v!r} is out of range for "
                         f"num_classes={num_classes} (valid: 0..{num_classes - 1})")
    return t.astype(np.int64)


def _numeric(fn: str, y: np.ndarray, what: str = "target") -> np.ndarray:
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {what} must be numbers, got dtype {y.dtype} "
                        f"(e.g. {y.reshape(-1)[:1].tolist()})")
    return y


def cross_entropy(logits: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy from raw logits and integer class targets (PyTorch's
    ``F.cross_entropy`` without weights/label smoothing).

    ``loss_i = -log_softmax(logits)[i, t_i] = logsumexp(logits_i) - logits[i, t_i]``, computed
    with the max subtracted first, so logits of any magnitude (1e4, -1e4) stay finite.

    :param logits: Tensor ``(N, C)``.
    :param targets: ``(N,)`` integer class indices in ``0..C-1`` (integral floats accepted).
    :raises ValueError: a target out of range or not an integer (naming the value and C), or a
        shape mismatch (naming both shapes).
    """
    fn = "cross_entropy"
    logits = _t(logits)
    if logits.ndim != 2:
        raise ValueError(f"{fn}: logits shape {tuple(logits.shape)} is not (N, num_classes)")
    n, c = logits.shape
    t = _class_targets(fn, targets, n, c)
    onehot = np.zeros((n, c), dtype=logits.dtype)
    onehot[np.arange(n), t] = 1
    # multiplying by a one-hot mask selects -log p[t] and keeps the engine's gradient exact
    loss = -(logits.log_softmax(axis=1) * Tensor(onehot)).sum(axis=1)
    return _reduce(fn, loss, reduction)


def binary_cross_entropy_with_logits(logits: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """Sigmoid + binary cross-entropy in one stable expression (PyTorch's
    ``F.binary_cross_entropy_with_logits``)::

        loss = max(x, 0) - x*y + log(1 + exp(-|x|))     ( = -y log s(x) - (1-y) log(1-s(x)) )

    ``targets`` ``y`` in ``[0, 1]`` (soft labels allowed), same shape as ``logits``.
    ``max(x, 0)`` is written ``(x + |x|)/2`` so that the gradient at ``x = 0`` is exactly
    ``sigmoid(0) - y`` (the kinks of ``max`` and ``|x|`` cancel there).
    """
    fn = "binary_cross_entropy_with_logits"
    x = _t(logits)
    y = _numeric(fn, _data(targets), "targets")
    if tuple(x.shape) != y.shape:
        raise ValueError(f"{fn}: logits shape {tuple(x.shape)} and targets shape {y.shape} differ; "
                         "it takes one target in [0, 1] per logit (class indices for a model with "
                         "2+ outputs: cross_entropy; multi-label (N, C) targets: (N, C) logits)")
    bad = ~((y >= 0) & (y <= 1))  # NaN too
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        raise ValueError(f"{fn}: targets must be in [0, 1]; target {y[i].item()!r} at index "
                         f"{i if len(i) != 1 else i[0]} is not")
    yt = Tensor(y.astype(x.dtype))
    ax = x.abs()
    e = (-ax).exp()
    # log(1 + e) loses relative precision for tiny e; add the (gradient-free) difference to
    # np.log1p so the value is exact while the engine differentiates log(1 + e)
    fix = np.log1p(e.data) - np.log(1.0 + e.data)
    loss = (x + ax) * 0.5 - x * yt + ((e + 1.0).log() + Tensor(fix.astype(x.dtype)))
    return _reduce(fn, loss, reduction)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """``(input - target)**2``, reduced (PyTorch ``F.mse_loss``). Shapes must match."""
    x = _t(input)
    y = _numeric("mse_loss", _data(target))
    _same_shape("mse_loss", x, y)
    d = x - Tensor(y.astype(x.dtype))
    return _reduce("mse_loss", d * d, reduction)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """``|input - target|``, reduced (PyTorch ``F.l1_loss``). Shapes must match."""
    x = _t(input)
    y = _numeric("l1_loss", _data(target))
    _same_shape("l1_loss", x, y)
    return _reduce("l1_loss", (x - Tensor(y.astype(x.dtype))).abs(), reduction)


def _params(fn: str, params: Any) -> list[Tensor]:
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Tensor):
        params = [params]
    out = list(params)
    for i, p in enumerate(out):
        if not isinstance(p, Tensor):
            raise TypeError(f"{fn}: item {i} is {type(p).__name__}, not a Tensor/Parameter")
    return out


def l1_penalty(params: Iterable[Tensor] | Any) -> Tensor:
    """``sum over params of sum |w|`` (Lasso). ``params``: Tensors, or a Module (all its
    parameters — pass e.g. ``[m.weight for m in layers]`` to leave biases out).
    Add ``lam * l1_penalty(params)`` to the loss; its gradient is ``lam * sign(w)``."""
    ps = _params("l1_penalty", params)
    total = Tensor(np.zeros((), dtype=ps[0].dtype if ps else np.float32))
    for p in ps:
        total = total + p.abs().sum()
    return total


def l2_penalty(params: Iterable[Tensor] | Any) -> Tensor:
    """``sum over params of sum w**2`` — the squared L2 norm, **without** a factor 1/2.

    Its gradient is ``2 w``. Conversions:

    - PyTorch ``SGD(weight_decay=wd)`` adds ``wd * w`` to the gradient, i.e. the penalty
      ``0.5 * wd * l2_penalty(params)``.
    - The course form ``(lambda / (2 m)) * ||W||_F^2`` (m = batch size) is
      ``lambda / (2 * m) * l2_penalty(weights)``.

    ``params``: Tensors, or a Module (all its parameters, biases included).
    """
    ps = _params("l2_penalty", params)
    total = Tensor(np.zeros((), dtype=ps[0].dtype if ps else np.float32))
    for p in ps:
        total = total + (p * p).sum()
    return total


def accuracy(logits: Any, targets: Any) -> float:
    """Fraction of rows whose prediction equals the target, as a Python float.

    ``(N, C)`` logits with ``C >= 2``: prediction ``argmax`` over axis 1 (first on ties).
    ``(N,)`` or ``(N, 1)`` logits: binary, prediction ``logit > 0``.
    """
    z = _data(logits)
    t = _data(targets).reshape(-1)
    if z.ndim == 2 and z.shape[1] >= 2:
        pred = z.argmax(axis=1)
    elif z.ndim == 1 or (z.ndim == 2 and z.shape[1] == 1):
        pred = (z.reshape(-1) > 0).astype(np.int64)
    else:
        raise ValueError(f"accuracy: logits shape {z.shape} is not (N, C) or (N,)")
    if len(t) != len(pred):
        raise ValueError(f"accuracy: logits shape {z.shape} and targets shape "
                         f"{_data(targets).shape} have different numbers of samples")
    if len(t) == 0:
        raise ValueError("accuracy: no samples")
    return float(np.mean(pred == t))


# ---------------------------------------------------------------------- functional layers
from .conv import (adaptive_avg_pool2d, avg_pool1d, avg_pool2d, conv1d, conv2d,  # noqa: E402
                   conv_transpose2d, max_pool1d, max_pool2d)


def pad(x: Any, pad: Any, mode: str = "constant", value: float = 0.0) -> Tensor:
    """PyTorch's ``F.pad``: ``pad`` lists (before, after) pairs from the LAST axis backwards,
    ``(left, right, top, bottom, ...)``; ``mode`` ``"constant"`` (with ``value``), ``"reflect"``,
    ``"replicate"`` or ``"circular"`` (see :func:`tinygrad_init.conv.pad`)."""
    from . import conv
    x = _t(x)
    p = tuple(pad) if isinstance(pad, (tuple, list)) else None
    if p is None or len(p) % 2 or len(p) // 2 > x.ndim or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in p):
        raise ValueError(f"pad: pad={pad!r} is invalid for input shape {tuple(x.shape)}: must be "
                         f"an even-length sequence of ints, (before, after) per axis from the last")
    width = [(0, 0)] * (x.ndim - len(p) // 2) + [(int(p[i]), int(p[i + 1]))
                                                  for i in range(len(p) - 2, -1, -2)]
    return conv.pad(x, width, mode, value)


def relu(x: Any) -> Tensor:
    return _t(x).relu()


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    return _t(x).leaky_relu(negative_slope)


def sigmoid(x: Any) -> Tensor:
    return _t(x).sigmoid()


def tanh(x: Any) -> Tensor:
    return _t(x).tanh()


def softmax(x: Any, axis: int = -1) -> Tensor:
    return _t(x).softmax(axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    return _t(x).log_softmax(axis=axis)


def dropout(x: Any, p: float = 0.5, training: bool = True, rng: Any = None) -> Tensor:
    """Inverted dropout (see :class:`tinygrad_init.nn.Dropout`); identity if not training."""
    from .nn import Dropout
    d = Dropout(p, rng=rng)
    d.training = training
    return d(x)
