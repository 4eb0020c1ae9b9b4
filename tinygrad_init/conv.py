"""Convolution and pooling (NCHW), attached to Tensor as methods (``x.conv2d(w)``) and used
by ``functional`` and ``nn``."""
from __future__ import annotations

from typing import Any

import numpy as np

from .tensor import _NO, Tensor, _const, _mode, _node, _pair


def conv2d(self: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1) -> Tensor:
    """2-d cross-correlation, PyTorch semantics: x (N, C, H, W), weight (O, C, kh, kw)."""
    x, w = self.data, (weight.data if isinstance(weight, Tensor) else np.asarray(weight))
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(f"conv2d: input shape {x.shape} and weight shape {w.shape} don't "
                         f"match (expected (N, C, H, W) and (O, C, kh, kw))")
    (sh, sw), (ph, pw), (dh, dw) = (_pair(stride, "conv2d: stride"),
                                    _pair(padding, "conv2d: padding"),
                                    _pair(dilation, "conv2d: dilation"))
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    Hp, Wp = H + 2 * ph, W + 2 * pw
    if sh < 1 or sw < 1 or dh < 1 or dw < 1 or ph < 0 or pw < 0 or Hp < ekh or Wp < ekw:
        raise ValueError(f"conv2d: kernel {(kh, kw)} (dilation {(dh, dw)}) doesn't fit input "
                         f"{(H, W)} with padding {(ph, pw)} and stride {(sh, sw)}")
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    win = np.lib.stride_tricks.sliding_window_view(xp, (ekh, ekw), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]  # (N, C, OH, OW, kh, kw)
    OH, OW = win.shape[2], win.shape[3]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(N * OH * OW, C * kh * kw)  # im2col copy
    w2 = w.reshape(O, C * kh * kw)
    d = (cols @ w2.T).reshape(N, OH, OW, O).transpose(0, 3, 1, 2)
    b = bias.data if isinstance(bias, Tensor) else bias
    if b is not None:
        d = d + b.reshape(1, O, 1, 1)
    rx, rw = self._rg, isinstance(weight, Tensor) and weight._rg
    rb = isinstance(bias, Tensor) and bias._rg
    if not (_mode.enabled and (rx or rw or rb)):
        return _const(d)

    def back(g: np.ndarray) -> tuple:
        g2 = g.transpose(0, 2, 3, 1).reshape(N * OH * OW, O)
        gw = (g2.T @ cols).reshape(w.shape) if rw else None
        gb = g.sum(axis=(0, 2, 3)) if rb else None
        gx = None
        if rx:  # col2im: scatter-add one kernel offset at a time
            dc = (g2 @ w2).reshape(N, OH, OW, C, kh, kw).transpose(0, 3, 4, 5, 1, 2)
            gxp = np.zeros((N, C, Hp, Wp), dtype=x.dtype)
            for i in range(kh):
                for j in range(kw):
                    gxp[:, :, i * dh:i * dh + sh * (OH - 1) + 1:sh,
                        j * dw:j * dw + sw * (OW - 1) + 1:sw] += dc[:, :, i, j]
            gx = gxp[:, :, ph:ph + H, pw:pw + W] if ph or pw else gxp
        return gx, gw, gb
    return _node(d, (self, weight if isinstance(weight, Tensor) else _NO,
                     bias if isinstance(bias, Tensor) else _NO), back)

def _pool(self: Tensor, kernel_size: Any, stride: Any, padding: Any, kind: str) -> Tensor:
    x = self.data
    name = f"{kind}_pool2d"
    if x.ndim != 4:
        raise ValueError(f"{name}: expected input of shape (N, C, H, W), got {x.shape}")
    kh, kw = _pair(kernel_size, f"{name}: kernel_size")
    sh, sw = _pair(kernel_size if stride is None else stride, f"{name}: stride")
    ph, pw = _pair(padding, f"{name}: padding")
    N, C, H, W = x.shape
    Hp, Wp = H + 2 * ph, W + 2 * pw
    if (kh < 1 or kw < 1 or sh < 1 or sw < 1 or ph < 0 or pw < 0 or 2 * ph > kh
            or 2 * pw > kw or Hp < kh or Wp < kw):
        raise ValueError(f"{name}: kernel {(kh, kw)} doesn't fit input {(H, W)} with "
                         f"padding {(ph, pw)} (at most half the kernel) and stride {(sh, sw)}")
    fill = 0 if kind == "avg" else -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = (np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
          if ph or pw else x)
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    OH, OW = win.shape[2], win.shape[3]
    if kind == "max":
        flat = win.reshape(N, C, OH, OW, kh * kw)
        arg = flat.argmax(axis=-1)  # ties: the first element gets the gradient
        d = np.take_along_axis(flat, arg[..., None], -1)[..., 0]
    else:
        d = win.mean(axis=(4, 5))
    if not (_mode.enabled and self._rg):
        return _const(d)

    def back(g: np.ndarray) -> tuple:
        gxp = np.zeros((N, C, Hp, Wp), dtype=x.dtype)
        ga = g / (kh * kw) if kind == "avg" else g
        for i in range(kh):
            for j in range(kw):
                gxp[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw] += (
                    ga if kind == "avg" else g * (arg == i * kw + j))
        return (gxp[:, :, ph:ph + H, pw:pw + W] if ph or pw else gxp,)
    return _node(d, (self,), back)

def max_pool2d(self: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Max pooling over (H, W) windows; stride defaults to kernel_size; pads with -inf."""
    return _pool(self, kernel_size, stride, padding, "max")

def avg_pool2d(self: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Average pooling; zero padding counts in the average (PyTorch count_include_pad)."""
    return _pool(self, kernel_size, stride, padding, "avg")


Tensor.conv2d = conv2d
Tensor.max_pool2d = max_pool2d
Tensor.avg_pool2d = avg_pool2d
