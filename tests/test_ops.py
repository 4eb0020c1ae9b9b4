"""Table-driven op tests: one row per op, each run through ``tinygrad_init.testing.check_op``
(the helper users check their own ops with): hypothesis draws shapes (0-d, size-0 and
broadcast pairs where the op allows), values from the row's domain and parameters; check_op
compares the forward with an independent NumPy reference written from the formula, float32
and float64 outputs, input immutability, and every gradient with central differences.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_init as tgi
from tinygrad_init.tensor import Tensor
from tinygrad_init.testing import arrays, broadcastable_shapes, check_op, shapes

SMALL = shapes(min_dims=0, max_dims=3, max_side=3)


class Op:
    """A row: ``fn(*tensors, **params)``, ``ref(*arrays, **params)`` written from the formula,
    ``nargs`` and the rest of check_op's keywords (domain, avoid, inputs, ...)."""

    def __init__(self, name: str, fn: Callable[..., Tensor], ref: Callable[..., np.ndarray],
                 nargs: int = 1, **kw: Any) -> None:
        self.name, self.fn, self.ref, self.nargs, self.kw = name, fn, ref, nargs, kw


@st.composite
def with_axis(d: Any, min_side: int = 1, **kw: Any) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=3, min_side=min_side, max_side=4))
    nd = len(shape)
    axis = d(st.one_of(st.none(), st.integers(-nd, nd - 1),
                            st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd,
                                     unique=True).map(tuple)))
    return (d(arrays(shape, **kw)),), {"axis": axis, "keepdims": d(st.booleans())}


@st.composite
def last_axis(d: Any) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))  # size-0 axes too
    x = d(arrays(shape, min_value=-5, max_value=5))
    return (x,), {"axis": d(st.integers(-len(shape), len(shape) - 1))}


@st.composite
def matmul_pair(d: Any) -> tuple:
    n, k, m = (d(st.integers(1, 4)) for _ in range(3))
    batch = d(st.sampled_from([(), (2,), (3, 1)]))
    layout = d(st.sampled_from(["mm", "vm", "mv", "vv", "bmm", "bm", "mb"]))
    sa, sb = {"mm": ((n, k), (k, m)), "vm": ((k,), (k, m)), "mv": ((n, k), (k,)),
              "vv": ((k,), (k,)), "bmm": (batch + (n, k), batch + (k, m)),
              "bm": (batch + (n, k), (k, m)), "mb": ((n, k), batch + (k, m))}[layout]
    return (d(arrays(sa)), d(arrays(sb))), {}


@st.composite
def linear_case(d: Any) -> tuple:
    lead = d(st.sampled_from([(), (3,), (2, 3)]))
    i, o = d(st.integers(1, 4)), d(st.integers(1, 4))
    xs = (d(arrays(lead + (i,))), d(arrays((o, i))))
    if d(st.booleans()):
        xs += (d(arrays((o,))),)
    return xs, {}


@st.composite
def reshape_case(d: Any) -> tuple:
    shape = d(SMALL)
    x = d(arrays(shape))
    target = tuple(reversed(shape)) + (1,) if d(st.booleans()) else (-1,)
    return (x,), {"shape": target}


@st.composite
def transpose_case(d: Any) -> tuple:
    shape = d(SMALL)
    axes = tuple(d(st.permutations(range(len(shape)))))
    return (d(arrays(shape)),), {"axes": axes}


@st.composite
def flatten_case(d: Any) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=4, max_side=3))
    i = d(st.integers(0, len(shape) - 1))
    j = d(st.integers(i, len(shape) - 1))
    return (d(arrays(shape)),), {"start_dim": i, "end_dim": j - len(shape)}


@st.composite
def basic_index(d: Any) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=3, max_side=5))
    idx = []
    for s in shape:
        kind = d(st.sampled_from(["int", "slice", "full"]))
        if kind == "int":
            idx.append(d(st.integers(-s, s - 1)))
        elif kind == "slice":
            idx.append(slice(d(st.integers(0, s - 1)), d(st.integers(1, s)) + 0,
                             d(st.integers(1, 2))))
        else:
            idx.append(slice(None))
    if d(st.booleans()):
        idx.insert(d(st.integers(0, len(idx))), None)
    return (d(arrays(shape)),), {"idx": tuple(idx)}


