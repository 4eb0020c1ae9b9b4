"""Losses, penalties, metrics and functional forms of layers (``tgi.F``).

Losses take Tensors (or arrays) and return a Tensor; ``reduction`` is ``"mean"`` (default),
``"sum"`` or ``"none"``, as in PyTorch. Targets are data: they never receive a gradient.

============================================  ============================================
``cross_entropy(z, t)``                        ``-log_softmax(z)[i, t_i]``, ``z`` (N, C)
``binary_cross_entropy_with_logits(x, y)``     ``max(x, 0) - x*y + log(1 + exp(-|x|))``
``mse_loss(x, y)``                             ``(x - y)**2``
``l1_loss(x, y)``                              ``|x - y|``
``nll_loss(lp, t)``                            ``-w[t_i] lp[i, t_i]``
``binary_cross_entropy(p, y)``                 ``-w (y log p + (1-y) log(1-p))``
``huber_loss(x, y, delta)``                    ``0.5 d^2`` or ``delta (|d| - delta/2)``
``smooth_l1_loss(x, y, beta)``                 ``huber_loss(x, y, beta) / beta``
``kl_div(lp, q)``                              ``q (log q - lp)``
``l1_penalty(params)``                         ``sum_p sum |p|``
``l2_penalty(params)``                         ``sum_p sum p**2``  (no 1/2, see below)
============================================  ============================================
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .tensor import Tensor, op

__all__ = ["cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss",
           "nll_loss", "binary_cross_entropy", "huber_loss", "smooth_l1_loss", "kl_div",
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


def _class_targets(fn: str, targets: Any, shape: tuple, num_classes: int,
                   ignore_index: int | None = None) -> np.ndarray:
    t = _data(targets)
    if t.dtype.kind == "f":
        bad = ~np.isfinite(t) | (t != np.round(np.nan_to_num(t)))
        if bad.any():
            raise ValueError(f"{fn}: target {t[bad][0].item()!r} is not an integer class index "
                             f"(num_classes={num_classes})")
    elif t.dtype.kind not in "iub":
        raise ValueError(f"{fn}: targets of dtype {t.dtype} are not integer class indices")
    out = ((t < 0) | (t >= num_classes)) & (t != ignore_index)  # before the cast: 1e20 or
    if out.any():                                                 # 2**63 would wrap around
        v = t[out][0].item()
        raise ValueError(f"{fn}: target {int(v) if float(v).is_integer() else v!r} is out of range for "
                         f"num_classes={num_classes} (valid: 0..{num_classes - 1}"
                         + (f", or ignore_index={ignore_index})" if ignore_index is not None else ")"))
    return t.astype(np.int64)


def _numeric(fn: str, y: np.ndarray, what: str = "target") -> np.ndarray:
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {what} must be numbers, got dtype {y.dtype} "
                        f"(e.g. {y.reshape(-1)[:1].tolist()})")
    return y


def _class_weight(fn: str, weight: Any, c: int, dtype: Any) -> np.ndarray:
    if weight is None:
        return np.ones(c, dtype)
    w = _data(weight)
    if w.shape != (c,) or w.dtype.kind not in "biuf" or not np.isfinite(w).all():
        raise ValueError(f"{fn}: weight must be {c} finite numbers (one per class), got shape "
                         f"{w.shape}")
    return w.astype(dtype)


def _nll(fn: str, logp: Tensor, targets: Any, weight: Any, ignore_index: int, reduction: str,
         smoothing: float = 0.0) -> Tensor:
    """``-sum_c K[n, c] logp[n, c]`` with the coefficients K of PyTorch's nll_loss /
    cross_entropy: class indices (weighted, ``ignore_index`` dropped, ``mean`` divides by the
    summed weights of the kept targets) or class probabilities (``mean`` divides by the
    number of elements), label smoothing mixing in ``smoothing / C`` of every class."""
    if reduction not in _REDUCTIONS:
        _reduce(fn, logp, reduction)
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing={smoothing!r} is invalid: must be in [0, 1]")
    axis = 1 if logp.ndim >= 2 else 0
    c = logp.shape[axis]
    wb = np.expand_dims(_class_weight(fn, weight, c, logp.dtype),
                        tuple(i for i in range(logp.ndim) if i != axis))
    t = _data(targets)
    rest = logp.shape[:axis] + logp.shape[axis + 1:]
    if t.shape == logp.shape and t.dtype.kind == "f" and fn != "nll_loss":
        k = (t * (1 - smoothing) + smoothing / c) * wb
        denom = max(logp.size // max(c, 1), 1) if reduction == "mean" else 1
        if logp.size == 0 and reduction == "mean":
            denom = 0
    elif t.shape == rest:
        t = _class_targets(fn, t, rest, c, ignore_index)
        keep = np.expand_dims(t != ignore_index, axis)
        onehot = np.expand_dims(t, axis) == np.arange(c).reshape(wb.shape)
        k = keep * ((1 - smoothing) * onehot * wb + (smoothing / c) * wb)
        denom = (onehot * keep * wb).sum() if reduction == "mean" else 1
    else:
        probs = " or probabilities of the same shape" if fn != "nll_loss" else ""
        raise ValueError(f"{fn}: targets shape {t.shape} does not match {_WHAT[fn]} shape "
                         f"{logp.shape}: expected class indices of shape {rest}{probs}")
    with np.errstate(divide="ignore", invalid="ignore"):
        k = (k / denom).astype(logp.dtype)  # all targets ignored: 0/0 = nan, as PyTorch
    loss = -(logp * Tensor(k)).sum(axis=axis)
    return loss if reduction == "none" else loss.sum()


_WHAT = {"cross_entropy": "logits", "nll_loss": "input"}


def cross_entropy(logits: Any, targets: Any, weight: Any = None, *, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy from raw logits (PyTorch's ``F.cross_entropy``).

    ``loss_i = -w[t_i] log_softmax(logits)[i, t_i]``, the log-softmax taken with the max
    subtracted first, so logits of any magnitude (1e4, -1e4) stay finite.

    :param logits: Tensor ``(N, C)``, ``(C,)`` or ``(N, C, d1, ...)`` (classes on axis 1).
    :param targets: class indices of the logits' shape without the class axis (integral
        floats accepted), or class probabilities of the logits' shape (float).
    :param weight: ``(C,)`` class weights; ``mean`` then divides by the summed weights of the
        targets (class indices) as PyTorch does.
    :param ignore_index: class-index targets equal to it contribute nothing (nor to the mean).
    :param label_smoothing: ``eps``: the target becomes ``(1 - eps) * onehot + eps / C``.
    :raises ValueError: a target out of range or not an integer (naming the value and C), or a
        shape mismatch (naming both shapes).
    """
    z = _t(logits)
    if z.ndim < 1:
        raise ValueError(f"cross_entropy: logits shape {tuple(z.shape)} is not (N, num_classes)")
    return _nll("cross_entropy", z.log_softmax(axis=1 if z.ndim >= 2 else 0), targets, weight,
                ignore_index, reduction, float(label_smoothing))


