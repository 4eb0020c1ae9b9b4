"""A tiny reverse-mode autograd engine on NumPy.

Every op builds its output and, when any input requires grad, attaches a closure that maps
the output's gradient to a tuple of gradients for its parents (``None`` for parents that do
not require grad). ``backward()`` walks the graph iteratively (Kahn's algorithm), so a chain
of a million ops needs no recursion.

Dtype rules: float ndarrays keep their dtype (float64 stays float64, so gradcheck runs in
float64); Python/NumPy scalars and lists become float32 (ints and bools included) unless
``dtype`` is given; integer/bool *ndarrays* stay integer and can never require grad.
Non-Tensor operands of an op (Python/NumPy scalars, lists, ndarrays) take the Tensor's float
dtype, so ``Tensor(float32) * 2.5`` and ``Tensor(float32) - np.float64(1)`` stay float32.
"""
from __future__ import annotations

import math
import threading
from typing import Any, Callable, Sequence

import numpy as np

_ndarray = np.ndarray
_new = object.__new__


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
    kind = arr.dtype.kind
    if kind not in "fiub":
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


def _node(data: Any, prev: tuple, backward: Callable, name: str = "op") -> "Tensor":
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
    Tensor), NumPy scalars and arrays take the op's float dtype ``ref``; with no float Tensor
    among the operands, Python floats and lists become float32 (so ``where(c, 1.0, 3.0)`` is
    float32 like every other Tensor made from Python numbers)."""
    cls = a.__class__
    if cls is float or cls is int or cls is bool:
        return a if ref is not None or cls is not float else np.float32(a)
    if isinstance(a, np.generic) and a.ndim == 0 and a.dtype.kind in "fiub":
        return a.item() if ref is not None else a
    arr = _as_array(a, None, "operand")
    return arr.astype(ref) if ref is not None and arr.dtype.kind == "f" and arr.dtype != ref else arr


def op(fn: Callable | None = None, *, name: str | None = None) -> Callable:
    """Make a differentiable op from a rule (the one mechanism every built-in op uses too).

    The rule takes ndarrays (one per positional operand; keyword arguments are passed through
    as options) and returns ``(out, backward)``: ``backward(g)`` maps the output's gradient to
    one gradient per positional operand (a tuple, or a bare array for a single operand;
    ``None`` where there is none). ``backward`` may be ``None`` for an op without gradients.
    The decorated function takes Tensors or anything array-like and returns a Tensor. It
    handles grad mode, dtypes and non-Tensor operands; the backward walker undoes
    broadcasting (a gradient shaped like the output is summed down to its input's shape) and
    checks every gradient's shape and dtype, naming the op and the input::

        @tgi.op
        def softplus(x):
            out = np.logaddexp(0, x)
            return out, lambda g: g / (1 + np.exp(-x))
    """
    if fn is None:
        return lambda f: op(f, name=name)
    opname = name or fn.__name__

    def apply(*args: Any, **options: Any) -> "Tensor":
        ref = None
        for a in args:
            if isinstance(a, Tensor) and a.data.dtype.kind == "f":
                ref = a.data.dtype
                break
        datas, rg = [], False
        for a in args:
            if isinstance(a, Tensor):
                datas.append(a.data)
                rg = rg or a._rg
            else:
                datas.append(_operand(a, ref))
        try:
            out, back = fn(*datas, **options)
        except ValueError as e:
            raise _operand_error(opname, datas, e) from None
        if not (rg and back is not None and _mode.enabled):
            return _const(out)
        return _node(out, tuple(a if isinstance(a, Tensor) else _NO for a in args), back, opname)

    apply.__name__ = apply.__qualname__ = opname
    apply.__doc__ = fn.__doc__
    apply.__wrapped__ = fn
    apply.rule = fn
    return apply


def _operand_error(opname: str, datas: list, e: ValueError) -> ValueError:
    shapes = [np.shape(d) for d in datas]
    if len(shapes) > 1:
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            return ValueError(f"{opname}: shapes {' and '.join(map(str, shapes))} cannot be "
                              f"broadcast together")
    return ValueError(f"{opname}: {e}" if not str(e).startswith(opname) else str(e))


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


def _own(pg: np.ndarray, g: np.ndarray, pgs: tuple, i: int) -> np.ndarray:
    """The leaf-gradient ownership rule: a leaf's ``.grad`` must be an array nobody else holds,
    because optimizers and users update it in place. A gradient is kept as it is when the rule
    made it fresh, and copied when it is the incoming gradient itself, a view of another
    array, or the same object given to another input of the node."""
    if pg is g or pg.base is not None or any(q is pg for j, q in enumerate(pgs) if j != i):
        return pg.copy()
    return pg


def _ident(g: Any) -> tuple:
    return (g,)


def _ident2(g: Any) -> tuple:
    return (g, g)


def _unb(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Undo broadcasting: sum g down to shape."""
    if g.shape == shape:
        return g
    nd = g.ndim - len(shape)
    if nd:
        g = np.add.reduce(g, tuple(range(nd)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return np.add.reduce(g, axes, keepdims=True) if axes else g


def _arg(other: Any, self: "Tensor") -> tuple:
    """-> (parent Tensor or _NO, operand data). Non-Tensors take self's float dtype."""
    if isinstance(other, Tensor):
        return other, other.data
    if other.__class__ is float or other.__class__ is int:
        return _NO, other
    dt = self.data.dtype
    if isinstance(other, np.generic) and other.ndim == 0 and other.dtype.kind in "fiub":
        return _NO, other.item() if dt.kind == "f" else other
    arr = _as_array(other, None, "operand")
    if dt.kind == "f" and arr.dtype != dt:
        arr = arr.astype(dt)
    return _NO, arr


def _shape_err(op: str, a: Any, b: Any) -> ValueError:
    return ValueError(f"{op}: shapes {np.shape(a)} and {np.shape(b)} cannot be broadcast together")


def _axes(axis: Any, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(int(a) % ndim if -ndim <= a < ndim else _bad_axis(a, ndim) for a in axes)


def _bad_axis(a: Any, ndim: int) -> int:
    raise ValueError(f"axis {a} is out of bounds for a tensor with {ndim} dimensions")


def _kshape(axis: Any, shape: tuple) -> tuple:
    """Shape of a keepdims=True reduction over axis."""
    if axis is None:
        return (1,) * len(shape)
    ax = _axes(axis, len(shape))
    return tuple(1 if i in ax else s for i, s in enumerate(shape))


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

    def astype(self, dtype: Any) -> "Tensor":
        d, src = self.data.astype(dtype), self.data.dtype
        if not (_mode.enabled and self._rg and d.dtype.kind == "f"):
            return _const(d)
        return _node(d, (self,), lambda g: (g.astype(src),))

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
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: grad can be implicitly created only for a "
                                   f"single-element tensor, got shape {self.data.shape}; "
                                   f"pass grad= of that shape")
            g = np.ones_like(self.data)
        else:
            g = grad.data if isinstance(grad, Tensor) else grad
            g = np.array(g, dtype=self.data.dtype)  # own copy: leaves may keep it
            if g.shape != self.data.shape:
                raise ValueError(f"backward: grad has shape {g.shape} but the tensor has "
                                 f"shape {self.data.shape}")
        if self._backward is None:
            if self.grad is None:
                self.grad = g
            else:
                self.grad += g
            return
        if self._backward is _released:
            _released(None)
        # count the consumers of every non-leaf node reachable from self
        deps = {self: 0}
        stack = [self]
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
        # a node runs once all its consumers have passed their gradients to it; a node with
        # one consumer is run straight away, so long chains never touch `pending` or `ready`
        pending, ready = {self: g}, [self]
        while ready:
            n = ready.pop()
            g = pending.pop(n)
            while n is not None:
                pgs = n._backward(g)
                if pgs.__class__ is not tuple:
                    pgs = (pgs,)
                prev = n._prev
                if len(pgs) != len(prev):
                    raise OpError(f"{n._op}: backward returned {len(pgs)} gradients for "
                                  f"{len(prev)} inputs")
                if not retain_graph:
                    n._prev, n._backward = (), _released
                nxt = None
                for i, p in enumerate(prev):
                    pg = pgs[i]
                    if pg is None or not p._rg:
                        continue
                    if (pg.__class__ is not _ndarray or pg.shape != p.data.shape
                            or pg.dtype != p.data.dtype):
                        pg = _fit(n, i, p, pg)
                    if p._backward is None:  # leaf
                        if p.grad is None:
                            p.grad = _own(pg, g, pgs, i)
                        else:
                            p.grad += pg
                        continue
                    c = deps[p] - 1
                    deps[p] = c
                    if p in pending:
                        pg = pending[p] + pg
                    if c:
                        pending[p] = pg
                    elif nxt is None:
                        pending.pop(p, None)
                        nxt, ng = p, pg
                    else:
                        pending[p] = pg
                        ready.append(p)
                n = nxt
                if n is not None:
                    g = ng

    # -- elementwise binary (rules at the bottom of the file) ----------------------------------
    def __add__(self, other: Any) -> "Tensor":
        return add(self, other)

    def __radd__(self, other: Any) -> "Tensor":
        return add(other, self)

    def __sub__(self, other: Any) -> "Tensor":
        return sub(self, other)

    def __rsub__(self, other: Any) -> "Tensor":
        return sub(other, self)

    def __mul__(self, other: Any) -> "Tensor":
        return mul(self, other)

    def __rmul__(self, other: Any) -> "Tensor":
        return mul(other, self)

    def __truediv__(self, other: Any) -> "Tensor":
        return div(self, other)

    def __rtruediv__(self, other: Any) -> "Tensor":
        return div(other, self)

    def __pow__(self, other: Any) -> "Tensor":
        o, b = (other, other.data) if isinstance(other, Tensor) else _arg(other, self)
        a = self.data
        try:
            d = a ** b
        except ValueError:
            raise _shape_err("pow", a, b) from None
        ra, rb = self._rg, o._rg
        if not (_mode.enabled and (ra or rb)):
            return _const(d)
        if not rb:
            if b.__class__ is int and b == 2:
                return _node(d, (self,), lambda g: (g * 2 * a,))
            return _node(d, (self,), lambda g: (_unb(g * b * a ** (b - 1), a.shape),))
        return _node(d, (self, o), lambda g: (_unb(g * b * a ** (b - 1), a.shape) if ra else None,
                                              _unb(g * d * np.log(a), b.shape)))

    def __rpow__(self, other: Any) -> "Tensor":
        _, b = _arg(other, self)
        d = b ** self.data
        if not (_mode.enabled and self._rg):
            return _const(d)
        lb, sa = (math.log(b) if b.__class__ in (int, float) else np.log(b)), self.data.shape
        return _node(d, (self,), lambda g: (_unb(g * d * lb, sa),))

    def __matmul__(self, other: Any) -> "Tensor":
        o, b = (other, other.data) if isinstance(other, Tensor) else _arg(other, self)
        a = self.data
        try:
            d = a @ b
        except ValueError:
            raise ValueError(f"matmul: shapes {a.shape} and {np.shape(b)} are not aligned") from None
        ra, rb = self._rg, o._rg
        if not (_mode.enabled and (ra or rb)):
            return _const(d)
        if a.ndim == 2 and b.ndim == 2:
            return _node(d, (self, o), lambda g: (g @ b.T if ra else None,
                                                  a.T @ g if rb else None))

        def back(g: np.ndarray) -> tuple:
            a2 = a if a.ndim > 1 else a[None]
            b2 = b if b.ndim > 1 else b[:, None]
            if b.ndim == 1:
                g = np.expand_dims(g, -1)
            if a.ndim == 1:
                g = np.expand_dims(g, -2)
            ga = _unb(g @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape) if ra else None
            gb = _unb(np.swapaxes(a2, -1, -2) @ g, b2.shape).reshape(b.shape) if rb else None
            return ga, gb
        return _node(d, (self, o), back)

    def linear(self, weight: "Tensor", bias: "Tensor | None" = None) -> "Tensor":
        """``self @ weight.T + bias`` as one node (PyTorch's F.linear; weight (out, in)).

        Cheaper than composing ``@``, ``.T`` and ``+``: weight's gradient comes out in its own
        (out, in) layout, so no transposed copy is made.
        """
        x, w = self.data, weight.data
        try:
            d = x @ w.T
            if bias is not None:
                d = d + bias.data if d.ndim == 0 or d.dtype != bias.data.dtype else d.__iadd__(bias.data)
        except ValueError:
            raise ValueError(f"linear: input shape {x.shape}, weight shape {w.shape} and bias "
                             f"shape {None if bias is None else bias.shape} don't match") from None
        rx, rw, rb = self._rg, weight._rg, bias is not None and bias._rg
        if not (_mode.enabled and (rx or rw or rb)):
            return _const(d)

        def back(g: np.ndarray) -> tuple:
            g2 = g if g.ndim == 2 else g.reshape(-1, w.shape[0])
            return (g @ w if rx else None,
                    g2.T @ (x if x.ndim == 2 else x.reshape(-1, w.shape[1])) if rw else None,
                    g2.sum(axis=0) if rb else None)
        return _node(d, (self, weight, bias if bias is not None else _NO), back)

    def __rmatmul__(self, other: Any) -> "Tensor":
        return Tensor(_arg(other, self)[1]) @ self

    # -- elementwise unary --------------------------------------------------------------------
    def __neg__(self) -> "Tensor":
        d = -self.data
        if not (_mode.enabled and self._rg):
            return _const(d)
        return _node(d, (self,), lambda g: (-g,))

    neg = __neg__

    def abs(self) -> "Tensor":
        a = self.data
        d = np.abs(a)
        if not (_mode.enabled and self._rg):
            return _const(d)
        return _node(d, (self,), lambda g: (g * np.sign(a),))

    __abs__ = abs

    def exp(self) -> "Tensor":
        d = np.exp(self.data)
        if not (_mode.enabled and self._rg):
            return _const(d)
        return _node(d, (self,), lambda g: (g * d,))

    def log(self) -> "Tensor":
        a = self.data
        d = np.log(a)
        if not (_mode.enabled and self._rg):
            return _const(d)
        return _node(d, (self,), lambda g: (g / a,))

    def sqrt(self) -> "Tensor":
        d = np.sqrt(self.data)
        if not (_mode.enabled and self._rg):
            return _const(d)
        return _node(d, (self,), lambda g: (g / (2 * d),))

    def relu(self) -> "Tensor":
        d = np.maximum(self.data, 0)
        if not (_mode.enabled and self._rg):
            return _const(d)
        return _node(d, (self,), lambda g: (g * (d > 0),))

    def leaky_relu(self, negative_slope: float = 0.01) -> "Tensor":
        m = self.data > 0
        d = np.where(m, self.data, self.data * negative_slope)
        if not (_mode.enabled and self._rg):
            return _const(d)
        return _node(d, (self,), lambda g: (np.where(m, g, g * negative_slope),))

    def sigmoid(self) -> "Tensor":
        a = self.data
        e = np.exp(-np.abs(a))  # never overflows; e/(1+e) keeps relative precision for x << 0
        d = e / (1 + e)
        d = np.where(a >= 0, 1 - d, d)
        if not (_mode.enabled and self._rg):
            return _const(d)
        return _node(d, (self,), lambda g: (g * d * (1 - d),))

    def tanh(self) -> "Tensor":
        d = np.tanh(self.data)
        if not (_mode.enabled and self._rg):
            return _const(d)
        return _node(d, (self,), lambda g: (g * (1 - d * d),))

    def softmax(self, axis: int = -1) -> "Tensor":
        a = self.data
        e = np.exp(a - np.maximum.reduce(a, axis, keepdims=True))  # shifted: no overflow
        d = e / np.add.reduce(e, axis, keepdims=True)
        if not (_mode.enabled and self._rg):
            return _const(d)
        return _node(d, (self,), lambda g: (d * (g - np.add.reduce(g * d, axis, keepdims=True)),))

    def log_softmax(self, axis: int = -1) -> "Tensor":
        a = self.data
        z = a - np.maximum.reduce(a, axis, keepdims=True)
        d = z - np.log(np.add.reduce(np.exp(z), axis, keepdims=True))
        if not (_mode.enabled and self._rg):
            return _const(d)
        return _node(d, (self,), lambda g: (g - np.exp(d) * np.add.reduce(g, axis, keepdims=True),))

    def clip(self, lo: Any = None, hi: Any = None) -> "Tensor":
        a = self.data
        lo, hi = (v.item() if isinstance(v, np.generic) else v for v in (lo, hi))  # stay weak
        d = np.clip(a, lo, hi)
        if not (_mode.enabled and self._rg):
            return _const(d)

        def back(g: np.ndarray) -> tuple:
            m = True
            if lo is not None:
                m = a >= lo
            if hi is not None:
                m = m & (a <= hi)
            return (g * m,)
        return _node(d, (self,), back)

    # -- reductions ---------------------------------------------------------------------------
    # np.add.reduce & co. skip the Python wrappers of ndarray.sum/mean/var (microseconds each)
    def sum(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        a = self.data
        if axis.__class__ is list:
            axis = tuple(axis)
        d = np.add.reduce(a, axis, keepdims=keepdims) if a.dtype.kind == "f" else a.sum(axis, keepdims=keepdims)
        if not (_mode.enabled and self._rg):
            return _const(d)
        ks = _kshape(axis, a.shape)
        return _node(d, (self,), lambda g: (_expand(g, ks, a.shape),))

    def mean(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        a = self.data
        if axis.__class__ is list:
            axis = tuple(axis)
        d = np.add.reduce(a, axis, keepdims=keepdims, dtype=None if a.dtype.kind == "f" else np.float64)
        n = a.size // max(d.size, 1)
        d = d / n
        if not (_mode.enabled and self._rg):
            return _const(d)
        ks = _kshape(axis, a.shape)
        return _node(d, (self,), lambda g: (_expand(g / n, ks, a.shape),))

    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> "Tensor":
        a = self.data
        if axis.__class__ is list:
            axis = tuple(axis)
        s = np.add.reduce(a, axis, keepdims=True, dtype=None if a.dtype.kind == "f" else np.float64)
        n = a.size // max(s.size, 1)
        c = a - s / n
        d = np.add.reduce(c * c, axis, keepdims=keepdims) / (n - ddof)
        if not (_mode.enabled and self._rg):
            return _const(d)
        ks, k = s.shape, 2 / (n - ddof)
        return _node(d, (self,), lambda g: (g.reshape(ks) * k * c,))

    def _extreme(self, axis: Any, keepdims: bool, fn: Any) -> "Tensor":
        a = self.data
        if axis.__class__ is list:
            axis = tuple(axis)
        m = fn.reduce(a, axis, keepdims=True)
        d = m if keepdims else m.reshape(_kshape(None, ()) if axis is None else
                                         tuple(s for i, s in enumerate(m.shape)
                                               if i not in _axes(axis, a.ndim)))
        if not (_mode.enabled and self._rg):
            return _const(d)

        def back(g: np.ndarray) -> tuple:
            w = (a == m).astype(a.dtype)  # ties share the gradient equally
            w /= np.add.reduce(w, axis, keepdims=True)
            w *= g.reshape(m.shape)
            return (w,)
        return _node(d, (self,), back)

    def max(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return self._extreme(axis, keepdims, np.maximum)

    def min(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        return self._extreme(axis, keepdims, np.minimum)

    # -- shape --------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> "Tensor":
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = tuple(shape[0])
        a = self.data
        try:
            d = a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} "
                             f"(size {a.size}) into shape {shape}") from None
        if not (_mode.enabled and self._rg):
            return _const(d)
        sa = a.shape
        return _node(d, (self,), lambda g: (g.reshape(sa),))

    def transpose(self, *axes: Any) -> "Tensor":
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = tuple(axes[0])
        a = self.data
        axes = axes or tuple(range(a.ndim - 1, -1, -1))
        try:
            d = a.transpose(axes)
        except ValueError:
            raise ValueError(f"transpose: axes {axes} don't match a tensor of shape {a.shape}") from None
        if not (_mode.enabled and self._rg):
            return _const(d)
        inv = tuple(np.argsort([x % a.ndim for x in axes]))
        return _node(d, (self,), lambda g: (g.transpose(inv),))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        s = self.data.shape
        if not s:
            return self.reshape(1)
        i, j = _axes((start_dim, end_dim), len(s))
        return self.reshape(s[:i] + (int(np.prod(s[i:j + 1])),) + s[j + 1:])

    def __getitem__(self, idx: Any) -> "Tensor":
        if isinstance(idx, Tensor):
            idx = idx.data
        elif isinstance(idx, tuple) and any(isinstance(i, Tensor) for i in idx):
            idx = tuple(i.data if isinstance(i, Tensor) else i for i in idx)
        a = self.data
        d = a[idx]
        if not (_mode.enabled and self._rg):
            return _const(d)
        basic = all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice))
                    for i in (idx if isinstance(idx, tuple) else (idx,)))

        def back(g: np.ndarray) -> tuple:
            z = np.zeros_like(a)
            if basic:
                z[idx] = g
            else:  # fancy indices may repeat: accumulate
                np.add.at(z, idx, g)
            return (z,)
        return _node(d, (self,), back)

    def pad(self, pad_width: Any, value: float = 0.0, mode: str = "constant") -> "Tensor":
        """``pad_width`` as in ``np.pad``; ``mode`` constant, reflect, replicate or circular
        (one rule for all of them, in conv.py)."""
        from .conv import pad
        return pad(self, pad_width, mode, value)

def _tensors(ts: Any, op: str) -> list:
    ts = [t if isinstance(t, Tensor) else Tensor(t) for t in ts]
    if not ts:
        raise ValueError(f"{op}: need at least one tensor")
    return ts


def concatenate(ts: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    ts = _tensors(ts, "concatenate")
    try:
        d = np.concatenate([t.data for t in ts], axis=axis)
    except ValueError as e:
        raise ValueError(f"concatenate: shapes {[t.shape for t in ts]} can't be joined along "
                         f"axis {axis} ({e})") from None
    if not (_mode.enabled and any(t._rg for t in ts)):
        return _const(d)
    cuts = np.cumsum([t.data.shape[axis] for t in ts])[:-1]
    return _node(d, tuple(ts), lambda g: tuple(
        p if t._rg else None for t, p in zip(ts, np.split(g, cuts, axis=axis))))


def stack(ts: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis."""
    ts = _tensors(ts, "stack")
    try:
        d = np.stack([t.data for t in ts], axis=axis)
    except ValueError as e:
        raise ValueError(f"stack: shapes {[t.shape for t in ts]} must all be equal ({e})") from None
    if not (_mode.enabled and any(t._rg for t in ts)):
        return _const(d)
    return _node(d, tuple(ts), lambda g: tuple(
        p if t._rg else None for t, p in zip(ts, np.moveaxis(g, axis, 0))))


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a if cond else b`` (broadcasting); ``cond`` is never differentiated."""
    c = np.asarray(cond.data if isinstance(cond, Tensor) else cond, dtype=bool)
    ref = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else Tensor(a)
    ta, da = _arg(a, ref)
    tb, db = _arg(b, ref)
    try:
        d = np.where(c, da, db)
    except ValueError:
        raise ValueError(f"where: shapes {c.shape}, {np.shape(da)} and {np.shape(db)} cannot be "
                         f"broadcast together") from None
    ra, rb = ta._rg, tb._rg
    if not (_mode.enabled and (ra or rb)):
        return _const(d)
    sa, sb = np.shape(da), np.shape(db)
    return _node(d, (ta, tb), lambda g: (_unb(np.where(c, g, 0), sa) if ra else None,
                                         _unb(np.where(c, 0, g), sb) if rb else None))


def _minmax(a: Any, b: Any, fn: Callable, name: str) -> Tensor:
    ref = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else Tensor(a)
    ta, da = _arg(a, ref)
    tb, db = _arg(b, ref)
    try:
        d = fn(da, db)
    except ValueError:
        raise _shape_err(name, da, db) from None
    ra, rb = ta._rg, tb._rg
    if not (_mode.enabled and (ra or rb)):
        return _const(d)
    sa, sb = np.shape(da), np.shape(db)

    def back(g: np.ndarray) -> tuple:
        m = (da >= db) if fn is np.maximum else (da <= db)  # ties: the first operand wins
        return _unb(g * m, sa) if ra else None, _unb(g * ~m, sb) if rb else None
    return _node(d, (ta, tb), back)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum with broadcasting (ties send the gradient to ``a``)."""
    return _minmax(a, b, np.maximum, "maximum")


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum with broadcasting (ties send the gradient to ``a``)."""
    return _minmax(a, b, np.minimum, "minimum")


_NO = _const(np.zeros((), np.float32))  # placeholder parent for non-Tensor operands


# -- primitive rules ----------------------------------------------------------------------------
# Each rule: ndarrays in, (output, backward) out; backward returns one gradient per operand,
# shaped like the output where broadcasting happened (the walker sums it down).
@op
def add(a, b):
    return a + b, lambda g: (g, g)


@op
def sub(a, b):
    return a - b, lambda g: (g, -g)


@op
def mul(a, b):
    return a * b, lambda g: (g * b, g * a)


@op
def div(a, b):
    out = a / b
    return out, lambda g: (g / b, -g * out / b)


from . import conv as _conv  # noqa: E402,F401  (attaches conv2d & pooling to Tensor)
