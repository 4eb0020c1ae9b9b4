"""Hyperparameter-search benchmark: simple regret of bayes / tpe / random.

Median simple regret (best value found minus the global minimum) over 5 seeds
with 40 evaluations, and seconds per run, on Branin (2-D) and Hartmann-6.
The strategies are driven directly through ask/tell (no storage, no runner).

    .venv/bin/python benchmarks/search_bench.py [--seeds 5] [--first-seed 0] [--evals 40] [--only bayes,tpe] [--hp JSON]

Besides the median it prints the geometric mean of the regrets and how many runs end
with regret < 0.01 (on Hartmann-6: reached the global minimum's basin).

BLAS runs single-threaded (OPENBLAS/OMP/MKL_NUM_THREADS=1 unless already set), so the
seconds are one core's.

Not a test: figures are recorded in benchmarks/README.md ("Hyperparameter search").
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings

# single-threaded BLAS, set before NumPy is imported: timings are then one core's CPU time
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

BRANIN_MIN = 0.397887357729739
HARTMANN6_MIN = -3.32236801141551

_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                 [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]], dtype=float)
_H_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]], dtype=float)


def branin(p):
    x1, x2 = p["x1"], p["x2"]
    b, c, r, s, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def hartmann6(p):
    x = np.array([p[f"x{i}"] for i in range(6)])
    return float(-np.sum(_H_ALPHA * np.exp(-np.sum(_H_A * (x - _H_P) ** 2, axis=1))))


def problems():
    from tinygrad_init.search import Space, Uniform
    return {
        "branin": (Space({"x1": Uniform(-5.0, 10.0), "x2": Uniform(0.0, 15.0)}), branin, BRANIN_MIN),
        "hartmann6": (Space({f"x{i}": Uniform(0.0, 1.0) for i in range(6)}), hartmann6, HARTMANN6_MIN),
    }


class UniformBaseline:
    """Fallback random search when the ``random`` plugin is not installed."""

    def __init__(self, space, seed=None):
        self.space, self.rng = space, np.random.default_rng(seed)

    def ask(self):
        return self.space.sample(self.rng)

    def tell(self, params, value):
        pass


def make(name, space, seed, **hp):
    import tinygrad_init as tgi
    warnings.filterwarnings("ignore", message=".*tinygrad-init\\[")  # other helpers' plugins in progress
    try:
        return tgi.search_strategy(name, space, seed=seed, **hp)
    except Exception:
        if name == "random":
            return UniformBaseline(space, seed)
        raise


def run(name, problem, seed, evals, **hp):
    space, f, fmin = problems()[problem]
    strat = make(name, space, seed, **hp)
    best = math.inf
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(evals):
        p = strat.ask()
        v = f(p)
        strat.tell(p, v)
        best = min(best, v)
    return best - fmin, time.perf_counter() - t0, time.process_time() - c0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed+seeds-1")
    ap.add_argument("--evals", type=int, default=40)
    ap.add_argument("--only", default="bayes,tpe,random")
    ap.add_argument("--problems", default="branin,hartmann6")
    ap.add_argument("--hp", default="{}",
                    help='JSON hyperparameters for the (non-random) strategies, with --only, e.g. \'{"xi": 0.01}\'')
    args = ap.parse_args(argv)
    hp = json.loads(args.hp)
    rows = []
    for problem in args.problems.split(","):
        for name in args.only.split(","):
            kw = hp if name != "random" else {}
            seeds = range(args.first_seed, args.first_seed + args.seeds)
            res = [run(name, problem, seed, args.evals, **kw) for seed in seeds]
            reg = np.array([r for r, _, _ in res])
            sec = np.array([s for _, s, _ in res])
            cpu = np.array([c for _, _, c in res])
            rows.append((problem, name, np.median(reg), reg.min(), reg.max(), sec.mean(), cpu.mean()))
            gmean = float(np.exp(np.mean(np.log(np.maximum(reg, 1e-300)))))
            print(f"{problem:10s} {name:7s} median regret {np.median(reg):.3g}  geometric mean {gmean:.3g}  "
                  f"< 0.01 in {int(np.sum(reg < 0.01))}/{len(reg)}  "
                  f"(per seed: {', '.join(f'{r:.2g}' for r in reg)})  {sec.mean():.3f} s/run "
                  f"({cpu.mean():.3f} s CPU)", flush=True)
    print()
    print(f"| problem | strategy | median regret (seeds {args.first_seed}-{args.first_seed + args.seeds - 1}) | min | max | s / run (wall) | s / run (CPU) |")
    print("|---|---|---|---|---|---|---|")
    for problem, name, med, lo, hi, sec, cpu in rows:
        print(f"| {problem} | {name} | {med:.3g} | {lo:.3g} | {hi:.3g} | {sec:.3f} | {cpu:.3f} |")


if __name__ == "__main__":
    main()