def nll_loss(input: Any, target: Any, weight: Any = None, *, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (``(N, C)``, ``(C,)`` or
    ``(N, C, d...)``) at class indices ``target`` (PyTorch ``F.nll_loss``):
    ``-w[t_i] input[i, t_i]``; ``mean`` divides by the summed weights of the kept targets."""
    x = _t(input)
    if x.ndim < 1:
        raise ValueError(f"nll_loss: input shape {tuple(x.shape)} is not (N, num_classes)")
    return _nll("nll_loss", x, target, weight, ignore_index, reduction)


def _weighted(fn: str, loss: Tensor, weight: Any, reduction: str) -> Tensor:
    if weight is not None:
        w = _data(weight)
        try:
            if np.broadcast_shapes(w.shape, loss.shape) != loss.shape:
                raise ValueError
        except ValueError:
            raise ValueError(f"{fn}: weight shape {w.shape} does not broadcast to the input "
                             f"shape {loss.shape}") from None
        loss = loss * Tensor(w.astype(loss.dtype))
    return _reduce(fn, loss, reduction)


def _unit(fn: str, y: np.ndarray, what: str = "target") -> None:
    _numeric(fn, y, f"{what}s")
    bad = ~((y >= 0) & (y <= 1))  # NaN too
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        raise ValueError(f"{fn}: {what}s must be in [0, 1]; {what} {y[i].item()!r} at index "
                         f"{i if len(i) != 1 else i[0]} is not")


@op
def _bce_logits(x: np.ndarray, y: np.ndarray, lw: np.ndarray) -> tuple:
    # (1 - y) x + lw softplus(-x) with softplus(-x) = log1p(exp(-|x|)) + max(-x, 0), the
    # x terms gathered so nothing cancels for x << 0; the gradient (1 - y) - lw sigmoid(-x)
    # is exact at x = 0 (no kinks)
    e = np.exp(-np.abs(x))
    sneg = np.where(x >= 0, e / (1 + e), 1 / (1 + e))  # sigmoid(-x)
    out = np.where(x >= 0, (1 - y) * x, -x * (lw - 1 + y)) + lw * np.log1p(e)
    return out, lambda g: (g * ((1 - y) - lw * sneg), None, None)


def binary_cross_entropy_with_logits(logits: Any, targets: Any, weight: Any = None, *,
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable expression (PyTorch's
    ``F.binary_cross_entropy_with_logits``)::

        loss = -w [pos_weight * y log s(x) + (1 - y) log(1 - s(x))]
             = w [(1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)]

    ``targets`` ``y`` in ``[0, 1]`` (soft labels allowed), same shape as ``logits``;
    ``weight`` broadcasts to it, ``pos_weight`` (one per class, the last axis) weighs the
    positive term.
    """
    fn = "binary_cross_entropy_with_logits"
    x = _t(logits)
    y = _numeric(fn, _data(targets), "targets")
    if tuple(x.shape) != y.shape:
        raise ValueError(f"{fn}: logits shape {tuple(x.shape)} and targets shape {y.shape} differ; "
                         "it takes one target in [0, 1] per logit (class indices for a model with "
                         "2+ outputs: cross_entropy; multi-label (N, C) targets: (N, C) logits)")
    _unit(fn, y)
    lw = 1.0
    if pos_weight is not None:
        pw = _data(pos_weight)
        try:
            np.broadcast_shapes(pw.shape, x.shape)
        except ValueError:
            raise ValueError(f"{fn}: pos_weight shape {pw.shape} does not broadcast to the "
                             f"logits shape {tuple(x.shape)}") from None
        lw = 1 + (pw - 1) * y
    y = y.astype(x.dtype)
    return _weighted(fn, _bce_logits(x, y, np.asarray(lw + 0 * y, x.dtype)), weight, reduction)


@op
def _bce(x: np.ndarray, y: np.ndarray) -> tuple:
    # PyTorch clamps the logs at -100 (so x = 0 or 1 give 100, not inf) and divides the
    # gradient by max(x (1 - x), 1e-12)
    with np.errstate(divide="ignore"):
        out = -(y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log1p(-x), -100))
    return out, lambda g: (g * (x - y) / np.maximum(x * (1 - x), 1e-12), None)


