"""A tiny reverse-mode autograd engine on NumPy.

Every op is a *rule* made differentiable by :func:`op`: the rule maps ndarrays to an output
and a backward that maps the output's gradient to one gradient per input. Built-in ops and
user ops are made the same way. ``op`` owns grad mode, dtype rules and non-Tensor operands;
the walker in ``Tensor.backward`` undoes broadcasting and checks every gradient per edge.

Dtype rules: float ndarrays keep their dtype (float64 stays float64, so gradcheck runs in
float64); Python/NumPy scalars and lists become float32 (ints and bools included) unless
``dtype`` is given; integer/bool *ndarrays* stay integer and can never require grad.
Non-Tensor operands of an op (Python/NumPy scalars, lists, ndarrays) take the op's float
dtype, so ``Tensor(float32) * 2.5`` and ``Tensor(float32) - np.float64(1)`` stay float32.
"""
from __future__ import annotations

import math
import threading
from typing import Any, Callable, Sequence

import numpy as np

_ndarray = np.ndarray
_new = object.__new__
_AxisError = np.exceptions.AxisError


class _GradMode(threading.local):
    enabled = True  # per thread, so one thread's no_grad() can't stop another's training


_mode = _GradMode()


class no_grad:
    """Context manager (and decorator) that disables graph building inside it (this thread)."""

    __slots__ = ("_prev",)

    def __enter__(self) -> "no_grad":
        self._prev, _mode.enabled = _mode.enabled, False
        return self

    def __exit__(self, *exc: Any) -> None:
        _mode.enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        import functools

        @functools.wraps(fn)
        def wrapper(*a: Any, **k: Any) -> Any:
            with no_grad():
                return fn(*a, **k)
        return wrapper


def is_grad_enabled() -> bool:
    """True unless inside a ``no_grad()`` block."""
    return _mode.enabled


def _released(g: Any) -> Any:
    raise RuntimeError("backward: trying to backward through the graph a second time (its "
                       "intermediate values were freed after the first backward); pass "
                       "retain_graph=True to the first backward() call")


def _as_array(data: Any, dtype: Any, what: str = "Tensor") -> np.ndarray:
    """Validate and convert user data; ints/bools only stay integer when given as ndarrays."""
    if dtype is not None:
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"{what}: invalid dtype {dtype!r}") from None
        if dt.kind not in "fiub":
            raise TypeError(f"{what}: dtype must be a float, int or bool dtype, got {dt}")
    if isinstance(data, _ndarray):
        arr = data
    else:
        try:
            arr = np.asarray(data)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{what}: data must be a rectangular numeric array, got a ragged "
                             f"or invalid {type(data).__name__} ({e})") from None
        if dtype is None and arr.dtype.kind in "fiub":
            arr = arr.astype(np.float32)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{what}: data must be numeric (float, int or bool), got dtype "
                        f"{arr.dtype} from {type(data).__name__}")
    if dtype is not None and arr.dtype != dt:
        arr = arr.astype(dt)
    return arr


def _const(data: Any) -> "Tensor":
    t = _new(Tensor)
    t.data = data if data.__class__ is _ndarray else np.asarray(data)
    t.grad = None
    t._rg = False
    t._prev = ()
    t._backward = None
    t._op = None
    return t


def _node(data: Any, prev: tuple, backward: Any, name: str = "op") -> "Tensor":
    t = _new(Tensor)
    t.data = data if data.__class__ is _ndarray else np.asarray(data)
    t.grad = None
    t._rg = True
    t._prev = prev
    t._backward = backward
    t._op = name
    return t


class OpError(ValueError):
    """An op's backward returned gradients that don't fit its inputs."""


def _operand(a: Any, ref: Any) -> Any:
    """A non-Tensor operand as the rule sees it: Python scalars stay weak (never upcast a float
    Tensor), NumPy scalars and numeric arrays take the op's float dtype ``ref`` (bool arrays
    stay bool: masks); with no float Tensor among the operands, Python floats and lists become
    float32 (so ``where(c, 1.0, 3.0)`` is float32 like every Tensor made from Python numbers)."""
    cls = a.__class__
    if cls is float or cls is int or cls is bool:
        return a if ref is not None or cls is not float else np.float32(a)
    if isinstance(a, np.generic) and a.ndim == 0 and a.dtype.kind in "fiub":
        return a.item() if ref is not None else a
    arr = _as_array(a, None, "operand")
    return arr.astype(ref) if ref is not None and arr.dtype.kind in "fiu" and arr.dtype != ref else arr


