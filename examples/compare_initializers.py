"""Why initialization matters: zeros, randn*10, He and Xavier on the same ReLU MLP.

This is the seed experiment of the project, the same code as ``make demo`` and
``tinygrad-init demo``: it only calls :func:`tinygrad_init.demo.run` (read that
module for the model and the training loop).

Expected: ``zeros`` (symmetry never broken) and ``randn*10`` (exploding
activations, then dead ReLUs) stay near ln(10) = 2.303; He and Xavier reach about
0.98 test accuracy.

    python examples/compare_initializers.py [--epochs 30] [--seed 0] [--plot init.png] [--quick]
"""
from __future__ import annotations

import argparse
import sys

from rich.console import Console

from tinygrad_init import plot
from tinygrad_init.demo import EPOCHS, run


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs per run (default {EPOCHS})")
    p.add_argument("--seed", type=int, default=0, help="seeds the split, the weights and the shuffling")
    p.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (default 0.1)")
    p.add_argument("--plot", metavar="PATH.png", help="save the cost curves (needs matplotlib)")
    p.add_argument("--quick", action="store_true", help="a 3-epoch smoke run")
    args = p.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=120)  # no wrapping in logs
    path = args.plot
    if path and not plot.available():
        console.print("matplotlib is not installed: no plot (pip install 'tinygrad-init[plot]')")
        path = None
    return run(epochs=3 if args.quick else args.epochs, seed=args.seed, console=console, plot=path, lr=args.lr)


if __name__ == "__main__":
    main()
