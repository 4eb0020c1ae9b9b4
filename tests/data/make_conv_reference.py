"""Record PyTorch reference values for convolution, pooling and padding into conv_reference.npz.

Run with torch installed (the optional ``bench`` extra, never a test dependency)::

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python tests/data/make_conv_reference.py

Every case is float64, inputs drawn from ``np.random.default_rng(0)``. For a case ``c``:
``c__fn`` (the ``tinygrad_init.functional`` name, same as ``torch.nn.functional``'s),
``c__kwargs`` (JSON), ``c__args`` (names of the array arguments, in order), each array
``c__<name>``, ``c__out``, the upstream gradient ``c__g`` and ``c__grad_<name>`` (gradients of
``sum(out * g)``). Saved without pickles; read by tests/test_conv.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as TF

OUT = Path(__file__).with_name("conv_reference.npz")
rng = np.random.default_rng(0)
res: dict[str, np.ndarray] = {}


def n(*shape):
    return rng.standard_normal(shape)


def distinct(*shape):  # no ties, so max pooling's gradient is defined
    return rng.permutation(int(np.prod(shape))).reshape(shape) / 10.0


def case(name, fn, arrays, **kwargs):
    ts = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in arrays.items()}
    out = getattr(TF, fn)(*ts.values(), **kwargs)
    g = rng.standard_normal(tuple(out.shape))
    (out * torch.tensor(g)).sum().backward()
    res[f"{name}__fn"] = np.array(fn)
    res[f"{name}__kwargs"] = np.array(json.dumps(kwargs))
    res[f"{name}__args"] = np.array(list(arrays))
    for k, v in arrays.items():
        res[f"{name}__{k}"] = np.asarray(v, dtype=np.float64)
        res[f"{name}__grad_{k}"] = ts[k].grad.numpy().copy()
    res[f"{name}__out"] = out.detach().numpy().copy()
    res[f"{name}__g"] = g


# conv1d: the MNIST-1D layer, groups, dilation, string padding
case("conv1d_mnist1d", "conv1d", {"x": n(3, 1, 40), "w": n(25, 1, 5), "b": n(25)}, stride=2, padding=1)
case("conv1d_groups", "conv1d", {"x": n(2, 4, 11), "w": n(6, 2, 3), "b": n(6)}, stride=2, padding=2,
     dilation=2, groups=2)
case("conv1d_same", "conv1d", {"x": n(2, 3, 9), "w": n(2, 3, 4)}, padding="same", dilation=3)
case("conv1d_valid", "conv1d", {"x": n(2, 3, 9), "w": n(2, 3, 4), "b": n(2)}, padding="valid")
# conv2d: groups (depthwise too), string padding (odd total split like PyTorch)
case("conv2d_groups", "conv2d", {"x": n(2, 4, 7, 6), "w": n(6, 2, 3, 2), "b": n(6)}, stride=(2, 1),
     padding=1, dilation=(1, 2), groups=2)
case("conv2d_depthwise", "conv2d", {"x": n(2, 3, 6, 6), "w": n(6, 1, 3, 3), "b": n(6)}, padding=1,
     groups=3)
case("conv2d_same_even", "conv2d", {"x": n(2, 2, 6, 5), "w": n(3, 2, 4, 2), "b": n(3)},
     padding="same")
case("conv2d_same_dil", "conv2d", {"x": n(1, 2, 7, 7), "w": n(2, 2, 3, 3)}, padding="same",
     dilation=(2, 1))
case("conv2d_valid", "conv2d", {"x": n(1, 2, 5, 5), "w": n(2, 2, 3, 3)}, padding="valid")
# conv_transpose2d
case("convt_basic", "conv_transpose2d", {"x": n(2, 3, 4, 5), "w": n(3, 2, 3, 3), "b": n(2)})
case("convt_stride", "conv_transpose2d", {"x": n(2, 4, 5, 4), "w": n(4, 3, 3, 2), "b": n(6)},
     stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2)
case("convt_dilation", "conv_transpose2d", {"x": n(1, 2, 4, 4), "w": n(2, 3, 3, 2)}, stride=2,
     padding=1, output_padding=1, dilation=2)
# pooling: ceil_mode, count_include_pad, dilation, 1-d forms
case("maxpool_ceil_dil", "max_pool2d", {"x": distinct(2, 3, 9, 8)}, kernel_size=3, stride=2,
     padding=1, dilation=(1, 2), ceil_mode=True)
case("maxpool_ceil", "max_pool2d", {"x": distinct(1, 2, 7, 7)}, kernel_size=2, ceil_mode=True)
case("maxpool_2", "max_pool2d", {"x": distinct(2, 3, 8, 8)}, kernel_size=2)
case("avgpool_exclude", "avg_pool2d", {"x": n(2, 3, 7, 6)}, kernel_size=3, stride=2, padding=1,
     count_include_pad=False)
case("avgpool_ceil", "avg_pool2d", {"x": n(2, 2, 7, 6)}, kernel_size=(3, 2), stride=2, padding=1,
     ceil_mode=True)
case("avgpool_ceil_exclude", "avg_pool2d", {"x": n(1, 2, 8, 5)}, kernel_size=3, stride=2,
     padding=1, ceil_mode=True, count_include_pad=False)
case("maxpool1d", "max_pool1d", {"x": distinct(2, 3, 11)}, kernel_size=3, stride=2, padding=1,
     dilation=2, ceil_mode=True)
case("maxpool1d_default", "max_pool1d", {"x": distinct(2, 3, 10)}, kernel_size=2)
case("avgpool1d", "avg_pool1d", {"x": n(2, 3, 10)}, kernel_size=4, stride=3, padding=2,
     ceil_mode=True, count_include_pad=False)
case("avgpool1d_default", "avg_pool1d", {"x": n(2, 3, 10)}, kernel_size=3)
case("adaptive_grow", "adaptive_avg_pool2d", {"x": n(2, 3, 5, 7)}, output_size=(3, 4))
case("adaptive_1", "adaptive_avg_pool2d", {"x": n(2, 3, 5, 7)}, output_size=1)
case("adaptive_up", "adaptive_avg_pool2d", {"x": n(1, 2, 3, 2)}, output_size=(5, 3))
# padding modes (F.pad's order: last axis first)
for mode in ("reflect", "replicate", "circular"):
    case(f"pad_{mode}_2d", "pad", {"x": n(2, 3, 5, 4)}, pad=(2, 1, 3, 0), mode=mode)
    case(f"pad_{mode}_1d", "pad", {"x": n(2, 3, 5)}, pad=(1, 3), mode=mode)
case("pad_constant", "pad", {"x": n(2, 3, 4)}, pad=(1, 2, 0, 1), mode="constant", value=1.5)

np.savez(OUT, **res)
print(f"wrote {len(res)} arrays to {OUT}")
