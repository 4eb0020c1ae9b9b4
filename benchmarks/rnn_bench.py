"""Time per training step of MNIST-1D's GRU and Conv1d networks against PyTorch CPU.

Usage: ``python benchmarks/rnn_bench.py [--rounds N] [--steps N]`` (needs the ``bench`` extra:
``pip install -e .[bench]``, torch==2.13.0).

Each case is one Adam step (lr 1e-2) on a batch of 100 random MNIST-1D-shaped inputs (40
samples) with cross-entropy: forward, backward, update. Both sides use one thread (BLAS and
torch's intra-op pool), run in the same process, in alternating blocks of ``--steps`` steps
(``--rounds`` blocks each); the figure is the median CPU time per step (time.process_time).
Not a test: the numbers depend on the machine (benchmarks/README.md has recorded figures).
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"  # before numpy/torch are imported

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import tinygrad_init as tgi
from tinygrad_init import F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from mnist1d_table import ConvNet, GRUNet  # noqa: E402  (the very models of the table)

B, T, HIDDEN, CLASSES = 100, 40, 6, 10


def torch_models(torch):
    tnn = torch.nn

    class TGRU(tnn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = tnn.GRU(1, HIDDEN, batch_first=True, bidirectional=True)
            self.linear = tnn.Linear(2 * HIDDEN * T, CLASSES)

        def forward(self, x):
            out, _ = self.rnn(x.view(x.shape[0], x.shape[1], 1))
            return self.linear(out.reshape(x.shape[0], -1))

    class TConv(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv1d(1, 25, 5, stride=2, padding=1)
            self.conv2 = tnn.Conv1d(25, 25, 3, stride=2, padding=1)
            self.conv3 = tnn.Conv1d(25, 25, 3, stride=2, padding=1)
            self.linear = tnn.Linear(125, CLASSES)

        def forward(self, x):
            h = x.view(x.shape[0], 1, x.shape[-1])
            h = torch.relu(self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(h))))))
            return self.linear(h.reshape(h.shape[0], -1))

    return {"gru": TGRU, "conv": TConv}


def make_steps(kind, torch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T)).astype(np.float32)
    y = rng.integers(0, CLASSES, B)
    model = (GRUNet if kind == "gru" else ConvNet)(np.random.default_rng(0))
    opt = tgi.optimizer("adam", model.parameters(), lr=1e-2)
    tmodel = torch_models(torch)[kind]()
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-2)
    tx, ty = torch.tensor(x), torch.tensor(y)

    def ours():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    def theirs():
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tmodel(tx), ty).backward()
        topt.step()
    return ours, theirs


def timed(fn, n):
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t0) / n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9, help="alternating blocks per side (default 9)")
    ap.add_argument("--steps", type=int, default=20, help="steps per block (default 20)")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(0)
    kinds = ["gru", "conv"]
    print(f"torch {torch.__version__}, numpy {np.__version__}, one thread each, "
          f"{args.rounds} x {args.steps} steps per side")
    print(f"{'network':<56} {'tinygrad_init':>14} {'PyTorch':>10} {'ratio':>7}  target")
    for kind in kinds:
        ours, theirs = make_steps(kind, torch)
        ours(), theirs()  # warm up
        a, b = [], []
        for _ in range(args.rounds):
            a.append(timed(ours, args.steps))
            b.append(timed(theirs, args.steps))
        ma, mb = statistics.median(a), statistics.median(b)
        label = ("bidirectional GRU hidden 6, 40 steps, batch 100, Adam" if kind == "gru"
                 else "Conv1d 25ch k5/3/3 s2, batch 100, Adam")
        print(f"{label:<56} {ma * 1e3:>11.2f} ms {mb * 1e3:>7.2f} ms {ma / mb:>6.2f}x  <= 1.00x "
              f"{'met' if ma <= mb else 'NOT met'}")


if __name__ == "__main__":
    main()
