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

from typing import Any, Callable, Sequence

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
        g = np.zeros(x.shape)
        for j in np.ndindex(x.shape):  # in place, whatever x's memory layout (a reshape of a
            v = x[j]                    # non-contiguous array would perturb a copy)
            x[j] = v + eps
            fp = f()
            x[j] = v - eps
            fm = f()
            x[j] = v
            g[j] = (fp - fm) / (2 * eps)
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

    for i, (x, t, n) in enumerate(zip(xs, ts, numeric)):
        if n is None:
            continue
        problem = _mismatch(f"gradcheck: input {i}", i, x, t.grad, n, atol, rtol)
        if problem is not None:
            if raise_exception:
                raise problem
            return False
    return True


def _mismatch(what: str, i: int, x: np.ndarray, g: Any, n: np.ndarray, atol: float | None,
              rtol: float | None) -> GradcheckError | None:
    """The error for input ``i`` when its analytic gradient ``g`` and numerical ``n`` differ."""
    if g is None:
        g = np.zeros_like(x)
    elif not isinstance(g, np.ndarray) or g.shape != x.shape or g.dtype != x.dtype:
        return GradcheckError(f"{what}: gradient has shape {np.shape(g)} and dtype "
                              f"{getattr(g, 'dtype', type(g))}, expected {x.shape} and {x.dtype}",
                              index=i)
    d_atol, d_rtol = TOLERANCES.get(x.dtype, (1e-2, 1e-2))
    a_tol, r_tol = (d_atol if atol is None else atol), (d_rtol if rtol is None else rtol)
    a = g.astype(np.float64)
    err = np.abs(a - n)
    if not np.all(np.isfinite(a)) and np.all(np.isfinite(n)):
        bad = np.argwhere(~np.isfinite(a))[0]
        return GradcheckError(f"{what}: analytic gradient is not finite at element "
                              f"{tuple(int(k) for k in bad)}", index=i, analytic=a, numerical=n)
    excess = err - (a_tol + r_tol * np.abs(n))
    if err.size and np.nanmax(excess) > 0 or np.isnan(excess).any():
        flat = int(np.nanargmax(np.where(np.isnan(excess), np.inf, excess)))
        worst = tuple(int(k) for k in np.unravel_index(flat, x.shape))
        rel = err / np.maximum(np.abs(n), 1e-12)
        return GradcheckError(
            f"{what} (shape {x.shape}, {x.dtype}): analytic and numerical "
            f"gradients differ; max abs error {np.nanmax(err):.3g}, max rel error "
            f"{np.nanmax(rel):.3g} (atol={a_tol:g}, rtol={r_tol:g}); worst element {worst}: "
            f"analytic {a[worst]:.6g} vs numerical {n[worst]:.6g}",
            index=i, max_abs=float(np.nanmax(err)), max_rel=float(np.nanmax(rel)),
            worst=worst, analytic=a, numerical=n)
    return None


# (atol, rtol) of an op's forward against its reference, by the dtype the op ran in
FORWARD_TOLERANCES = {np.dtype(np.float64): (1e-10, 1e-8), np.dtype(np.float32): (1e-4, 1e-4)}


