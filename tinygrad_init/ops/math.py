"""Unary math and the binary ops ``%``, ``//``, atan2, logaddexp, lerp (PyTorch's formulas)."""
from __future__ import annotations

import math as _m
from typing import Any

import numpy as np

from ..tensor import Tensor, div, mul, op, sub


def _unary(fn: Any, grad: Any, name: str) -> Any:
    """A rule from ``fn`` and its derivative ``grad(x, out)``."""
    def rule(a: np.ndarray) -> tuple:
        out = fn(a)
        return out, lambda g: g * grad(a, out)
    return op(rule, name=name)


def _flat(fn: Any, name: str) -> Any:
    """Piecewise-constant ops: zero gradient everywhere (PyTorch's convention)."""
    return op(lambda a: (fn(a), np.zeros_like), name=name)


sin = _unary(np.sin, lambda x, y: np.cos(x), "sin")
cos = _unary(np.cos, lambda x, y: -np.sin(x), "cos")
tan = _unary(np.tan, lambda x, y: 1 + y * y, "tan")
sinh = _unary(np.sinh, lambda x, y: np.cosh(x), "sinh")
cosh = _unary(np.cosh, lambda x, y: np.sinh(x), "cosh")
asin = _unary(np.arcsin, lambda x, y: 1 / np.sqrt(1 - x * x), "asin")
acos = _unary(np.arccos, lambda x, y: -1 / np.sqrt(1 - x * x), "acos")
atan = _unary(np.arctan, lambda x, y: 1 / (1 + x * x), "atan")
rsqrt = _unary(lambda x: 1 / np.sqrt(x), lambda x, y: -0.5 * y / x, "rsqrt")
exp2 = _unary(np.exp2, lambda x, y: y * _m.log(2), "exp2")
log2 = _unary(np.log2, lambda x, y: 1 / (x * _m.log(2)), "log2")
log10 = _unary(np.log10, lambda x, y: 1 / (x * _m.log(10)), "log10")
log1p = _unary(np.log1p, lambda x, y: 1 / (1 + x), "log1p")
expm1 = _unary(np.expm1, lambda x, y: y + 1, "expm1")
_erf = np.frompyfunc(_m.erf, 1, 1)  # math.erf: correctly rounded in float64 (NumPy has no erf)


def _erf_np(x: np.ndarray) -> np.ndarray:
    return np.asarray(_erf(x), dtype=x.dtype)


erf = _unary(_erf_np, lambda x, y: (2 / _m.sqrt(_m.pi)) * np.exp(-x * x), "erf")
sign = _flat(np.sign, "sign")
floor = _flat(np.floor, "floor")
ceil = _flat(np.ceil, "ceil")
trunc = _flat(np.trunc, "trunc")


_round = op(lambda a, *, decimals: (np.round(a, decimals), np.zeros_like), name="round")


def round(x: Any, decimals: int = 0) -> Tensor:
    """Round half to even (PyTorch and NumPy), to ``decimals`` places; gradient 0."""
    return _round(x, decimals=decimals)


def square(x: Any) -> Tensor:
    return mul(x, x)


def reciprocal(x: Any) -> Tensor:
    return div(1.0, x)


@op
def remainder(a: np.ndarray, b: np.ndarray) -> tuple:
    """``a - floor(a / b) * b``: the sign of the divisor, as Python's ``%`` and PyTorch."""
    return np.mod(a, b), lambda g: (g, -g * np.floor_divide(a, b))


@op
def floor_divide(a: np.ndarray, b: np.ndarray) -> tuple:
    """``floor(a / b)``; piecewise constant, so its gradient is 0 for both operands."""
    return np.floor_divide(a, b), lambda g: (np.zeros_like(g), np.zeros_like(g))


@op
def atan2(a: np.ndarray, b: np.ndarray) -> tuple:
    """The angle of the point ``(b, a)``: ``atan2(y=a, x=b)``."""
    def back(g: np.ndarray) -> tuple:
        r = g / (a * a + b * b)
        return r * b, -r * a
    return np.arctan2(a, b), back


@op
def logaddexp(a: np.ndarray, b: np.ndarray) -> tuple:
    """``log(exp(a) + exp(b))`` without overflow; its own rule: the composition overflows."""
    out = np.logaddexp(a, b)
    return out, lambda g: (g * np.exp(a - out), g * np.exp(b - out))


def lerp(start: Any, end: Any, weight: Any) -> Tensor:
    """``start + weight * (end - start)`` (PyTorch ``torch.lerp``); ``weight`` a number or
    a Tensor (differentiable)."""
    shapes = [np.shape(v.data if isinstance(v, Tensor) else v) for v in (start, end, weight)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"lerp: shapes {', '.join(map(str, shapes))} of start, end and weight "
                         f"cannot be broadcast together") from None
    return start + mul(weight, sub(end, start))


arcsin, arccos, arctan, arctan2, mod = asin, acos, atan, atan2, remainder  # NumPy names

for _name in ["sin", "cos", "tan", "sinh", "cosh", "asin", "acos", "atan", "arcsin", "arccos",
              "arctan", "square", "reciprocal", "rsqrt", "exp2", "log2", "log10", "log1p",
              "expm1", "sign", "erf", "floor", "ceil", "round", "trunc", "remainder",
              "floor_divide", "atan2", "arctan2", "logaddexp", "lerp"]:
    setattr(Tensor, _name, globals()[_name])
Tensor.__mod__ = remainder
Tensor.__rmod__ = lambda self, other: remainder(other, self)
Tensor.__floordiv__ = floor_divide
Tensor.__rfloordiv__ = lambda self, other: floor_divide(other, self)
