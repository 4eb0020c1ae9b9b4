"""Grid vs random vs Bayesian search over the learning rate, momentum and width of an MLP.

The course's advice on tuning: do not use a grid, sample at random, and sample the
learning rate on a log scale; then let a model of the results (Bayesian
optimization) pick the next trial. Here the three strategies get the same budget of
trials on the same problem: a ReLU MLP 64-h-10 (He init) trained with SGD+momentum on
the bundled digits data (seeded 80/20 split, standardized). The space is::

    lr        LogUniform(1e-3, 1.0)           # each decade equally likely
    momentum  Uniform(0.0, 0.95)
    hidden    IntUniform(16, 256, log=True)   # the width of the hidden layer

The objective (lower is better) is the **validation cross-entropy** after
``--epochs`` epochs, capped at ln(10) = 2.303, the loss of a uniform guess over the
10 classes: a run that ends worse than guessing (diverged, or too slow to learn)
counts as no better than guessing. Without the cap (``--no-cap``) a single diverged
run (validation loss ~1e32 at lr=1, momentum=0.95: float32 does not overflow, so the
trainer does not flag it) dominates the standardized targets of bayes' Gaussian
process, squeezing every other trial's value together. The summary also shows the
validation error (1 - accuracy) of each strategy's best configuration. Every trial
starts from the same seeded weights and sees the same mini-batches, so only the
hyperparameters differ.

The grid takes ``n`` points per dimension (log-spaced for the learning rate and the
width), so the budget is a full grid ``n**3``: ``--trials`` is rounded down to one
(27 = 3 per dimension by default) and random and bayes get exactly as many.

    python examples/search_learning_rate.py [--trials 27] [--epochs 5] [--seed 0] [--repeats 3]
                                            [--plot search.png] [--workers 2] [--quick]

``--repeats 3`` (the default) runs random and bayes again with the strategy seeds
``seed+1`` and ``seed+2`` (the grid is deterministic): one search is partly luck, and
the second table shows how much. The objective is deterministic for a seed (one BLAS
thread), so the whole output is reproducible; with ``--workers 2`` trials run in a
process pool and bayes sees results in completion order, so its path can differ.

With ``--storage`` every trial is recorded in SQLite (one study per strategy), so
the search can be interrupted and resumed without losing or repeating a finished
trial::

    python examples/search_learning_rate.py --storage lr_search.db   # Ctrl-C half-way...
    python examples/search_learning_rate.py --storage lr_search.db   # ...continues where it stopped
    tinygrad-init search show lr_search.db --study bayes-n27-e5-s0

Study names are ``<strategy>-n<trials>-e<epochs>-s<seed>[-r<repeat>][-raw]``: another
budget, number of epochs or seed starts new studies in the same file instead of
mixing trials of different objectives. The "time" columns are the wall time of this
invocation (a resumed study counts only what it still had to run).

The same search as a config (``kind = "train"`` on a training config):
``tinygrad-init search examples/configs/search_lr.toml``.
"""
from __future__ import annotations

import argparse
import functools
import math
import os
import sys
import time
import warnings

# One BLAS thread (unless you say otherwise): the matrices here are tiny, and BLAS
# threads fighting over the cores made each trial up to ten times slower. Set before
# NumPy is imported; process-pool workers inherit it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import tinygrad_init as tgi  # noqa: E402
from tinygrad_init import plot  # noqa: E402
from tinygrad_init.datasets import load_digits, standardize, train_val_split  # noqa: E402
from tinygrad_init.search import IntUniform, LogUniform, Space, Uniform  # noqa: E402

STRATEGIES = ("grid", "random", "bayes")
BATCH_SIZE = 32
CHANCE = math.log(10)  # cross-entropy of a uniform guess over the 10 digits


def make_space() -> Space:
    return Space({
        "lr": LogUniform(1e-3, 1.0),
        "momentum": Uniform(0.0, 0.95),
        "hidden": IntUniform(16, 256, log=True),
    })


@functools.lru_cache(maxsize=4)
def digits(seed: int):
    """The seeded 80/20 split of the digits data, standardized with the training statistics."""
    X, y = load_digits()
    Xtr, Xva, ytr, yva = train_val_split(X, y, val_fraction=0.2, seed=seed)
    Xtr, Xva = standardize(Xtr, Xva)
    return (Xtr.astype(np.float32), ytr), (Xva.astype(np.float32), yva)