def op(fn: Callable | None = None, *, name: str | None = None) -> Callable:
    """Make a differentiable op from a rule (the one mechanism every built-in op uses too).

    The rule takes ndarrays (one per positional operand; keyword arguments are passed through
    as options) and returns ``(out, backward)``. ``backward`` is either

    - one function ``backward(g)`` returning one gradient per positional operand (a tuple, or
      a bare array for a single operand; ``None`` where there is none), or
    - a tuple of functions, one per operand (``None`` for no gradient): only those of operands
      that need a gradient are called, so constants cost nothing (``x @ w`` with a constant
      ``x`` never computes ``g @ w.T``);

    or ``None`` for an op without gradients. A gradient may be shaped like the output where
    the op broadcast its input: the walker sums it down to the input's shape, then checks its
    shape and dtype (an :class:`OpError` names the op, the input and both shapes). The
    decorated function takes Tensors or anything array-like and returns a Tensor; it handles
    grad mode, dtypes and non-Tensor operands::

        @tgi.op
        def softplus(x):
            return np.logaddexp(0, x), lambda g: g / (1 + np.exp(-x))
    """
    if fn is None:
        return lambda f: op(f, name=name)
    opname = name or fn.__name__

    def apply(*args: Any, **options: Any) -> "Tensor":
        n = len(args)
        a = args[0] if n else None
        if n < 3 and isinstance(a, Tensor):  # fast paths (measured, benchmarks/README.md)
            b = args[1] if n == 2 else None
            if n == 1:
                datas, prev, rg = (a.data,), args, a._rg
            elif isinstance(b, Tensor):
                datas, prev, rg = (a.data, b.data), args, a._rg or b._rg
            elif (b.__class__ is float or b.__class__ is int) and a.data.dtype.kind == "f":
                datas, prev, rg = (a.data, b), (a, _NO), a._rg
            else:
                datas, prev, rg = _operands(args)
        elif n == 3 and isinstance(a, Tensor) and isinstance(args[1], Tensor) and isinstance(args[2], Tensor):
            datas, prev, rg = (a.data, args[1].data, args[2].data), args, a._rg or args[1]._rg or args[2]._rg
        else:
            datas, prev, rg = _operands(args)
        try:
            out, back = fn(*datas, **options)
        except ValueError as e:
            raise _operand_error(opname, datas, e, options) from None
        if back is None or not (rg and _mode.enabled):
            return _const(out)
        if back.__class__ is tuple and len(back) != n:
            raise OpError(f"{opname}: the rule returned {len(back)} backward functions for "
                          f"{n} inputs")
        return _node(out, prev, back, opname)

    apply.__name__ = apply.__qualname__ = opname
    apply.__doc__ = fn.__doc__
    apply.__wrapped__ = fn
    apply.rule = fn
    return apply


def _operands(args: tuple) -> tuple:
    """(operand arrays for the rule, parents for the node, whether any input needs a grad)."""
    ref, rg, datas, prev = None, False, [], []
    for a in args:
        if isinstance(a, Tensor):
            rg = rg or a._rg
            if ref is None and a.data.dtype.kind == "f":
                ref = a.data.dtype
    for a in args:
        if isinstance(a, Tensor):
            datas.append(a.data)
            prev.append(a)
        else:
            datas.append(_operand(a, ref))
            prev.append(_NO)
    return datas, tuple(prev), rg


def _operand_error(opname: str, datas: list, e: ValueError, options: dict) -> ValueError:
    """A rule's ValueError, reworded to name the op, the operands' shapes and the axis."""
    shapes = [np.shape(d) for d in datas]
    if str(e).startswith(f"{opname}:"):
        return e
    if isinstance(e, _AxisError):
        return ValueError(f"{opname}: axis {options.get('axis')} is out of bounds for a tensor "
                          f"of shape {shapes[0]}")
    if len(shapes) > 1:
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            return ValueError(f"{opname}: shapes {' and '.join(map(str, shapes))} cannot be "
                              f"broadcast together")
    return ValueError(f"{opname}: {e} (input shapes {', '.join(map(str, shapes))})")