@st.composite
def fancy_index(d: Any) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=3, max_side=5))
    x = d(arrays(shape))
    kind = d(st.sampled_from(["ints", "two_ints", "mask", "ints_slice"]))
    ints = lambda s: np.array(d(st.lists(st.integers(-s, s - 1), min_size=1, max_size=6)))
    if kind == "ints":  # repeats included: backward must accumulate
        idx = ints(shape[0])
    elif kind == "two_ints" and len(shape) >= 2:
        i, j = ints(shape[0]), ints(shape[1])
        n = min(len(i), len(j))
        idx = (i[:n], j[:n])
    elif kind == "ints_slice" and len(shape) >= 2:
        idx = (slice(None), ints(shape[1]))
    else:
        idx = np.array(d(hnp_bool(shape)))
    return (x,), {"idx": idx}


def hnp_bool(shape: tuple) -> st.SearchStrategy:
    from hypothesis.extra import numpy as hnp
    return hnp.arrays(np.bool_, shape)


@st.composite
def pad_case(d: Any) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=3, max_side=3))
    form = d(st.sampled_from(["int", "pair", "per_axis"]))
    w = st.integers(0, 2)
    pw = {"int": d(w), "pair": (d(w), d(w)),
          "per_axis": tuple((d(w), d(w)) for _ in shape)}[form]
    return (d(arrays(shape)),), {"pad_width": pw, "value": d(st.sampled_from([0.0, -1.5]))}


@st.composite
def join_case(d: Any, new_axis: bool) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=3, max_side=3))
    n = d(st.integers(1, 3))
    axis = d(st.integers(-len(shape) - new_axis, len(shape) - 1 + new_axis))
    xs = []
    for _ in range(n):
        s = list(shape)
        if not new_axis:
            s[axis] = d(st.integers(1, 3))
        xs.append(d(arrays(tuple(s))))
    return tuple(xs), {"axis": axis}


@st.composite
def where_case(d: Any) -> tuple:
    sa, sb = d(broadcastable_shapes(max_dims=3, max_side=4))
    from hypothesis.extra import numpy as hnp
    cond = d(hnp.arrays(np.bool_, np.broadcast_shapes(sa, sb)))
    return (d(arrays(sa)), d(arrays(sb))), {"cond": cond}


@st.composite
def clip_case(d: Any) -> tuple:
    lo, hi = d(st.sampled_from([(None, 1.0), (None, 2.0), (-1.0, None), (0.5, None),
                                (-1.0, 1.0), (-1.0, 2.0), (0.5, 1.0), (0.5, 2.0)]))
    x = d(arrays(SMALL, avoid=[v for v in (lo, hi) if v is not None], margin=1e-2))
    return (x,), {"lo": lo, "hi": hi}


@st.composite
def conv_case(d: Any) -> tuple:
    n, c, o = d(st.integers(1, 2)), d(st.integers(1, 3)), d(st.integers(1, 3))
    kh, kw = d(st.integers(1, 3)), d(st.integers(1, 3))
    ints = d(st.booleans())  # int forms: one value for both axes
    pair = lambda lo, hi: (lambda v: (v, v))(d(st.integers(lo, hi))) if ints else (
        d(st.integers(lo, hi)), d(st.integers(lo, hi)))
    stride, padding, dilation = pair(1, 2), pair(0, 2), pair(1, 2)
    h = d(st.integers(max(1, (kh - 1) * dilation[0] + 1 - 2 * padding[0]), 6))
    w = d(st.integers(max(1, (kw - 1) * dilation[1] + 1 - 2 * padding[1]), 6))
    xs = (d(arrays((n, c, h, w))), d(arrays((o, c, kh, kw))))
    if d(st.booleans()):
        xs += (d(arrays((o,))),)
    params = {"stride": stride, "padding": padding, "dilation": dilation}
    if ints:
        params = {k: v[0] for k, v in params.items()}
    return xs, params