def train(params: dict, epochs: int, seed: int) -> dict:
    """Train the MLP with ``params``; return the last epoch's logs (val_loss, val_acc...)."""
    nn = tgi.nn
    rng = np.random.default_rng(seed)  # the same seed -> the same initial weights in every trial
    he = tgi.initializer("kaiming_normal")
    model = nn.Sequential(nn.Linear(64, params["hidden"], weight_init=he, bias_init="zeros", rng=rng),
                          nn.ReLU(),
                          nn.Linear(params["hidden"], 10, weight_init=he, bias_init="zeros", rng=rng))
    opt = tgi.optimizer("sgd", model.named_parameters(), lr=params["lr"], momentum=params["momentum"])
    trainer = tgi.Trainer(model, "cross_entropy", opt)
    train_data, val_data = digits(seed)
    with warnings.catch_warnings():
        # a too-large learning rate diverges: the trainer stops and keeps the last good
        # weights, and the trial simply scores badly - that is what the search must learn
        warnings.simplefilter("ignore", RuntimeWarning)
        history = trainer.fit(train_data, val_data, epochs=epochs, batch_size=BATCH_SIZE, seed=seed)
    return history.last


def objective(trial, epochs: int = 5, seed: int = 0, cap: bool = True) -> float:
    """Validation cross-entropy after ``epochs`` epochs, at most ln(10) when ``cap``
    (module level: picklable for process-pool workers)."""
    loss = train(trial.params, epochs, seed)["val_loss"]
    return min(loss, CHANCE) if cap else loss


def best_so_far(study) -> list[float]:
    """The best value among trials 0..i, for each i (failed trials count as no improvement)."""
    out, best = [], math.nan  # nan until a trial completes (matplotlib leaves a gap)
    for t in study.trials:
        if t.status == "complete" and t.value is not None:
            best = t.value if math.isnan(best) else min(best, t.value)
        out.append(best)
    return out


def _fmt_params(p: dict) -> list[str]:
    return [f"{p['lr']:.3g}", f"{p['momentum']:.3f}", str(p["hidden"])]


def effective_step(p: dict) -> float:
    """``lr / (1 - momentum)``: the step size SGD+momentum takes once the velocity
    has built up under a steady gradient (PyTorch's form, v = mu*v + g)."""
    return p["lr"] / (1.0 - p["momentum"])


def study_name(strategy: str, budget: int, epochs: int, seed: int, repeat: int = 0, cap: bool = True) -> str:
    return f"{strategy}-n{budget}-e{epochs}-s{seed}" + (f"-r{repeat}" if repeat else "") + ("" if cap else "-raw")


def grid_points(trials: int) -> int:
    """The largest ``n`` with ``n**3 <= trials`` (at least 1)."""
    n = 1
    while (n + 1) ** 3 <= trials:
        n += 1
    return n