def check_op(op: Callable[..., Tensor], nargs: int = 1, *, ref: Callable | None = None,
             domain: Any = (-3.0, 3.0), avoid: Any = (), margin: float = 1e-3,
             distinct: bool = False, shapes: Any = "broadcast", empty: bool = True,
             max_dims: int = 3, max_side: int = 4, options: Any = None, inputs: Any = None,
             dtypes: Sequence[Any] = (np.float64, np.float32), eps: float = 1e-6,
             atol: float | None = None, rtol: float | None = None,
             max_examples: int | None = None) -> None:
    """Check an op (yours or a built-in) on inputs drawn by hypothesis; raise on any defect.

    Call it from a plain test function (not from inside another ``@given`` test)::

        def test_softplus():
            check_op(softplus, ref=lambda x: np.log1p(np.exp(x)))

    What is drawn (unless ``inputs`` is given):

    - ``nargs`` float arrays; their shapes are ``shapes``: ``"broadcast"`` (default: shapes
      that broadcast together, missing and size-1 axes included), ``"same"``, or a hypothesis
      strategy of ``nargs``-tuples of shapes. Shapes have ``0..max_dims`` axes (0-d included)
      of length ``0..max_side`` (``empty=False``: at least 1; pass it for ops undefined on
      size-0 input, such as ``max``);
    - values in ``domain`` (``(lo, hi)``, or one such pair per input), moved at least
      ``margin`` away from every point in ``avoid`` (kinks and poles: ``(0.0,)`` for relu or
      1/x; a tuple of points, or one tuple per input); ``distinct=True`` keeps all values of
      all inputs pairwise apart (no ties: max, min, maximum);
    - keyword ``options`` passed to both ``op`` and ``ref``: a dict, a strategy of dicts, or
      a function of the tuple of input shapes returning either (e.g. a valid ``axis``).

    ``inputs`` replaces all of that: a strategy of ``(arrays, options)`` with ``arrays`` a
    tuple of float64 ndarrays (for ops whose inputs constrain each other, like matmul).

    For every example and every dtype in ``dtypes`` (inputs cast to it), it checks:

    - ``op(*tensors, **options)`` returns a Tensor of the inputs' dtype (float32 stays
      float32), equal to ``ref(*float64 arrays, **options)`` (when ``ref`` is given) in shape
      and in value (``FORWARD_TOLERANCES``), and the same under ``no_grad()``;
    - backward with a random cotangent ``v`` leaves the input arrays unchanged, gives every
      float input a gradient of its own shape and dtype, equal to the float64 central
      differences of ``sum(op(...) * v)`` (step ``eps``) within ``atol``/``rtol``
      (default by dtype, see ``TOLERANCES``: float32 at float32 tolerances).

    A failure raises :class:`GradcheckError` (an AssertionError) naming the op, the input,
    the inputs and options, and the plain gradient of ``sum(op(...))`` (analytic against
    numerical, not only the projection on ``v``); hypothesis then shrinks the example.
    ``max_examples`` overrides the hypothesis profile's number of examples.
    """
    from hypothesis import given, settings, strategies as st

    name = getattr(op, "__name__", None) or repr(op)
    if inputs is None:
        inputs = _op_inputs(nargs, domain, avoid, margin, distinct, shapes, empty, max_dims,
                            max_side, options)

    @given(case=inputs, seed=st.integers(0, 2**32 - 1))
    def run(case: tuple, seed: int) -> None:
        xs, opts = case
        _check_case(name, op, tuple(np.asarray(x) for x in xs), dict(opts), ref, dtypes, eps,
                    atol, rtol, seed)

    if max_examples is not None:
        run = settings(max_examples=max_examples)(run)
    run()


def _per_input(value: Any, nargs: int, is_one: Callable[[Any], bool]) -> list:
    return [value] * nargs if is_one(value) else list(value)


def _op_inputs(nargs: int, domain: Any, avoid: Any, margin: float, distinct: bool, shapes: Any,
               empty: bool, max_dims: int, max_side: int, options: Any) -> Any:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    from .strategies import _separate

    domains = _per_input(domain, nargs, lambda d: np.isscalar(d[0]))
    avoids = _per_input(avoid, nargs, lambda a: all(np.isscalar(k) for k in a))
    if len(domains) != nargs or len(avoids) != nargs:
        raise ValueError(f"check_op: domain and avoid need one entry per input ({nargs}), got "
                         f"{len(domains)} and {len(avoids)}")
    lo = 0 if empty else 1
    if shapes == "broadcast":
        shapes = hnp.mutually_broadcastable_shapes(
            num_shapes=nargs, min_dims=0, max_dims=max_dims, min_side=lo,
            max_side=max_side).map(lambda b: b.input_shapes)
    elif shapes == "same":
        shapes = hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=lo,
                                  max_side=max_side).map(lambda s: (s,) * nargs)

    @st.composite
    def draw(d: Any) -> tuple:
        shs = d(shapes)
        xs = []
        for s, (a, b), av in zip(shs, domains, avoids):
            el = st.floats(float(a), float(b), allow_nan=False, allow_infinity=False)
            x = np.array(d(hnp.arrays(np.float64, s, elements=el)), dtype=np.float64)
            xs.append(_separate(x, tuple(float(k) for k in av), margin, None))
        if distinct:  # jointly: no ties within or across inputs
            flat = _separate(np.concatenate([x.reshape(-1) for x in xs]),
                             tuple(float(k) for av in avoids for k in av), margin, 1e-4)
            cuts = np.cumsum([x.size for x in xs])[:-1]
            xs = [p.reshape(x.shape) for p, x in zip(np.split(flat, cuts), xs)]
        opts = options(shs) if callable(options) else options
        if isinstance(opts, st.SearchStrategy):
            opts = d(opts)
        return tuple(xs), dict(opts or {})
    return draw()


