"""Convolution, pooling and padding modes: PyTorch's recorded values (float64), a table of
hypothesis-drawn cases against loop references written from the definitions with gradients
checked by central differences, the nn layers, and the errors."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from tinygrad_init import functional as F, nn, op
from tinygrad_init.tensor import Tensor
from tinygrad_init.testing import arrays, gradcheck

REF = np.load(Path(__file__).parent / "data" / "conv_reference.npz")
CASES = sorted({k.split("__")[0] for k in REF.files})


# ---------------------------------------------------------------------- PyTorch's values
@pytest.mark.parametrize("case", CASES)
def test_matches_pytorch(case: str) -> None:
    names = REF[f"{case}__args"].tolist()
    kwargs = json.loads(str(REF[f"{case}__kwargs"]))
    ts = [Tensor(REF[f"{case}__{n}"].copy(), requires_grad=True) for n in names]
    out = getattr(F, str(REF[f"{case}__fn"]))(*ts, **kwargs)
    np.testing.assert_allclose(out.data, REF[f"{case}__out"], rtol=1e-10, atol=1e-12)
    (out * Tensor(REF[f"{case}__g"])).sum().backward()
    for n, t in zip(names, ts):
        np.testing.assert_allclose(t.grad, REF[f"{case}__grad_{n}"], rtol=1e-10, atol=1e-12,
                                   err_msg=f"{case}: gradient of {n}")


def test_reference_covers_every_feature() -> None:
    fns = {str(REF[f"{c}__fn"]) for c in CASES}
    assert fns == {"conv1d", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d",
                   "max_pool1d", "avg_pool1d", "adaptive_avg_pool2d", "pad"}
    kw = [json.loads(str(REF[f"{c}__kwargs"])) for c in CASES]
    for key, value in [("groups", 2), ("groups", 3), ("padding", "same"), ("padding", "valid"),
                       ("ceil_mode", True), ("count_include_pad", False), ("mode", "reflect"),
                       ("mode", "replicate"), ("mode", "circular")]:
        assert any(k.get(key) == value for k in kw), (key, value)
    assert any("output_padding" in k and "dilation" in k for k in kw)


# ---------------------------------------------------------------------- loop references
def _pairs(v: Any, n: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def ref_conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """out[n, o, i, j] = b[o] + sum_{c, p, q} xpad[n, g(o)*C/G + c, i*s + p*d, j*s + q*d] w[o, c, p, q]"""
    nd = x.ndim - 2
    if nd == 1:
        x, w = x[:, :, None], w[:, :, None]
        stride, dilation = (1, stride if np.isscalar(stride) else stride[0]), \
            (1, dilation if np.isscalar(dilation) else dilation[0])
        padding = padding if isinstance(padding, str) else (0, _pairs(padding, 1)[0])
    s, d = _pairs(stride, 2), _pairs(dilation, 2)
    k = w.shape[2:]
    if padding == "same":
        lo = [di * (ki - 1) // 2 for di, ki in zip(d, k)]
        hi = [di * (ki - 1) - l for di, ki, l in zip(d, k, lo)]
    else:
        lo = hi = [0, 0] if padding == "valid" else list(_pairs(padding, 2))
    n_, c, h, wd = x.shape
    o, cg = w.shape[:2]
    xp = np.zeros((n_, c, h + lo[0] + hi[0], wd + lo[1] + hi[1]))
    xp[:, :, lo[0]:lo[0] + h, lo[1]:lo[1] + wd] = x
    oh = (xp.shape[2] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (xp.shape[3] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((n_, o, oh, ow))
    for oc in range(o):
        g0 = (oc // (o // groups)) * cg
        for i in range(oh):
            for j in range(ow):
                for p in range(k[0]):
                    for q in range(k[1]):
                        out[:, oc, i, j] += xp[:, g0:g0 + cg, i * s[0] + p * d[0],
                                               j * s[1] + q * d[1]] @ w[oc, :, p, q]
    if b is not None:
        out += b[None, :, None, None]
    return out[:, :, 0] if nd == 1 else out


def ref_conv_t(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Every input element scatters x[n, ci, i, j] * w[ci, co, p, q] to output position
    (i*s - pad + p*d, j*s - pad + q*d) of output channel g(ci)*Cout/G + co."""
    s, p_, op_, d = (_pairs(v, 2) for v in (stride, padding, output_padding, dilation))
    n_, c, h, wd = x.shape
    cog, k = w.shape[1], w.shape[2:]
    size = [(h - 1) * s[0] - 2 * p_[0] + d[0] * (k[0] - 1) + op_[0] + 1,
            (wd - 1) * s[1] - 2 * p_[1] + d[1] * (k[1] - 1) + op_[1] + 1]
    out = np.zeros((n_, cog * groups, *size))
    for ci in range(c):
        g0 = (ci // (c // groups)) * cog
        for i in range(h):
            for j in range(wd):
                for p in range(k[0]):
                    for q in range(k[1]):
                        y, z = i * s[0] - p_[0] + p * d[0], j * s[1] - p_[1] + q * d[1]
                        if 0 <= y < size[0] and 0 <= z < size[1]:
                            out[:, g0:g0 + cog, y, z] += x[:, ci, i, j][:, None] * w[ci, :, p, q]
    return out if b is None else out + b[None, :, None, None]


def _windows(n, k, s, p, d, ceil):
    """PyTorch's pooling windows along one axis: (start, end, starts within padded range)."""
    eff = d * (k - 1) + 1
    num = n + 2 * p - eff
    o = (math.ceil(num / s) if ceil else num // s) + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return [o_ * s - p for o_ in range(o)]


def ref_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
             count_include_pad=True, kind="max"):
    nd = x.ndim - 2
    k, p, d = (_pairs(v, nd) for v in (kernel_size, padding, dilation))
    s = k if stride is None else _pairs(stride, nd)
    if nd == 1:
        x, k, s, p, d = x[:, :, None], (1,) + k, (1,) + s, (0,) + p, (1,) + d
    h, w = x.shape[2:]
    rows, cols = (_windows(n, *a, ceil_mode) for n, a in zip((h, w), zip(k, s, p, d)))
    out = np.zeros(x.shape[:2] + (len(rows), len(cols)))
    for a, r in enumerate(rows):
        for b_, c in enumerate(cols):
            ys = [r + i * d[0] for i in range(k[0]) if 0 <= r + i * d[0] < h]
            zs = [c + j * d[1] for j in range(k[1]) if 0 <= c + j * d[1] < w]
            win = x[:, :, ys][:, :, :, zs]
            if kind == "max":  # a window of padding only: -inf, as PyTorch
                out[:, :, a, b_] = win.max(axis=(2, 3)) if win.size else -np.inf
            else:  # divisor: the window clipped to the padded input, or to the input
                full = ((min(r + k[0], h + p[0]) - r) * (min(c + k[1], w + p[1]) - c)
                        if count_include_pad else len(ys) * len(zs))
                out[:, :, a, b_] = win.sum(axis=(2, 3)) / full
    return out[:, :, 0] if nd == 1 else out


def ref_adaptive(x, output_size):
    oh, ow = _pairs(output_size, 2)
    h, w = x.shape[2:]
    out = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, r1 = math.floor(i * h / oh), math.ceil((i + 1) * h / oh)
            c0, c1 = math.floor(j * w / ow), math.ceil((j + 1) * w / ow)
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return out


def ref_pad(x, pad, mode):
    """F.pad's order (last axis first); source index of each output position, per mode."""
    src = {"reflect": lambda q, n: abs(q) if q < n else 2 * (n - 1) - q,
           "replicate": lambda q, n: min(max(q, 0), n - 1),
           "circular": lambda q, n: q % n}[mode]
    for ax in range(len(pad) // 2):
        lo, hi = pad[2 * ax], pad[2 * ax + 1]
        axis = x.ndim - 1 - ax
        n = x.shape[axis]
        x = np.take(x, [src(q, n) for q in range(-lo, n + hi)], axis=axis)
    return x


# ---------------------------------------------------------------------- hypothesis table
def _layout(d: Any, x: np.ndarray) -> np.ndarray:
    """Mark half the 4-d inputs to be passed channels-last in memory (see ``_channels_last``)."""
    return x, x.ndim == 4 and d(st.booleans())


@op
def _channels_last(x: np.ndarray) -> tuple:
    # the same NCHW values, stored NHWC (as a conv's output is); gradcheck perturbs its own
    # contiguous copies of the inputs, so the layout is made inside the checked function
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2), lambda g: g


@st.composite
def conv_case(d: Any, nd: int) -> tuple:
    g = d(st.sampled_from([1, 1, 2, 3]))
    cg, og = d(st.integers(1, 2)), d(st.integers(1, 2))
    k = tuple(d(st.integers(1, 3)) for _ in range(nd))
    s = tuple(d(st.integers(1, 3)) for _ in range(nd))
    dil = tuple(d(st.integers(1, 2)) for _ in range(nd))
    padding = d(st.sampled_from(["int", "same", "valid"]))
    if padding == "same":
        s = (1,) * nd
    pad = tuple(d(st.integers(0, 2)) for _ in range(nd)) if padding == "int" else padding
    lo = [0 if padding != "int" else 2 * p for p in (pad if padding == "int" else (0,) * nd)]
    size = tuple(d(st.integers(max(1, di * (ki - 1) + 1 - li), 6)) for di, ki, li in zip(dil, k, lo))
    xs = (_layout(d, d(arrays((d(st.integers(1, 2)), g * cg) + size))),
          d(arrays((g * og, cg) + k)))
    if d(st.booleans()):
        xs += (d(arrays((g * og,))),)
    return xs, {"stride": s, "padding": pad, "dilation": dil, "groups": g}


@st.composite
def conv_t_case(d: Any) -> tuple:
    g = d(st.sampled_from([1, 1, 2]))
    cg, og = d(st.integers(1, 2)), d(st.integers(1, 2))
    k = tuple(d(st.integers(1, 3)) for _ in range(2))
    s = tuple(d(st.integers(1, 3)) for _ in range(2))
    dil = tuple(d(st.integers(1, 2)) for _ in range(2))
    op_ = tuple(d(st.integers(0, max(a, b) - 1)) for a, b in zip(s, dil))
    size = tuple(d(st.integers(1, 4)) for _ in range(2))
    # padding small enough for a non-empty output
    pad = tuple(d(st.integers(0, max(0, min(2, ((n - 1) * si + di * (ki - 1) + oi) // 2))))
                for n, si, di, ki, oi in zip(size, s, dil, k, op_))
    xs = (_layout(d, d(arrays((d(st.integers(1, 2)), g * cg) + size))), d(arrays((g * cg, og) + k)))
    if d(st.booleans()):
        xs += (d(arrays((g * og,))),)
    return xs, {"stride": s, "padding": pad, "output_padding": op_, "groups": g, "dilation": dil}


@st.composite
def pool_case(d: Any, nd: int, kind: str) -> tuple:
    k = tuple(d(st.integers(1, 3)) for _ in range(nd))
    stride = d(st.one_of(st.none(), st.tuples(*[st.integers(1, 3)] * nd)))
    p = tuple(d(st.integers(0, ki // 2)) for ki in k)
    dil = tuple(d(st.integers(1, 2)) for _ in range(nd)) if kind == "max" else (1,) * nd
    size = tuple(d(st.integers(max(1, di * (ki - 1) + 1 - 2 * pi), 7)) for ki, pi, di in zip(k, p, dil))
    x = _layout(d, d(arrays((d(st.integers(1, 2)), d(st.integers(1, 3))) + size,
                            distinct=kind == "max")))
    params = {"kernel_size": k, "stride": stride, "padding": p, "ceil_mode": d(st.booleans())}
    if kind == "max":
        params["dilation"] = dil
    else:
        params["count_include_pad"] = d(st.booleans())
    return (x,), params


@st.composite
def adaptive_case(d: Any) -> tuple:
    x = _layout(d, d(arrays((d(st.integers(1, 2)), d(st.integers(1, 2)), d(st.integers(1, 7)),
                             d(st.integers(1, 7))))))
    return (x,), {"output_size": (d(st.integers(1, 5)), d(st.integers(1, 5)))}


@st.composite
def pad_case(d: Any) -> tuple:
    mode = d(st.sampled_from(["reflect", "replicate", "circular"]))
    shape = (d(st.integers(1, 2)), d(st.integers(1, 2))) + tuple(
        d(st.integers(2, 5)) for _ in range(d(st.integers(1, 2))))
    limit = {"reflect": -1, "replicate": 3, "circular": 0}[mode]
    pad = []
    for n in reversed(shape[2:]):
        top = min(n + limit, 3) if mode != "replicate" else 3
        pad += [d(st.integers(0, top)), d(st.integers(0, top))]
    return (_layout(d, d(arrays(shape))),), {"pad": tuple(pad), "mode": mode}


@dataclass
class Row:
    name: str
    fn: Callable[..., Tensor]
    ref: Callable[..., np.ndarray]
    inputs: st.SearchStrategy


ROWS = [
    Row("conv2d", F.conv2d, ref_conv, conv_case(2)),
    Row("conv1d", F.conv1d, ref_conv, conv_case(1)),
    Row("conv_transpose2d", F.conv_transpose2d, ref_conv_t, conv_t_case()),
    Row("max_pool2d", F.max_pool2d, lambda x, **k: ref_pool(x, kind="max", **k), pool_case(2, "max")),
    Row("max_pool1d", F.max_pool1d, lambda x, **k: ref_pool(x, kind="max", **k), pool_case(1, "max")),
    Row("avg_pool2d", F.avg_pool2d, lambda x, **k: ref_pool(x, kind="avg", **k), pool_case(2, "avg")),
    Row("avg_pool1d", F.avg_pool1d, lambda x, **k: ref_pool(x, kind="avg", **k), pool_case(1, "avg")),
    Row("adaptive_avg_pool2d", F.adaptive_avg_pool2d, ref_adaptive, adaptive_case()),
    Row("pad", F.pad, ref_pad, pad_case()),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
@given(data=st.data())
def test_op_table(row: Row, data: Any) -> None:
    ((x, cl), *rest), params = data.draw(row.inputs)
    xs = (x, *rest)
    expected = row.ref(*xs, **params)
    assume(np.isfinite(expected).all())  # -inf windows: see test_max_pool_window_of_padding_only

    def fn(x: Tensor, *rest: Tensor) -> Tensor:
        return row.fn(_channels_last(x) if cl else x, *rest, **params)
    out = fn(*[Tensor(x) for x in xs])
    assert out.dtype == np.float64 and out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-9, atol=1e-12)
    out32 = fn(*[Tensor(x.astype(np.float32)) for x in xs])
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32.data, expected, rtol=2e-4, atol=2e-4)
    assert gradcheck(fn, *xs)


def test_max_pool_ties_go_to_the_first_maximum_like_pytorch() -> None:
    # after a ReLU whole windows are 0: PyTorch gives each window's gradient to its first element
    x = Tensor(np.zeros((1, 1, 4, 4)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1
    np.testing.assert_array_equal(x.grad[0, 0], expected)
    x = Tensor(np.zeros((1, 1, 5)), requires_grad=True)
    F.max_pool1d(x, 3, stride=1).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [1, 1, 1, 0, 0])


def test_max_pool_window_of_padding_only() -> None:
    x = Tensor(np.zeros((1, 1, 1)), requires_grad=True)  # window at -1 and +1: padding only
    y = F.max_pool1d(x, 2, padding=1, dilation=2)
    assert y.data.tolist() == [[[-np.inf]]]  # PyTorch 2.13 gives -inf and a zero gradient
    y.sum().backward()
    assert x.grad.tolist() == [[[0.0]]]


def test_gradients_only_for_inputs_that_need_them() -> None:
    x = Tensor(np.ones((1, 2, 5, 5)))
    w = Tensor(np.ones((3, 2, 3, 3)), requires_grad=True)
    F.conv2d(x, w, padding=1).sum().backward()
    assert x.grad is None and w.grad.shape == (3, 2, 3, 3)
    np.testing.assert_array_equal(w.grad[0, 0], [[16, 20, 16], [20, 25, 20], [16, 20, 16]])


def test_integer_max_pool_keeps_dtype() -> None:
    out = F.max_pool2d(Tensor(np.arange(16).reshape(1, 1, 4, 4)), 2, padding=1)
    assert out.dtype.kind == "i" and out.data.max() == 15


# ---------------------------------------------------------------------- nn layers
def test_conv1d_layer_matches_functional_and_init_bound() -> None:
    layer = nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2, rng=0, dtype=np.float64)
    assert layer.weight.shape == (6, 2, 3) and layer.bias.shape == (6,)
    bound = 1 / math.sqrt(2 * 3)  # PyTorch: fan_in = in_channels/groups * k
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.weight.data).max() > 0.7 * bound
    x = np.random.default_rng(1).standard_normal((2, 4, 9))
    np.testing.assert_allclose(layer(x).data, ref_conv(x, layer.weight.data, layer.bias.data,
                                                       stride=2, padding=1, groups=2), rtol=1e-10)
    assert layer(x).shape == (2, 6, 5)
    assert repr(layer) == "Conv1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,), groups=2)"


def test_conv2d_padding_modes_equal_pad_then_conv() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 5))
    for mode in ("reflect", "replicate", "circular"):
        layer = nn.Conv2d(3, 4, 3, padding=(2, 1), padding_mode=mode, rng=0, dtype=np.float64)
        expected = ref_conv(ref_pad(x, (1, 1, 2, 2), mode), layer.weight.data, layer.bias.data)
        np.testing.assert_allclose(layer(x).data, expected, rtol=1e-10)
    same = nn.Conv2d(3, 2, (4, 3), padding="same", rng=0, dtype=np.float64)
    assert same(x).shape == (2, 2, 6, 5)
    np.testing.assert_allclose(same(x).data, ref_conv(x, same.weight.data, same.bias.data,
                                                      padding="same"), rtol=1e-10)
    refl = nn.Conv1d(3, 2, 3, padding="same", padding_mode="reflect", rng=0, dtype=np.float64)
    x1 = x[:, :, 0]
    np.testing.assert_allclose(refl(x1).data, ref_conv(ref_pad(x1, (1, 1), "reflect"),
                                                       refl.weight.data, refl.bias.data), rtol=1e-10)


def test_conv_transpose2d_layer() -> None:
    layer = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, rng=0,
                               dtype=np.float64)
    assert layer.weight.shape == (4, 3, 3, 3)
    assert np.abs(layer.weight.data).max() <= 1 / math.sqrt(3 * 9)  # fan_in = weight.shape[1]*k*k
    x = np.random.default_rng(3).standard_normal((2, 4, 4, 5))
    y = layer(x)
    assert y.shape == (2, 6, 8, 10)
    np.testing.assert_allclose(y.data, ref_conv_t(x, layer.weight.data, layer.bias.data, stride=2,
                                                  padding=1, output_padding=1, groups=2), rtol=1e-10)


def test_pool_layers() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 11))
    np.testing.assert_allclose(nn.MaxPool1d(3, 2, 1, dilation=2, ceil_mode=True)(x).data,
                               ref_pool(x, 3, 2, 1, 2, True, kind="max"))
    np.testing.assert_allclose(nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False)(x).data,
                               ref_pool(x, 3, 2, 1, 1, True, False, kind="avg"))
    x2 = rng.standard_normal((2, 3, 7, 6))
    np.testing.assert_allclose(nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)(x2).data,
                               ref_pool(x2, 3, 2, 1, 1, True, False, kind="avg"))
    np.testing.assert_allclose(nn.MaxPool2d(2, dilation=2)(x2).data, ref_pool(x2, 2, 2, 0, 2, kind="max"))
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d((3, None))(x2).data, ref_adaptive(x2, (3, 6)))
    assert nn.AdaptiveAvgPool2d(1)(x2).shape == (2, 3, 1, 1)
    assert repr(nn.MaxPool1d(2)) == "MaxPool1d(kernel_size=(2,), stride=(2,), padding=(0,))"


