"""Comparisons, logical ops and tests (bool Tensors, never differentiated), argmax/argmin,
and sort/topk (differentiable values, integer indices)."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..tensor import Tensor, op
from . import axes


def _nograd(fn: Any, name: str) -> Any:
    return op(lambda *a, **k: (fn(*a, **k), None), name=name)


lt = _nograd(np.less, "lt")
le = _nograd(np.less_equal, "le")
gt = _nograd(np.greater, "gt")
ge = _nograd(np.greater_equal, "ge")
eq = _nograd(np.equal, "eq")
ne = _nograd(np.not_equal, "ne")
logical_not = _nograd(np.logical_not, "logical_not")
logical_and = _nograd(np.logical_and, "logical_and")
logical_or = _nograd(np.logical_or, "logical_or")
logical_xor = _nograd(np.logical_xor, "logical_xor")
isnan = _nograd(np.isnan, "isnan")
isinf = _nograd(np.isinf, "isinf")
isfinite = _nograd(np.isfinite, "isfinite")
less, less_equal, greater, greater_equal, equal, not_equal = lt, le, gt, ge, eq, ne  # NumPy


def _axis1(opname: str, axis: Any, ndim: int) -> int | None:
    """One axis (or None); a 0-d tensor accepts axis 0/-1 as PyTorch does."""
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{opname}: axis must be an int or None, got {axis!r}")
    if ndim == 0 and axis in (0, -1):
        return None
    return axes(opname, axis, ndim)[0]


def _bool_reduce(fn: Any, name: str) -> Any:
    @op(name=name)
    def rule(a: np.ndarray, *, axis: Any = None, keepdims: bool = False) -> tuple:
        ax = None if axis is None or a.ndim == 0 and axis in (0, -1) else axes(name, axis, a.ndim)
        return fn(a, axis=ax, keepdims=keepdims), None
    return rule


def _keywords(rule: Any) -> Any:
    return lambda x, axis=None, keepdims=False: rule(x, axis=axis, keepdims=keepdims)


any = _keywords(_bool_reduce(np.any, "any"))
all = _keywords(_bool_reduce(np.all, "all"))


def _arg(fn: Any, name: str) -> Any:
    @op(name=name)
    def rule(a: np.ndarray, *, axis: Any = None, keepdims: bool = False) -> tuple:
        if a.size == 0:
            raise ValueError(f"{name}: the tensor of shape {a.shape} is empty")
        ax = _axis1(name, axis, a.ndim)
        return fn(a, axis=ax, keepdims=keepdims).astype(np.int64), None
    return rule


argmax = _keywords(_arg(np.argmax, "argmax"))  # the first of tied maxima (NumPy, PyTorch CPU)
argmin = _keywords(_arg(np.argmin, "argmin"))


class SortResult(NamedTuple):
    values: Tensor
    indices: Tensor


def _along(idx: np.ndarray, axis: int) -> tuple:
    """The full index tuple that addresses ``a[..., idx, ...]`` along ``axis`` elementwise."""
    nd = idx.ndim
    return tuple(idx if i == axis else np.arange(n).reshape((n,) + (1,) * (nd - 1 - i))
                 for i, n in enumerate(idx.shape))


@op
def take_along_axis(a: np.ndarray, *, indices: np.ndarray, axis: int) -> tuple:
    """``a`` picked at ``indices`` along ``axis`` (NumPy's name for ``gather``); repeated
    indices accumulate their gradients."""
    full = _along(indices, axis)
    out = a[full]

    def back(g: np.ndarray) -> np.ndarray:
        z = np.zeros_like(a)
        np.add.at(z, full, g)
        return z
    return out, back


def _prep(name: str, x: Any, axis: Any) -> tuple:
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim == 0:
        return x.reshape(1), 0, True
    return x, _axis1(name, axis, x.ndim), False


def sort(x: Any, axis: int = -1, descending: bool = False) -> SortResult:
    """``(values, indices)`` sorted along ``axis`` (stable: ties keep their order; descending
    reverses a stable ascending sort of the negated values, so ties keep theirs too).
    The gradient of ``values`` flows back to the elements it came from."""
    x, ax, scalar = _prep("sort", x, axis)
    d = x.data
    idx = np.argsort(-d if descending and d.dtype.kind != "b" else d, axis=ax, kind="stable")
    return _picked(x, idx, ax, scalar)


def _picked(x: Tensor, idx: np.ndarray, ax: int, scalar: bool) -> SortResult:
    vals = take_along_axis(x, indices=idx, axis=ax)
    if scalar:
        return SortResult(vals.reshape(()), Tensor(idx.reshape(())))
    return SortResult(vals, Tensor(idx))


def topk(x: Any, k: int, axis: int = -1, largest: bool = True, sorted: bool = True) -> SortResult:
    """The ``k`` largest (or smallest) elements along ``axis`` as ``(values, indices)``,
    in sorted order (ties: the earlier element first). ``sorted=False`` is accepted for
    PyTorch's signature; the order is then unspecified there, and sorted here."""
    x, ax, scalar = _prep("topk", x, axis)
    n = x.shape[ax]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ValueError(f"topk: k={k!r} is out of range for axis {axis} of size {n} "
                         f"(shape {x.shape})")
    d = x.data
    idx = np.argsort(-d if largest else d, axis=ax, kind="stable")
    idx = np.take(idx, np.arange(k), axis=ax)
    return _picked(x, idx, ax, scalar)


def argsort(x: Any, axis: int = -1, descending: bool = False) -> Tensor:
    return sort(x, axis, descending).indices


for _name, _fn in [("__lt__", lt), ("__le__", le), ("__gt__", gt), ("__ge__", ge),
                   ("__eq__", eq), ("__ne__", ne), ("lt", lt), ("le", le), ("gt", gt),
                   ("ge", ge), ("eq", eq), ("ne", ne), ("logical_not", logical_not),
                   ("logical_and", logical_and), ("logical_or", logical_or),
                   ("logical_xor", logical_xor), ("isnan", isnan), ("isinf", isinf),
                   ("isfinite", isfinite), ("any", any), ("all", all), ("argmax", argmax),
                   ("argmin", argmin), ("sort", sort), ("topk", topk), ("argsort", argsort)]:
    setattr(Tensor, _name, _fn)
Tensor.__eq__ = lambda self, other: False if other is None else eq(self, other)
Tensor.__ne__ = lambda self, other: True if other is None else ne(self, other)
Tensor.__hash__ = object.__hash__  # identity hash: graph walks key dicts by node


def _bool(self: Tensor) -> bool:
    if self.data.size != 1:
        raise ValueError(f"the truth value of a Tensor of shape {self.data.shape} is ambiguous; "
                         f"use .any() or .all()")
    return bool(self.data)


Tensor.__bool__ = _bool
