"""Op breadth (issue 13): one row per op, hypothesis draws shapes and values.

Every reference is written from PyTorch's documented float64 definition (the formula is in
the row), never computed by the code under test. Each differentiable row checks the forward
in float64 and float32 and the gradient against central differences; the bool/integer ops
check their values and that they never join the graph.
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_init as tgi
from tinygrad_init.tensor import Tensor
from tinygrad_init.testing import arrays, broadcastable_shapes, check_op, shapes

SMALL = shapes(min_dims=0, max_dims=3, max_side=3)


class Op:
    """A row: ``fn(*tensors, **params)``, ``ref(*arrays, **params)`` written from PyTorch's
    definition, and how to draw the inputs: check_op's keywords (``unary``/``binary``) or a
    strategy of ``(arrays, params)``."""

    def __init__(self, name: str, fn: Any, ref: Any, draw: Any = None) -> None:
        self.name, self.fn, self.ref = name, fn, ref
        self.kw = dict(draw or {}) if not isinstance(draw, st.SearchStrategy) else {"inputs": draw}


def unary(min_value: float = -3.0, max_value: float = 3.0, positive: bool = False,
          avoid: tuple = (), margin: float = 1e-3) -> dict:
    return {"domain": (max(min_value, margin) if positive else min_value, max_value),
            "avoid": avoid, "margin": margin}


def binary(a_kw: dict | None = None, b_kw: dict | None = None) -> dict:
    a, b = unary(**(a_kw or {})), unary(**(b_kw or {}))
    return {"nargs": 2, "domain": [a["domain"], b["domain"]], "avoid": [a["avoid"], b["avoid"]],
            "margin": max(a["margin"], b["margin"])}

erf = np.vectorize(math.erf, otypes=[float])
SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def sig(x):
    return 1 / (1 + np.exp(-x))


def softplus_ref(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.log(1 + np.exp(beta * x)) / beta)


@st.composite
def axis_case(d: Any, min_dims: int = 1, keepdims: bool = True, **kw: Any) -> tuple:
    shape = d(shapes(min_dims=min_dims, max_dims=3, max_side=4))
    params = {"axis": d(st.integers(-len(shape), len(shape) - 1))}
    if keepdims:
        params["keepdims"] = d(st.booleans())
    return (d(arrays(shape, **kw)),), params


@st.composite
def any_axis(d: Any, min_side: int = 1, **kw: Any) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=3, min_side=min_side, max_side=4))
    nd = len(shape)
    axis = d(st.one_of(st.none(), st.integers(-nd, nd - 1),
                       st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True).map(tuple)))
    return (d(arrays(shape, **kw)),), {"axis": axis, "keepdims": d(st.booleans())}


@st.composite
def with_zeros(d: Any) -> tuple:  # prod/cumprod: slices holding zero, one or two zeros
    shape = d(shapes(min_dims=1, max_dims=3, max_side=4))
    x = d(arrays(shape, min_value=-2, max_value=2))
    mask = d(hnp.arrays(np.bool_, shape, elements=st.booleans()))
    x = np.where(mask & d(hnp.arrays(np.bool_, shape)), 0.0, x)
    return (x,), {"axis": d(st.integers(-len(shape), len(shape) - 1))}


@st.composite
def norm_case(d: Any) -> tuple:
    (x,), p = d(any_axis(avoid=(0.0,), distinct=True))
    p["p"] = d(st.sampled_from([1, 2, 3, 0.5, np.inf, -np.inf, "fro"]))
    return (x,), p


def ref_norm(x, p, axis, keepdims):
    a = np.abs(x)
    if p == np.inf:
        return a.max(axis=axis, keepdims=keepdims)
    if p == -np.inf:
        return a.min(axis=axis, keepdims=keepdims)
    p = 2 if p == "fro" else p
    return (a ** p).sum(axis=axis, keepdims=keepdims) ** (1 / p)


def ref_cumprod(x, axis):
    out = np.moveaxis(np.array(x, copy=True), axis, 0)
    for k in range(1, len(out)):
        out[k] = out[k - 1] * out[k]
    return np.moveaxis(out, 0, axis)


def ref_cumsum(x, axis):
    m = np.moveaxis(x, axis, 0)
    return np.moveaxis(np.stack([m[:k + 1].sum(0) for k in range(len(m))]), 0, axis)


@st.composite
def squeeze_case(d: Any) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=4, min_side=1, max_side=2))
    axis = d(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    return (d(arrays(shape)),), {"axis": axis}


def ref_squeeze(x, axis):
    if axis is None:
        return x.reshape([s for s in x.shape if s != 1])
    return x.reshape(x.shape[:axis % x.ndim] + x.shape[axis % x.ndim + 1:]) if x.shape[axis] == 1 else x


@st.composite
def unsqueeze_case(d: Any) -> tuple:
    shape = d(SMALL)
    return (d(arrays(shape)),), {"axis": d(st.integers(-len(shape) - 1, len(shape)))}


@st.composite
def expand_case(d: Any) -> tuple:
    shape = d(shapes(min_dims=0, max_dims=3, max_side=3))
    lead = tuple(d(st.lists(st.integers(1, 3), max_size=2)))
    target = lead + tuple(d(st.integers(1, 3)) if s == 1 else d(st.sampled_from([s, -1])) for s in shape)
    return (d(arrays(shape)),), {"sizes": target}


def ref_expand(x, sizes):
    lead = len(sizes) - x.ndim
    full = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return x.reshape((1,) * lead + x.shape) * np.ones(full)


@st.composite
def permute_case(d: Any) -> tuple:
    shape = d(SMALL)
    return (d(arrays(shape)),), {"axes": tuple(d(st.permutations(range(len(shape)))))}


@st.composite
def repeat_case(d: Any) -> tuple:
    shape = d(shapes(min_dims=0, max_dims=3, max_side=3))
    reps = tuple(d(st.lists(st.integers(1, 3), min_size=len(shape), max_size=len(shape) + 1)))
    return (d(arrays(shape)),), {"reps": reps}


def ref_repeat(x, reps):  # out[i] = x[i mod shape], from the definition
    x = x.reshape((1,) * (len(reps) - x.ndim) + x.shape)
    out_shape = tuple(r * s for r, s in zip(reps, x.shape))
    return np.array([x[tuple(i % s for i, s in zip(ix, x.shape))] for ix in np.ndindex(*out_shape)]).reshape(out_shape)


@st.composite
def flip_case(d: Any) -> tuple:
    (x,), p = d(any_axis())
    return (x,), {"axis": p["axis"]}


def ref_flip(x, axis):
    axes = range(x.ndim) if axis is None else [axis] if np.isscalar(axis) else axis
    idx = [slice(None)] * x.ndim
    for a in axes:
        idx[a] = slice(None, None, -1)
    return x[tuple(idx)]


@st.composite
def roll_case(d: Any) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=3, max_side=4))
    if d(st.booleans()):
        return (d(arrays(shape)),), {"shifts": d(st.integers(-5, 5)), "axis": None}
    return (d(arrays(shape)),), {"shifts": d(st.integers(-5, 5)),
                                 "axis": d(st.integers(-len(shape), len(shape) - 1))}


def ref_roll(x, shifts, axis):
    if axis is None:
        return ref_roll(x.reshape(-1), shifts, 0).reshape(x.shape)
    n = x.shape[axis]
    return np.take(x, [(i - shifts) % n for i in range(n)], axis=axis)


@st.composite
def tri_case(d: Any) -> tuple:
    shape = d(shapes(min_dims=2, max_dims=3, max_side=4))
    return (d(arrays(shape)),), {"diagonal": d(st.integers(-3, 3))}


def ref_tri(x, diagonal, lower):
    i, j = np.indices(x.shape[-2:])
    keep = (j - i <= diagonal) if lower else (j - i >= diagonal)
    return x * keep


@st.composite
def diagonal_case(d: Any) -> tuple:
    shape = d(shapes(min_dims=2, max_dims=3, max_side=4))
    d1, d2 = d(st.permutations(range(len(shape))))[:2]
    return (d(arrays(shape)),), {"offset": d(st.integers(-2, 2)), "dim1": d1, "dim2": d2}


def ref_diagonal(x, offset, dim1, dim2):
    m = np.moveaxis(x, (dim1, dim2), (-2, -1))
    r, c = m.shape[-2:]
    pts = [(i, i + offset) for i in range(r) if 0 <= i + offset < c]
    return np.stack([m[..., i, j] for i, j in pts], -1) if pts else np.zeros(m.shape[:-2] + (0,))


@st.composite
def split_case(d: Any) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=3, max_side=5))
    axis = d(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    if d(st.booleans()):
        s = d(st.integers(1, n + 1))
    else:
        cuts = sorted(d(st.lists(st.integers(0, n), max_size=3)))
        s = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    return (d(arrays(shape)),), {"split_size_or_sections": s, "axis": axis}


def ref_split(x, split_size_or_sections, axis):
    n, s = x.shape[axis], split_size_or_sections
    sizes = [min(s, n - k) for k in range(0, n, s)] if isinstance(s, int) else s
    bounds = np.cumsum([0] + list(sizes))
    return np.concatenate([np.take(x, range(a, b), axis=axis).ravel() for a, b in zip(bounds, bounds[1:])])


@st.composite
def chunk_case(d: Any) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=3, max_side=5))
    return (d(arrays(shape)),), {"chunks": d(st.integers(1, 6)), "axis": d(st.integers(0, len(shape) - 1))}


def ref_chunk_sizes(n, chunks):  # PyTorch: each chunk ceil(n / chunks) elements
    c = -(-n // chunks)
    return [min(c, n - k) for k in range(0, n, c)]


@st.composite
def unflatten_case(d: Any) -> tuple:
    a, b = d(st.integers(1, 3)), d(st.integers(1, 3))
    shape = (d(st.integers(1, 2)), a * b)
    sizes = d(st.sampled_from([(a, b), (-1, b), (a, -1)]))
    return (d(arrays(shape)),), {"axis": 1, "sizes": sizes}


@st.composite
def gather_case(d: Any) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=3, max_side=4))
    axis = d(st.integers(0, len(shape) - 1))
    ishape = tuple(d(st.integers(1, 4)) if i == axis else d(st.integers(1, s)) for i, s in enumerate(shape))
    idx = d(hnp.arrays(np.int64, ishape, elements=st.integers(-shape[axis], shape[axis] - 1)))
    return (d(arrays(shape)),), {"axis": axis, "index": idx}


def ref_gather(x, axis, index):  # out[i][j] = x[index[i][j]][j] (axis 0), from the definition
    out = np.empty(index.shape)
    for ix in np.ndindex(*index.shape):
        src = list(ix)
        src[axis] = index[ix]
        out[ix] = x[tuple(src)]
    return out


@st.composite
def scatter_case(d: Any) -> tuple:
    (x,), p = d(gather_case())
    src = d(arrays(tuple(s + d(st.integers(0, 1)) for s in p["index"].shape)))
    return (x, src), p


def ref_scatter_add(x, src, axis, index):
    out = x.copy()
    for ix in np.ndindex(*index.shape):
        dst = list(ix)
        dst[axis] = index[ix]
        out[tuple(dst)] += src[ix]
    return out


@st.composite
def index_select_case(d: Any) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=3, max_side=4))
    axis = d(st.integers(-len(shape), len(shape) - 1))
    idx = np.array(d(st.lists(st.integers(0, shape[axis] - 1), max_size=5)), np.int64)
    return (d(arrays(shape)),), {"axis": axis, "index": idx}


@st.composite
def masked_case(d: Any) -> tuple:
    sx, _ = d(broadcastable_shapes(max_dims=3, max_side=3))
    m = d(hnp.arrays(np.bool_, st.sampled_from([sx, sx[1:], ()])))
    return (d(arrays(sx)),), {"mask": m, "value": d(st.sampled_from([0.0, -1.5]))}


@st.composite
def prelu_case(d: Any) -> tuple:
    shape = d(shapes(min_dims=1, max_dims=4, max_side=3))
    c = shape[1] if len(shape) >= 2 else 1
    w = d(arrays((d(st.sampled_from([1, c])),), min_value=-1, max_value=1))
    return (d(arrays(shape, avoid=(0.0,), margin=1e-2)), w), {}


def ref_prelu(x, w):
    wb = w.reshape((1, -1) + (1,) * (x.ndim - 2)) if x.ndim >= 2 else w
    return np.where(x > 0, x, wb * x)


@st.composite
def einsum_case(d: Any) -> tuple:
    spec, dims = d(st.sampled_from([
        ("ij,jk->ik", "ab,bc"), ("ij,jk", "ab,bc"), ("i,i->", "a,a"), ("i,j->ij", "a,b"),
        ("ii->", "aa"), ("ii->i", "aa"), ("ij->ji", "ab"), ("ij->", "ab"), ("ijk->j", "abc"),
        ("bij,bjk->bik", "zab,zbc"), ("...ij,...jk->...ik", "zab,zbc"), ("ij,ij->i", "ab,ab"),
        ("ij,kj->ik", "ab,cb"), ("ij,jk,kl->il", "ab,bc,cd"), ("iij->j", "aab")]))
    size = {c: d(st.integers(1, 3)) for c in "abcdz"}
    xs = tuple(d(arrays(tuple(size[c] for c in t))) for t in dims.split(","))
    return xs, {"spec": spec}


def ref_einsum(*xs, spec):  # loops over every index assignment, from the definition
    lhs, _, out = spec.replace("...", "Z").partition("->")
    ins = lhs.split(",")
    if not _:
        flat = "".join(ins)
        out = "".join(sorted(c for c in set(flat) if flat.count(c) == 1))
    size = {c: n for t, x in zip(ins, xs) for c, n in zip(t, x.shape)}
    letters = sorted(size)
    res = np.zeros(tuple(size[c] for c in out))
    for vals in np.ndindex(*[size[c] for c in letters]):
        v = dict(zip(letters, vals))
        term = np.prod([x[tuple(v[c] for c in t)] for t, x in zip(ins, xs)])
        res[tuple(v[c] for c in out)] += term
    return res


@st.composite
def mod_pair(d: Any) -> tuple:  # a/b kept 0.05 away from integers: % and // jump there
    sa, sb = d(broadcastable_shapes(max_dims=3, max_side=4))
    b = d(arrays(sb, avoid=(0.0,), margin=0.5))
    q = d(arrays(sa, min_value=-3, max_value=3))
    q = np.floor(q) + 0.05 + 0.9 * (q - np.floor(q))
    return (np.asarray(q * b), b), {}


def _sum_of_pieces(pieces):
    return tgi.concatenate([p.reshape(-1) for p in pieces])


OPS = [
    # --- unary math: PyTorch float64 definitions
    Op("sin", lambda x: x.sin(), np.sin, unary()),
    Op("cos", lambda x: x.cos(), np.cos, unary()),
    Op("tan", lambda x: x.tan(), lambda x: np.sin(x) / np.cos(x), unary(min_value=-1.4, max_value=1.4)),
    Op("sinh", lambda x: x.sinh(), lambda x: (np.exp(x) - np.exp(-x)) / 2, unary()),
    Op("cosh", lambda x: x.cosh(), lambda x: (np.exp(x) + np.exp(-x)) / 2, unary()),
    Op("asin", lambda x: x.asin(), np.arcsin, unary(min_value=-0.95, max_value=0.95)),
    Op("acos", lambda x: x.acos(), np.arccos, unary(min_value=-0.95, max_value=0.95)),
    Op("atan", lambda x: x.atan(), np.arctan, unary()),
    Op("arcsin_alias", tgi.arcsin, np.arcsin, unary(min_value=-0.9, max_value=0.9)),
    Op("square", lambda x: x.square(), lambda x: x * x, unary()),
    Op("reciprocal", lambda x: x.reciprocal(), lambda x: 1 / x, unary(avoid=(0.0,), margin=0.3)),
    Op("rsqrt", lambda x: x.rsqrt(), lambda x: x ** -0.5, unary(positive=True, margin=0.1)),
    Op("exp2", lambda x: x.exp2(), lambda x: 2.0 ** x, unary()),
    Op("log2", lambda x: x.log2(), lambda x: np.log(x) / np.log(2), unary(positive=True, margin=0.05)),
    Op("log10", lambda x: x.log10(), lambda x: np.log(x) / np.log(10), unary(positive=True, margin=0.05)),
    Op("log1p", lambda x: x.log1p(), lambda x: np.log(1 + x), unary(min_value=-0.9)),
    Op("expm1", lambda x: x.expm1(), lambda x: np.exp(x) - 1, unary()),
    Op("erf", lambda x: x.erf(), erf, unary()),
    Op("sign", lambda x: x.sign(), lambda x: (x > 0) * 1.0 - (x < 0), unary(avoid=(0.0,))),
    Op("floor", lambda x: x.floor(), np.floor, unary(avoid=(-3, -2, -1, 0, 1, 2, 3), margin=1e-3)),
    Op("ceil", lambda x: x.ceil(), np.ceil, unary(avoid=(-3, -2, -1, 0, 1, 2, 3), margin=1e-3)),
    Op("round", lambda x: x.round(), np.rint,  # half to even
       unary(avoid=(-2.5, -1.5, -0.5, 0.5, 1.5, 2.5), margin=1e-3)),
    Op("trunc", lambda x: x.trunc(), lambda x: np.sign(x) * np.floor(np.abs(x)),
       unary(avoid=(-3, -2, -1, 0, 1, 2, 3), margin=1e-3)),
    # --- binary
    Op("remainder", lambda a, b: a % b, lambda a, b: a - np.floor(a / b) * b, mod_pair()),
    Op("rmod", lambda a: 2.0 % a, lambda a: 2.0 - np.floor(2.0 / a) * a,
       unary(min_value=1.05, max_value=1.95)),
    Op("floor_divide", lambda a, b: a // b, lambda a, b: np.floor(a / b), mod_pair()),
    Op("atan2", tgi.atan2, np.arctan2, binary(a_kw={"avoid": (0.0,), "margin": 0.2},
                                              b_kw={"avoid": (0.0,), "margin": 0.2})),
    Op("arctan2_alias", tgi.arctan2, np.arctan2, binary(b_kw={"positive": True, "margin": 0.2})),
    Op("logaddexp", tgi.logaddexp, lambda a, b: np.log(np.exp(a) + np.exp(b)), binary()),
    Op("lerp", lambda s, e, w: tgi.lerp(s, e, w), lambda s, e, w: s + w * (e - s),
       st.tuples(arrays((2, 3)), arrays((2, 3)), arrays((3,))).map(lambda t: (t, {}))),
    Op("lerp_scalar", lambda s, e: s.lerp(e, 0.25), lambda s, e: s + 0.25 * (e - s), binary()),
    # --- reductions
    Op("std", lambda x, **k: x.std(**k),
       lambda x, axis, keepdims: np.sqrt(((x - x.mean(axis=axis, keepdims=True)) ** 2).mean(axis=axis, keepdims=keepdims)),
       any_axis(min_side=2, distinct=True, separation=0.05)),
    Op("std_ddof1", lambda x, **k: x.std(ddof=1, **k),
       lambda x, axis, keepdims: np.sqrt(((x - x.mean(axis, keepdims=True)) ** 2).sum(axis, keepdims=keepdims) / (x.shape[axis] - 1)),
       axis_case(min_dims=1, distinct=True, separation=0.05).filter(lambda c: c[0][0].shape[c[1]["axis"]] > 1)),
    Op("logsumexp", lambda x, **k: x.logsumexp(**k),
       lambda x, axis, keepdims: np.log(np.exp(x).sum(axis=axis, keepdims=keepdims)), any_axis()),
    Op("prod", lambda x, **k: x.prod(**k), lambda x, axis: np.multiply.reduce(x, axis), with_zeros()),
    Op("prod_all", lambda x: x.prod(), lambda x: np.multiply.reduce(x.ravel()),
       with_zeros().map(lambda c: (c[0], {}))),
    Op("prod_keepdims", lambda x, axis: x.prod(axis, keepdims=True),
       lambda x, axis: np.multiply.reduce(x, axis, keepdims=True), with_zeros()),
    Op("cumsum", lambda x, axis: x.cumsum(axis), ref_cumsum, axis_case(keepdims=False)),
    Op("cumprod", lambda x, axis: x.cumprod(axis), ref_cumprod, with_zeros()),
    Op("norm", lambda x, **k: x.norm(**k), ref_norm, norm_case()),
    # --- shape
    Op("squeeze", lambda x, axis: x.squeeze(axis), ref_squeeze, squeeze_case()),
    Op("unsqueeze", lambda x, axis: x.unsqueeze(axis), lambda x, axis: np.expand_dims(x, axis), unsqueeze_case()),
    Op("expand", lambda x, sizes: x.expand(*sizes), ref_expand, expand_case()),
    Op("permute", lambda x, axes: x.permute(*axes), lambda x, axes: np.transpose(x, axes), permute_case()),
    Op("repeat", lambda x, reps: x.repeat(*reps), ref_repeat, repeat_case()),
    Op("tile", lambda x: x.tile(2), lambda x: ref_repeat(x, (1,) * (x.ndim - 1) + (2,)) if x.ndim else ref_repeat(x, (2,)),
       unary()),
    Op("flip", lambda x, axis: x.flip(axis), ref_flip, flip_case()),
    Op("roll", lambda x, **k: x.roll(**k), ref_roll, roll_case()),
    Op("split", lambda x, **k: _sum_of_pieces(x.split(**k)), ref_split, split_case()),
    Op("chunk", lambda x, chunks, axis: _sum_of_pieces(x.chunk(chunks, axis)),
       lambda x, chunks, axis: ref_split(x, ref_chunk_sizes(x.shape[axis], chunks), axis), chunk_case()),
    Op("unflatten", lambda x, axis, sizes: x.unflatten(axis, sizes),
       lambda x, axis, sizes: x.reshape(x.shape[0], *[s if s != -1 else -1 for s in sizes]), unflatten_case()),
    Op("tril", lambda x, diagonal: x.tril(diagonal), lambda x, diagonal: ref_tri(x, diagonal, True), tri_case()),
    Op("triu", lambda x, diagonal: x.triu(diagonal), lambda x, diagonal: ref_tri(x, diagonal, False), tri_case()),
    Op("diagonal", lambda x, **k: x.diagonal(**k), ref_diagonal, diagonal_case()),
    Op("cat", lambda a, b: tgi.cat([a, b], axis=0), lambda a, b: np.concatenate([a, b]),
       st.tuples(arrays((2, 3)), arrays((1, 3))).map(lambda t: (t, {}))),
    # --- sort / topk: values are differentiable (gradient goes back to the picked elements)
    Op("sort", lambda x, **k: x.sort(**k).values,
       lambda x, axis, descending: -np.sort(-x, axis) if descending else np.sort(x, axis),
       axis_case(keepdims=False, distinct=True).flatmap(
           lambda c: st.booleans().map(lambda b: (c[0], {**c[1], "descending": b})))),
    Op("topk", lambda x, k, axis, largest: x.topk(k, axis, largest).values,
       lambda x, k, axis, largest: np.take(-np.sort(-x, axis) if largest else np.sort(x, axis), range(k), axis=axis),
       axis_case(keepdims=False, distinct=True).flatmap(lambda c: st.tuples(
           st.integers(0, c[0][0].shape[c[1]["axis"]]), st.booleans()).map(
           lambda kb: (c[0], {**c[1], "k": kb[0], "largest": kb[1]})))),
    # --- activations (PyTorch's definitions and defaults)
    Op("gelu", lambda x: x.gelu(), lambda x: x * 0.5 * (1 + erf(x / np.sqrt(2))), unary()),
    Op("gelu_tanh", lambda x: x.gelu(approximate="tanh"),
       lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))), unary()),
    Op("silu", lambda x: x.silu(), lambda x: x * sig(x), unary()),
    Op("elu", lambda x: x.elu(), lambda x: np.where(x > 0, x, np.exp(x) - 1), unary(avoid=(0.0,))),
    Op("elu_alpha", lambda x: tgi.elu(x, alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1)),
       unary(avoid=(0.0,))),
    Op("selu", lambda x: x.selu(), lambda x: SELU_S * np.where(x > 0, x, SELU_A * (np.exp(x) - 1)),
       unary(avoid=(0.0,))),
    Op("celu", lambda x: x.celu(alpha=2.0),
       lambda x: np.maximum(0, x) + np.minimum(0, 2.0 * (np.exp(x / 2.0) - 1)), unary(avoid=(0.0,))),
    Op("softplus", lambda x: x.softplus(), softplus_ref, unary(min_value=-30, max_value=30, avoid=(20.0,))),
    Op("softplus_beta", lambda x: x.softplus(beta=2.0, threshold=3.0),
       lambda x: softplus_ref(x, 2.0, 3.0), unary(avoid=(1.5,), margin=1e-2)),
    Op("mish", lambda x: x.mish(), lambda x: x * np.tanh(np.log(1 + np.exp(x))), unary()),
    Op("hardswish", lambda x: x.hardswish(), lambda x: x * np.minimum(np.maximum(x + 3, 0), 6) / 6,
       unary(min_value=-5, max_value=5, avoid=(-3.0, 3.0))),
    Op("hardsigmoid", lambda x: x.hardsigmoid(), lambda x: np.minimum(np.maximum(x + 3, 0), 6) / 6,
       unary(min_value=-5, max_value=5, avoid=(-3.0, 3.0))),
    Op("relu6", lambda x: x.relu6(), lambda x: np.minimum(np.maximum(x, 0), 6),
       unary(min_value=-2, max_value=8, avoid=(0.0, 6.0))),
    Op("hardtanh", lambda x: x.hardtanh(), lambda x: np.minimum(np.maximum(x, -1), 1), unary(avoid=(-1.0, 1.0))),
    Op("hardtanh_bounds", lambda x: x.hardtanh(-0.5, 2.0), lambda x: np.minimum(np.maximum(x, -0.5), 2.0),
       unary(avoid=(-0.5, 2.0))),
    Op("logsigmoid", lambda x: x.logsigmoid(), lambda x: np.log(sig(x)), unary(min_value=-20, max_value=20)),
    Op("softsign", lambda x: x.softsign(), lambda x: x / (1 + np.abs(x)), unary(avoid=(0.0,))),
    Op("prelu", lambda x, w: x.prelu(w), ref_prelu, prelu_case()),
    # --- indexing
    Op("gather", lambda x, axis, index: x.gather(axis, index), ref_gather, gather_case()),
    Op("take_along_axis", lambda x, axis, index: tgi.take_along_axis(x, indices=index % x.shape[axis], axis=axis),
       ref_gather, gather_case()),
    Op("scatter_add", lambda x, src, axis, index: x.scatter_add(axis, index, src), ref_scatter_add, scatter_case()),
    Op("index_select", lambda x, axis, index: x.index_select(axis, index),
       lambda x, axis, index: np.stack([np.take(x, i, axis=axis) for i in index], axis % x.ndim) if len(index)
       else np.take(x, index, axis=axis), index_select_case()),
    Op("masked_fill", lambda x, mask, value: x.masked_fill(mask, value),
       lambda x, mask, value: np.where(mask, value, x), masked_case()),
    # --- einsum
    Op("einsum", lambda *xs, spec: tgi.einsum(spec, *xs), ref_einsum, einsum_case()),
]


@pytest.mark.parametrize("op", OPS, ids=[o.name for o in OPS])
def test_op(op: Op) -> None:
    check_op(op.fn, ref=op.ref, **op.kw)


# ---- ops without gradients: values, dtypes, and that they never join the graph --------------
X = np.array([[0.5, -1.0, np.nan], [2.0, np.inf, -np.inf]])
B = np.array([[True, False, True], [False, False, True]])
NOGRAD = [  # (name, fn on Tensors, reference on arrays)
    ("lt", lambda x: x < 0.5, lambda x: x < 0.5), ("le", lambda x: x <= 0.5, lambda x: x <= 0.5),
    ("gt", lambda x: x > 0.5, lambda x: x > 0.5), ("ge", lambda x: x >= 0.5, lambda x: x >= 0.5),
    ("eq", lambda x: x == 0.5, lambda x: x == 0.5), ("ne", lambda x: x != 0.5, lambda x: x != 0.5),
    ("rlt", lambda x: 0.5 < x, lambda x: x > 0.5), ("eq_tensor", lambda x: x.eq(x), lambda x: x == x),
    ("isnan", lambda x: x.isnan(), lambda x: x != x),
    ("isinf", lambda x: x.isinf(), lambda x: np.abs(x) == np.inf),
    ("isfinite", lambda x: x.isfinite(), lambda x: (x == x) & (np.abs(x) != np.inf)),
    ("logical_not", lambda x: tgi.logical_not(x > 0), lambda x: ~(x > 0)),
    ("logical_and", lambda x: tgi.logical_and(x > 0, Tensor(B)), lambda x: (x > 0) & B),
    ("logical_or", lambda x: tgi.logical_or(x > 0, Tensor(B)), lambda x: (x > 0) | B),
    ("any", lambda x: (x > 1).any(), lambda x: np.array((x > 1).sum() > 0)),
    ("any_axis", lambda x: (x > 1).any(axis=1), lambda x: (x > 1).sum(1) > 0),
    ("all", lambda x: x.isfinite().all(axis=0, keepdims=True), lambda x: np.isfinite(x).sum(0, keepdims=True) == 2),
    ("argmax", lambda x: Tensor(np.nan_to_num(x.data)).argmax(axis=1), lambda x: np.array([0, 1])),
    ("argmin", lambda x: Tensor(np.nan_to_num(x.data)).argmin(1), lambda x: np.array([1, 2])),
    ("argmax_flat", lambda x: Tensor(np.nan_to_num(x.data)).argmax(), lambda x: np.array(4)),
    ("argmax_tie_first", lambda x: Tensor([3.0, 1.0, 3.0]).argmax(), lambda x: np.array(0)),
]


@pytest.mark.parametrize("name,fn,ref", NOGRAD, ids=[r[0] for r in NOGRAD])
def test_op_without_gradient(name, fn, ref):
    x = Tensor(X, requires_grad=True)
    out = fn(x)
    with np.errstate(invalid="ignore"):
        expected = ref(X)
    assert out.dtype == expected.dtype and out.shape == expected.shape
    np.testing.assert_array_equal(out.data, expected)
    assert not out.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        out.backward()


def test_bool_of_a_tensor_is_pytorchs():
    assert bool(Tensor(1.0) > 0) and not bool(Tensor([0.0]) > 0)
    with pytest.raises(ValueError, match=r"shape \(2,\) is ambiguous"):
        bool(Tensor([1.0, 2.0]) > 0)
    a, b = Tensor([1.0]), Tensor([1.0])
    assert a in [a] and len({a, b}) == 2 and (a == None) is False  # noqa: E711


def test_sort_and_topk_indices():
    x = Tensor([[3.0, 1.0, 2.0, 1.0]])
    v, i = x.sort(axis=1)
    np.testing.assert_array_equal(v.data, [[1, 1, 2, 3]])
    np.testing.assert_array_equal(i.data, [[1, 3, 2, 0]])  # stable: ties keep their order
    v, i = x.topk(2, axis=-1)
    np.testing.assert_array_equal(v.data, [[3, 2]])
    np.testing.assert_array_equal(i.data, [[0, 2]])
    assert i.dtype == np.int64 and not i.requires_grad
    with pytest.raises(ValueError, match=r"topk: k=5 is out of range for axis -1 of size 4"):
        x.topk(5)


def test_sort_gradient_goes_to_the_source_element():
    x = Tensor([3.0, 1.0, 2.0], requires_grad=True)
    (x.sort().values * Tensor([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [100.0, 1.0, 10.0])


def test_prod_gradient_with_zeros_is_the_product_of_the_others():
    x = Tensor([2.0, 0.0, 3.0], requires_grad=True)
    x.prod().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 6.0, 0.0])
    y = Tensor([0.0, 0.0, 3.0], requires_grad=True)
    y.prod().backward()
    np.testing.assert_array_equal(y.grad, [0.0, 0.0, 0.0])
    z = Tensor([2.0, 0.0, 3.0], requires_grad=True)
    z.cumprod(0).sum().backward()  # d/dz0 (z0 + z0 z1 + z0 z1 z2) = 1 + z1 + z1 z2
    np.testing.assert_array_equal(z.grad, [1.0, 2.0 + 6.0, 0.0])


def test_norm_at_zero_has_zero_gradient_and_logsumexp_of_minus_inf():
    x = Tensor(np.zeros(3), requires_grad=True)
    x.norm().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(3))
    assert Tensor([-np.inf, -np.inf]).logsumexp().item() == -np.inf
    big = Tensor([1000.0, 1000.0]).logsumexp()
    assert big.item() == pytest.approx(1000 + math.log(2))


def test_reductions_accept_axis_0_on_0d():
    t = Tensor(np.float64(2.5))
    for out in (t.logsumexp(0), t.prod(-1), t.cumsum(0), t.norm(axis=0), tgi.any(t > 0, 0)):
        assert out.shape == ()


def test_one_hot_and_masked_fill():
    np.testing.assert_array_equal(tgi.one_hot(np.array([0, 2]), 3).data, [[1, 0, 0], [0, 0, 1]])
    assert tgi.one_hot(np.array([1, 3])).shape == (2, 4) and tgi.one_hot(np.array([1])).dtype == np.int64
    with pytest.raises(ValueError, match="class index 3 is out of range for num_classes=3"):
        tgi.one_hot(np.array([3]), 3)
    x = Tensor([1.0, 2.0], requires_grad=True)
    v = Tensor(np.float64(0.0), requires_grad=True)
    y = x.masked_fill(np.array([True, False]), -np.inf)
    assert y.data.tolist() == [-np.inf, 2.0]
    (x.masked_fill(Tensor(np.array([True, False])), v) * Tensor([3.0, 4.0])).sum().backward()
    assert x.grad.tolist() == [0.0, 4.0] and v.grad == 3.0


@pytest.mark.parametrize("call,message", [
    (lambda: Tensor(np.ones((2, 3))).gather(1, np.array([[0, 3]])), r"gather: index 3 is out of range for axis 1 of size 3"),
    (lambda: Tensor(np.ones((2, 3))).gather(0, np.array([0, 1])), r"gather: index shape \(2,\) does not fit input shape \(2, 3\)"),
    (lambda: Tensor(np.ones((2, 3))).gather(1, np.array([[0.0]])), r"gather: index must be integers, got dtype float64"),
    (lambda: Tensor(np.ones((2, 3))).index_select(2, np.array([0])), r"index_select: axis 2 is out of bounds .* 2 dimensions"),
    (lambda: Tensor(np.ones((2, 3))).masked_fill(np.ones(2, bool), 0.0), r"masked_fill: mask shape \(2,\) does not broadcast to the input shape \(2, 3\)"),
    (lambda: Tensor(np.ones((2, 3))).masked_fill(np.ones(3), 0.0), r"masked_fill: mask must be bool, got dtype float64"),
    (lambda: Tensor(np.ones((2, 3))).expand(4, 3), r"expand: cannot expand shape \(2, 3\) to \(4, 3\)"),
    (lambda: Tensor(np.ones((2, 3))).expand(3), r"expand: cannot expand shape \(2, 3\) to \(3,\)"),
    (lambda: Tensor(np.ones((2, 3))).std(axis=5), r"std: axis 5 is out of bounds for a tensor with 2 dimensions"),
    (lambda: Tensor(np.ones(3)).softplus(beta="a"), r"softplus: beta='a' is not a number"),
    (lambda: tgi.lerp(Tensor(np.ones((2, 3))), np.ones(4), 0.5), r"lerp: shapes \(2, 3\), \(4,\), \(\) of start"),
    (lambda: Tensor(np.ones((2, 3))).permute(0, 0), r"permute: axes \(0, 0\) are not a permutation"),
    (lambda: Tensor(np.ones((2, 3))).split([1, 1], axis=1), r"split: sizes \[1, 1\] don't add up to 3"),
    (lambda: Tensor(np.ones((2, 3))).unflatten(1, (2, 2)), r"unflatten: sizes \(2, 2\) don't multiply to 3"),
    (lambda: Tensor(np.ones(3)).tril(), r"tril: needs at least 2 dimensions, got shape \(3,\)"),
    (lambda: Tensor(np.ones((2, 3))).cumsum(2), r"cumsum: axis 2 is out of bounds"),
    (lambda: Tensor(np.ones((2, 3))).norm(p=-1), r"norm: p=-1 is invalid"),
    (lambda: Tensor(np.ones((2, 3))).prelu(Tensor(np.ones(2))), r"prelu: weight shape \(2,\) does not fit input shape \(2, 3\)"),
    (lambda: Tensor(np.ones(3)).gelu(approximate="fast"), r"gelu: approximate='fast' is invalid"),
    (lambda: tgi.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((2, 3))), r"einsum: index 'j' has sizes 3 and 2"),
    (lambda: tgi.einsum("ij->k", np.ones((2, 3))), r"einsum: output subscripts 'k'"),
    (lambda: tgi.einsum("ij,j", np.ones((2, 3))), r"einsum: 'ij,j' has 2 operands but 1 were given"),
    (lambda: Tensor(np.ones(2)) % Tensor(np.ones(3)), r"remainder: shapes \(2,\) and \(3,\) cannot be broadcast together"),
])
def test_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError, IndexError), match=message):
        call()


def test_every_public_op_is_in_the_docs_op_table():
    from pathlib import Path
    doc = (Path(__file__).parents[1] / "docs" / "ops.md").read_text()
    ops = [n for n, m in tgi._LAZY.items() if m.startswith("ops.")]
    missing = [n for n in ops if not re.search(rf"[`\s]{n}[`\s(]", doc)]
    assert len(ops) > 90 and not missing, missing


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var", "logsumexp", "prod", "norm"])
def test_reductions_over_axis_0_or_minus_1_of_a_0d_tensor(name):
    """PyTorch: ``torch.tensor(2.).sum(0)`` is 2 (a 0-d tensor has one "axis" 0/-1)."""
    formula = {"var": lambda x: 0.0 * x, "logsumexp": lambda x: x, "norm": np.abs}
    for axis in (0, -1):
        check_op(lambda x, keepdims: getattr(x, name)(axis=axis, keepdims=keepdims),
                 ref=lambda x, keepdims: formula.get(name, lambda v: v)(x),
                 inputs=st.tuples(arrays((), avoid=(0.0,), margin=0.1).map(lambda a: (a,)),
                                  st.fixed_dictionaries({"keepdims": st.booleans()})),
                 max_examples=5)


@pytest.mark.parametrize("first", ["import tinygrad_init as t; t.sin", "import tinygrad_init as t; t.einsum",
                                   "import tinygrad_init.ops.activation", "import tinygrad_init.ops.math",
                                   "from tinygrad_init.ops.index import gather"])
def test_any_op_module_can_be_imported_first(first):
    import subprocess
    import sys
    subprocess.run([sys.executable, "-c", first + "; import tinygrad_init as t; t.Tensor([1.0]).gelu()"],
                   check=True, capture_output=True, timeout=120)
