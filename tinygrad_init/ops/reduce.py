"""Reductions: std, logsumexp, prod, cumsum, cumprod, norm (PyTorch's formulas; ``axis``
and ``keepdims`` are NumPy's spelling of PyTorch's ``dim``/``keepdim``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor, op
from . import axes


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _ax(name: str, axis: Any, ndim: int) -> Any:
    """``axis`` checked against ``ndim`` (a 0-d tensor takes 0/-1 as PyTorch does) -> a tuple
    of axes, or None for all."""
    if axis is None:
        return None
    if ndim == 0:
        if all(a in (0, -1) for a in ((axis,) if np.isscalar(axis) else axis)):
            return None
    return axes(name, axis, ndim)


def _one(name: str, axis: Any, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name}: axis must be an int, got {axis!r}")
    return 0 if ndim == 0 and axis in (0, -1) else _ax(name, axis, ndim)[0]


def std(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """``sqrt(var(x, axis, keepdims, ddof))``; ``ddof=0`` like ``var`` (PyTorch: ``ddof=1``)."""
    x = _t(x)
    _ax("std", axis, x.ndim)
    return x.var(axis=axis, keepdims=keepdims, ddof=ddof).sqrt()


@op(name="logsumexp")
def _logsumexp(a: np.ndarray, *, axis: Any, keepdims: bool) -> tuple:
    # own rule: shifted by the max so exp never overflows; the gradient is softmax
    ax = _ax("logsumexp", axis, a.ndim)
    m = np.max(a, axis=ax, keepdims=True) if a.size else np.zeros_like(np.sum(a, ax, keepdims=True))
    m = np.where(np.isfinite(m), m, 0)  # all -inf -> -inf (not nan), as PyTorch
    with np.errstate(divide="ignore"):
        lse = np.log(np.sum(np.exp(a - m), axis=ax, keepdims=True)) + m
    out = lse if keepdims else lse.reshape(np.sum(a, axis=ax).shape)
    return out, lambda g: g.reshape(lse.shape) * np.exp(a - lse)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x), axis))``, stable for any magnitude."""
    return _logsumexp(x, axis=axis, keepdims=keepdims)


def _excl(a: np.ndarray, fn: Any, ax: int, reverse: bool) -> np.ndarray:
    """Exclusive cumulative ``fn`` along ``ax`` (first element: the identity)."""
    b = np.flip(a, ax) if reverse else a
    c = fn.accumulate(b, axis=ax)
    ident = np.full_like(np.take(c, [0], axis=ax), 1 if fn is np.multiply else 0)
    c = np.concatenate([ident, np.take(c, np.arange(c.shape[ax] - 1), axis=ax)], axis=ax)
    return np.flip(c, ax) if reverse else c


@op(name="prod")
def _prod(a: np.ndarray, *, axis: Any, keepdims: bool) -> tuple:
    flat = axis is None or a.ndim == 0
    b = a.reshape(-1) if flat else a
    ax = 0 if flat else _one("prod", axis, a.ndim)
    out = np.prod(b, axis=ax, keepdims=True)

    def back(g: np.ndarray) -> np.ndarray:
        # d/da_k prod = (product before k) * (product after k): exact with zeros in the slice
        others = _excl(b, np.multiply, ax, False) * _excl(b, np.multiply, ax, True)
        return (g.reshape(out.shape) * others).reshape(a.shape)
    res = out if keepdims and not flat else out.reshape((1,) * a.ndim) if keepdims \
        else np.prod(b, axis=ax)
    return res, back


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Product over one axis or all (``axis=None``); the gradient is the product of the other
    elements, exact when the slice holds zeros."""
    return _prod(x, axis=axis, keepdims=keepdims)


@op(name="cumsum")
def _cumsum(a: np.ndarray, *, axis: int) -> tuple:
    if a.ndim == 0:
        return a.copy(), lambda g: g
    ax = _one("cumsum", axis, a.ndim)
    return np.cumsum(a, ax), lambda g: np.flip(np.cumsum(np.flip(g, ax), ax), ax)


def cumsum(x: Any, axis: int) -> Tensor:
    return _cumsum(x, axis=axis)


@op(name="cumprod")
def _cumprod(a: np.ndarray, *, axis: int) -> tuple:
    if a.ndim == 0:
        return a.copy(), lambda g: g
    ax = _one("cumprod", axis, a.ndim)
    out = np.cumprod(a, ax)

    def back(g: np.ndarray) -> np.ndarray:
        # grad_k = L_k * S_k with L the exclusive cumprod and S_k = g_k + a_{k+1} S_{k+1}
        # (a reverse recurrence: exact with zeros, unlike revcumsum(g * out) / a)
        gm, am = np.moveaxis(g, ax, 0), np.moveaxis(a, ax, 0)
        s = np.empty_like(gm)
        s[-1] = gm[-1]
        for k in range(len(gm) - 2, -1, -1):
            s[k] = gm[k] + am[k + 1] * s[k + 1]
        return _excl(a, np.multiply, ax, False) * np.moveaxis(s, 0, ax)
    return out, back


def cumprod(x: Any, axis: int) -> Tensor:
    return _cumprod(x, axis=axis)


@op(name="norm")
def _norm(a: np.ndarray, *, p: Any, axis: Any, keepdims: bool) -> tuple:
    ax = _ax("norm", axis, a.ndim)
    x = np.abs(a)
    if p == np.inf or p == -np.inf:
        n = (np.max if p > 0 else np.min)(x, axis=ax, keepdims=True)
    elif p == 0:
        n = np.sum(x != 0, axis=ax, keepdims=True).astype(a.dtype)
    elif p == 2:  # the common case without np.power (much slower than a product)
        n = np.sqrt(np.sum(a * a, axis=ax, keepdims=True))
    else:
        n = np.sum(x ** p, axis=ax, keepdims=True) ** (1.0 / p)
    out = n if keepdims else n.reshape(np.sum(a, axis=ax).shape)

    def back(g: np.ndarray) -> np.ndarray:
        g = g.reshape(n.shape)
        if p == 0:
            return np.zeros_like(a)
        if p == np.inf or p == -np.inf:  # ties share the gradient equally (PyTorch)
            w = (x == n).astype(a.dtype)
            return np.sign(a) * w / np.sum(w, axis=ax, keepdims=True) * g
        if p == 1:
            return np.sign(a) * g
        with np.errstate(divide="ignore", invalid="ignore"):
            r = a * g / n if p == 2 else a * x ** (p - 2) * g / n ** (p - 1)
        return np.where(n == 0, 0.0, r).astype(a.dtype)  # 0 at a zero norm, as PyTorch
    return out, back


def norm(x: Any, p: Any = 2, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Vector p-norm over ``axis`` (all elements by default; PyTorch ``torch.norm`` /
    ``linalg.vector_norm``): ``p`` a number > 0, ``0`` (count of nonzeros), ``inf``, ``-inf``
    or ``"fro"`` (= 2). The gradient at a zero norm is 0, as in PyTorch."""
    if p == "fro":
        p = 2
    if isinstance(p, (str, bool)) or not isinstance(p, (int, float, np.number)) or p < 0 and p != -np.inf:
        raise ValueError(f"norm: p={p!r} is invalid: give a number >= 0, inf, -inf or 'fro'")
    return _norm(x, p=float(p), axis=axis, keepdims=keepdims)


for _name in ["std", "logsumexp", "prod", "cumsum", "cumprod", "norm"]:
    setattr(Tensor, _name, globals()[_name])
