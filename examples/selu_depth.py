"""Self-normalizing networks (Klambauer et al. 2017): SELU with LeCun-normal weights keeps
the activations near mean 0 / variance 1 through 16 layers; other inits drift away.

A 16-layer stack of Linear(256, 256) + SELU (zero biases) gets a batch of 2000 standard-normal
inputs; the table shows the mean and the variance of each layer's output (over the batch and
the units) for three weight initializations:

- ``lecun_normal``: N(0, 1/fan_in), the fixed point SELU's alpha and scale were solved for:
  mean and variance stay at (0, 1) at every depth;
- PyTorch's default ``Linear`` init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), variance
  1/(3 fan_in): the variance collapses towards 0 layer after layer;
- ``kaiming_normal`` (He, for ReLU): N(0, 2/fan_in): the variance grows layer after layer.

    python examples/selu_depth.py [--seed 0] [--depth 16] [--width 256] [--batch 2000]
"""
from __future__ import annotations

import argparse

import numpy as np
from rich.console import Console
from rich.table import Table

import tinygrad_init as tgi

INITS = {"lecun_normal": "lecun_normal", "PyTorch default": None, "kaiming_normal": "kaiming_normal"}
SHOWN = (1, 2, 4, 8, 12, 16)


def layer_stats(init: str | None, depth: int = 16, width: int = 256, batch: int = 2000,
                seed: int = 0) -> list[tuple[float, float]]:
    """(mean, variance) of the output of each of ``depth`` Linear+SELU layers."""
    nn = tgi.nn
    rng = np.random.default_rng(seed)
    kw = {} if init is None else {"weight_init": init, "bias_init": "zeros"}
    layers = [nn.Linear(width, width, rng=rng, **kw) for _ in range(depth)]
    if init is None:
        for layer in layers:
            layer.bias.data[...] = 0.0  # only the weights differ between the runs
    x = tgi.Tensor(rng.standard_normal((batch, width)).astype(np.float32))
    stats = []
    with tgi.no_grad():
        for layer in layers:
            x = layer(x).selu()
            stats.append((float(x.data.mean()), float(x.data.var())))
    return stats


def run(depth: int = 16, width: int = 256, batch: int = 2000, seed: int = 0) -> dict:
    return {label: layer_stats(init, depth, width, batch, seed) for label, init in INITS.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--batch", type=int, default=2000)
    args = ap.parse_args(argv)
    res = run(args.depth, args.width, args.batch, args.seed)
    table = Table(title=f"SELU: mean / variance of each layer's output ({args.width} units, "
                        f"batch {args.batch})")
    table.add_column("layer", justify="right")
    for label in res:
        table.add_column(label, justify="right")
    for k in [s for s in SHOWN if s <= args.depth]:
        table.add_row(str(k), *[f"{m:+.3f} / {v:.3f}" for m, v in (res[lb][k - 1] for lb in res)])
    Console().print(table)


if __name__ == "__main__":
    main()
