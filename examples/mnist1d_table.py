"""MNIST-1D: the table of Greydanus (2020), "Scaling down deep learning", reproduced.

Four models on ``tgi.datasets.load_mnist1d()`` (4,000 train / 1,000 test signals of 40
samples), each trained with the paper's recipe: Adam lr 1e-2, batch 100, 8,000 steps,
cross-entropy, PyTorch's default initialization, test accuracy measured every 250 steps:

    logistic regression  Linear(40, 10)                                     paper 32 %
    MLP                  40-100-100-10, ReLU, second layer residual         paper 68 %
    CNN                  3 x Conv1d (25 channels, kernels 5/3/3, stride 2,
                         padding 1) + ReLU, Linear(125, 10)                 paper 94 %
    GRU                  bidirectional GRU, hidden 6, over the 40 samples;
                         Linear(40 * 12, 10)                                paper 91 %

Batches are taken in order from the training set, as the paper's code does (step ``s``
uses samples ``100 s mod 4000`` onwards). Prints a table (final test accuracy, the paper's
figure, the difference, CPU ms per training step: process time, so load on the machine
distorts it less than wall time) and saves a PNG of test accuracy over steps.

    python examples/mnist1d_table.py [--steps 8000] [--gru-steps N] [--models lr,mlp,cnn,gru]
                                     [--seed 0] [--plot mnist1d.png] [--quick]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from rich.console import Console
from rich.table import Table

import tinygrad_init as tgi
from tinygrad_init import F, nn, plot
from tinygrad_init.datasets import load_mnist1d

PAPER = {"lr": 32.0, "mlp": 68.0, "cnn": 94.0, "gru": 91.0}
LABELS = {"lr": "logistic regression", "mlp": "MLP 40-100-100-10 (residual)",
          "cnn": "CNN (3 x Conv1d, 25 channels)", "gru": "GRU (bidirectional, hidden 6)"}
T, CLASSES = 40, 10


class Logistic(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.linear = nn.Linear(T, CLASSES, rng=rng)

    def forward(self, x):
        return self.linear(x)


class MLP(nn.Module):
    """``h1 = relu(W1 x)``, ``h2 = h1 + relu(W2 h1)``, ``W3 h2`` (the paper's residual MLP)."""

    def __init__(self, rng, hidden=100):
        super().__init__()
        self.linear1 = nn.Linear(T, hidden, rng=rng)
        self.linear2 = nn.Linear(hidden, hidden, rng=rng)
        self.linear3 = nn.Linear(hidden, CLASSES, rng=rng)

    def forward(self, x):
        h = self.linear1(x).relu()
        h = h + self.linear2(h).relu()
        return self.linear3(h)


class ConvNet(nn.Module):
    """The paper's ConvBase: lengths 40 -> 19 -> 10 -> 5, then 25 x 5 = 125 features."""

    def __init__(self, rng, channels=25):
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1, rng=rng)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1, rng=rng)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1, rng=rng)
        self.linear = nn.Linear(channels * 5, CLASSES, rng=rng)

    def forward(self, x):
        x = tgi.Tensor(x) if not isinstance(x, tgi.Tensor) else x
        h = x.reshape(x.shape[0], 1, x.shape[-1])
        h = self.conv3(self.conv2(self.conv1(h).relu()).relu()).relu()
        return self.linear(h.reshape(h.shape[0], -1))


class GRUNet(nn.Module):
    """The paper's GRU: each of the 40 samples is one step of input size 1; the states of
    both directions at every step (40 x 12) are flattened into the classifier."""

    def __init__(self, rng, hidden=6):
        super().__init__()
        self.rnn = nn.GRU(1, hidden, batch_first=True, bidirectional=True, rng=rng)
        self.linear = nn.Linear(2 * hidden * T, CLASSES, rng=rng)

    def forward(self, x):
        x = tgi.Tensor(x) if not isinstance(x, tgi.Tensor) else x
        out, _ = self.rnn(x.reshape(x.shape[0], x.shape[1], 1))
        return self.linear(out.reshape(x.shape[0], -1))


MODELS = {"lr": Logistic, "mlp": MLP, "cnn": ConvNet, "gru": GRUNet}


def accuracy(model, x, y, batch=500):
    with tgi.no_grad():
        preds = np.concatenate([model(x[i:i + batch]).numpy().argmax(1) for i in range(0, len(x), batch)])
    return float((preds == y).mean())