@st.composite
def pool_case(d: Any, distinct: bool) -> tuple:
    kh, kw = d(st.integers(1, 3)), d(st.integers(1, 3))
    stride = d(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = (d(st.integers(0, kh // 2)), d(st.integers(0, kw // 2)))
    h = d(st.integers(max(1, kh - 2 * padding[0]), 6))
    w = d(st.integers(max(1, kw - 2 * padding[1]), 6))
    x = d(arrays((d(st.integers(1, 2)), d(st.integers(1, 2)), h, w),
                      distinct=distinct))
    return (x,), {"kernel_size": (kh, kw), "stride": stride, "padding": padding}


# ---- independent NumPy references (loops, written from the definitions) -----------------------
def ref_conv(x, w, b=None, stride=1, padding=0, dilation=1):
    sh, sw = (stride, stride) if np.isscalar(stride) else stride
    ph, pw = (padding, padding) if np.isscalar(padding) else padding
    dh, dw = (dilation, dilation) if np.isscalar(dilation) else dilation
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw]
            out[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w)
    return out if b is None else out + b[None, :, None, None]


def ref_pool(x, kernel_size, stride, padding, kind):
    kh, kw = kernel_size
    sh, sw = kernel_size if stride is None else stride
    ph, pw = padding
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), -np.inf if kind == "max" else 0.0)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = win.max(axis=(2, 3)) if kind == "max" else win.sum(axis=(2, 3)) / (kh * kw)
    return out


def ref_softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True, initial=-np.inf))
    return e / e.sum(axis=axis, keepdims=True)


def ref_flatten(x, start_dim, end_dim):
    s = x.shape
    end = end_dim % len(s)
    return x.reshape(s[:start_dim] + (-1,) + s[end + 1:])


def ref_getitem_fancy(x, idx):
    return x[idx]


