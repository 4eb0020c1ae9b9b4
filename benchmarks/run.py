"""Speed and memory of the tinygrad_init engine against hand-written NumPy.

Usage: ``python benchmarks/run.py [--quick] [--nn] [--repeats N]``

Each case runs a tinygrad_init step and an equivalent hand-written NumPy step, interleaved
in the same process with one BLAS thread, and reports the median time per step and the ratio
against its target. ``--nn`` builds the MLPs from ``tinygrad_init.nn.Linear`` when it exists.
Times are CPU time of this process (time.process_time), so other load on the machine
distorts them less than wall time. Not a test: timings depend on the machine (see benchmarks/README.md for recorded figures).
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"  # before numpy is imported: BLAS reads these once

import argparse
import gc
import platform
import statistics
import sys
import time
import tracemalloc
from typing import Callable

import numpy as np

sys.setrecursionlimit(10_000)  # keep the default-ish limit: backward must not need more

import tinygrad_init as tgi
from tinygrad_init.tensor import Tensor

LR, MU = 0.01, 0.9


# ---- NumPy baseline -------------------------------------------------------------------------
class NumpyMLP:
    """Forward + backward + SGD momentum, written by hand (what the engine must match)."""

    def __init__(self, sizes: list, rng: np.random.Generator, dtype=np.float32) -> None:
        self.params = []
        for i, o in zip(sizes[:-1], sizes[1:]):
            bound = 1 / np.sqrt(i)
            self.params += [rng.uniform(-bound, bound, (i, o)).astype(dtype),
                            rng.uniform(-bound, bound, o).astype(dtype)]
        self.vel = [np.zeros_like(p) for p in self.params]

    def step(self, x: np.ndarray, onehot: np.ndarray) -> float:
        ps = self.params
        acts, h = [x], x
        n = len(ps) // 2
        for k in range(n):
            z = h @ ps[2 * k] + ps[2 * k + 1]
            h = np.maximum(z, 0) if k < n - 1 else z
            acts.append(h)
        m = h.max(axis=1, keepdims=True)
        z = h - m
        lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
        logp = z - lse
        loss = -(logp * onehot).sum() / len(x)
        d = (np.exp(logp) - onehot) / len(x)
        grads = [None] * len(ps)
        for k in range(n - 1, -1, -1):
            grads[2 * k] = acts[k].T @ d
            grads[2 * k + 1] = d.sum(axis=0)
            if k:
                d = (d @ ps[2 * k].T) * (acts[k] > 0)
        for p, v, g in zip(ps, self.vel, grads):
            v *= MU
            v += g
            p -= LR * v
        return float(loss)


# ---- tinygrad_init ----------------------------------------------------------------------------
class TgiMLP:
    """The same network with raw Tensors (or nn.Linear with --nn); SGD momentum by hand."""

    def __init__(self, base: NumpyMLP, use_nn: bool = False, use_opt: bool = False) -> None:
        self.params = [Tensor(p.copy(), requires_grad=True) for p in base.params]
        self.layers = None
        if use_nn:
            from tinygrad_init import nn
            self.layers = []
            for k in range(len(self.params) // 2):
                w, b = base.params[2 * k], base.params[2 * k + 1]
                lin = nn.Linear(w.shape[0], w.shape[1])
                lin.weight.data[...] = w.T if lin.weight.shape == w.T.shape else w
                lin.bias.data[...] = b
                self.layers.append(lin)
            self.params = [p for lin in self.layers for p in lin.parameters()]
        self.vel = [np.zeros_like(p.data) for p in self.params]
        self.opt = None
        if use_opt:
            self.opt = tgi.optimizer("sgd", self.params, lr=LR, momentum=MU)

    def forward(self, x: Tensor) -> Tensor:
        if self.layers is not None:
            h = x
            for i, lin in enumerate(self.layers):
                h = lin(h)
                if i < len(self.layers) - 1:
                    h = h.relu()
            return h
        ps, h = self.params, x
        n = len(ps) // 2
        for k in range(n):
            h = h @ ps[2 * k] + ps[2 * k + 1]
            if k < n - 1:
                h = h.relu()
        return h

    def step(self, x: np.ndarray, onehot: np.ndarray) -> float:
        logits = self.forward(Tensor(x))
        loss = (logits.log_softmax() * onehot).sum() * (-1.0 / len(x))
        loss.backward()
        if self.opt is not None:  # the sgd plugin, as a user runs it
            self.opt.step()
            self.opt.zero_grad()
            return loss.item()
        for p, v in zip(self.params, self.vel):
            v *= MU
            v += p.grad
            p.data -= LR * v
            p.grad = None
        return loss.item()


# ---- measurement ------------------------------------------------------------------------------
def timed_pair(f_base: Callable, f_tgi: Callable, repeats: int, inner: int) -> tuple:
    tb, tt = [], []
    for f in (f_base, f_tgi):
        f()  # warm up
    for _ in range(repeats):  # interleaved, so drift hits both sides alike
        for f, acc in ((f_base, tb), (f_tgi, tt)):
            gc.collect()
            t0 = time.process_time()
            for _ in range(inner):
                f()
            acc.append((time.process_time() - t0) / inner)
    return statistics.median(tb), statistics.median(tt)


def peak_bytes(f: Callable) -> int:
    f()
    gc.collect()
    tracemalloc.start()
    f()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def mlp_case(sizes: list, batch: int, use_nn: bool, use_opt: bool = False) -> tuple:
    rng = np.random.default_rng(0)
    base = NumpyMLP(sizes, rng)
    eng = TgiMLP(base, use_nn, use_opt)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    onehot = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], batch)]
    # same start, same data: the losses must agree (a sanity check, not a benchmark)
    lb, lt = base.step(x, onehot), eng.step(x, onehot)
    assert abs(lb - lt) <= 1e-4 * max(1.0, abs(lb)), (lb, lt)
    return (lambda: base.step(x, onehot)), (lambda: eng.step(x, onehot))


def chain_case(n: int) -> tuple:
    """n elementwise ops (mul/add by scalars, tanh) on a 4-element array, forward + backward."""
    x0 = np.linspace(-1, 1, 4).astype(np.float32)

    def run() -> None:
        x = Tensor(x0, requires_grad=True)
        h = x
        for i in range(n // 3):
            h = (h * 1.0001 + 0.001).tanh()
        h.sum().backward()
    return run


def main(argv: list | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    ap.add_argument("--nn", action="store_true", help="use tinygrad_init.nn.Linear layers")
    ap.add_argument("--optimizer", action="store_true",
                    help="update with the sgd optimizer plugin instead of a hand-written loop")
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args(argv)
    reps = args.repeats or (3 if args.quick else 15)

    rows = []  # (name, baseline, engine, ratio, target, unit)
    cases = [("MLP 784-256-128-10, batch 128", [784, 256, 128, 10], 128, 1.10, 5),
             ("MLP 2-16-16-2, batch 32", [2, 16, 16, 2], 32, 2.5, 200),
             ("deep MLP 784-[256]x8-10, batch 64", [784] + [256] * 8 + [10], 64, 1.15, 3)]
    for name, sizes, batch, target, inner in cases:
        fb, ft = mlp_case(sizes, batch, args.nn, args.optimizer)
        tb, tt = timed_pair(fb, ft, reps, inner)
        rows.append((name, f"{tb * 1e3:.3f} ms", f"{tt * 1e3:.3f} ms", tt / tb, target))

    n = 30_000 if args.quick else 300_000
    run = chain_case(n)
    run()
    ts = []
    for _ in range(3 if args.quick else 5):
        gc.collect()
        t0 = time.process_time()
        run()
        ts.append((time.process_time() - t0) / n)
    per_op = statistics.median(ts) * 1e6
    rows.append((f"chain of {n:,} elementwise ops, fwd+bwd", "-", f"{per_op:.2f} us/op",
                 per_op / 5.0, 1.0))

    # one million ops: must finish without RecursionError, in time linear in length
    t0 = time.process_time()
    chain_case(1_000_000 if not args.quick else 100_000)()
    t_long = time.process_time() - t0
    rows.append((f"chain of {'1,000,000' if not args.quick else '100,000'} ops (no recursion)",
                 "-", f"{t_long:.2f} s", None, None))

    fb, ft = mlp_case([784, 256, 128, 10], 128, args.nn, args.optimizer)
    mb, mt = peak_bytes(fb), peak_bytes(ft)
    rows.append(("peak memory, one MLP 784-256-128-10 step", f"{mb / 2**20:.2f} MiB",
                 f"{mt / 2**20:.2f} MiB", mt / mb, 1.3))

    header = ("case", "NumPy", "tinygrad_init", "ratio", "target", "ok")
    table = [(r[0], r[1], r[2], "" if r[3] is None else f"{r[3]:.3f}x",
              "" if r[4] is None else f"<= {r[4]}x",
              "" if r[3] is None else ("yes" if r[3] <= r[4] else "NO")) for r in rows]
    table[3] = (table[3][0], "-", rows[3][2], "", "<= 5 us/op", "yes" if per_op <= 5 else "NO")
    info = (f"numpy {np.__version__}, python {platform.python_version()}, "
            f"{platform.machine()}, {os.cpu_count()} cpus, 1 BLAS thread, {reps} repeats")
    try:
        from rich.console import Console
        from rich.table import Table
        t = Table(*header, title="tinygrad_init vs hand-written NumPy", caption=info)
        for row in table:
            t.add_row(*row)
        Console().print(t)
    except ImportError:  # plain table
        w = [max(len(str(r[i])) for r in [header, *table]) for i in range(len(header))]
        for r in [header, *table]:
            print("  ".join(str(c).ljust(n) for c, n in zip(r, w)))
        print(info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