def test_mnist1d_conv_network_shapes_and_training_step() -> None:
    net = nn.Sequential(nn.Conv1d(1, 25, 5, stride=2, padding=1), nn.ReLU(),
                        nn.Conv1d(25, 25, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Conv1d(25, 25, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(125, 10))
    x = np.random.default_rng(5).standard_normal((8, 1, 40)).astype(np.float32)
    out = net(x)
    assert out.shape == (8, 10) and out.dtype == np.float32
    F.cross_entropy(out, np.arange(8) % 10).backward()
    assert all(p.grad is not None and p.grad.dtype == np.float32 for p in net.parameters())


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("call, exc, message", [
    (lambda: F.max_pool2d(np.ones((1, 1, 4, 4)), 2.0), TypeError,
     r"max_pool2d: kernel_size=2.0 is invalid: must be an int or a tuple of 2 ints"),
    (lambda: F.max_pool2d(np.ones((1, 1, 4, 4)), 2, stride=0), ValueError,
     r"max_pool2d: stride=0 is invalid: must be >= 1"),
    (lambda: F.avg_pool2d(np.ones((1, 1, 2, 2)), 3), ValueError,
     r"avg_pool2d: kernel_size 3 \(dilation 1\) is larger than the padded input \(2 \+ 2\*0\) of "
     r"input shape \(1, 1, 2, 2\)"),
    (lambda: F.max_pool2d(np.ones((4, 12)), 2), ValueError,
     r"max_pool2d: input shape \(4, 12\) is not \(N, C, H, W\)"),
    (lambda: F.conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)), np.ones(4)), ValueError,
     r"conv2d: bias shape \(4,\) does not match weight shape \(3, 2, 3, 3\): expected \(3,\)"),
    (lambda: F.conv2d(np.ones((1, 4, 5, 5)), np.ones((3, 2, 3, 3)), groups=2), ValueError,
     r"conv2d: input shape \(1, 4, 5, 5\) and weight shape \(3, 2, 3, 3\) don't match with groups=2"),
    (lambda: F.conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)), padding="full"), ValueError,
     r"conv2d: padding='full' is invalid: must be 'same', 'valid'"),
    (lambda: F.conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)), stride=2, padding="same"),
     ValueError, r"conv2d: padding='same' needs stride 1"),
    (lambda: F.conv1d(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3))), ValueError,
     r"conv1d: input shape \(1, 2, 5, 5\) is not \(N, C, L\)"),
    (lambda: F.conv1d(np.ones((1, 2, 2)), np.ones((3, 2, 3))), ValueError,
     r"conv1d: kernel size 3 \(dilation 1\) is larger than the padded input"),
    (lambda: F.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3)), stride=2,
                                output_padding=2), ValueError,
     r"conv_transpose2d: output_padding=2 must be smaller than stride \(2, 2\) or dilation"),
    (lambda: F.pad(np.ones((1, 1, 3)), (3, 0), mode="reflect"), ValueError,
     r"pad: mode='reflect' padding \(3, 0\) of axis 2 is too large for its size 3"),
    (lambda: F.pad(np.ones((1, 1, 3)), (1, 0), mode="mirror"), ValueError,
     r"pad: mode='mirror' is invalid: must be one of 'constant', 'reflect', 'replicate', 'circular'"),
    (lambda: F.pad(np.ones((1, 1, 3)), (1, 0, 2)), ValueError, r"pad: pad=\(1, 0, 2\) is invalid"),
    (lambda: F.adaptive_avg_pool2d(np.ones((1, 1, 3, 3)), 0), ValueError,
     r"adaptive_avg_pool2d: output_size=\(0, 0\) is invalid: must be >= 1"),
    (lambda: nn.MaxPool1d(2)(np.ones((2, 8))), ValueError,
     r"MaxPool1d\(kernel_size=\(2,\).*input shape \(2, 8\) is not \(N, C, L\)"),
    (lambda: nn.MaxPool2d(3)(np.ones((1, 1, 2, 2))), ValueError,
     r"MaxPool2d\(kernel_size=\(3, 3\).*input shape \(1, 1, 2, 2\) is too small for the kernel"),
    (lambda: nn.Conv1d(3, 4, 3)(np.ones((2, 2, 8))), ValueError,
     r"Conv1d\(3, 4, kernel_size=\(3,\).*input shape \(2, 2, 8\) does not match \(N, "
     r"in_channels=3, L\)"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), ValueError,
     r"Conv2d: groups=4 is invalid: in_channels=4 and out_channels=6 must both be divisible"),
    (lambda: nn.Conv2d(4, 6, 3, padding_mode="mirror"), ValueError,
     r"Conv2d: padding_mode='mirror' is invalid: must be one of 'zeros', 'reflect'"),
    (lambda: nn.AvgPool2d(2, count_include_pad="no"), TypeError,
     r"AvgPool2d: count_include_pad='no' is invalid: must be true or false"),
])
def test_errors_name_the_function_argument_and_value(call: Callable, exc: type, message: str) -> None:
    with pytest.raises(exc, match=message):
        call()


