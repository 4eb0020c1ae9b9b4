"""Convolution and pooling with PyTorch's semantics (NCHW / NCL input), as rules through ``op``.

Each public function checks its arguments (errors name the function, the argument and the
value or both shapes), then calls one rule. 1-d functions are the 2-d ones on (N, C, 1, L).

Inside a rule the arrays are channels-last, (N, H, W, C), whatever layout the NCHW input has
in memory: the im2col copy then moves rows of ``kw * C`` contiguous numbers, and a conv's
output (rows of ``C`` from one matmul) is returned as an NCHW view of NHWC memory with no
copy; ReLU and pooling keep that layout, so the next conv reads it contiguously again.
Pooling works on the ``kh * kw`` strided views of the padded input, one per kernel offset
(no window copy, no argmax over a copied axis).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .tensor import Tensor, op


# ---------------------------------------------------------------------- argument checks
def _isint(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _ints(fn: str, name: str, v: Any, n: int, lo: int) -> tuple:
    vals = (v,) * n if _isint(v) else tuple(v) if isinstance(v, (tuple, list)) else None
    if vals is None or len(vals) != n or not all(_isint(a) for a in vals):
        raise TypeError(f"{fn}: {name}={v!r} is invalid: must be an int or a tuple of {n} ints")
    if any(a < lo for a in vals):
        raise ValueError(f"{fn}: {name}={v!r} is invalid: must be >= {lo}")
    return tuple(int(a) for a in vals)


def _data(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _input(fn: str, x: Any, nd: int, ints: bool = False) -> Tensor:
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim != nd + 2:
        lay = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
        raise ValueError(f"{fn}: input shape {tuple(x.shape)} is not {lay}")
    if x.dtype.kind != "f" and not (ints and x.dtype.kind in "iu"):
        raise TypeError(f"{fn}: input must be a float tensor, got dtype {x.dtype}")
    return x


def _needs(*ts: Any) -> tuple:
    # Rules can't see which inputs want a gradient; the first conv of a network would pay a
    # col2im for the input image otherwise (a third of that layer's backward).
    return tuple(isinstance(t, Tensor) and t.requires_grad for t in ts)


def _as2d(a: np.ndarray, nd: int) -> np.ndarray:
    return a[:, :, None, :] if nd == 1 else a


def _from2d(a: np.ndarray, nd: int) -> np.ndarray:
    return a[:, :, 0, :] if nd == 1 else a


def _spatial(v: tuple, nd: int, fill: int) -> tuple:
    return (fill,) + v if nd == 1 else v


# ---------------------------------------------------------------------- array kernels
def _padded(xh: np.ndarray, pads: tuple, fill: float) -> np.ndarray:
    """Channels-last (N, H, W, C) view -> contiguous padded copy; pads (top, bottom, left,
    right), a negative one crops."""
    t, b, l, r = pads
    if min(pads) < 0:
        xh = xh[:, max(-t, 0):xh.shape[1] - max(-b, 0), max(-l, 0):xh.shape[2] - max(-r, 0)]
        t, b, l, r = (max(v, 0) for v in pads)
    if not (t or b or l or r):
        return np.ascontiguousarray(xh)
    n, h, w, c = xh.shape
    out = np.empty((n, h + t + b, w + l + r, c), xh.dtype)
    out[:, :t] = fill
    out[:, t + h:] = fill
    out[:, t:t + h, :l] = fill
    out[:, t:t + h, l + w:] = fill
    out[:, t:t + h, l:l + w] = xh
    return out


def _offsets(k: tuple, s: tuple, d: tuple, o: tuple) -> list:
    """Per kernel offset (i, j): the slices of a padded (N, H, W, C) array it reads."""
    return [(slice(i * d[0], i * d[0] + s[0] * (o[0] - 1) + 1, s[0]),
             slice(j * d[1], j * d[1] + s[1] * (o[1] - 1) + 1, s[1]))
            for i in range(k[0]) for j in range(k[1])]


def _cols(xp: np.ndarray, k: tuple, s: tuple, d: tuple, o: tuple, groups: int) -> np.ndarray:
    """im2col of a padded channels-last array: (groups, N*OH*OW, kh*kw*C/groups), one copy."""
    n, _, _, c = xp.shape
    sn, sh, sw, sc = xp.strides
    cg = c // groups
    win = as_strided(xp, (groups, n, o[0], o[1], k[0], k[1], cg),
                     (sc * cg, sn, sh * s[0], sw * s[1], sh * d[0], sw * d[1], sc), writeable=False)
    return win.reshape(groups, n * o[0] * o[1], k[0] * k[1] * cg)


def _wmat(w: np.ndarray, groups: int) -> np.ndarray:
    """(O, C/g, kh, kw) -> (g, O/g, kh*kw*C/g), the column order of ``_cols``."""
    o, cg, kh, kw = w.shape
    return w.reshape(groups, o // groups, cg, kh, kw).transpose(0, 1, 3, 4, 2).reshape(
        groups, o // groups, kh * kw * cg)


def _wback(gm: np.ndarray, shape: tuple, groups: int) -> np.ndarray:
    """Inverse of ``_wmat``: (g, O/g, kh*kw*C/g) -> (O, C/g, kh, kw)."""
    o, cg, kh, kw = shape
    return np.ascontiguousarray(gm.reshape(o, kh, kw, cg).transpose(0, 3, 1, 2))


def _rows(gh: np.ndarray, groups: int) -> np.ndarray:
    """(N, OH, OW, O) channels-last -> (g, M, O/g)."""
    m, o = gh.shape[0] * gh.shape[1] * gh.shape[2], gh.shape[3]
    g2 = gh.reshape(m, o)
    return g2[None] if groups == 1 else g2.reshape(m, groups, o // groups).transpose(1, 0, 2)


# im2col elements per batch chunk: the column matrix never exists whole (it would be 9x the
# input), stays in cache, and is rebuilt in backward instead of kept (7 MiB for the LeNet step)
_CHUNK = 1 << 18


def _chunks(n: int, per_sample: int) -> list:
    step = max(1, _CHUNK // max(per_sample, 1))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _conv_nhwc(xh: np.ndarray, pads: tuple, wm: np.ndarray, k: tuple, s: tuple, d: tuple,
               o: tuple) -> np.ndarray:
    """Convolution of a channels-last array, zero-padded by ``pads`` one chunk at a time, by
    ``_wmat`` weights -> (N, OH, OW, O)."""
    n, g, og, kk = xh.shape[0], *wm.shape
    rows = o[0] * o[1]
    y = np.empty((n, o[0], o[1], g * og), np.result_type(xh, wm))
    yr = y.reshape(n * rows, g * og)
    for c in _chunks(n, rows * kk * g):
        cols = _cols(_padded(xh[c], pads, 0), k, s, d, o, g)
        part = yr[c.start * rows:c.stop * rows]
        if g == 1:
            np.matmul(cols[0], wm[0].T, out=part)
        else:
            part[...] = np.matmul(cols, wm.transpose(0, 2, 1)).transpose(1, 0, 2).reshape(
                len(part), g * og)
    return y


def _conv_gw(xh: np.ndarray, pads: tuple, gh: np.ndarray, k: tuple, s: tuple, d: tuple,
             groups: int) -> np.ndarray:
    """Weight gradient (g, O/g, kh*kw*C/g) from the input (padded by chunks) and the output
    gradient."""
    o = gh.shape[1:3]
    acc = None
    for c in _chunks(xh.shape[0], o[0] * o[1] * k[0] * k[1] * xh.shape[3]):
        cols = _cols(_padded(xh[c], pads, 0), k, s, d, o, groups)
        part = np.matmul(_rows(gh[c], groups).transpose(0, 2, 1), cols)
        acc = part if acc is None else acc.__iadd__(part)
    return acc


def _conv_gx(gh: np.ndarray, w: np.ndarray, pads: tuple, s: tuple, d: tuple, groups: int,
             shape: tuple) -> np.ndarray:
    """Input gradient (N, H, W, C) of a conv from its output gradient gh (N, OH, OW, O)."""
    k = w.shape[2:]
    n, h, wd, c = shape
    full = [d[0] * (k[0] - 1) - pads[0], d[0] * (k[0] - 1) - pads[1],
            d[1] * (k[1] - 1) - pads[2], d[1] * (k[1] - 1) - pads[3]]
    if s == (1, 1):
        # stride 1: a "full" convolution of gh with the flipped, transposed kernel — one more
        # im2col and matmul, instead of kh*kw strided scatter-adds (3x faster for LeNet's conv2)
        o, cg = w.shape[:2]
        wt = w.reshape(groups, o // groups, cg, *k).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
        wm = _wmat(wt.reshape(c, o // groups, *k), groups)
        return _conv_nhwc(gh, full, wm, k, (1, 1), d, (h, wd))
    o = gh.shape[1:3]  # col2im: scatter-add one kernel offset at a time
    hp, wp = h + pads[0] + max(pads[1], 0), wd + pads[2] + max(pads[3], 0)
    dc = np.matmul(_rows(gh, groups), _wmat(w, groups)).reshape(
        groups, n, o[0], o[1], k[0] * k[1], c // groups)
    out = np.zeros((n, hp, wp, groups, c // groups), dc.dtype)
    for idx, (si, sj) in enumerate(_offsets(k, s, d, o)):
        out[:, si, sj] += dc[:, :, :, :, idx].transpose(1, 2, 3, 0, 4)
    return _crop(out.reshape(n, hp, wp, c), pads, h, wd)


def _crop(xp: np.ndarray, pads: tuple, h: int, w: int) -> np.ndarray:
    return xp[:, pads[0]:pads[0] + h, pads[2]:pads[2] + w]


def _nchw(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 3, 1, 2)


def _nhwc(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 2, 3, 1)


# ---------------------------------------------------------------------- convolution rules
@op(name="conv2d")
def _conv_rule(x, w, *b, pads, stride, dilation, groups, out, need):
    k = w.shape[2:]
    y = _conv_nhwc(_nhwc(x), pads, _wmat(w, groups), k, stride, dilation, out)
    if b:
        y += b[0]

    def back(g):
        gh = _nhwc(g)
        gw = _wback(_conv_gw(_nhwc(x), pads, gh, k, stride, dilation, groups), w.shape,
                    groups) if need[1] else None
        gx = _nchw(_conv_gx(gh, w, pads, stride, dilation, groups, _nhwc(x).shape)) if need[0] else None
        return (gx, gw) + ((np.add.reduce(g, (0, 2, 3)) if need[2] else None,) if b else ())
    return _nchw(y), back


@op(name="conv_transpose2d")
def _conv_t_rule(x, w, *b, pads, stride, dilation, groups, size, need):
    # the adjoint of conv2d: x plays the conv's output gradient, the result its input gradient;
    # w (C_in, C_out/g, kh, kw) is conv2d's (O, C/g, kh, kw) with O = C_in
    k = w.shape[2:]
    xh = _nhwc(x)
    y = _conv_gx(xh, w, pads, stride, dilation, groups,
                 (x.shape[0], size[0], size[1], w.shape[1] * groups))
    y = y + b[0] if b else y

    def back(g):
        gh = _nhwc(g)
        gx = _nchw(_conv_nhwc(gh, pads, _wmat(w, groups), k, stride, dilation, x.shape[2:])) \
            if need[0] else None
        gw = _wback(_conv_gw(gh, pads, xh, k, stride, dilation, groups), w.shape, groups) \
            if need[1] else None
        return (gx, gw) + ((np.add.reduce(g, (0, 2, 3)) if need[2] else None,) if b else ())
    return _nchw(y), back


def _conv_args(fn: str, x: Any, weight: Any, bias: Any, nd: int, stride: Any, dilation: Any,
               groups: Any) -> tuple:
    x = _input(fn, x, nd)
    w = weight if isinstance(weight, Tensor) else Tensor(_data(weight), dtype=x.dtype)
    if w.ndim != nd + 2:
        raise ValueError(f"{fn}: weight shape {tuple(w.shape)} is not (out_channels, "
                         f"in_channels/groups, {'k' if nd == 1 else 'kh, kw'})")
    if not _isint(groups) or groups < 1:
        raise ValueError(f"{fn}: groups={groups!r} is invalid: must be an int >= 1")
    b = None if bias is None else bias if isinstance(bias, Tensor) else Tensor(_data(bias), dtype=x.dtype)
    return (x, w, b, _ints(fn, "stride", stride, nd, 1), _ints(fn, "dilation", dilation, nd, 1),
            int(groups))


def _out_len(fn: str, size: int, k: int, s: int, d: int, p: int, x: Any) -> int:
    o = (size + p - d * (k - 1) - 1) // s + 1
    if o < 1:
        raise ValueError(f"{fn}: kernel size {k} (dilation {d}) is larger than the padded input "
                         f"({size} + padding {p}) of input shape {tuple(x.shape)}")
    return o


def _conv(fn: str, nd: int, x: Any, weight: Any, bias: Any, stride: Any, padding: Any,
          dilation: Any, groups: Any) -> Tensor:
    x, w, b, s, d, g = _conv_args(fn, x, weight, bias, nd, stride, dilation, groups)
    c, o, k = x.shape[1], w.shape[0], w.shape[2:]
    if c % g or o % g or w.shape[1] * g != c:
        raise ValueError(f"{fn}: input shape {tuple(x.shape)} and weight shape {tuple(w.shape)} "
                         f"don't match with groups={g} (expected input channels = weight.shape[1] * "
                         f"groups = {w.shape[1] * g} and out_channels {o} divisible by groups)")
    if b is not None and tuple(b.shape) != (o,):
        raise ValueError(f"{fn}: bias shape {tuple(b.shape)} does not match weight shape "
                         f"{tuple(w.shape)}: expected ({o},)")
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"{fn}: padding={padding!r} is invalid: must be 'same', 'valid', an "
                             f"int or a tuple of {nd} ints")
        if padding == "same" and any(v != 1 for v in s):
            raise ValueError(f"{fn}: padding='same' needs stride 1, got stride={stride!r}")
        # PyTorch: total d*(k-1) split with the odd one on the right/bottom
        tot = [di * (ki - 1) if padding == "same" else 0 for di, ki in zip(d, k)]
        pads = [(t // 2, t - t // 2) for t in tot]
    else:
        pads = [(p, p) for p in _ints(fn, "padding", padding, nd, 0)]
    pads = [(0, 0)] + pads if nd == 1 else pads
    s2, d2, k2 = _spatial(s, nd, 1), _spatial(d, nd, 1), (1,) * (nd == 1) + tuple(k)
    out = tuple(_out_len(fn, size, ki, si, di, sum(pi), x)
                for size, ki, si, di, pi in zip(x.shape[2:] if nd == 2 else (1,) + x.shape[2:],
                                                k2, s2, d2, pads))
    ops = (x, w) if b is None else (x, w, b)
    y = _conv_rule(_lift(x, nd), _lift(w, nd), *ops[2:], pads=sum(pads, ()), stride=s2, dilation=d2, groups=g,
                   out=out, need=_needs(*ops))
    return _drop(y, nd)


def _lift(t: Tensor, nd: int) -> Tensor:
    return t if nd == 2 else t.reshape(*t.shape[:2], 1, t.shape[2])


def _drop(t: Tensor, nd: int) -> Tensor:
    return t if nd == 2 else t.reshape(t.shape[0], t.shape[1], t.shape[3])


def conv2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-d cross-correlation (PyTorch's ``F.conv2d``): x (N, C, H, W), weight
    (O, C/groups, kh, kw), bias (O,). ``padding``: int, pair, ``"valid"`` or ``"same"``
    (stride 1; an odd total goes to the bottom/right, as in PyTorch)."""
    return _conv("conv2d", 2, x, weight, bias, stride, padding, dilation, groups)