def search(strategy: str, budget: int, n: int, epochs: int, seed: int, args, console, repeat: int = 0):
    """One study: ``strategy`` seeded with ``seed + repeat``; -> (study, seconds)."""
    t0 = time.perf_counter()
    study = tgi.search.run(
        functools.partial(objective, epochs=epochs, seed=seed, cap=not args.no_cap), make_space(), strategy=strategy,
        n_trials=budget, seed=seed + repeat, strategy_options={"n": n} if strategy == "grid" else None,
        storage=args.storage, study=study_name(strategy, budget, epochs, seed, repeat, cap=not args.no_cap),
        executor="process" if args.workers > 1 else None,
        workers=args.workers if args.workers > 1 else None,
        console=console if console.is_terminal else None)  # the runner's live table on a terminal
    return study, time.perf_counter() - t0


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=27,
                   help="trials per strategy, rounded down to a full grid n**3 (default 27)")
    p.add_argument("--epochs", type=int, default=5, help="epochs per trial (default 5)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the split, the weights, the batches and the strategies (default 0)")
    p.add_argument("--repeats", type=int, default=3,
                   help="run random and bayes again with the strategy seeds seed+1, seed+2, ... "
                   "(the grid is deterministic) to see how much luck is in one search (default 3)")
    p.add_argument("--no-cap", action="store_true",
                   help="the raw validation loss as the objective, not capped at ln(10) (see above)")
    p.add_argument("--plot", metavar="PATH.png", help="save best-so-far against trial number (needs matplotlib)")
    p.add_argument("--storage", metavar="PATH.db",
                   help="record the trials in SQLite (default: in memory); rerun to resume")
    p.add_argument("--workers", type=int, default=1,
                   help="trials in flight; > 1 runs them in a process pool (default 1: serial, reproducible)")
    p.add_argument("--quick", action="store_true", help="a tiny smoke run (8 trials of 1 epoch, no repeats)")
    args = p.parse_args(argv)
    trials, epochs, repeats = (8, 1, 1) if args.quick else (args.trials, args.epochs, args.repeats)
    if min(trials, epochs, repeats, args.workers) < 1:
        p.error("--trials, --epochs, --repeats and --workers must be >= 1")
    n = grid_points(trials)
    budget = n ** 3
    console = Console() if sys.stdout.isatty() else Console(width=130)  # no wrapping in logs
    (Xtr, _), (Xva, _) = digits(args.seed)
    console.print(f"[bold]Hyperparameter search[/]: ReLU MLP 64-h-10 (He init), SGD+momentum, digits "
                  f"{len(Xtr)} train / {len(Xva)} validation, batch {BATCH_SIZE}, {epochs} epochs per trial")
    console.print("space: lr ~ LogUniform(1e-3, 1), momentum ~ Uniform(0, 0.95), hidden ~ IntUniform(16, 256, "
                  "log=True); objective: validation cross-entropy (lower is better)"
                  + ("; " if args.no_cap else f", capped at ln(10) = {CHANCE:.3f}; ")
                  + f"{budget} trials per strategy (grid: {n} points per dimension)"
                  + (f", {args.workers} workers" if args.workers > 1 else ""))
    if budget != trials:
        console.print(f"[yellow]--trials {trials} rounded down to a full grid: {budget} = {n}**3[/]")

    results = {}
    for name in STRATEGIES:
        study, seconds = search(name, budget, n, epochs, args.seed, args, console)
        console.print(study.table())
        results[name] = {"study": study, "time": seconds, "best_so_far": best_so_far(study)}

    summary = Table(title=f"{budget} trials per strategy, seed {args.seed}: best validation cross-entropy")
    for col in ("strategy", "trials", "best val loss", "its val error", "at trial", "lr", "momentum", "hidden",
                "lr/(1-mom)", "distinct lr", "time"):
        summary.add_column(col, justify="left" if col == "strategy" else "right")
    for name, r in results.items():
        study = r["study"]
        best = study.best_trial
        last = train(best.params, epochs, args.seed) if best is not None else None  # its accuracy
        lrs = {round(t.params["lr"], 12) for t in study.trials}
        r.update(best_value=None if best is None else best.value,
                 best_params=None if best is None else best.params,
                 best_trial=None if best is None else best.number,
                 val_error=None if last is None else 1.0 - last["val_acc"],
                 trials=len(study.trials), distinct_lr=len(lrs))
        summary.add_row(name, f"{len(study.completed)}/{len(study.trials)}",
                        "-" if best is None else f"{best.value:.4f}",
                        "-" if last is None else f"{r['val_error']:.4f}",
                        "-" if best is None else f"#{best.number}",
                        *(["-"] * 3 if best is None else _fmt_params(best.params)),
                        "-" if best is None else f"{effective_step(best.params):.3g}",
                        str(len(lrs)), f"{r['time']:.1f}s")
    console.print(summary)

    if repeats > 1:
        seeds = [args.seed + k for k in range(repeats)]
        table = Table(title="best validation cross-entropy by strategy seed (same data, weights and batches)")
        table.add_column("strategy")
        for s in seeds:
            table.add_column(f"seed {s}", justify="right")
        table.add_column("mean", justify="right")
        table.add_column("time", justify="right")
        for name, r in results.items():
            values, seconds = [r["best_value"]], r["time"]
            for k in range(1, repeats):
                if name == "grid":  # deterministic: every seed gives the same grid
                    values.append(r["best_value"])
                    continue
                study, t = search(name, budget, n, epochs, args.seed, args, console, repeat=k)
                values.append(study.best_value)
                seconds += t
            r["repeats"] = values
            ok = [v for v in values if v is not None]
            r["mean_best"] = sum(ok) / len(ok) if ok else None
            table.add_row(name + (" (deterministic)" if name == "grid" else ""),
                          *["-" if v is None else f"{v:.4f}" for v in values],
                          "-" if not ok else f"{r['mean_best']:.4f}",
                          f"{seconds:.1f}s" if name != "grid" else f"{r['time']:.1f}s")
        console.print(table)
    conclude(console, results, n, budget, args.seed, repeats)

    if args.plot:
        if plot.available():
            path = plot.plot_curves({k: r["best_so_far"] for k, r in results.items()}, args.plot,
                                    title=f"Search on the digits MLP, seed {args.seed}: best validation loss so far",
                                    xlabel="trial", ylabel="best validation cross-entropy so far", logy=True)
            console.print(f"plot saved to {path}")
        else:
            console.print("matplotlib is not installed: no plot (pip install 'tinygrad-init[plot]')")
    return results


