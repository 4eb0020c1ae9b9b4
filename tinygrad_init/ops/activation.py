"""Activations as ops (PyTorch's formulas and defaults). Each is one rule with its own
backward: one graph node instead of the 3-6 of the composition (activations run on every
layer), and the forms below are the stable ones (no exp overflow)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..tensor import Tensor, op
from .math import _erf_np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _num(name: str, field: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: {field}={v!r} is not a number")
    return float(v)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    s = e / (1 + e)
    return np.where(x >= 0, 1 - s, s)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))  # np.logaddexp(0, x), 10x faster


def _act(name: str, fn: Any) -> Any:
    """``fn(x, **options) -> (out, dout/dx)``; the rule multiplies the gradient in."""
    def rule(a: np.ndarray, **kw: Any) -> tuple:
        out, d = fn(a, **kw)
        return out, lambda g: g * np.asarray(d, a.dtype)
    return op(rule, name=name)


def _gelu(x: np.ndarray, approximate: str) -> tuple:
    if approximate == "tanh":
        k = math.sqrt(2 / math.pi)
        t = np.tanh(k * (x + 0.044715 * x * x * x))  # x * x * x: np.power is 400x slower
        return 0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
    if approximate != "none":
        raise ValueError(f"gelu: approximate={approximate!r} is invalid: must be 'none' or 'tanh'")
    cdf = 0.5 * (1 + _erf_np(x / math.sqrt(2)))
    return x * cdf, cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _silu(x: np.ndarray) -> tuple:
    s = _sigmoid(x)
    return x * s, s * (1 + x * (1 - s))


def _elu(x: np.ndarray, alpha: float, scale: float = 1.0) -> tuple:
    e = np.expm1(np.minimum(x, 0))
    pos = x > 0
    return scale * np.where(pos, x, alpha * e), scale * np.where(pos, 1, alpha * (e + 1))


def _celu(x: np.ndarray, alpha: float) -> tuple:
    if alpha == 0:
        raise ValueError("celu: alpha=0 is invalid (the formula divides by alpha)")
    e = np.expm1(np.minimum(x, 0) / alpha)
    pos = x > 0
    return np.where(pos, x, alpha * e), np.where(pos, 1, e + 1)


def _softplus_act(x: np.ndarray, beta: float, threshold: float) -> tuple:
    bx = beta * x
    lin = bx > threshold  # PyTorch: linear above the threshold
    return np.where(lin, x, _softplus(bx) / beta), np.where(lin, 1, _sigmoid(bx))


def _mish(x: np.ndarray) -> tuple:
    t = np.tanh(_softplus(x))
    return x * t, t + x * _sigmoid(x) * (1 - t * t)


def _hardswish(x: np.ndarray) -> tuple:
    mid = (x > -3) & (x < 3)
    return x * np.clip(x + 3, 0, 6) / 6, np.where(mid, x / 3 + 0.5, (x >= 3).astype(x.dtype))


def _hardsigmoid(x: np.ndarray) -> tuple:
    return np.clip(x + 3, 0, 6) / 6, ((x > -3) & (x < 3)) / 6


def _hardtanh(x: np.ndarray, min_val: float, max_val: float) -> tuple:
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val={min_val} is above max_val={max_val}")
    return np.clip(x, min_val, max_val), (x > min_val) & (x < max_val)


def _logsigmoid(x: np.ndarray) -> tuple:
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))), _sigmoid(-x)


def _softsign(x: np.ndarray) -> tuple:
    d = 1 + np.abs(x)
    return x / d, 1 / (d * d)


_r = {n: _act(n, f) for n, f in [("gelu", _gelu), ("silu", _silu), ("elu", _elu),
                                  ("celu", _celu), ("softplus", _softplus_act), ("mish", _mish),
                                  ("hardswish", _hardswish), ("hardsigmoid", _hardsigmoid),
                                  ("hardtanh", _hardtanh), ("logsigmoid", _logsigmoid),
                                  ("softsign", _softsign)]}


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """``x * Phi(x)`` (``approximate='none'``, erf) or the ``'tanh'`` approximation."""
    return _r["gelu"](x, approximate=approximate)


def silu(x: Any) -> Tensor:
    """``x * sigmoid(x)`` (swish)."""
    return _r["silu"](x)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """``x if x > 0 else alpha * (exp(x) - 1)``."""
    return _r["elu"](x, alpha=_num("elu", "alpha", alpha))


def selu(x: Any) -> Tensor:
    """``scale * elu(x, alpha)`` with Klambauer et al.'s fixed alpha and scale."""
    return _r["elu"](x, alpha=SELU_ALPHA, scale=SELU_SCALE)


def celu(x: Any, alpha: float = 1.0) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    return _r["celu"](x, alpha=_num("celu", "alpha", alpha))


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, and ``x`` where ``beta * x > threshold``."""
    return _r["softplus"](x, beta=_num("softplus", "beta", beta),
                           threshold=_num("softplus", "threshold", threshold))


def mish(x: Any) -> Tensor:
    """``x * tanh(softplus(x))``."""
    return _r["mish"](x)


def hardswish(x: Any) -> Tensor:
    """``x * relu6(x + 3) / 6``."""
    return _r["hardswish"](x)


def hardsigmoid(x: Any) -> Tensor:
    """``relu6(x + 3) / 6``."""
    return _r["hardsigmoid"](x)


def hardtanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """``clip(x, min_val, max_val)``; the gradient is 1 strictly inside, 0 at and outside."""
    return _r["hardtanh"](x, min_val=_num("hardtanh", "min_val", min_val),
                           max_val=_num("hardtanh", "max_val", max_val))


def relu6(x: Any) -> Tensor:
    """``hardtanh(x, 0, 6)``."""
    return hardtanh(x, 0.0, 6.0)


def logsigmoid(x: Any) -> Tensor:
    """``log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|))``."""
    return _r["logsigmoid"](x)


def softsign(x: Any) -> Tensor:
    """``x / (1 + |x|)``."""
    return _r["softsign"](x)


@op(name="prelu")
def _prelu(a: np.ndarray, w: np.ndarray) -> tuple:
    wb = w.reshape((1, -1) + (1,) * (a.ndim - 2)) if a.ndim >= 2 else w
    pos = a > 0

    def back(g: np.ndarray) -> tuple:
        gw = np.where(pos, 0, g * a)
        axes = tuple(i for i in range(a.ndim) if not (i == 1 and w.shape[0] > 1))
        return np.where(pos, g, g * wb), np.sum(gw, axis=axes).reshape(w.shape)
    return np.where(pos, a, a * wb), back


def prelu(x: Any, weight: Any) -> Tensor:
    """``x if x > 0 else weight * x``; ``weight`` ``(1,)`` or one slope per channel (axis 1)."""
    a, w = (np.shape(v.data if isinstance(v, Tensor) else v) for v in (x, weight))
    c = a[1] if len(a) >= 2 else 1
    if len(w) != 1 or w[0] not in (1, c):
        raise ValueError(f"prelu: weight shape {w} does not fit input shape {a}: expected (1,) "
                         f"or ({c},) (one slope per channel, axis 1)")
    return _prelu(x, weight)


for _name in ["gelu", "silu", "elu", "selu", "celu", "softplus", "mish", "hardswish",
              "hardsigmoid", "hardtanh", "relu6", "logsigmoid", "softsign", "prelu"]:
    setattr(Tensor, _name, globals()[_name])