# ---------------------------------------------------------------------- config layer types
def _model(layers: list, shape: tuple):
    from tinygrad_init.experiment import build_model
    return build_model({"layers": layers, "weight_init": None, "bias_init": None, "seed": 0}, shape)


def test_config_builds_the_new_layer_types() -> None:
    net = _model([{"type": "conv1d", "out": 25, "kernel": 5, "stride": 2, "padding": 1},
                  {"type": "relu"}, {"type": "maxpool1d", "kernel": 2},
                  {"type": "avgpool1d", "kernel": 3, "stride": 1, "padding": 1,
                   "count_include_pad": False},
                  {"type": "flatten"}, {"type": "linear", "out": 10}], (1, 40))
    assert [type(m).__name__ for m in net.layers][:4] == ["Conv1d", "ReLU", "MaxPool1d", "AvgPool1d"]
    assert net.layers[5].in_features == 25 * 9 and net(np.zeros((2, 1, 40))).shape == (2, 10)
    net = _model([{"type": "conv2d", "out": 4, "kernel": [3, 3], "padding": "same", "groups": 1},
                  {"type": "conv_transpose2d", "out": 2, "kernel": 2, "stride": 2},
                  {"type": "maxpool2d", "kernel": [2, 2], "stride": [2, 2], "ceil_mode": True},
                  {"type": "adaptive_avgpool2d", "out": [3, 2]}, {"type": "flatten"},
                  {"type": "linear", "out": 3}], (1, 5, 5))
    assert net.layers[4 + 1].in_features == 2 * 3 * 2 and net(np.zeros((2, 1, 5, 5))).shape == (2, 3)