def conv1d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-d cross-correlation (PyTorch's ``F.conv1d``): x (N, C, L), weight (O, C/groups, k)."""
    return _conv("conv1d", 1, x, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """Transposed 2-d convolution (PyTorch's ``F.conv_transpose2d``, the gradient of conv2d
    with respect to its input): x (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw).
    Output size ``(H - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1``."""
    fn = "conv_transpose2d"
    x, w, b, s, d, g = _conv_args(fn, x, weight, bias, 2, stride, dilation, groups)
    p = _ints(fn, "padding", padding, 2, 0)
    op_ = _ints(fn, "output_padding", output_padding, 2, 0)
    c, k = x.shape[1], w.shape[2:]
    if w.shape[0] != c or c % g:
        raise ValueError(f"{fn}: input shape {tuple(x.shape)} and weight shape {tuple(w.shape)} "
                         f"don't match with groups={g} (expected weight (in_channels={c}, "
                         f"out_channels/groups, kh, kw), in_channels divisible by groups)")
    if b is not None and tuple(b.shape) != (w.shape[1] * g,):
        raise ValueError(f"{fn}: bias shape {tuple(b.shape)} does not match weight shape "
                         f"{tuple(w.shape)} with groups={g}: expected ({w.shape[1] * g},)")
    if any(o >= max(si, di) for o, si, di in zip(op_, s, d)):
        raise ValueError(f"{fn}: output_padding={output_padding!r} must be smaller than stride "
                         f"{s} or dilation {d}")
    size = tuple((h - 1) * si - 2 * pi + di * (ki - 1) + oi + 1
                 for h, si, pi, di, ki, oi in zip(x.shape[2:], s, p, d, k, op_))
    if min(size) < 1:
        raise ValueError(f"{fn}: input shape {tuple(x.shape)} with padding {p} gives an empty "
                         f"output {size}")
    ops = (x, w) if b is None else (x, w, b)
    # the conv whose adjoint this is: padding p before, p - output_padding after (< 0 crops)
    return _conv_t_rule(*ops, pads=(p[0], p[0] - op_[0], p[1], p[1] - op_[1]), stride=s,
                        dilation=d, groups=g, size=size, need=_needs(*ops))


# ---------------------------------------------------------------------- pooling rules
@op(name="max_pool2d")
def _max_rule(x, *, k, stride, dilation, pads, out):
    h, w = x.shape[2:]
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = _padded(_nhwc(x), pads, fill) if any(pads) else _nhwc(x)
    offs = _offsets(k, stride, dilation, out)
    views = [xp[:, si, sj] for si, sj in offs]
    m = np.maximum(views[0], views[1]) if len(views) > 1 else views[0].copy()
    for v in views[2:]:
        np.maximum(m, v, out=m)
    # windows that tile the input exactly: every input element gets its gradient written once
    tiles = not any(pads) and stride == k and dilation == (1, 1) and (h, w) == (
        out[0] * k[0], out[1] * k[1])

    def back(g):
        gh = _nhwc(g)
        gx = (np.empty if tiles else np.zeros)(xp.shape, g.dtype)
        seen = None
        for v, (si, sj) in zip(views, offs):  # ties: the first maximum in window order wins
            eq = v == m
            if seen is None:
                seen = eq.copy()
            else:
                eq &= ~seen
                seen |= eq
            if tiles:
                np.multiply(gh, eq, out=gx[:, si, sj])
            else:
                gx[:, si, sj] += gh * eq
        return _nchw(_crop(gx, pads, h, w) if any(pads) else gx)
    return _nchw(m), back


@op(name="avg_pool2d")
def _avg_rule(x, *, k, stride, pads, out, div):
    h, w = x.shape[2:]
    xp = _padded(_nhwc(x), pads, 0)
    offs = _offsets(k, stride, (1, 1), out)
    s = xp[:, offs[0][0], offs[0][1]].copy()
    for si, sj in offs[1:]:
        s += xp[:, si, sj]
    s /= div

    def back(g):
        gs = _nhwc(g) / div
        gx = np.zeros(xp.shape, g.dtype)
        for si, sj in offs:
            gx[:, si, sj] += gs
        return _nchw(_crop(gx, pads, h, w))
    return _nchw(s), back


def _pool_len(fn: str, size: int, k: int, s: int, p: int, d: int, ceil: bool, x: Any) -> int:
    # PyTorch's pooling_output_shape; with ceil_mode the last window must start inside the
    # input or the left padding
    eff = d * (k - 1) + 1
    if size + 2 * p < eff:
        raise ValueError(f"{fn}: kernel_size {k} (dilation {d}) is larger than the padded input "
                         f"({size} + 2*{p}) of input shape {tuple(x.shape)}")
    o = -(-(size + 2 * p - eff) // s) + 1 if ceil else (size + 2 * p - eff) // s + 1
    if ceil and (o - 1) * s >= size + p:
        o -= 1
    return o


def _pool_args(fn: str, nd: int, x: Any, kernel_size: Any, stride: Any, padding: Any,
               dilation: Any, ceil_mode: Any) -> tuple:
    x = _input(fn, x, nd, ints=fn.startswith("max"))
    k = _ints(fn, "kernel_size", kernel_size, nd, 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else \
        _ints(fn, "stride", stride, nd, 1)
    p = _ints(fn, "padding", padding, nd, 0)
    d = _ints(fn, "dilation", dilation, nd, 1)
    if any(2 * pi > ki for pi, ki in zip(p, k)):
        raise ValueError(f"{fn}: padding={padding!r} is invalid: must be at most half the kernel "
                         f"size {k}")
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"{fn}: ceil_mode={ceil_mode!r} is invalid: must be True or False")
    k, s, p, d = (_spatial(v, nd, f) for v, f in ((k, 1), (s, 1), (p, 0), (d, 1)))
    sizes = x.shape[2:] if nd == 2 else (1,) + tuple(x.shape[2:])
    out = tuple(_pool_len(fn, *a, bool(ceil_mode), x) for a in zip(sizes, k, s, p, d))
    # right/bottom padding reaching the last (ceil_mode) window
    extra = [max(0, (o - 1) * si + di * (ki - 1) + 1 - (n + 2 * pi))
             for o, si, di, ki, n, pi in zip(out, s, d, k, sizes, p)]
    pads = (p[0], p[0] + extra[0], p[1], p[1] + extra[1])
    return x, k, s, p, d, sizes, out, pads


def _max_pool(fn: str, nd: int, x: Any, kernel_size: Any, stride: Any, padding: Any,
              dilation: Any, ceil_mode: Any) -> Tensor:
    x, k, s, _, d, _, out, pads = _pool_args(fn, nd, x, kernel_size, stride, padding, dilation,
                                             ceil_mode)
    return _drop(_max_rule(_lift(x, nd), k=k, stride=s, dilation=d, pads=pads, out=out), nd)


def _avg_pool(fn: str, nd: int, x: Any, kernel_size: Any, stride: Any, padding: Any,
              ceil_mode: Any, count_include_pad: Any) -> Tensor:
    x, k, s, p, _, sizes, out, pads = _pool_args(fn, nd, x, kernel_size, stride, padding, 1,
                                                 ceil_mode)
    if not isinstance(count_include_pad, (bool, np.bool_)):
        raise TypeError(f"{fn}: count_include_pad={count_include_pad!r} is invalid: must be True "
                        f"or False")
    counts = []
    for o, ki, si, pi, n in zip(out, k, s, p, sizes):  # PyTorch's divisor per output position
        start = np.arange(o) * si - pi
        end = np.minimum(start + ki, n + pi)
        counts.append(end - start if count_include_pad else
                      np.minimum(end, n) - np.maximum(start, 0))
    div = (counts[0][:, None] * counts[1][None, :])[:, :, None].astype(x.dtype)
    return _drop(_avg_rule(_lift(x, nd), k=k, stride=s, pads=pads, out=out, div=div), nd)


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False) -> Tensor:
    """Max over (H, W) windows (PyTorch's ``F.max_pool2d``); stride defaults to kernel_size;
    padding is -inf (never selected) and at most half the kernel; ties send the gradient to
    the first maximum in row-major window order."""
    return _max_pool("max_pool2d", 2, x, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool1d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False) -> Tensor:
    """Max over L windows of (N, C, L) input (PyTorch's ``F.max_pool1d``)."""
    return _max_pool("max_pool1d", 1, x, kernel_size, stride, padding, dilation, ceil_mode)


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """Mean over (H, W) windows (PyTorch's ``F.avg_pool2d``): zero padding counts in the
    divisor when ``count_include_pad`` (default), the part past the input in ceil mode never."""
    return _avg_pool("avg_pool2d", 2, x, kernel_size, stride, padding, ceil_mode,
                     count_include_pad)


def avg_pool1d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """Mean over L windows of (N, C, L) input (PyTorch's ``F.avg_pool1d``)."""
    return _avg_pool("avg_pool1d", 1, x, kernel_size, stride, padding, ceil_mode,
                     count_include_pad)


@op(name="adaptive_avg_pool2d")
def _adaptive_rule(x, *, ah, aw):
    return ah @ x @ aw.T, lambda g: ah.T @ g @ aw


def _adaptive_matrix(n: int, o: int, dtype: Any) -> np.ndarray:
    a = np.zeros((o, n), dtype)
    for i in range(o):  # PyTorch: window [floor(i*n/o), ceil((i+1)*n/o))
        lo, hi = (i * n) // o, -(-((i + 1) * n) // o)
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


def adaptive_avg_pool2d(x: Any, output_size: Any) -> Tensor:
    """Mean over the windows that split (H, W) into ``output_size`` cells (PyTorch's
    ``F.adaptive_avg_pool2d``); ``output_size`` int or pair, ``None`` keeps that size."""
    fn = "adaptive_avg_pool2d"
    x = _input(fn, x, 2)
    osz = (output_size,) * 2 if _isint(output_size) or output_size is None else output_size
    if isinstance(osz, (tuple, list)) and len(osz) == 2:
        osz = tuple(n if o is None else o for o, n in zip(osz, x.shape[2:]))
    o = _ints(fn, "output_size", osz, 2, 1)
    if min(x.shape[2:]) < 1:
        raise ValueError(f"{fn}: input shape {tuple(x.shape)} has an empty spatial axis")
    return _adaptive_rule(x, ah=_adaptive_matrix(x.shape[2], o[0], x.dtype),
                          aw=_adaptive_matrix(x.shape[3], o[1], x.dtype))


# ---------------------------------------------------------------------- padding modes
_NP_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@op(name="pad")
def _pad_rule(x, *, width, mode, value):
    if mode == "constant":
        sl = tuple(slice(lo, lo + n) for (lo, _), n in zip(width, x.shape))
        return np.pad(x, width, constant_values=value), lambda g: g[sl]
    idx = [np.pad(np.arange(n), w, mode=_NP_MODES[mode]) for n, w in zip(x.shape, width)]
    out = x[np.ix_(*idx)]

    def back(g):
        for ax, (n, i) in enumerate(zip(x.shape, idx)):
            if len(i) != n:
                z = np.zeros(g.shape[:ax] + (n,) + g.shape[ax + 1:], g.dtype)
                np.add.at(z, (slice(None),) * ax + (i,), g)
                g = z
        return g
    return out, back


def pad(x: Any, pad_width: Any, mode: str = "constant", value: float = 0.0) -> Tensor:
    """``Tensor.pad``: ``pad_width`` as in ``np.pad`` (int, (before, after) or one pair per
    axis); ``mode`` ``"constant"`` (``value``), ``"reflect"`` (mirror without the edge),
    ``"replicate"`` (repeat the edge) or ``"circular"`` (wrap around). As in PyTorch, reflect
    needs each pad < that axis's size, circular <= its size, replicate a non-empty axis."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    if mode not in _NP_MODES and mode != "constant":
        raise ValueError(f"pad: mode={mode!r} is invalid: must be one of 'constant', "
                         + ", ".join(repr(m) for m in _NP_MODES))
    try:
        pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    except (ValueError, TypeError):
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape "
                         f"{tuple(x.shape)}") from None
    if (pw < 0).any():
        raise ValueError(f"pad: pad_width must be >= 0, got {pad_width!r}")
    for ax, ((lo, hi), n) in enumerate(zip(pw.tolist(), x.shape)):
        limit = {"reflect": n - 1, "circular": n, "replicate": math.inf if n else -1,
                 "constant": math.inf}[mode]
        if max(lo, hi) > limit:
            raise ValueError(f"pad: mode={mode!r} padding ({lo}, {hi}) of axis {ax} is too large "
                             f"for its size {n} (input shape {tuple(x.shape)})")
    return _pad_rule(x, width=tuple(map(tuple, pw.tolist())), mode=mode, value=value)


for _f in (conv1d, conv2d, conv_transpose2d, max_pool1d, max_pool2d, avg_pool1d, avg_pool2d,
           adaptive_avg_pool2d):
    setattr(Tensor, _f.__name__, _f)
