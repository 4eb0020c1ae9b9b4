"""Initialization of recurrent networks on the adding problem (Le, Jaitly & Hinton 2015).

Each input is a sequence of ``--length`` steps with two features: a value drawn from U(0, 1)
and a marker that is 1 at exactly two steps (one in each half) and 0 elsewhere. The target is
the sum of the two marked values; always answering 1 gives a mean squared error of 1/6 ~ 0.167,
the baseline to beat. A recurrent layer reads the sequence, a Linear(hidden, 1) maps its last
state to the answer. The pairs compared:

    ReLU RNN   W_hh = identity (IRNN, Le et al. 2015)     vs   W_hh ~ N(0, 0.001^2)
    tanh RNN   W_hh orthogonal (Saxe et al. 2014)         vs   W_hh ~ N(0, 1/hidden)
    LSTM       forget-gate bias 1 (Jozefowicz et al. 2015) vs  forget-gate bias 0

(ReLU RNNs: W_ih ~ N(0, 0.001^2) and zero biases, as in Le et al.; the others keep PyTorch's
default uniform W_ih), each trained with and without gradient clipping (total norm
``--clip``, ``tgi.optim.clip_grad_norm`` via the Trainer). Every run is logged by the rich
logger; a table gives the final validation MSE of each, and ``--plot`` saves the validation
curves.

    python examples/rnn_init.py [--length 50] [--hidden 32] [--epochs 15] [--train 10000]
                                [--lr 3e-3] [--clip 1.0] [--seed 0] [--plot rnn_init.png] [--quick]
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np
from rich.console import Console
from rich.table import Table

import tinygrad_init as tgi
from tinygrad_init import nn, plot

BASELINE = 1 / 6  # MSE of always answering 1
SOLVED = 0.01  # validation MSE counted as solving the task


def adding_problem(n, length, rng):
    """``(x, y)``: x ``(n, length, 2)`` float32 (value, marker), y ``(n, 1)`` the marked sum."""
    values = rng.uniform(0, 1, (n, length)).astype(np.float32)
    marks = np.zeros((n, length), np.float32)
    half = length // 2
    rows = np.arange(n)
    first, second = rng.integers(0, half, n), rng.integers(half, length, n)
    marks[rows, first] = marks[rows, second] = 1
    y = (values[rows, first] + values[rows, second]).reshape(n, 1)
    return np.stack([values, marks], axis=-1), y.astype(np.float32)


class Reader(nn.Module):
    """A recurrent layer over the sequence (batch first), then Linear(hidden, 1) of its last state."""

    def __init__(self, rnn, hidden, rng):
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(hidden, 1, rng=rng)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def setups(hidden):
    """name -> (layer class, keyword arguments)."""
    tiny = tgi.initializer("normal", std=0.001)
    return {
        "ReLU RNN, W_hh identity (IRNN)": (nn.RNN, dict(nonlinearity="relu", weight_hh_init="identity",
                                                        weight_ih_init=tiny)),
        "ReLU RNN, W_hh ~ N(0, 0.001^2)": (nn.RNN, dict(nonlinearity="relu", weight_hh_init=tiny,
                                                        weight_ih_init=tiny)),
        "tanh RNN, W_hh orthogonal": (nn.RNN, dict(weight_hh_init="orthogonal")),
        "tanh RNN, W_hh ~ N(0, 1/hidden)": (nn.RNN, dict(
            weight_hh_init=tgi.initializer("normal", std=1 / math.sqrt(hidden)))),
        "LSTM, forget bias 1": (nn.LSTM, dict(forget_bias=1.0)),
        "LSTM, forget bias 0": (nn.LSTM, dict(forget_bias=0.0)),
    }


def run(name, cls, kw, data, args, clip, console):
    rng = np.random.default_rng(args.seed)
    model = Reader(cls(2, args.hidden, batch_first=True, rng=rng, **kw), args.hidden, rng)
    console.print(f"[bold]{name}[/], {'clip ' + format(clip, 'g') if clip else 'no clipping'}")
    logger = tgi.callback("rich_logger", console=console, diagnostics=False)
    trainer = tgi.Trainer(model, "mse", tgi.optimizer("adam", model.parameters(), lr=args.lr),
                          callbacks=[logger], clip_grad_norm=clip)
    history = trainer.fit(*data, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    curve = [v if v is not None and math.isfinite(v) else float("nan") for v in history["val_loss"]]
    solved = next((i + 1 for i, v in enumerate(curve) if v < SOLVED), None)
    return {"val_mse": curve, "final": curve[-1], "solved": solved, "stop": history.stop_reason}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--length", type=int, default=50, help="sequence length (default 50; Le et al. go to 400)")
    p.add_argument("--hidden", type=int, default=32, help="hidden units (default 32)")
    p.add_argument("--train", type=int, default=10000, help="training sequences (default 10000)")
    p.add_argument("--epochs", type=int, default=15, help="epochs (default 15)")
    p.add_argument("--batch-size", type=int, default=50, help="batch size (default 50)")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    p.add_argument("--clip", type=float, default=1.0, help="max total gradient norm of the clipped runs (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seeds data, weights and shuffling (default 0)")
    p.add_argument("--plot", metavar="PATH.png", help="save the validation curves (needs matplotlib)")
    p.add_argument("--quick", action="store_true", help="a smoke run: length 20, 400 sequences, 2 epochs")
    args = p.parse_args(argv)
    for key in ("length", "hidden", "train", "epochs", "batch_size"):
        if getattr(args, key) < (2 if key == "length" else 1):
            p.error(f"--{key.replace('_', '-')} must be >= {2 if key == 'length' else 1}")
    if not args.clip > 0:
        p.error("--clip must be > 0")
    if args.quick:
        args.length, args.train, args.epochs = 20, 400, 2
    console = Console() if sys.stdout.isatty() else Console(width=120)
    rng = np.random.default_rng(args.seed)
    data = adding_problem(args.train, args.length, rng), adding_problem(1000, args.length, rng)
    console.print(f"[bold]adding problem[/]: length {args.length}, {args.train} training / 1000 validation "
                  f"sequences, hidden {args.hidden}, Adam lr {args.lr:g}, batch {args.batch_size}, "
                  f"{args.epochs} epochs; baseline MSE {BASELINE:.3f}")
    results = {}
    for name, (cls, kw) in setups(args.hidden).items():
        for clip in (None, args.clip):
            results[(name, clip)] = run(name, cls, kw, data, args, clip, console)
    table = Table(title=f"adding problem, length {args.length}: validation MSE after {args.epochs} epochs")
    for col in ("setup", "no clipping", f"clip {args.clip:g}"):
        table.add_column(col, justify="left" if col == "setup" else "right")
    for name in setups(args.hidden):
        cells = [results[(name, c)] for c in (None, args.clip)]
        table.add_row(name, *[(f"{r['final']:.4f}" if math.isfinite(r["final"]) else "diverged")
                              + (f" (ep {r['solved']})" if r["solved"] else " (-)") for r in cells])
    console.print(table)
    console.print(f"baseline (always 1) {BASELINE:.3f}; in brackets the first epoch with validation MSE "
                  f"below {SOLVED}, '-' for none")
    if args.plot:
        if plot.available():
            curves = {f"{n}{', clip' if c else ''}": r["val_mse"] for (n, c), r in results.items()}
            path = plot.plot_curves(curves, args.plot, logy=True, ylabel="validation MSE",
                                    title=f"adding problem, length {args.length}")
            console.print(f"plot saved to {path}")
        else:
            console.print("matplotlib is not installed: no plot (pip install 'tinygrad-init[plot]')")
    return results


if __name__ == "__main__":
    main()
