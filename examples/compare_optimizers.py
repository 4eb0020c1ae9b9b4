"""SGD, SGD with momentum, RMSprop and Adam on the same model, weights and data.

Every run starts from the very same He-initialized ReLU MLP (64-64-32-10, built
from the same seed) and sees the same mini-batches (same shuffling seed); only the
update rule changes. Each optimizer gets its usual textbook learning rate
(SGD 0.01; momentum 0.9 at lr 0.01; RMSprop and Adam 0.001, PyTorch's defaults
otherwise), so the table shows what momentum and per-parameter step sizes buy at
a given budget of epochs.

    python examples/compare_optimizers.py [--epochs 20] [--seed 0] [--plot optim.png] [--quick]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
from rich.console import Console
from rich.table import Table

import tinygrad_init as tgi
from tinygrad_init import plot
from tinygrad_init.datasets import digits_split

RUNS = {  # label -> (optimizer name, hyperparameters)
    "SGD": ("sgd", {"lr": 0.01}),
    "SGD+momentum": ("sgd", {"lr": 0.01, "momentum": 0.9}),
    "RMSprop": ("rmsprop", {"lr": 0.001}),
    "Adam": ("adam", {"lr": 0.001}),
}


def build_model(seed):
    nn = tgi.nn
    rng = np.random.default_rng(seed)  # same seed -> the same initial weights for every optimizer
    he = tgi.initializer("kaiming_normal")
    return nn.Sequential(nn.Linear(64, 64, weight_init=he, bias_init="zeros", rng=rng), nn.ReLU(),
                         nn.Linear(64, 32, weight_init=he, bias_init="zeros", rng=rng), nn.ReLU(),
                         nn.Linear(32, 10, weight_init=he, bias_init="zeros", rng=rng))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20, help="epochs per run (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seeds the split, the weights and the shuffling")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--plot", metavar="PATH.png", help="save the cost curves (needs matplotlib)")
    p.add_argument("--quick", action="store_true", help="a 3-epoch smoke run")
    args = p.parse_args(argv)
    epochs = 3 if args.quick else args.epochs
    console = Console() if sys.stdout.isatty() else Console(width=120)  # no wrapping in logs
    train, test = digits_split(args.seed)
    console.print(f"[bold]Optimizers[/]: ReLU MLP 64-64-32-10, He init (seed {args.seed}), digits "
                  f"{len(train[0])} train / {len(test[0])} test, batch {args.batch_size}, {epochs} epochs")
    results = {}
    for label, (name, hp) in RUNS.items():
        model = build_model(args.seed)
        trainer = tgi.Trainer(model, "cross_entropy", tgi.optimizer(name, model.parameters(), **hp))
        history = trainer.fit(train, epochs=epochs, batch_size=args.batch_size, seed=args.seed)
        results[label] = {"history": history, "test": trainer.evaluate(test), "hp": hp}

    shown = sorted({0, 1, 2, 4, 9, 14, epochs - 1} & set(range(epochs)))
    table = Table(title="cost (mean training cross-entropy) per epoch, same init and batches")
    table.add_column("optimizer")
    table.add_column("lr", justify="right")
    for e in shown:
        table.add_column(f"ep {e + 1}", justify="right")
    table.add_column("test acc", justify="right")
    for label, r in results.items():
        costs = r["history"]["train_loss"]
        table.add_row(label, f"{r['hp']['lr']:g}", *[f"{costs[e]:.4f}" for e in shown], f"{r['test']['acc']:.4f}")
    console.print(table)
    if args.plot:
        if plot.available():
            path = plot.plot_curves({k: r["history"]["train_loss"] for k, r in results.items()}, args.plot,
                                    title="Optimizers: training cost per epoch", logy=True)
            console.print(f"plot saved to {path}")
        else:
            console.print("matplotlib is not installed: no plot (pip install 'tinygrad-init[plot]')")
    return results


if __name__ == "__main__":
    main()