def _fit(node: "Tensor", i: int, p: "Tensor", pg: Any) -> np.ndarray:
    """Gradient ``pg`` of input ``i`` of ``node`` as an array of ``p``'s shape and dtype.

    A gradient shaped like the node's output is summed over the broadcast axes (undoing
    broadcasting, once per edge, here and not in every rule), and one of the output's dtype is
    cast to the input's (type promotion); any other mismatch of shape or dtype is an error:
    the walker never broadcasts or casts a gradient silently."""
    shape, dt = p.data.shape, p.data.dtype
    arr = pg if pg.__class__ is _ndarray else np.asarray(pg)
    if arr.shape != shape and arr.shape == node.data.shape:
        arr = np.asarray(_unb(arr, shape))
    if arr.shape != shape:
        raise OpError(f"{node._op}: backward returned a gradient of shape {arr.shape} for input "
                      f"{i} of shape {shape} (output shape {node.data.shape})")
    if arr.dtype != dt and arr.dtype == node.data.dtype:
        arr = arr.astype(dt)  # the output was promoted (float32 * float64): back to the input's
    if arr.dtype != dt:
        raise OpError(f"{node._op}: backward returned a {arr.dtype} gradient for input {i} of "
                      f"dtype {dt} (shape {shape})")
    return arr


