"""Batch normalization in a deep MLP: larger learning rates, faster descent, init insensitivity.

The network has 8 hidden ReLU layers of width 64 (64-64x8-10). The "BN" variant puts
``tgi.norm("batch_norm", 64)`` between every hidden Linear and its ReLU; everything
else (plain SGD, batch 64, the data, the shuffling, the initial weights of the
Linear layers) is the same.

1. Learning-rate sweep with He init: without BN the deep net learns at lr 0.1,
   struggles at 0.3 and diverges at 1.0; with BN it trains at all three, and at
   lr 0.3 its cost falls faster than the best plain run.
2. Initialization sweep at lr 0.3: without BN, ``0.01*randn`` weights make the signal
   vanish through 8 layers (cost stuck at ln 10 = 2.303) and ``randn`` (scale 1)
   weights make it explode (diverges at once); with BN each layer's output is
   re-standardized, and both learn.

    python examples/batchnorm_depth.py [--epochs 10] [--seed 0] [--plot bn.png] [--quick]
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import tinygrad_init as tgi
from tinygrad_init import plot
from tinygrad_init.datasets import digits_split
from tinygrad_init.trainer import TrainingDiverged

DEPTH, WIDTH = 8, 64
LRS = (0.1, 0.3, 1.0)
INIT_LR = 0.3
INITS = {  # label -> (initializer name, hyperparameters)
    "He": ("kaiming_normal", {}),
    "0.01*randn": ("scaled_normal", {"scale": 0.01}),
    "randn": ("scaled_normal", {"scale": 1.0}),
}
TARGET = 0.3  # "epochs to cost < TARGET" measures the speed of descent


def build_model(init, batch_norm: bool, seed: int):
    nn = tgi.nn
    rng = np.random.default_rng(seed)  # the same Linear weights with and without BN
    mods, fan_in = [], 64
    for _ in range(DEPTH):
        mods.append(nn.Linear(fan_in, WIDTH, weight_init=init, bias_init="zeros", rng=rng))
        if batch_norm:
            mods.append(tgi.norm("batch_norm", WIDTH))
        mods.append(nn.ReLU())
        fan_in = WIDTH
    mods.append(nn.Linear(fan_in, 10, weight_init=init, bias_init="zeros", rng=rng))
    return nn.Sequential(*mods)


def train_one(init_label, lr, bn, data, epochs, seed, callbacks=()):
    name, hp = INITS[init_label]
    model = build_model(tgi.initializer(name, **hp), bn, seed)
    trainer = tgi.Trainer(model, "cross_entropy", tgi.optimizer("sgd", model.parameters(), lr=lr),
                          callbacks=callbacks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingDiverged)  # a diverging run is a result here
        warnings.simplefilter("ignore", RuntimeWarning)
        history = trainer.fit(data[0], epochs=epochs, batch_size=64, seed=seed)
    test = trainer.evaluate(data[1])
    costs = history["train_loss"]
    return {"history": history, "costs": costs, "test_acc": test["acc"],
            "diverged": history.stop_reason is not None,
            "to_target": next((i + 1 for i, c in enumerate(costs) if c < TARGET), None)}


def results_table(title, rows, shown):
    table = Table(title=title)
    for col in ("init", "lr", "BN"):
        table.add_column(col, no_wrap=True)
    for e in shown:
        table.add_column(f"ep {e + 1}", justify="right")
    table.add_column(f"epochs to cost<{TARGET:g}", justify="right")
    table.add_column("test acc", justify="right")
    for (init_label, lr, bn), r in rows:
        costs = r["costs"]
        cells = []
        for e in shown:  # a diverged run stopped inside its last recorded epoch
            if r["diverged"] and e >= len(costs) - 1:
                cells.append("[red]diverged[/]")
            else:
                cells.append("-" if e >= len(costs) else f"{costs[e]:.3f}")
        acc = r["test_acc"]
        table.add_row(init_label, f"{lr:g}", "BN" if bn else "-", *cells,
                      "never" if r["to_target"] is None else str(r["to_target"]),
                      f"[{'green' if acc >= 0.9 else 'red'}]{acc:.3f}[/]")
    return table


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10, help="epochs per run (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seeds the split, the weights and the shuffling")
    p.add_argument("--plot", metavar="PATH.png", help="save the cost curves (PATH.png: lr sweep, "
                   "PATH-init.png: init sweep; needs matplotlib)")
    p.add_argument("--quick", action="store_true", help="a 2-epoch smoke run")
    args = p.parse_args(argv)
    epochs = 2 if args.quick else args.epochs
    console = Console() if sys.stdout.isatty() else Console(width=120)
    data = digits_split(args.seed)
    console.print(f"[bold]Batch norm in depth[/]: ReLU MLP 64-{WIDTH}x{DEPTH}-10, plain SGD, batch 64, "
                  f"{epochs} epochs, with and without batch_norm after every hidden Linear")

    runs = {}
    console.print(f"[bold]One run in full[/]: He init, BN, lr {INIT_LR:g}")
    logger = tgi.callback("rich_logger", console=console, diagnostics=False, progress=False)
    runs[("He", INIT_LR, True)] = train_one("He", INIT_LR, True, data, epochs, args.seed, [logger])
    for lr in LRS:
        for bn in (False, True):
            if ("He", lr, bn) not in runs:
                runs[("He", lr, bn)] = train_one("He", lr, bn, data, epochs, args.seed)
    for init_label in INITS:
        for bn in (False, True):
            if (init_label, INIT_LR, bn) not in runs:
                runs[(init_label, INIT_LR, bn)] = train_one(init_label, INIT_LR, bn, data, epochs, args.seed)

    shown = sorted({0, 2, 4, epochs - 1} & set(range(epochs)))
    lr_rows = [(("He", lr, bn), runs[("He", lr, bn)]) for lr in LRS for bn in (False, True)]
    init_rows = [((i, INIT_LR, bn), runs[(i, INIT_LR, bn)]) for i in INITS for bn in (False, True)]
    console.print(results_table("1. learning-rate sweep, He init: training cost per epoch", lr_rows, shown))
    console.print(results_table(f"2. initialization sweep, lr {INIT_LR:g}: training cost per epoch",
                                init_rows, shown))

    plain_lrs = [k[1] for k, r in lr_rows if not k[2] and not r["diverged"]]
    bn_lrs = [k[1] for k, r in lr_rows if k[2] and not r["diverged"]]
    console.print(f"largest lr that did not diverge: without BN {max(plain_lrs, default=float('nan')):g}, "
                  f"with BN {max(bn_lrs, default=float('nan')):g}")
    learns = {k: r["test_acc"] >= 0.5 for k, r in init_rows}
    console.print("learns (test acc >= 0.5) per init, without / with BN: "
                  + ", ".join(f"{i} {'yes' if learns[(i, INIT_LR, False)] else 'no'} / "
                              f"{'yes' if learns[(i, INIT_LR, True)] else 'no'}" for i in INITS))
    if args.plot:
        if plot.available():
            def curves(rows):
                return {f"{k[0]} lr={k[1]:g}{' BN' if k[2] else ''}": [min(c, 10.0) for c in r["costs"]]
                        for k, r in rows}
            path = plot.plot_curves(curves(lr_rows), args.plot, logy=True,
                                    title=f"{DEPTH} hidden layers, He init: cost (clipped at 10)")
            stem = Path(args.plot)
            path2 = plot.plot_curves(curves(init_rows), stem.with_name(stem.stem + "-init" + stem.suffix),
                                     logy=True, title=f"{DEPTH} hidden layers, lr {INIT_LR:g}: cost by init")
            console.print(f"plots saved to {path} and {path2}")
        else:
            console.print("matplotlib is not installed: no plot (pip install 'tinygrad-init[plot]')")
    return runs


if __name__ == "__main__":
    main()