def conclude(console: Console, results: dict, n: int, budget: int, seed: int, repeats: int) -> None:
    """Say what the numbers of this run show - computed from them, not canned."""
    done = {k: r for k, r in results.items() if r["best_value"] is not None}
    if not done:
        console.print("no trial completed")
        return
    ranked = sorted(done, key=lambda k: done[k]["best_value"])
    win = ranked[0]
    grid_lrs = ", ".join(f"{v:.3g}" for v in LogUniform(1e-3, 1.0).grid(n))
    lines = [f"With seed {seed} and {budget} trials each, the lowest validation loss came from "
             f"{win} ({done[win]['best_value']:.4f}, at trial #{done[win]['best_trial']})"
             + "".join(f", then {k} ({done[k]['best_value']:.4f})" for k in ranked[1:]) + "."]
    by_error = sorted(done, key=lambda k: done[k]["val_error"])
    if by_error != ranked:
        lines.append("Ranked by the validation error of those best configurations the order is "
                     + ", ".join(f"{k} ({done[k]['val_error']:.2%})" for k in by_error)
                     + f": on {len(digits(seed)[1][1])} validation images one image is "
                     f"{1 / len(digits(seed)[1][1]):.2%}.")
    if "grid" in done:
        lines.append(f"The grid tried only {n} learning rate{'s' if n > 1 else ''} ({grid_lrs})"
                     + (f", each repeated for {n * n} momentum/width combinations" if n > 1 else "")
                     + "; random tried "
                     f"{done.get('random', {}).get('distinct_lr', '-')} and bayes "
                     f"{done.get('bayes', {}).get('distinct_lr', '-')} different ones on the log scale.")
    steps = [effective_step(r["best_params"]) for r in done.values()]
    lrs = [r["best_params"]["lr"] for r in done.values()]
    closer = max(steps) / min(steps) < 0.5 * max(lrs) / min(lrs)
    lines.append(f"The best configurations have lr from {min(lrs):.3g} to {max(lrs):.3g} and an effective "
                 f"step lr/(1-momentum) from {min(steps):.3g} to {max(steps):.3g}"
                 + (" - they agree more on the effective step than on lr." if closer else "."))
    if repeats > 1 and "grid" in done and all("mean_best" in done[k] for k in done):
        g = done["grid"]["best_value"]
        spread = 0.0
        for k in ("random", "bayes"):
            if k in done and done[k]["mean_best"] is not None:
                vals = [v for v in done[k]["repeats"] if v is not None]
                wins = sum(v < g for v in vals)
                spread = max(spread, max(vals) - min(vals))
                lines.append(f"Over {len(vals)} strategy seeds {k} found a lower loss than the grid "
                             f"{wins} time{'s' if wins != 1 else ''} of {len(vals)} (mean {done[k]['mean_best']:.4f} "
                             f"vs {g:.4f}).")
        lines.append(f"The best value of one strategy moves by up to {spread:.4f} between strategy seeds alone: "
                     "differences smaller than that are luck, not a ranking.")
    else:
        lines.append("One search seed: run with --repeats 3 (the default) to see how much of this is luck.")
    console.print(" ".join(lines))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("\ninterrupted: with --storage, run the same command again to resume the search",
              file=sys.stderr)
        sys.exit(130)