OPS = [
    Op("neg", lambda x: -x, lambda x: -x),
    Op("abs", lambda x: x.abs(), np.abs, avoid=(0.0,)),
    Op("exp", lambda x: x.exp(), np.exp),
    Op("log", lambda x: x.log(), np.log, domain=(0.05, 3.0)),
    Op("sqrt", lambda x: x.sqrt(), np.sqrt, domain=(0.05, 3.0)),
    Op("relu", lambda x: x.relu(), lambda x: x * (x > 0), avoid=(0.0,)),
    Op("leaky_relu", lambda x: x.leaky_relu(0.2), lambda x: np.where(x > 0, x, 0.2 * x),
       avoid=(0.0,)),
    Op("leaky_relu_default", lambda x: x.leaky_relu(), lambda x: np.where(x > 0, x, 0.01 * x),
       avoid=(0.0,)),
    Op("sigmoid", lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x)),
       domain=(-20.0, 20.0)),
    Op("tanh", lambda x: x.tanh(), lambda x: (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1)),
    Op("softmax", lambda x, axis: x.softmax(axis), ref_softmax, inputs=last_axis()),
    Op("log_softmax", lambda x, axis: x.log_softmax(axis),
       lambda x, axis: np.log(ref_softmax(x, axis)), inputs=last_axis()),
    Op("add", lambda a, b: a + b, np.add, 2),
    Op("sub", lambda a, b: a - b, np.subtract, 2),
    Op("mul", lambda a, b: a * b, np.multiply, 2),
    Op("div", lambda a, b: a / b, np.divide, 2, avoid=[(), (0.0,)], margin=0.3),
    Op("pow", lambda a, b: a ** b, np.power, 2, domain=[(0.1, 3.0), (-3.0, 3.0)]),
    Op("pow_scalar", lambda a: a ** 3, lambda a: a * a * a),
    Op("pow_square", lambda a: a ** 2, lambda a: a * a),
    Op("pow_frac", lambda a: a ** -1.5, lambda a: 1 / (a * np.sqrt(a)),
       domain=(0.2, 3.0)),
    Op("radd", lambda a: 2.5 + a, lambda a: a + 2.5),
    Op("rsub", lambda a: 2.5 - a, lambda a: 2.5 - a),
    Op("rmul", lambda a: 2.5 * a, lambda a: a * 2.5),
    Op("rdiv", lambda a: 2.5 / a, lambda a: 2.5 / a, avoid=(0.0,), margin=0.3),
    Op("rpow", lambda a: 2.5 ** a, lambda a: np.exp(a * np.log(2.5))),
    Op("scalar_ops", lambda a: (a - 1.5) / 4 * 3 + 1, lambda a: (a - 1.5) * 0.75 + 1),
    Op("matmul", lambda a, b: a @ b, np.matmul, inputs=matmul_pair()),
    Op("linear", lambda x, w, b=None: x.linear(w, b),
       lambda x, w, b=None: np.matmul(x, w.T) + (0 if b is None else b), inputs=linear_case()),
    Op("maximum", tgi.maximum, lambda a, b: np.where(a > b, a, b), 2, distinct=True),
    Op("minimum", tgi.minimum, lambda a, b: np.where(a < b, a, b), 2, distinct=True),
    Op("sum", lambda x, **k: x.sum(**k), lambda x, **k: np.sum(x, **k), inputs=with_axis()),
    Op("mean", lambda x, **k: x.mean(**k),
       lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims)
       * (np.sum(np.ones_like(x), axis=axis, keepdims=keepdims) ** -1.0), inputs=with_axis()),
    Op("var", lambda x, **k: x.var(**k),
       lambda x, axis, keepdims: ((x - x.mean(axis=axis, keepdims=True)) ** 2).mean(
           axis=axis, keepdims=keepdims), inputs=with_axis()),
    Op("var_ddof1", lambda x, **k: x.var(ddof=1, **k),
       lambda x, axis, keepdims: ((x - x.mean(axis=axis, keepdims=True)) ** 2).sum(
           axis=axis, keepdims=keepdims) / (x.size / np.sum(x, axis=axis, keepdims=keepdims).size - 1),
       inputs=with_axis(min_side=2)),
    Op("max", lambda x, **k: x.max(**k), lambda x, **k: np.max(x, **k), inputs=with_axis(distinct=True)),
    Op("min", lambda x, **k: x.min(**k), lambda x, **k: np.min(x, **k), inputs=with_axis(distinct=True)),
    Op("reshape", lambda x, shape: x.reshape(*shape), lambda x, shape: x.reshape(shape),
       inputs=reshape_case()),
    Op("transpose", lambda x, axes: x.transpose(*axes), lambda x, axes: np.transpose(x, axes),
       inputs=transpose_case()),
    Op("T", lambda x: x.T, lambda x: x.T),
    Op("flatten", lambda x, **k: x.flatten(**k), ref_flatten, inputs=flatten_case()),
    Op("getitem_basic", lambda x, idx: x[idx], lambda x, idx: x[idx], inputs=basic_index()),
    Op("getitem_fancy", lambda x, idx: x[idx], ref_getitem_fancy, inputs=fancy_index()),
    Op("pad", lambda x, **k: x.pad(**k),
       lambda x, pad_width, value: np.pad(x, pad_width, constant_values=value), inputs=pad_case()),
    Op("concatenate", lambda *xs, axis: tgi.concatenate(xs, axis=axis),
       lambda *xs, axis: np.concatenate(xs, axis=axis), inputs=join_case(False)),
    Op("stack", lambda *xs, axis: tgi.stack(xs, axis=axis),
       lambda *xs, axis: np.stack(xs, axis=axis), inputs=join_case(True)),
    Op("where", lambda a, b, cond: tgi.where(cond, a, b),
       lambda a, b, cond: np.where(cond, a, b), inputs=where_case()),
    Op("clip", lambda x, lo, hi: x.clip(lo, hi),
       lambda x, lo, hi: np.minimum(np.maximum(x, -np.inf if lo is None else lo),
                                    np.inf if hi is None else hi), inputs=clip_case()),
    Op("conv2d", lambda x, w, b=None, **k: x.conv2d(w, b, **k), ref_conv, inputs=conv_case()),
    Op("max_pool2d", lambda x, **k: x.max_pool2d(**k),
       lambda x, **k: ref_pool(x, kind="max", **k), inputs=pool_case(True)),
    Op("avg_pool2d", lambda x, **k: x.avg_pool2d(**k),
       lambda x, **k: ref_pool(x, kind="avg", **k), inputs=pool_case(False)),
]


@pytest.mark.parametrize("op", OPS, ids=[o.name for o in OPS])
def test_op(op: Op) -> None:
    check_op(op.fn, op.nargs, ref=op.ref, **op.kw)


def test_table_covers_every_public_op() -> None:
    names = {o.name for o in OPS}
    for required in ["neg", "abs", "exp", "log", "sqrt", "relu", "leaky_relu", "sigmoid", "tanh",
                     "softmax", "log_softmax", "add", "sub", "mul", "div", "pow", "matmul", "linear",
                     "sum", "mean", "max", "min", "var", "reshape", "transpose", "T", "flatten",
                     "getitem_basic", "getitem_fancy", "concatenate", "stack", "where",
                     "maximum", "minimum", "clip", "pad", "conv2d", "max_pool2d", "avg_pool2d"]:
        assert required in names
