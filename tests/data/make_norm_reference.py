"""Record PyTorch reference numbers for the normalization layers into norm_reference.npz.

Run in a throwaway venv with torch (never a dependency of tinygrad_init)::

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install \
        /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl numpy
    /tmp/torchenv/bin/python tests/data/make_norm_reference.py

For each case: the layer's spec (how tests/test_norms.py builds the same layer with
``tgi.norm``), its initial weight/bias (random, so the affine part is exercised), and
for ``steps`` training forwards then one eval forward: input ``x``, upstream gradient
``g``, output, input gradient, weight/bias gradients and the buffers after the step.
Keys read ``<case>__<what>`` (``<case>__step1__out``); everything is float32 except
the counters and the JSON spec string. Saved without pickles.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).with_name("norm_reference.npz")

# case -> (torch constructor, tgi name, num_features, tgi hparams, input shape, steps)
CASES = {
    "bn1d": (lambda: torch.nn.BatchNorm1d(5), "batch_norm", 5, {}, (8, 5), 3),
    "bn1d_seq": (lambda: torch.nn.BatchNorm1d(4, momentum=0.3), "batch_norm", 4, {"momentum": 0.3},
                 (6, 4, 7), 3),
    "bn2d": (lambda: torch.nn.BatchNorm2d(3), "batch_norm", 3, {}, (4, 3, 5, 5), 3),
    "bn2d_cma": (lambda: torch.nn.BatchNorm2d(3, momentum=None), "batch_norm", 3, {"momentum": None},
                 (4, 3, 5, 5), 3),
    "bn2d_notrack": (lambda: torch.nn.BatchNorm2d(3, track_running_stats=False), "batch_norm", 3,
                     {"track_running_stats": False}, (4, 3, 5, 5), 2),
    "bn2d_noaffine": (lambda: torch.nn.BatchNorm2d(3, affine=False, eps=1e-3), "batch_norm", 3,
                      {"affine": False, "eps": 1e-3}, (4, 3, 5, 5), 2),
    "ln": (lambda: torch.nn.LayerNorm(6), "layer_norm", 6, {}, (4, 3, 6), 1),
    "ln2": (lambda: torch.nn.LayerNorm((3, 6), eps=1e-4), "layer_norm", [3, 6], {"eps": 1e-4}, (4, 3, 6), 1),
    "ln_nobias": (lambda: torch.nn.LayerNorm(6, bias=False), "layer_norm", 6, {"bias": False}, (5, 6), 1),
    "gn": (lambda: torch.nn.GroupNorm(2, 6), "group_norm", 6, {"num_groups": 2}, (4, 6, 3, 3), 1),
    "gn_flat": (lambda: torch.nn.GroupNorm(3, 6, affine=False), "group_norm", 6,
                {"num_groups": 3, "affine": False}, (5, 6, 4), 1),
    "in": (lambda: torch.nn.InstanceNorm2d(3), "instance_norm", 3, {}, (4, 3, 5, 5), 1),
    "in_track": (lambda: torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
                 "instance_norm", 3, {"affine": True, "track_running_stats": True}, (4, 3, 5, 5), 3),
    "in1d": (lambda: torch.nn.InstanceNorm1d(4, momentum=0.2, affine=True, track_running_stats=True),
             "instance_norm", 4, {"momentum": 0.2, "affine": True, "track_running_stats": True},
             (3, 4, 9), 2),
    "rms": (lambda: torch.nn.RMSNorm(6), "rms_norm", 6, {}, (4, 3, 6), 1),
    "rms2": (lambda: torch.nn.RMSNorm((3, 6), eps=1e-6), "rms_norm", [3, 6], {"eps": 1e-6}, (4, 3, 6), 1),
}


def record(name, ctor, norm, num_features, hparams, shape, steps, rng, out):
    m = ctor()
    key = lambda *parts: "__".join((name, *parts))  # noqa: E731
    out[key("spec")] = np.array(json.dumps({"norm": norm, "num_features": num_features,
                                            "hparams": hparams, "steps": steps,
                                            "torch": repr(m)}))
    params = {n: p for n, p in m.named_parameters()}
    with torch.no_grad():
        for n, p in params.items():  # random affine parameters, not the ones/zeros init
            p.copy_(torch.from_numpy(rng.normal(1.0 if n == "weight" else 0.0, 0.5, p.shape)
                                     .astype(np.float32)))
            out[key("init", n)] = p.detach().numpy().copy()
    phases = [("step%d" % (i + 1), True) for i in range(steps)] + [("eval", False)]
    for phase, training in phases:
        m.train(training)
        # channel-dependent offsets and scales, so normalization has something to remove
        x = (rng.normal(size=shape) * rng.uniform(0.5, 3.0) + rng.uniform(-2, 2)).astype(np.float32)
        g = rng.normal(size=shape).astype(np.float32)
        xt = torch.from_numpy(x).requires_grad_(True)
        y = m(xt)
        y.backward(torch.from_numpy(g))
        out[key(phase, "x")], out[key(phase, "g")] = x, g
        out[key(phase, "out")] = y.detach().numpy()
        out[key(phase, "grad_x")] = xt.grad.numpy()
        for n, p in params.items():
            out[key(phase, "grad_" + n)] = p.grad.numpy().copy()
            p.grad = None
        for n, b in m.named_buffers():
            out[key(phase, n)] = b.numpy().copy()


def main() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(20261122)
    out: dict[str, np.ndarray] = {}
    for name, spec in CASES.items():
        record(name, *spec, rng, out)
    out["torch_version"] = np.array(torch.__version__)
    np.savez_compressed(OUT, **out)
    print(f"wrote {len(out)} arrays to {OUT} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
