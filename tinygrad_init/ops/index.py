"""Indexing: gather, scatter_add, index_select, masked_fill, one_hot (PyTorch semantics;
``axis`` is PyTorch's ``dim``). Indices are integer data, never differentiated."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor, op, where
from . import axes
from .compare import _along, take_along_axis


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _index(name: str, index: Any, what: str = "index") -> np.ndarray:
    i = index.data if isinstance(index, Tensor) else np.asarray(index)
    if i.dtype.kind not in "iu":
        raise TypeError(f"{name}: {what} must be integers, got dtype {i.dtype}")
    return i.astype(np.int64, copy=False)


def _axis(name: str, axis: Any, ndim: int) -> int:
    return axes(name, axis, max(ndim, 1))[0]


def _check(name: str, shape: tuple, idx: np.ndarray, ax: int, fits: tuple, what: str) -> None:
    """PyTorch's rule: index has the tensor's ndim, is no larger than ``fits`` off ``ax``,
    and its values lie in ``[-n, n)`` for the size ``n`` of ``ax``."""
    if idx.ndim != len(shape) or any(i != ax and idx.shape[i] > fits[i] for i in range(idx.ndim)):
        raise ValueError(f"{name}: index shape {idx.shape} does not fit {what} shape {fits} "
                         f"(same number of dims, no larger except along axis {ax})")
    n = shape[ax]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)].flat[0]
        raise IndexError(f"{name}: index {bad} is out of range for axis {ax} of size {n} "
                         f"(shape {shape})")


def gather(x: Any, axis: int, index: Any) -> Tensor:
    """``out[i][j][k] = x[index[i][j][k]][j][k]`` for ``axis=0`` (and so on): the values of
    ``x`` picked along ``axis`` at ``index`` (same ndim as ``x``; NumPy's
    ``take_along_axis``). Repeated indices accumulate their gradients."""
    x = _t(x)
    idx = _index("gather", index)
    ax = _axis("gather", axis, x.ndim)
    _check("gather", x.shape, idx, ax, x.shape, "input")
    sub = x[tuple(slice(0, s) if i != ax else slice(None) for i, s in enumerate(idx.shape))] \
        if any(i != ax and idx.shape[i] < x.shape[i] for i in range(x.ndim)) else x
    return take_along_axis(sub, indices=idx % max(x.shape[ax], 1), axis=ax)


@op(name="scatter_add")
def _scatter_add(a: np.ndarray, src: np.ndarray, *, index: np.ndarray, axis: int) -> tuple:
    full = _along(index, axis)
    sl = tuple(slice(0, s) for s in index.shape)
    out = a.copy()
    np.add.at(out, full, src[sl])

    def back(g: np.ndarray) -> tuple:
        gs = np.zeros_like(src)
        gs[sl] = g[full]
        return g, gs
    return out, back


def scatter_add(x: Any, axis: int, index: Any, src: Any) -> Tensor:
    """A copy of ``x`` with ``src`` added at ``index`` along ``axis`` (repeats accumulate):
    ``out[index[i][j]][j] += src[i][j]`` for ``axis=0``. Gradients: ``x`` gets ``g``, ``src``
    gets ``g`` gathered at ``index``."""
    x, src = _t(x), _t(src)
    idx = _index("scatter_add", index)
    ax = _axis("scatter_add", axis, x.ndim)
    if src.ndim != idx.ndim or any(i > s for i, s in zip(idx.shape, src.shape)):
        raise ValueError(f"scatter_add: index shape {idx.shape} is larger than src shape "
                         f"{src.shape}")
    _check("scatter_add", x.shape, idx, ax, x.shape, "input")
    return _scatter_add(x, src, index=idx % max(x.shape[ax], 1), axis=ax)


@op(name="index_select")
def _index_select(a: np.ndarray, *, index: np.ndarray, axis: int) -> tuple:
    def back(g: np.ndarray) -> np.ndarray:
        z = np.zeros_like(a)
        np.add.at(z, (slice(None),) * axis + (index,), g)
        return z
    return np.take(a, index, axis=axis), back


def index_select(x: Any, axis: int, index: Any) -> Tensor:
    """The slices of ``x`` at the 1-d ``index`` along ``axis`` (NumPy ``take``)."""
    x = _t(x)
    idx = _index("index_select", index)
    if idx.ndim > 1:
        raise ValueError(f"index_select: index must be 1-d, got shape {idx.shape}")
    ax = _axis("index_select", axis, x.ndim)
    xs = x.reshape(1) if x.ndim == 0 else x
    _check("index_select", xs.shape, idx.reshape((1,) * ax + (-1,) + (1,) * (xs.ndim - ax - 1)),
           ax, xs.shape, "input")
    out = _index_select(xs, index=idx.reshape(-1) % max(xs.shape[ax], 1), axis=ax)
    return out.reshape(()) if x.ndim == 0 and idx.ndim == 0 else out


def masked_fill(x: Any, mask: Any, value: Any) -> Tensor:
    """``value`` where ``mask`` is True, ``x`` elsewhere; ``mask`` (bool) broadcasts to
    ``x``'s shape (the output keeps it). ``value``: a number or a 0-d Tensor (then it gets
    the sum of the masked gradients)."""
    x = _t(x)
    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be bool, got dtype {m.dtype}")
    try:
        if np.broadcast_shapes(m.shape, x.shape) != x.shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"masked_fill: mask shape {m.shape} does not broadcast to the input "
                         f"shape {x.shape}") from None
    if isinstance(value, Tensor) and value.ndim:
        raise ValueError(f"masked_fill: value must be a number or a 0-d Tensor, got shape "
                         f"{value.shape}")
    return where(np.broadcast_to(m, x.shape), value, x)


def one_hot(x: Any, num_classes: int = -1) -> Tensor:
    """int64 one-hot codes, a new last axis of ``num_classes`` (``-1``: ``max + 1``)."""
    idx = _index("one_hot", x, "class indices")
    if idx.size and idx.min() < 0:
        raise ValueError(f"one_hot: class index {int(idx.min())} is negative")
    n = int(idx.max()) + 1 if num_classes == -1 and idx.size else num_classes
    if n < 0 or num_classes == -1 and not idx.size:
        raise ValueError(f"one_hot: num_classes={num_classes} is invalid (an empty tensor "
                         f"needs it given)" if num_classes == -1 else
                         f"one_hot: num_classes={num_classes} is invalid")
    if idx.size and idx.max() >= n:
        raise ValueError(f"one_hot: class index {int(idx.max())} is out of range for "
                         f"num_classes={n}")
    return Tensor((idx[..., None] == np.arange(n)).astype(np.int64))


for _name in ["gather", "scatter_add", "index_select", "masked_fill"]:
    setattr(Tensor, _name, globals()[_name])
