"""Record PyTorch reference numbers for nn layers and losses into nn_reference.npz.

Run in a throwaway venv with torch (never a dependency of tinygrad_init)::

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install \
        /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl numpy
    /tmp/torchenv/bin/python tests/data/make_nn_reference.py

Inputs are drawn from ``np.random.default_rng(0)`` and stored with the outputs, all in
float64. For each case ``<case>__x`` (inputs), ``<case>__out`` (forward), ``<case>__g``
(upstream gradient, for non-scalar outputs) and ``<case>__grad_<name>`` (gradients of
``sum(out * g)``). ``layout__names`` / ``layout__shapes`` are the state_dict keys and shapes
of a small torch CNN. Saved without pickles; read by tests/test_nn.py (layers, layout) and
tests/test_functional.py (losses).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as TF

OUT = Path(__file__).with_name("nn_reference.npz")
rng = np.random.default_rng(0)
res: dict[str, np.ndarray] = {}


def t(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def record(case, inputs, out):
    for k, v in inputs.items():
        res[f"{case}__{k}"] = v.detach().numpy().copy() if torch.is_tensor(v) else np.asarray(v)
    o = out.detach().numpy()
    res[f"{case}__out"] = o.copy()
    g = rng.standard_normal(o.shape) if o.ndim else np.array(1.0)
    res[f"{case}__g"] = g
    (out * torch.tensor(g)).sum().backward()
    for k, v in inputs.items():
        if torch.is_tensor(v) and v.requires_grad:
            res[f"{case}__grad_{k}"] = v.grad.numpy().copy()


# ---- Linear (3-D input too)
x, w, b = t(rng.standard_normal((2, 4, 5))), t(rng.standard_normal((3, 5))), t(rng.standard_normal(3))
record("linear", {"x": x, "weight": w, "bias": b}, TF.linear(x, w, b))

# ---- Conv2d: (stride, padding, dilation)
for i, (s, p, d) in enumerate([(1, 0, 1), (2, 1, 1), ((2, 1), (1, 2), 1), (1, 2, 2)]):
    x, w, b = (t(rng.standard_normal((2, 3, 7, 6))), t(rng.standard_normal((4, 3, 3, 2))),
               t(rng.standard_normal(4)))
    record(f"conv{i}", {"x": x, "weight": w, "bias": b, "stride": np.array(s), "padding": np.array(p),
                        "dilation": np.array(d)},
           TF.conv2d(x, w, b, stride=s, padding=p, dilation=d))

# ---- pools (distinct values: no ties)
x = t(rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 10.0)
record("maxpool", {"x": x}, TF.max_pool2d(x, 3, stride=2, padding=1))
x = t(rng.standard_normal((2, 3, 7, 6)))
record("avgpool", {"x": x}, TF.avg_pool2d(x, 3, stride=2, padding=1))

# ---- losses
z = rng.standard_normal((6, 5)) * 3
z[2] = [1e4, -1e4, 0.0, 1e4 - 2.0, 5.0]
tg = np.array([0, 4, 3, 1, 2, 2])
for red in ("mean", "sum", "none"):
    zt = t(z)
    record(f"ce_{red}", {"x": zt, "target": tg}, TF.cross_entropy(zt, torch.tensor(tg), reduction=red))
x = np.concatenate([rng.standard_normal(10) * 4, [0.0, 30.0, -30.0, 500.0, -500.0]])
y = np.concatenate([rng.uniform(0, 1, 10), [1.0, 0.0, 1.0, 1.0, 0.0]])
for red in ("mean", "none"):
    xt = t(x)
    record(f"bce_{red}", {"x": xt, "target": y},
           TF.binary_cross_entropy_with_logits(xt, torch.tensor(y), reduction=red))
a, c = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
for name, fn in (("mse", TF.mse_loss), ("l1", TF.l1_loss)):
    at = t(a)
    record(name, {"x": at, "target": c}, fn(at, torch.tensor(c)))

# ---- parameter layout / names of a small CNN
net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                          torch.nn.Flatten(), torch.nn.Linear(128, 10, bias=False))
sd = net.state_dict()
res["layout__names"] = np.array(list(sd))
res["layout__shapes"] = np.array([str(tuple(v.shape)) for v in sd.values()])

np.savez_compressed(OUT, **res)
print(f"wrote {OUT} ({len(res)} arrays)")