def train(kind, data, steps, seed, lr=1e-2, batch=100, eval_every=250):
    """-> dict(steps, test_acc (curve), final, ms_per_step, params)."""
    (x, y), (xt, yt) = data
    model = MODELS[kind](np.random.default_rng(seed))
    opt = tgi.optimizer("adam", model.parameters(), lr=lr)
    marks, curve, busy = [], [], 0.0
    for step in range(steps + 1):
        if step % eval_every == 0 or step == steps:
            marks.append(step)
            curve.append(accuracy(model, xt, yt))
        if step == steps:
            break
        i = (step * batch) % len(x)
        t0 = time.process_time()
        opt.zero_grad()
        F.cross_entropy(model(x[i:i + batch]), y[i:i + batch]).backward()
        opt.step()
        busy += time.process_time() - t0
    return {"steps": marks, "test_acc": curve, "final": curve[-1],
            "ms_per_step": 1e3 * busy / max(steps, 1), "params": sum(p.data.size for p in model.parameters())}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=8000, help="training steps per model (default 8000)")
    p.add_argument("--gru-steps", type=int, help="training steps of the GRU (default: --steps)")
    p.add_argument("--models", default="lr,mlp,cnn,gru", help="comma-separated subset of lr,mlp,cnn,gru")
    p.add_argument("--seed", type=int, default=0, help="seeds the initial weights (default 0)")
    p.add_argument("--eval-every", type=int, default=250, help="steps between test evaluations (default 250)")
    p.add_argument("--plot", metavar="PATH.png", help="save test accuracy over steps (needs matplotlib)")
    p.add_argument("--quick", action="store_true", help="a 100-step smoke run (evaluated every 50 steps)")
    args = p.parse_args(argv)
    kinds = [k.strip() for k in args.models.split(",") if k.strip()]
    bad = [k for k in kinds if k not in MODELS]
    if bad or not kinds:
        p.error(f"--models: unknown model(s) {', '.join(bad) or '(none given)'}; available: {', '.join(MODELS)}")
    if args.steps < 1 or (args.gru_steps is not None and args.gru_steps < 1) or args.eval_every < 1:
        p.error("--steps, --gru-steps and --eval-every must be >= 1")
    steps = 100 if args.quick else args.steps
    gru_steps = 100 if args.quick else (args.gru_steps or steps)
    every = 50 if args.quick else args.eval_every
    console = Console() if sys.stdout.isatty() else Console(width=120)
    data = load_mnist1d()
    console.print(f"[bold]MNIST-1D[/]: {len(data[0][0])} train / {len(data[1][0])} test signals of {T} samples; "
                  f"Adam lr 1e-2, batch 100, {steps} steps" + (f" ({gru_steps} for the GRU)" if "gru" in kinds
                                                                  and gru_steps != steps else ""))
    results = {}
    for kind in kinds:
        n = gru_steps if kind == "gru" else steps
        results[kind] = r = train(kind, data, n, args.seed, eval_every=every)
        console.print(f"  {LABELS[kind]}: test accuracy {100 * r['final']:.1f} % after {n} steps, "
                      f"{r['ms_per_step']:.2f} CPU ms/step")
    table = Table(title="MNIST-1D test accuracy (the paper's table)")
    for col in ("model", "params", "steps", "test acc %", "paper %", "diff", "CPU ms/step"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for kind, r in results.items():
        acc = 100 * r["final"]
        table.add_row(LABELS[kind], str(r["params"]), str(r["steps"][-1]), f"{acc:.1f}", f"{PAPER[kind]:.0f}",
                      f"{acc - PAPER[kind]:+.1f}", f"{r['ms_per_step']:.2f}")
    console.print(table)
    if args.plot:
        if plot.available():
            longest = max(results.values(), key=lambda r: len(r["steps"]))["steps"]
            path = plot.plot_curves({LABELS[k]: r["test_acc"] for k, r in results.items()}, args.plot,
                                    x=longest, xlabel="training step", ylabel="test accuracy",
                                    title="MNIST-1D: test accuracy over training")
            console.print(f"plot saved to {path}")
        else:
            console.print("matplotlib is not installed: no plot (pip install 'tinygrad-init[plot]')")
    return results


if __name__ == "__main__":
    main()
