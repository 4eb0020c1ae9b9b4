"""Shape ops (PyTorch semantics): squeeze, unsqueeze, expand, permute, repeat/tile, flip,
roll, split, chunk, unflatten, tril, triu, diagonal; ``cat`` is ``concatenate``."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor, concatenate, op
from . import axes

cat = concatenate  # PyTorch's name


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _ints(name: str, sizes: tuple) -> tuple:
    if len(sizes) == 1 and not isinstance(sizes[0], (int, np.integer)):
        sizes = tuple(sizes[0])
    if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in sizes):
        raise TypeError(f"{name}: sizes must be ints, got {sizes!r}")
    return tuple(int(s) for s in sizes)


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """Drop size-1 axes (all, or those in ``axis``; an axis whose size is not 1 is kept, as
    in PyTorch, where NumPy would raise)."""
    x = _t(x)
    ax = axes("squeeze", axis, x.ndim) if x.ndim else ()
    return x.reshape(tuple(s for i, s in enumerate(x.shape) if not (i in ax and s == 1)))


def unsqueeze(x: Any, axis: int) -> Tensor:
    """Insert a size-1 axis at ``axis`` (``-ndim-1 <= axis <= ndim``)."""
    x = _t(x)
    i = axes("unsqueeze", axis, x.ndim + 1)[0]
    return x.reshape(x.shape[:i] + (1,) + x.shape[i:])


@op
def _broadcast(a: np.ndarray, *, shape: tuple) -> tuple:
    # a read-only view; the walker sums the output-shaped gradient back to a's shape
    return np.broadcast_to(a, shape), lambda g: g


def expand(x: Any, *sizes: Any) -> Tensor:
    """Broadcast to ``sizes`` (``-1`` keeps an axis; new axes go in front), without copying."""
    x = _t(x)
    sizes = _ints("expand", sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: cannot expand shape {x.shape} to {sizes} (fewer sizes than "
                         f"dimensions)")
    shape = tuple(x.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    bad = [i for i, s in enumerate(x.shape) if s != 1 and s != shape[i + lead]]
    if bad or any(s < 0 for s in shape):
        raise ValueError(f"expand: cannot expand shape {x.shape} to {sizes}")
    return _broadcast(x, shape=shape)


def broadcast_to(x: Any, shape: Any) -> Tensor:
    return expand(x, tuple(shape))


def permute(x: Any, *axes: Any) -> Tensor:
    x = _t(x)
    axes = _ints("permute", axes)
    if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)) or \
            any(not -x.ndim <= a < x.ndim for a in axes):
        raise ValueError(f"permute: axes {axes} are not a permutation of the {x.ndim} axes of "
                         f"a tensor of shape {x.shape}")
    return x.transpose(axes)


@op
def _tile(a: np.ndarray, *, reps: tuple) -> tuple:
    out = np.tile(a, reps)
    split = tuple(v for r, s in zip(reps, out.shape) for v in (r, s // r if r else 0))

    def back(g: np.ndarray) -> np.ndarray:
        return g.reshape(split).sum(axis=tuple(range(0, 2 * len(reps), 2))).reshape(a.shape)
    return out, back


def repeat(x: Any, *sizes: Any) -> Tensor:
    """PyTorch's ``repeat``: tile the tensor ``sizes[i]`` times along axis ``i`` (at least
    ``ndim`` sizes; extra ones add leading axes). NumPy's ``np.repeat`` is PyTorch's
    ``repeat_interleave``, not this."""
    x = _t(x)
    sizes = _ints("repeat", sizes)
    if len(sizes) < x.ndim or any(s < 0 for s in sizes):
        raise ValueError(f"repeat: sizes {sizes} must be >= 0 and at least one per axis of "
                         f"the tensor of shape {x.shape}")
    return _tile(x.reshape((1,) * (len(sizes) - x.ndim) + x.shape), reps=sizes)


def tile(x: Any, *reps: Any) -> Tensor:
    """``repeat`` where fewer reps than axes are padded with leading 1s (``np.tile``)."""
    x = _t(x)
    reps = _ints("tile", reps)
    return repeat(x, (1,) * (x.ndim - len(reps)) + reps)


@op(name="flip")
def _flip(a: np.ndarray, *, axis: Any) -> tuple:
    ax = axes("flip", axis, a.ndim) if a.ndim else None
    return np.flip(a, ax).copy(), lambda g: np.flip(g, ax).copy()


def flip(x: Any, axis: Any = None) -> Tensor:
    """Reverse the order along ``axis`` (an int, a tuple, or None for all axes)."""
    return _flip(x, axis=axis)


@op(name="roll")
def _roll(a: np.ndarray, *, shifts: Any, axis: Any) -> tuple:
    if axis is not None:
        axes("roll", axis, a.ndim)
    back = np.negative(shifts).tolist() if not np.isscalar(shifts) else -shifts
    return np.roll(a, shifts, axis), lambda g: np.roll(g, back, axis)


def roll(x: Any, shifts: Any, axis: Any = None) -> Tensor:
    """Shift elements cyclically (``axis=None``: over the flattened tensor, then reshaped)."""
    return _roll(x, shifts=shifts, axis=axis)


def split(x: Any, split_size_or_sections: Any, axis: int = 0) -> tuple:
    """PyTorch's ``split``: an int gives pieces of that size (the last may be smaller), a
    list gives the sizes (they must add up to the axis). (``np.split`` counts sections.)"""
    x = _t(x)
    i = axes("split", axis, x.ndim)[0] if x.ndim else axes("split", axis, 0)
    n = x.shape[i]
    s = split_size_or_sections
    if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
        if s <= 0 and n:
            raise ValueError(f"split: split_size={s} must be > 0")
        sizes = [min(s, n - k) for k in range(0, n, s)] if n else [0]
    else:
        sizes = list(s)
        if sum(sizes) != n or any(v < 0 for v in sizes):
            raise ValueError(f"split: sizes {sizes} don't add up to {n}, the size of axis "
                             f"{axis} of the tensor of shape {x.shape}")
    pre = (slice(None),) * i
    out, k = [], 0
    for v in sizes:
        out.append(x[pre + (slice(k, k + v),)])
        k += v
    return tuple(out)


def chunk(x: Any, chunks: int, axis: int = 0) -> tuple:
    """PyTorch's ``chunk``: pieces of ``ceil(n / chunks)`` (so possibly fewer than ``chunks``)."""
    x = _t(x)
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1:
        raise ValueError(f"chunk: chunks={chunks!r} must be an int >= 1")
    n = x.shape[axes("chunk", axis, x.ndim)[0]]
    return split(x, max(-(-n // chunks), 1), axis)


def unflatten(x: Any, axis: int, sizes: Any) -> Tensor:
    """Split axis ``axis`` into ``sizes`` (one ``-1`` allowed)."""
    x = _t(x)
    i = axes("unflatten", axis, x.ndim)[0]
    sizes = _ints("unflatten", tuple(sizes))
    known = int(np.prod([s for s in sizes if s != -1]))
    if sizes.count(-1) > 1 or (x.shape[i] != known if -1 not in sizes else
                               known == 0 or x.shape[i] % known):
        raise ValueError(f"unflatten: sizes {sizes} don't multiply to {x.shape[i]}, the size "
                         f"of axis {axis} of the tensor of shape {x.shape}")
    return x.reshape(x.shape[:i] + sizes + x.shape[i + 1:])


def _tri(fn: Any, name: str) -> Any:
    def rule(a: np.ndarray, *, diagonal: int) -> tuple:
        if a.ndim < 2:
            raise ValueError(f"{name}: needs at least 2 dimensions, got shape {a.shape}")
        return fn(a, diagonal), lambda g: fn(g, diagonal)
    r = op(rule, name=name)
    return lambda x, diagonal=0: r(x, diagonal=diagonal)


tril = _tri(np.tril, "tril")
triu = _tri(np.triu, "triu")


def diagonal(x: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the (dim1, dim2) planes, as the last axis (PyTorch and NumPy)."""
    return _diagonal(x, offset=offset, dim1=dim1, dim2=dim2)


@op(name="diagonal")
def _diagonal(a: np.ndarray, *, offset: int, dim1: int, dim2: int) -> tuple:
    if a.ndim < 2:
        raise ValueError(f"diagonal: needs at least 2 dimensions, got shape {a.shape}")
    i, j = axes("diagonal", (dim1, dim2), a.ndim)
    if i == j:
        raise ValueError(f"diagonal: dim1 and dim2 are the same axis ({dim1}, {dim2})")
    out = np.diagonal(a, offset, i, j).copy()

    def back(g: np.ndarray) -> np.ndarray:
        z = np.zeros_like(a)
        n = g.shape[-1]
        r = np.arange(n) + max(-offset, 0)
        np.moveaxis(z, (i, j), (-2, -1))[..., r, r + offset] = g
        return z
    return out, back


for _name in ["squeeze", "unsqueeze", "expand", "permute", "repeat", "tile", "flip", "roll",
              "split", "chunk", "unflatten", "tril", "triu", "diagonal", "broadcast_to"]:
    setattr(Tensor, _name, globals()[_name])