def _show(x: Any) -> str:
    return np.array2string(np.asarray(x), precision=6, threshold=40, separator=", ")


def _check_case(name: str, op: Callable, xs: tuple, opts: dict, ref: Callable | None,
                dtypes: Sequence[Any], eps: float, atol: float | None, rtol: float | None,
                seed: int) -> None:
    where = (f"check_op({name}) at inputs {', '.join(_show(x) for x in xs)}"
             + (f" with options {opts}" if opts else ""))
    expected = None
    if ref is not None:
        expected = np.asarray(ref(*[x.copy() for x in xs], **opts), dtype=np.float64)
    for dt in map(np.dtype, dtypes):
        xd = [x.astype(dt) if x.dtype.kind == "f" else x for x in xs]
        kept = [x.copy() for x in xd]
        ts = [Tensor(x, requires_grad=x.dtype.kind == "f") for x in xd]
        out = op(*ts, **opts)
        if not isinstance(out, Tensor):
            raise GradcheckError(f"{where}: returned {type(out).__name__}, not a Tensor")
        if out.dtype != dt:
            raise GradcheckError(f"{where}: {dt} inputs gave a {out.dtype} output")
        f_atol, f_rtol = FORWARD_TOLERANCES.get(dt, (1e-2, 1e-2))
        if expected is not None:
            if out.shape != expected.shape:
                raise GradcheckError(f"{where}: output shape {out.shape}, reference shape "
                                     f"{expected.shape}")
            if not np.allclose(out.data, expected, rtol=f_rtol, atol=f_atol, equal_nan=True):
                raise GradcheckError(f"{where}: {dt} output {_show(out.data)} differs from the "
                                     f"reference {_show(expected)}")
        with no_grad():
            plain = op(*[Tensor(x) for x in xd], **opts)
        if plain.shape != out.shape or not np.allclose(plain.data, out.data, rtol=f_rtol,
                                                       atol=f_atol, equal_nan=True):
            raise GradcheckError(f"{where}: the output under no_grad() differs: "
                                 f"{_show(plain.data)} vs {_show(out.data)}")
        v = np.random.default_rng(seed).standard_normal(out.shape)
        if out.requires_grad:
            out.backward(v.astype(dt))
        for i, (x, k) in enumerate(zip(xd, kept)):
            if not np.array_equal(x, k, equal_nan=True):
                raise GradcheckError(f"{where}: input {i} was modified in place "
                                     f"({_show(k)} -> {_show(x)})", index=i)
        x64 = [x.astype(np.float64) if x.dtype.kind == "f" else x for x in xd]
        call = lambda *a: op(*a, **opts)
        numeric = numerical_grad(call, *x64, eps=eps, cotangent=v)
        for i, (x, t, n) in enumerate(zip(xd, ts, numeric)):
            if n is None:
                continue
            problem = _mismatch(f"{where}: input {i}, gradient of sum(out * v)", i, x, t.grad,
                                n, atol, rtol)
            if problem is not None:
                raise GradcheckError(f"{problem}; plain gradient of sum(out): "
                                     f"{_plain(call, xd, i)}", index=i,
                                     max_abs=problem.max_abs, max_rel=problem.max_rel,
                                     worst=problem.worst, analytic=problem.analytic,
                                     numerical=problem.numerical) from None


def _plain(call: Callable, xd: list, i: int) -> str:
    ts = [Tensor(x, requires_grad=x.dtype.kind == "f") for x in xd]
    out = call(*ts)
    if out.requires_grad:
        out.backward(np.ones(out.shape, out.dtype))
    g = ts[i].grad if ts[i].grad is not None else np.zeros_like(xd[i])
    n = numerical_grad(call, *[x.astype(np.float64) if x.dtype.kind == "f" else x for x in xd])[i]
    return f"analytic {_show(g)} vs numerical {_show(n)}"