def _unb(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Undo broadcasting: sum g down to shape."""
    if g.shape == shape:
        return g
    nd = g.ndim - len(shape)
    if nd:
        g = np.add.reduce(g, tuple(range(nd)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return np.add.reduce(g, axes, keepdims=True) if axes else g


def _own(pg: np.ndarray, g: np.ndarray, pgs: Any, i: int) -> np.ndarray:
    """The leaf-gradient ownership rule: a leaf's ``.grad`` must be an array nobody else holds,
    because optimizers and users update it in place. A gradient is kept as it is when the rule
    made it fresh, and copied when it is the incoming gradient itself, a view of another
    array, or the same object given to another input of the node."""
    if pg is g or pg.base is not None:
        return pg.copy()
    for j, q in enumerate(pgs):
        if q is pg and j != i:
            return pg.copy()
    return pg


def _as_grads(n: "Tensor", pgs: Any) -> Any:
    """A single-function backward's result as one gradient per input, or an OpError."""
    pgs = pgs if pgs.__class__ is list or pgs.__class__ is tuple else (pgs,)
    if len(pgs) != len(n._prev):
        raise OpError(f"{n._op}: backward returned {len(pgs)} gradients for {len(n._prev)} inputs")
    return pgs


def _consumers(root: "Tensor") -> dict:
    """How many nodes reachable from ``root`` consume each non-leaf node (iteratively)."""
    deps, stack = {root: 0}, [root]
    while stack:
        for p in stack.pop()._prev:
            if p._backward is not None and p._rg:
                if p in deps:
                    deps[p] += 1
                else:
                    if p._backward is _released:
                        _released(None)
                    deps[p] = 1
                    stack.append(p)
    return deps


def _axis(axis: Any) -> Any:
    return tuple(axis) if axis.__class__ is list else axis


def _kshape(axis: Any, shape: tuple) -> tuple:
    """Shape of a keepdims=True reduction over axis."""
    if axis is None or not shape:  # a 0-d tensor takes axis 0/-1 (PyTorch): nothing reduced
        return (1,) * len(shape)
    axes = {a % len(shape) for a in ((axis,) if isinstance(axis, (int, np.integer)) else axis)}
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _expand(g: Any, ks: tuple, shape: tuple) -> np.ndarray:
    """Broadcast a reduced gradient (keepdims shape ks) back to shape, as a new array
    (np.broadcast_to and np.expand_dims cost microseconds of Python each)."""
    out = np.empty(shape, g.dtype)
    out[...] = g.reshape(ks)
    return out


def _pair(v: Any, name: str) -> tuple:
    t = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != 2 or not all(isinstance(x, (int, np.integer)) for x in t):
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return int(t[0]), int(t[1])


def _number(opname: str, field: str, v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{opname}: {field} must be a number, got {type(v).__name__} {v!r}")
    return float(v)


class Tensor:
    """An n-d array with an optional gradient.

    ``Tensor(data, requires_grad=False, dtype=None)``. ``data`` is kept without copying when
    it is already an ndarray of the target dtype. Float ndarrays keep their dtype; Python
    numbers and lists become float32 unless ``dtype`` is given; integer/bool ndarrays stay
    integer and cannot require grad. ``.grad`` has the shape and dtype of ``.data`` and
    accumulates across ``backward()`` calls.
    """

    __slots__ = ("data", "grad", "_rg", "_prev", "_backward", "_op", "__weakref__")
    __array_ufunc__ = None  # so `ndarray * Tensor` defers to Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data = _as_array(data, dtype)
        self.grad = None
        self._prev = ()
        self._backward = None
        self._op = None
        self._rg = False
        self.requires_grad = requires_grad

    # -- attributes ---------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind != "f":
            raise TypeError(f"Tensor: requires_grad=True needs float data, got dtype "
                            f"{self.data.dtype}; pass dtype=np.float32 or float values")
        self._rg = bool(value)

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)
    is_leaf = property(lambda self: self._backward is None)
    T = property(lambda self: self.transpose())

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> Any:
        return self.data.item()

    def detach(self) -> "Tensor":
        """A Tensor sharing this data, cut from the graph (requires_grad=False)."""
        return _const(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self) -> str:
        rg = ", requires_grad=True" if self._rg else ""
        return f"Tensor({np.array2string(self.data, separator=', ', prefix='Tensor(')}, dtype={self.data.dtype}{rg})"

    # -- backward -----------------------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) * grad into every leaf's ``.grad``.

        ``grad`` defaults to 1 and must be given for non-scalar tensors. The graph's closures
        and parent links are released afterwards unless ``retain_graph=True``.
        """
        if not self._rg:
            raise RuntimeError("backward: tensor does not require grad (no input had "
                               "requires_grad=True, or it was built under no_grad())")
        g = self._seed(grad)
        if self._backward is None:
            if self.grad is None:
                self.grad = g
            else:
                self.grad += g
            return
        if self._backward is _released:
            _released(None)
        # Kahn's order: a node runs once all its consumers have passed their gradients to it
        deps = _consumers(self)
        pending, ready = {}, [(self, g)]  # pending: partial sums of nodes with consumers left
        while ready:
            n, g = ready.pop()
            back, prev = n._backward, n._prev
            if back.__class__ is tuple:  # one function per input: call only those needed
                pgs = [None if f is None or not p._rg else f(g) for f, p in zip(back, prev)]
            else:
                pgs = back(g)
                if pgs.__class__ is not tuple or len(pgs) != len(prev):
                    pgs = _as_grads(n, pgs)
            if not retain_graph:
                n._prev, n._backward = (), _released
            for i, p in enumerate(prev):
                pg = pgs[i]
                if pg is None or not p._rg:
                    continue
                if pg.__class__ is not _ndarray or pg.shape != p.data.shape or pg.dtype != p.data.dtype:
                    pg = _fit(n, i, p, pg)
                if p._backward is None:  # a leaf
                    if p.grad is None:
                        p.grad = _own(pg, g, pgs, i)
                    else:
                        p.grad += pg
                    continue
                c = deps[p] - 1
                if c:
                    deps[p] = c
                    pending[p] = pending[p] + pg if p in pending else pg
                else:  # its last consumer: drop it from deps, so a node done with is freed at once
                    del deps[p]
                    ready.append((p, pending.pop(p) + pg if p in pending else pg))

    def _seed(self, grad: Any) -> np.ndarray:
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: grad can be implicitly created only for a "
                                   f"single-element tensor, got shape {self.data.shape}; "
                                   f"pass grad= of that shape")
            return np.ones_like(self.data)
        g = grad.data if isinstance(grad, Tensor) else grad
        kind = getattr(g, "dtype", None).kind if isinstance(g, (_ndarray, np.generic)) else None
        if kind is None:
            try:
                kind = np.asarray(g).dtype.kind
            except (TypeError, ValueError):
                kind = "?"
        if kind not in "fiub":
            raise TypeError(f"backward: grad must be numbers of shape {self.data.shape}, got "
                            f"{type(g).__name__} {g!r:.60}")
        g = np.array(g, dtype=self.data.dtype)  # own copy: leaves may keep it
        if g.shape != self.data.shape:
            raise ValueError(f"backward: grad has shape {g.shape} but the tensor has "
                             f"shape {self.data.shape}")
        return g

    # -- methods: the ops (rules below the class; operators bound at the end of the file) ----
    def abs(self) -> "Tensor":
        return mul(self, np.sign(self.data))  # |x| = x sign(x); gradient sign(x), 0 at 0 (PyTorch)

    __abs__ = abs

    def linear(self, weight: "Tensor", bias: "Tensor | None" = None) -> "Tensor":
        """``self @ weight.T + bias`` as one node (PyTorch's F.linear; weight (out, in))."""
        return linear(self, weight) if bias is None else linear(self, weight, bias)

    def leaky_relu(self, negative_slope: float = 0.01) -> "Tensor":
        return leaky_relu(self, slope=_number("leaky_relu", "negative_slope", negative_slope))

    def astype(self, dtype: Any) -> "Tensor":
        return astype(self, dtype=np.dtype(dtype))

    def log_softmax(self, axis: int = -1) -> "Tensor":
        return log_softmax(self, axis=axis)

    def softmax(self, axis: int = -1) -> "Tensor":
        try:
            return log_softmax(self, axis=axis).exp()  # exp(x - logsumexp x): stable, two nodes
        except ValueError as e:
            raise _renamed(e, "softmax") from None

    def clip(self, lo: Any = None, hi: Any = None) -> "Tensor":
        """Values clamped to ``[lo, hi]`` (either may be None); gradient 1 inside, bounds
        included, 0 outside (PyTorch's clamp)."""
        lo, hi = (v.item() if isinstance(v, np.generic) else v for v in (lo, hi))  # stay weak
        if lo is None and hi is None:
            raise ValueError("clip: at least one of lo and hi must be given")
        if lo is not None and hi is not None and np.any(np.asarray(lo) > np.asarray(hi)):
            raise ValueError(f"clip: lo {lo!r} is above hi {hi!r}")
        a = self.data
        keep = (a >= lo) if hi is None else (a <= hi) if lo is None else (a >= lo) & (a <= hi)
        return where(keep, self, np.clip(a, lo, hi))

    # -- reductions ---------------------------------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return sum_(self, axis=_axis(axis), keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        try:
            s = sum_(self, axis=_axis(axis), keepdims=keepdims)
        except ValueError as e:
            raise _renamed(e, "mean") from None
        return s / (self.data.size // s.data.size if s.data.size else 1)

    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> "Tensor":
        """Variance with ``ddof`` (PyTorch's ``correction``): ``sum((x - mean)^2) / max(0, N -
        ddof)``, so ddof >= N gives inf (nan for zero deviations), never a negative value."""
        axis = _axis(axis)
        c = self - self.mean(axis, keepdims=True)
        ss = (c * c).sum(axis, keepdims=keepdims)
        d = max(self.data.size // ss.data.size if ss.data.size else 1, 0) - ddof
        if d > 0:
            return ss / d
        with np.errstate(divide="ignore", invalid="ignore"):
            return ss / 0

    def max(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return max_(self, axis=_axis(axis), keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return min_(self, axis=_axis(axis), keepdims=keepdims)

    # -- shape --------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> "Tensor":
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = tuple(shape[0])
        return reshape(self, shape=shape)

    def transpose(self, *axes: Any) -> "Tensor":
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = tuple(axes[0])
        return transpose(self, axes=axes or tuple(range(self.data.ndim - 1, -1, -1)))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        s = self.data.shape
        if not s:
            return self.reshape(1)
        n = len(s)
        if not (-n <= start_dim < n and -n <= end_dim < n):
            raise ValueError(f"flatten: start_dim={start_dim}, end_dim={end_dim} are out of "
                             f"range for a tensor of shape {s}")
        i, j = start_dim % n, end_dim % n
        return self.reshape(s[:i] + (math.prod(s[i:j + 1]),) + s[j + 1:])

    def __getitem__(self, idx: Any) -> "Tensor":
        if isinstance(idx, Tensor):
            idx = idx.data
        elif isinstance(idx, tuple) and any(isinstance(i, Tensor) for i in idx):
            idx = tuple(i.data if isinstance(i, Tensor) else i for i in idx)
        return getitem(self, idx=idx)

    def pad(self, pad_width: Any, value: float = 0.0, mode: str = "constant") -> "Tensor":
        """``pad_width`` as in ``np.pad``; ``mode`` constant, reflect, replicate or circular
        (one rule for all of them, in conv.py)."""
        from .conv import pad
        return pad(self, pad_width, mode, value)


_NO = _const(np.zeros((), np.float32))  # placeholder parent for non-Tensor operands


# -- primitive rules ----------------------------------------------------------------------------
# Each rule: ndarrays in, (output, backward) out; a gradient may be shaped like the output where
# the op broadcast (the walker sums it down). A tuple of backwards: one per operand, called only
# for operands that need a gradient.
def _ident(g):
    return g


_ADD_BACK = (_ident, _ident)  # one shared tuple: no objects per node for the collector to scan


@op
def add(a, b):
    return a + b, _ADD_BACK


@op
def mul(a, b):
    if b.__class__ is float or b.__class__ is int:  # x * 2.5: one closure, not two (measured)
        return a * b, lambda g: (g * b, None)
    return a * b, (lambda g: g * b, lambda g: g * a)


@op
def div(a, b):  # a primitive, not a * b**-1: one rounding, as PyTorch's true division
    out = a / b
    return out, (lambda g: g / b, lambda g: -g * out / b)


def _log(a: Any) -> Any:
    """log for the exponent's gradient: a weak Python float for a Python base (math.log
    refuses 0 and negatives: -inf and nan as NumPy gives)."""
    if a.__class__ is int or a.__class__ is float:
        return math.log(a) if a > 0 else -math.inf if a == 0 else math.nan
    return np.log(a)


@op
def pow(a, b):
    out = a ** b
    if b.__class__ is int or b.__class__ is float:  # x ** 2, x ** 0.5: the common case
        if b == 2:
            return out, (lambda g: g * 2 * a, None)
        return out, (lambda g: g * b * a ** (b - 1) if b else g * 0, None)

    def ga(g):  # PyTorch: 0 where the exponent is 0, even at a = 0
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(b == 0, 0, g * b * a ** (b - 1))

    def gb(g):  # PyTorch: 0 where the base is 0 and the exponent >= 0
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((a == 0) & (b >= 0), 0, g * out * _log(a))
    return out, (ga, gb)


@op
def matmul(a, b):
    try:
        out = a @ b
    except ValueError:
        raise ValueError(f"matmul: shapes {np.shape(a)} and {np.shape(b)} are not aligned") from None
    if a.ndim == 2 and b.ndim == 2:
        return out, (lambda g: g @ b.T, lambda g: a.T @ g)
    # 1-d operands are promoted (and squeezed back), batch axes broadcast: summed here, since
    # these gradients are not shaped like the output
    a2, b2 = (a if a.ndim > 1 else a[None]), (b if b.ndim > 1 else b[:, None])

    def g2(g):
        g = g if b.ndim > 1 else g[..., None]
        return g if a.ndim > 1 else g[..., None, :]
    return out, (lambda g: _unb(g2(g) @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape),
                 lambda g: _unb(np.swapaxes(a2, -1, -2) @ g2(g), b2.shape).reshape(b.shape))


@op
def linear(x, w, b=None):
    # one node for x @ w.T + b (a measured speed gain, benchmarks/README.md: no transposed
    # weight and no separate bias node; the weight gradient comes out in (out, in) layout)
    try:
        out = x @ w.T
        if b is not None:
            out = out + b if out.ndim == 0 or out.dtype != b.dtype else out.__iadd__(b)
    except ValueError:
        raise ValueError(f"linear: input shape {x.shape}, weight shape {w.shape} and bias "
                         f"shape {None if b is None else b.shape} don't match") from None
    x2 = x if x.ndim == 2 else x.reshape(-1, w.shape[1])
    flat = lambda g: g if g.ndim == 2 else g.reshape(-1, w.shape[0])
    backs = (lambda g: g @ w, lambda g: flat(g).T @ x2, lambda g: np.add.reduce(flat(g), 0))
    return out, backs if b is not None else backs[:2]


@op
def exp(x):
    out = np.exp(x)
    return out, lambda g: g * out


@op
def log(x):
    return np.log(x), lambda g: g / x


@op
def sqrt(x):
    out = np.sqrt(x)
    return out, lambda g: g / (2 * out)


@op
def relu(x):
    out = np.maximum(x, 0)
    return out, lambda g: g * (out > 0)


@op
def leaky_relu(x, slope=0.01):
    m = x > 0
    return np.where(m, x, x * slope), lambda g: np.where(m, g, g * slope)


@op
def sigmoid(x):
    e = np.exp(-np.abs(x))  # never overflows; e/(1+e) keeps relative precision for x << 0
    out = e / (1 + e)
    out = np.where(x >= 0, 1 - out, out)
    return out, lambda g: g * out * (1 - out)


@op
def tanh(x):
    out = np.tanh(x)
    return out, lambda g: g * (1 - out * out)


@op
def log_softmax(x, axis=-1):
    # a primitive for stability: x - max - log(sum(exp(x - max))), backward g - softmax*sum(g)
    if x.size == 0:  # nothing to normalize (log(0) of an empty axis's sum would warn)
        return x.copy(), lambda g: g
    z = x - np.maximum.reduce(x, axis, keepdims=True, initial=-np.inf)
    out = z - np.log(np.add.reduce(np.exp(z), axis, keepdims=True))
    return out, lambda g: g - np.exp(out) * np.add.reduce(g, axis, keepdims=True)


@op
def astype(x, dtype):
    out = x.astype(dtype)
    return out, (lambda g: g.astype(x.dtype)) if out.dtype.kind == "f" else None


# np.add.reduce & co. skip the Python wrappers of ndarray.sum/max (microseconds each)
@op(name="sum")
def sum_(x, axis=None, keepdims=False):
    out = np.add.reduce(x, axis, keepdims=keepdims) if x.dtype.kind == "f" else x.sum(axis, keepdims=keepdims)
    return out, lambda g: _expand(g, _kshape(axis, x.shape), x.shape)


def _extreme(x, axis, keepdims, fn, name):
    try:
        out = fn.reduce(x, axis, keepdims=keepdims)
    except ValueError as e:
        if isinstance(e, _AxisError):
            raise
        raise ValueError(f"{name}: the tensor of shape {x.shape} is empty along axis {axis}; "
                         f"its {name} is undefined") from None

    def back(g):
        m = out.reshape(_kshape(axis, x.shape))
        w = (x == m).astype(x.dtype)  # ties share the gradient equally
        w /= np.add.reduce(w, axis, keepdims=True)
        w *= g.reshape(m.shape)
        return w
    return out, back


@op(name="max")
def max_(x, axis=None, keepdims=False):
    return _extreme(x, axis, keepdims, np.maximum, "max")


@op(name="min")
def min_(x, axis=None, keepdims=False):
    return _extreme(x, axis, keepdims, np.minimum, "min")


@op
def reshape(x, shape):
    try:
        out = x.reshape(shape)
    except (ValueError, TypeError):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} (size {x.size}) "
                         f"into shape {shape}") from None
    return out, lambda g: g.reshape(x.shape)


@op
def transpose(x, axes):
    try:
        out = x.transpose(axes)
    except ValueError:
        raise ValueError(f"transpose: axes {axes} don't match a tensor of shape {x.shape}") from None
    return out, lambda g: g.transpose(np.argsort([a % x.ndim for a in axes]))


@op
def getitem(x, idx):
    out = x[idx]
    basic = all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice))
                for i in (idx if isinstance(idx, tuple) else (idx,)))

    def back(g):
        z = np.zeros_like(x)
        if basic:
            z[idx] = g
        else:  # fancy indices may repeat: accumulate
            np.add.at(z, idx, g)
        return z
    return out, back


@op(name="concatenate")
def _concatenate(*xs, axis=0):
    try:
        out = np.concatenate(xs, axis=axis)
    except ValueError as e:
        raise ValueError(f"concatenate: shapes {[x.shape for x in xs]} can't be joined along "
                         f"axis {axis} ({e})") from None
    cuts = np.cumsum([x.shape[axis] for x in xs])[:-1]
    return out, lambda g: tuple(np.split(g, cuts, axis=axis))


@op(name="stack")
def _stack(*xs, axis=0):
    try:
        out = np.stack(xs, axis=axis)
    except ValueError as e:
        raise ValueError(f"stack: shapes {[x.shape for x in xs]} must all be equal ({e})") from None
    return out, lambda g: tuple(np.moveaxis(g, axis, 0))


@op(name="where")
def _where(c, a, b):
    out = np.where(c, a, b)
    return out, (None, lambda g: np.where(c, g, 0), lambda g: np.where(c, 0, g))


# -- derived ops: compositions of primitives ----------------------------------------------------
def _renamed(e: ValueError, name: str) -> ValueError:
    return ValueError(f"{name}:{str(e).split(':', 1)[1]}" if ":" in str(e) else f"{name}: {e}")


def sub(a: Any, b: Any) -> Tensor:
    """``a - b`` = ``a + (-b)``."""
    try:
        if isinstance(b, Tensor):
            return add(a, mul(b, -1))
        return add(a, -_operand(b, a.data.dtype if isinstance(a, Tensor) and a.data.dtype.kind == "f" else None))
    except ValueError as e:
        raise _renamed(e, "sub") from None


def _tensors(ts: Any, name: str) -> list:
    ts = list(ts)
    if not ts:
        raise ValueError(f"{name}: need at least one tensor")
    return ts


def concatenate(ts: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    return _concatenate(*_tensors(ts, "concatenate"), axis=axis)


def stack(ts: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis."""
    return _stack(*_tensors(ts, "stack"), axis=axis)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a if cond else b`` (broadcasting); ``cond`` is never differentiated."""
    c = cond.data if isinstance(cond, Tensor) else cond
    return _where(np.asarray(c, dtype=bool), a, b)


def _pick(a: Any, b: Any, first: Callable, name: str) -> Tensor:
    da = a.data if isinstance(a, Tensor) else np.asarray(a)
    db = b.data if isinstance(b, Tensor) else np.asarray(b)
    try:
        c = first(da, db) | np.isnan(da)  # NaN propagates, as in PyTorch
    except ValueError as e:
        raise _operand_error(name, [da, db], e, {}) from None
    return _where(c, a, b)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum with broadcasting (ties send the gradient to ``a``)."""
    return _pick(a, b, np.greater_equal, "maximum")


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum with broadcasting (ties send the gradient to ``a``)."""
    return _pick(a, b, np.less_equal, "minimum")


# -- operators and one-operand methods are the ops themselves (no wrapper call) -------------------
Tensor.__add__, Tensor.__radd__ = add, lambda self, other: add(other, self)
Tensor.__sub__, Tensor.__rsub__ = sub, lambda self, other: sub(other, self)
Tensor.__mul__, Tensor.__rmul__ = mul, lambda self, other: mul(other, self)
Tensor.__truediv__, Tensor.__rtruediv__ = div, lambda self, other: div(other, self)
Tensor.__pow__, Tensor.__rpow__ = pow, lambda self, other: pow(other, self)
Tensor.__matmul__, Tensor.__rmatmul__ = matmul, lambda self, other: matmul(other, self)
Tensor.__neg__ = Tensor.neg = lambda self: mul(self, -1)
Tensor.exp, Tensor.log, Tensor.sqrt, Tensor.relu = exp, log, sqrt, relu
Tensor.sigmoid, Tensor.tanh = sigmoid, tanh

from . import conv as _conv  # noqa: E402,F401  (attaches conv2d & pooling to Tensor)
from .ops import compare as _compare  # noqa: E402,F401  (comparisons, logical, sort/topk)
from .ops import math as _math  # noqa: E402,F401  (unary math, %, //, atan2, ...)
from .ops import shape as _shape  # noqa: E402,F401  (squeeze, expand, split, ...)
from .ops import reduce as _reduce  # noqa: E402,F401  (std, logsumexp, prod, cumsum, norm)
from .ops import activation as _activation  # noqa: E402,F401  (gelu, silu, elu, selu, ...)
from .ops import index as _index  # noqa: E402,F401  (gather, scatter_add, masked_fill, ...)
