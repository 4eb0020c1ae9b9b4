"""Record PyTorch reference numbers for the initializers into init_reference.npz.

Run in a throwaway venv with torch (never a dependency of tinygrad_init)::

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install \
        /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl numpy
    /tmp/torchenv/bin/python tests/data/make_init_reference.py

What is recorded (tests/test_init.py::test_matches_pytorch_* read it):

- ``gain__<nonlinearity>[__<param>]``: ``torch.nn.init.calculate_gain``;
- ``fans__<i>``: ``(fan_in, fan_out)`` of ``SHAPES[i]`` from torch's private
  ``_calculate_fan_in_and_fan_out`` (the convention the docs describe);
- ``eye__<i>`` / ``dirac__<i>``: ``eye_`` / ``dirac_`` outputs (deterministic);
- ``stats__<case>``: for random initializers, ``[mean, var, min, max]`` of one large
  torch draw (``torch.manual_seed(0)``), compared with our *declared* moments and
  bounds; the spec (our name, hyperparameters, shape) is in the JSON string ``spec``;
- ``sparse_zeros__<i>``: zeros per column of ``sparse_``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch.nn import init

OUT = Path(__file__).with_name("init_reference.npz")
SHAPES = [(7, 5), (64, 32, 3, 3), (8, 4, 5), (2, 3, 2, 2, 2)]
EYE = [(3, 5), (5, 3), (4, 4)]
DIRAC = [((4, 2, 3, 3), 2), ((6, 4, 3, 3), 1), ((2, 4, 3, 3), 1), ((3, 3, 5), 1), ((2, 2, 3, 3, 3), 1)]
DENSE, CONV = (512, 256), (128, 64, 3, 3)
# case -> (torch fn, kwargs, our name, our hparams, shape)
STATS = {
    "xavier_uniform": (init.xavier_uniform_, {}, "xavier_uniform", {}, DENSE),
    "xavier_uniform_g2_conv": (init.xavier_uniform_, {"gain": 2.0}, "xavier_uniform", {"gain": 2.0}, CONV),
    "xavier_normal_conv": (init.xavier_normal_, {}, "xavier_normal", {}, CONV),
    "kaiming_uniform": (init.kaiming_uniform_, {}, "kaiming_uniform", {}, DENSE),
    "kaiming_uniform_conv": (init.kaiming_uniform_, {}, "kaiming_uniform", {}, CONV),
    "kaiming_uniform_sqrt5": (init.kaiming_uniform_, {"a": math.sqrt(5)}, "kaiming_uniform",
                              {"a": math.sqrt(5)}, CONV),
    "kaiming_uniform_fanout_relu": (init.kaiming_uniform_, {"mode": "fan_out", "nonlinearity": "relu"},
                                    "kaiming_uniform", {"mode": "fan_out", "nonlinearity": "relu"}, CONV),
    "kaiming_normal": (init.kaiming_normal_, {}, "kaiming_normal", {}, DENSE),
    "kaiming_normal_conv_tanh": (init.kaiming_normal_, {"nonlinearity": "tanh"}, "kaiming_normal",
                                 {"nonlinearity": "tanh"}, CONV),
    "trunc_normal": (init.trunc_normal_, {}, "trunc_normal", {}, DENSE),
    "trunc_normal_vit": (init.trunc_normal_, {"std": 0.02, "a": -0.04, "b": 0.04}, "trunc_normal",
                         {"std": 0.02, "a": -0.04, "b": 0.04}, DENSE),
    "trunc_normal_offset": (init.trunc_normal_, {"mean": 1.0, "std": 1.0, "a": 2.0, "b": 5.0},
                            "trunc_normal", {"mean": 1.0, "std": 1.0, "a": 2.0, "b": 5.0}, DENSE),
    "orthogonal_wide": (init.orthogonal_, {"gain": 2.0}, "orthogonal", {"gain": 2.0}, (64, 512)),
    "orthogonal_conv": (init.orthogonal_, {}, "orthogonal", {}, CONV),
    "sparse": (init.sparse_, {"sparsity": 0.9, "std": 0.01}, "sparse", {"sparsity": 0.9}, DENSE),
    "uniform": (init.uniform_, {"a": -0.1, "b": 0.3}, "uniform", {"a": -0.1, "b": 0.3}, DENSE),
    "normal": (init.normal_, {"mean": 0.5, "std": 0.02}, "normal", {"mean": 0.5, "std": 0.02}, DENSE),
}
GAINS = [("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None),
         ("conv_transpose1d", None), ("conv_transpose2d", None), ("conv_transpose3d", None),
         ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
         ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", math.sqrt(5)), ("selu", None)]


def main() -> None:
    out: dict[str, np.ndarray] = {}
    for nl, p in GAINS:
        out[f"gain__{nl}" + ("" if p is None else f"__{p}")] = np.float64(init.calculate_gain(nl, p))
    for i, s in enumerate(SHAPES):
        out[f"fans__{i}"] = np.array(init._calculate_fan_in_and_fan_out(torch.empty(s)), np.int64)
    for i, s in enumerate(EYE):
        out[f"eye__{i}"] = init.eye_(torch.empty(s)).numpy()
    for i, (s, g) in enumerate(DIRAC):
        out[f"dirac__{i}"] = init.dirac_(torch.empty(s), groups=g).numpy()
    torch.manual_seed(0)
    for case, (fn, kw, _, _, shape) in STATS.items():
        w = fn(torch.empty(shape, dtype=torch.float64), **kw).numpy()
        out[f"stats__{case}"] = np.array([w.mean(), w.var(), w.min(), w.max()])
        if case == "sparse":
            out["sparse_zeros__0"] = (w == 0).sum(axis=0)
    spec = {"shapes": SHAPES, "eye": EYE, "dirac": DIRAC,
            "stats": {c: [v[2], v[3], list(v[4])] for c, v in STATS.items()},
            "gains": [[nl, p] for nl, p in GAINS], "torch": torch.__version__}
    out["spec"] = np.array(json.dumps(spec))
    np.savez(OUT, **out)
    print(f"wrote {OUT} ({len(out)} arrays, torch {torch.__version__})")


if __name__ == "__main__":
    main()
