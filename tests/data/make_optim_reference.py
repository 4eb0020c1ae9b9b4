"""Record PyTorch optimizer trajectories for tests/test_optim_torch.py.

Run in a throwaway venv that has torch (never needed at test time)::

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl numpy
    /tmp/torchenv/bin/python tests/data/make_optim_reference.py

For every case (a torch optimizer and its keyword arguments, spelled exactly as
tinygrad_init's), two float32 parameters start from fixed values and take STEPS
steps. The gradient of each step is computed in NumPy from the torch parameters
(``grad = C * p + noise_t``, noise fixed by a seed, with a scale that jumps so
that AMSGrad's max and Adamax's infinity norm matter) and stored, so the test
replays the very same gradients. Stored per case: the gradients and the
parameter trajectory (initial value + one row per step). The single-tensor
("for-loop") torch implementation is used: it is the documented algorithm.
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch

STEPS = 20
SHAPES = [(3, 4), (5,)]
CASES = [
    ("sgd", "SGD", "sgd", {"lr": 0.1}),
    ("sgd_momentum", "SGD", "sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd_dampening", "SGD", "sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
    ("sgd_nesterov", "SGD", "sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("sgd_wd", "SGD", "sgd", {"lr": 0.1, "momentum": 0.8, "weight_decay": 0.1}),
    ("adagrad", "Adagrad", "adagrad", {"lr": 0.1}),
    ("adagrad_full", "Adagrad", "adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1,
                                            "weight_decay": 0.05, "eps": 1e-6}),
    ("rmsprop", "RMSprop", "rmsprop", {"lr": 0.01}),
    ("rmsprop_centered", "RMSprop", "rmsprop", {"lr": 0.01, "centered": True}),
    ("rmsprop_momentum_centered", "RMSprop", "rmsprop", {"lr": 0.01, "momentum": 0.9, "centered": True,
                                                         "alpha": 0.9, "weight_decay": 0.1}),
    ("adadelta", "Adadelta", "adadelta", {}),
    ("adadelta_wd", "Adadelta", "adadelta", {"lr": 0.5, "rho": 0.95, "eps": 1e-4, "weight_decay": 0.1}),
    ("adam", "Adam", "adam", {"lr": 0.01}),
    ("adam_amsgrad", "Adam", "adam", {"lr": 0.01, "amsgrad": True}),
    ("adam_wd", "Adam", "adam", {"lr": 0.01, "weight_decay": 0.1, "betas": [0.5, 0.9], "eps": 1e-3}),
    ("adamw", "AdamW", "adamw", {"lr": 0.01}),
    ("adamw_amsgrad", "AdamW", "adamw", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("adamax", "Adamax", "adamax", {}),
    ("adamax_wd", "Adamax", "adamax", {"lr": 0.01, "betas": [0.8, 0.99], "weight_decay": 0.1}),
    ("nadam", "NAdam", "nadam", {}),
    ("nadam_wd", "NAdam", "nadam", {"lr": 0.01, "momentum_decay": 0.01, "weight_decay": 0.1}),
    ("radam", "RAdam", "radam", {"lr": 0.01}),
    ("radam_wd", "RAdam", "radam", {"lr": 0.01, "betas": [0.9, 0.9], "weight_decay": 0.1}),
]


def grad_fn(p: np.ndarray, j: int, t: int) -> np.ndarray:
    rng = np.random.default_rng(1000 * t + j)
    scale = 2.0 if t in (3, 4) else (0.1 if t >= 12 else 0.7)
    c = np.float32(0.5 + j)
    return (c * p + np.float32(scale) * rng.standard_normal(p.shape).astype(np.float32)).astype(np.float32)


def main() -> None:
    torch.manual_seed(0)
    out: dict[str, np.ndarray] = {}
    meta = []
    rng = np.random.default_rng(0)
    p0 = [rng.uniform(-1, 1, s).astype(np.float32) for s in SHAPES]
    for j, p in enumerate(p0):
        out[f"p0.{j}"] = p
    for case, tname, name, kw in CASES:
        params = [torch.tensor(p.copy(), requires_grad=True) for p in p0]
        tkw = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}
        opt = getattr(torch.optim, tname)(params, foreach=False, **tkw)
        trajs = [[p.copy()] for p in p0]
        grads = [[] for _ in p0]
        for t in range(STEPS):
            for j, p in enumerate(params):
                g = grad_fn(p.detach().numpy().copy(), j, t)
                grads[j].append(g)
                p.grad = torch.from_numpy(g.copy())
            opt.step()
            for j, p in enumerate(params):
                trajs[j].append(p.detach().numpy().copy())
        for j in range(len(p0)):
            out[f"{case}.traj.{j}"] = np.stack(trajs[j])
            out[f"{case}.grads.{j}"] = np.stack(grads[j])
        meta.append({"case": case, "torch": tname, "optimizer": name, "kwargs": kw})
    out["cases"] = np.array(json.dumps(meta))
    # clip_grad_norm_ / clip_grad_value_ on three gradients (one norm per setting)
    crng = np.random.default_rng(5)
    cg = [(3.0 * crng.standard_normal(s)).astype(np.float32) for s in [(3, 4), (5,), (2, 2, 2)]]
    for j, g in enumerate(cg):
        out[f"clip.grad.{j}"] = g
    clips = [(2.0, 2.0), (1.5, 1.0), (0.5, float("inf")), (1e6, 2.0), (3.0, 3.0)]
    out["clip.settings"] = np.array(clips)
    for k, (max_norm, norm_type) in enumerate(clips):
        ts = [torch.zeros(g.shape, requires_grad=True) for g in cg]
        for t, g in zip(ts, cg):
            t.grad = torch.from_numpy(g.copy())
        total = torch.nn.utils.clip_grad_norm_(ts, max_norm, norm_type=norm_type, foreach=False)
        out[f"clip.{k}.total"] = np.array(float(total))
        for j, t in enumerate(ts):
            out[f"clip.{k}.grad.{j}"] = t.grad.numpy().copy()
    ts = [torch.zeros(g.shape, requires_grad=True) for g in cg]
    for t, g in zip(ts, cg):
        t.grad = torch.from_numpy(g.copy())
    torch.nn.utils.clip_grad_value_(ts, 1.25, foreach=False)
    for j, t in enumerate(ts):
        out[f"clipvalue.grad.{j}"] = t.grad.numpy().copy()
    out["torch_version"] = np.array(torch.__version__)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim_reference.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {path}: {len(CASES)} cases, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