def binary_cross_entropy(input: Any, target: Any, weight: Any = None, *,
                         reduction: str = "mean") -> Tensor:
    """``-w [y log x + (1 - y) log(1 - x)]`` on probabilities ``x`` (PyTorch's
    ``F.binary_cross_entropy``; each log clamped at -100). Prefer
    ``binary_cross_entropy_with_logits`` on logits: it is exact where ``x`` rounds to 0 or 1."""
    fn = "binary_cross_entropy"
    x = _t(input)
    y = _data(target)
    _same_shape(fn, x, y)
    _unit(fn, x.data, "input")
    _unit(fn, y)
    return _weighted(fn, _bce(x, y.astype(x.dtype)), weight, reduction)


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


@op
def _huber(d: np.ndarray, *, delta: float) -> tuple:
    small = np.abs(d) < delta
    out = np.where(small, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))
    return out, lambda g: g * np.where(small, d, delta * np.sign(d))


def _regression(fn: str, input: Any, target: Any) -> Tensor:
    x = _t(input)
    y = _numeric(fn, _data(target))
    _same_shape(fn, x, y)
    return x - Tensor(y.astype(x.dtype))


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, ``d = input -
    target`` (PyTorch ``F.huber_loss``)."""
    if not delta > 0:
        raise ValueError(f"huber_loss: delta={delta!r} is invalid: must be > 0")
    return _reduce("huber_loss", _huber(_regression("huber_loss", input, target),
                                        delta=float(delta)), reduction)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (PyTorch
    ``F.smooth_l1_loss``: ``huber_loss(delta=beta) / beta``; ``beta=0`` is ``l1_loss``)."""
    fn = "smooth_l1_loss"
    if not beta >= 0:
        raise ValueError(f"{fn}: beta={beta!r} is invalid: must be >= 0")
    d = _regression(fn, input, target)
    loss = d.abs() if beta == 0 else _huber(d, delta=float(beta)) * (1.0 / beta)
    return _reduce(fn, loss, reduction)


def kl_div(input: Any, target: Any, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """``target (log target - input)`` pointwise, ``input`` log-probabilities (PyTorch
    ``F.kl_div``; 0 where ``target == 0``); with ``log_target=True`` the target is given as
    log-probabilities: ``exp(target) (target - input)``. ``reduction="batchmean"`` divides
    the sum by ``input.shape[0]`` (the KL divergence per sample); ``"mean"`` divides by the
    number of elements, as PyTorch does."""
    fn = "kl_div"
    x = _t(input)
    t = _data(target).astype(x.dtype)
    _same_shape(fn, x, t)
    if log_target:
        p, c = np.exp(t), np.exp(t) * t
    else:
        if np.any(t < 0):
            raise ValueError(f"{fn}: target probabilities must be >= 0 (or pass log_target=True)")
        p = t
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(t > 0, t * np.log(t), 0.0).astype(x.dtype)
    loss = Tensor(c) - x * Tensor(p)
    if reduction == "batchmean":
        return loss.sum() * (1.0 / x.shape[0] if x.ndim else 1.0)
    return _reduce(fn, loss, reduction)


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


from .ops.activation import (celu, elu, gelu, hardsigmoid, hardswish, hardtanh,  # noqa: E402
                             logsigmoid, mish, prelu, relu6, selu, silu, softplus, softsign)
from .ops.index import one_hot  # noqa: E402

__all__ += ["gelu", "silu", "elu", "selu", "celu", "softplus", "mish", "hardswish",
            "hardsigmoid", "hardtanh", "relu6", "logsigmoid", "softsign", "prelu", "one_hot"]