@pytest.mark.parametrize("layers, message", [
    ([{"type": "conv2d", "out": 4, "kernel": 3}, {"type": "maxpool2d", "kernel": 4}],
     r"config field 'model.layers.1' \(maxpool2d\) on input shape \(4, 3, 3\): "
     r"MaxPool2d\(kernel_size=\(4, 4\).*is too small for the kernel"),
    ([{"type": "flatten"}, {"type": "maxpool2d", "kernel": 2}],
     r"config field 'model.layers.1': 'maxpool2d' is invalid; maxpool2d needs \(channels, height, "
     r"width\) input, but it gets shape \(25,\) \(after a flatten\?\)"),
    ([{"type": "maxpool1d", "kernel": 2}],
     r"model.layers.0.*maxpool1d needs \(channels, length\) input, but it gets shape \(1, 5, 5\)"),
    ([{"type": "avgpool2d", "kernel": 2.0}],
     r"config field 'model.layers.0' \(avgpool2d\): AvgPool2d: kernel_size=2.0 is invalid"),
    ([{"type": "maxpool2d", "kernel": 2, "weight_init": "zeros"}],
     r"config field 'model.layers.0' \(maxpool2d\).*weight_init"),
])
def test_config_pool_errors_name_the_layer(layers: list, message: str) -> None:
    from tinygrad_init.experiment import ConfigError
    with pytest.raises(ConfigError, match=message):
        _model(layers, (1, 5, 5))


def _plain(row: Row) -> st.SearchStrategy:
    # check_op's (arrays, options), without the layout mark and the -inf windows of padding only
    return row.inputs.map(lambda t: ((t[0][0][0], *t[0][1:]), t[1])).filter(
        lambda t: np.isfinite(row.ref(*t[0], **t[1])).all())


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_check_op(row: Row) -> None:
    from tinygrad_init.testing import check_op
    check_op(row.fn, ref=row.ref, inputs=_plain(row))
