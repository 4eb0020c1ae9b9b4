"""Finite-difference gradient checking for functions of Tensors.

``gradcheck(fn, *arrays)`` compares the engine's gradient of ``sum(fn(*xs) * v)`` (``v`` a
seeded random cotangent, so every output element matters with its own weight) with central
differences computed in float64. Use it on your own ops, layers and norm plugins::

    from tinygrad_init.testing import gradcheck
    gradcheck(lambda x, w: (x @ w).tanh(), np.random.randn(3, 4), np.random.randn(4, 2))

Inputs near a kink (relu/abs at 0, clip bounds) or with ties (max, min, max_pool) have no
well-defined derivative; draw them with ``tinygrad_init.testing.arrays(..., avoid=..., distinct=True)``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..tensor import Tensor, no_grad

# (atol, rtol) by the dtype the analytic gradient is computed in; numerical side is float64.
TOLERANCES = {np.dtype(np.float64): (1e-5, 1e-3), np.dtype(np.float32): (1e-2, 1e-2),
              np.dtype(np.float16): (1e-1, 1e-1)}


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when analytic and numerical gradients disagree.

    Attributes: ``index`` (which input), ``max_abs``, ``max_rel``, ``worst`` (element index),
    ``analytic`` and ``numerical`` (the full gradients for that input).
    """

    def __init__(self, message: str, index: int = -1, max_abs: float = float("nan"),
                 max_rel: float = float("nan"), worst: tuple = (),
                 analytic: Any = None, numerical: Any = None) -> None:
        super().__init__(message)
        self.index, self.max_abs, self.max_rel, self.worst = index, max_abs, max_rel, worst
        self.analytic, self.numerical = analytic, numerical


def _as_input(a: Any) -> np.ndarray:
    a = a.data if isinstance(a, Tensor) else a
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"gradcheck: inputs must be numeric arrays, got dtype {arr.dtype}")
    return arr


def _cotangent(out: Any, seed: int) -> np.ndarray:
    shape = np.shape(out.data if isinstance(out, Tensor) else out)
    return np.random.default_rng(seed).standard_normal(shape)


def numerical_grad(fn: Callable[..., Tensor], *arrays: Any, eps: float = 1e-6,
                   cotangent: Any = None) -> list:
    """Central-difference gradient of ``sum(fn(*xs) * cotangent)`` in float64.

    ``fn`` takes Tensors and returns a Tensor; ``cotangent`` defaults to ones (so a scalar
    output gives its plain gradient). Returns one float64 array per input; integer/bool
    inputs are passed through unchanged and get ``None``.
    """
    xs = [_as_input(a) for a in arrays]
    xs = [x.astype(np.float64) if x.dtype.kind == "f" else x for x in xs]

    def f() -> float:
        with no_grad():
            out = fn(*[Tensor(x) for x in xs])
        o = np.asarray(out.data if isinstance(out, Tensor) else out, dtype=np.float64)
        return float((o * (1.0 if cotangent is None else cotangent)).sum())

    grads: list = []
    for x in xs:
        if x.dtype.kind != "f":
            grads.append(None)
            continue
        g = np.zeros_like(x)
        flat, gflat = x.reshape(-1), g.reshape(-1)
        for j in range(flat.size):
            v = flat[j]
            flat[j] = v + eps
            fp = f()
            flat[j] = v - eps
            fm = f()
            flat[j] = v
            gflat[j] = (fp - fm) / (2 * eps)
        grads.append(g)
    return grads


def gradcheck(fn: Callable[..., Tensor], *arrays: Any, eps: float = 1e-6, atol: float | None = None,
              rtol: float | None = None, raise_exception: bool = True, seed: int = 0) -> bool:
    """Check ``fn``'s backward against central differences.

    ``arrays`` are ndarrays (or Tensors); float ones become ``Tensor(x, requires_grad=True)``
    in their own dtype (pass float64 for a tight check), integer/bool ones are passed as
    constant Tensors. The analytic gradient is that of ``sum(fn(*xs) * v)`` with ``v`` a
    standard-normal cotangent drawn from ``seed``; the numerical one is taken in float64 with
    step ``eps``. An element fails when ``|analytic - numerical| > atol + rtol * |numerical|``;
    ``atol``/``rtol`` default by dtype (float64: 1e-5/1e-3, float32: 1e-2/1e-2).

    Returns True, or raises :class:`GradcheckError` naming the input index, the max absolute
    and relative errors and the worst element (returns False instead when
    ``raise_exception=False``). Also fails when a gradient has the wrong shape or dtype.
    """
    xs = [_as_input(a) for a in arrays]
    ts = [Tensor(x, requires_grad=x.dtype.kind == "f") for x in xs]
    out = fn(*ts)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    v = _cotangent(out, seed)
    if out._rg:
        (out * Tensor(v.astype(out.dtype) if out.dtype.kind == "f" else v)).sum().backward()
    numeric = numerical_grad(fn, *xs, eps=eps, cotangent=v)

    def fail(msg: str, **kw: Any) -> bool:
        if raise_exception:
            raise GradcheckError(msg, **kw)
        return False

    for i, (x, t, n) in enumerate(zip(xs, ts, numeric)):
        if n is None:
            continue
        g = t.grad
        if g is None:
            g = np.zeros_like(x)
        elif not isinstance(g, np.ndarray) or g.shape != x.shape or g.dtype != x.dtype:
            return fail(f"gradcheck: input {i}: gradient has shape {np.shape(g)} and dtype "
                        f"{getattr(g, 'dtype', type(g))}, expected {x.shape} and {x.dtype}",
                        index=i)
        d_atol, d_rtol = TOLERANCES.get(x.dtype, (1e-2, 1e-2))
        a_tol, r_tol = (d_atol if atol is None else atol), (d_rtol if rtol is None else rtol)
        a = g.astype(np.float64)
        err = np.abs(a - n)
        if not np.all(np.isfinite(a)) and np.all(np.isfinite(n)):
            bad = np.argwhere(~np.isfinite(a))[0]
            return fail(f"gradcheck: input {i}: analytic gradient is not finite at element "
                        f"{tuple(int(k) for k in bad)}", index=i, analytic=a, numerical=n)
        excess = err - (a_tol + r_tol * np.abs(n))
        if err.size and np.nanmax(excess) > 0 or np.isnan(excess).any():
            flat = int(np.nanargmax(np.where(np.isnan(excess), np.inf, excess)))
            worst = tuple(int(k) for k in np.unravel_index(flat, x.shape))
            rel = err / np.maximum(np.abs(n), 1e-12)
            return fail(
                f"gradcheck: input {i} (shape {x.shape}, {x.dtype}): analytic and numerical "
                f"gradients differ; max abs error {np.nanmax(err):.3g}, max rel error "
                f"{np.nanmax(rel):.3g} (atol={a_tol:g}, rtol={r_tol:g}); worst element {worst}: "
                f"analytic {a[worst]:.6g} vs numerical {n[worst]:.6g}",
                index=i, max_abs=float(np.nanmax(err)), max_rel=float(np.nanmax(rel)),
                worst=worst, analytic=a, numerical=n)
    return True
