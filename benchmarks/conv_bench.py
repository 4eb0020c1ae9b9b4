"""Convolution training steps against PyTorch CPU (one thread each, interleaved in one process).

    .venv/bin/pip install -e '.[bench]'          # torch==2.13.0, only for benchmarks
    .venv/bin/python benchmarks/conv_bench.py    # ~1 min
    .venv/bin/python benchmarks/conv_bench.py --quick

Two workloads, each one Adam step (zero_grad, forward, cross-entropy, backward, step) on the
same initial weights and batch on both sides; the first losses must agree:

- LeNet-style CNN on 28x28, batch 64: Conv2d 1->16 3x3 pad 1, ReLU, MaxPool 2, Conv2d
  16->32 3x3 pad 1, ReLU, MaxPool 2, Linear 1568->10 (targets: <= 1.5x PyTorch's time).
- MNIST-1D's Conv1d network on (N, 1, 40), batch 100: Conv1d 1->25 k5 s2 p1, ReLU, Conv1d
  25->25 k3 s2 p1, ReLU, Conv1d 25->25 k3 s2 p1, ReLU, flatten, Linear 125->10 (<= 1.0x).

Times are CPU time (``time.process_time``), median over interleaved blocks. Peak memory of
one step: tinygrad_init's is the ``tracemalloc`` peak above the step's start (NumPy reports
its array buffers to tracemalloc); PyTorch's is the peak of the running sum of its CPU
allocator's allocation/free events during the step (``torch.profiler`` with
``profile_memory=True``), also above the step's start. Both count what the step allocates
(activations kept for backward, gradients, temporaries), not the weights or the batch.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from run import peak_bytes, timed_pair  # noqa: E402  (sets one BLAS thread before NumPy)

import argparse  # noqa: E402
import platform  # noqa: E402

import numpy as np  # noqa: E402

import tinygrad_init as tgi  # noqa: E402
from tinygrad_init import functional as F, nn  # noqa: E402


def lenet() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1, rng=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(1568, 10, rng=2))


def mnist1d_cnn() -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(1, 25, 5, stride=2, padding=1, rng=0), nn.ReLU(),
                         nn.Conv1d(25, 25, 3, stride=2, padding=1, rng=1), nn.ReLU(),
                         nn.Conv1d(25, 25, 3, stride=2, padding=1, rng=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(125, 10, rng=3))


def to_torch(net: nn.Sequential):
    """The same network in PyTorch, with a copy of this one's weights."""
    import torch
    mods = []
    for m in net.layers:
        name = type(m).__name__
        if name in ("Conv2d", "Conv1d"):
            t = getattr(torch.nn, name)(m.in_channels, m.out_channels, m.kernel_size,
                                        stride=m.stride, padding=m.padding)
        elif name == "Linear":
            t = torch.nn.Linear(m.in_features, m.out_features)
        else:
            t = {"ReLU": torch.nn.ReLU, "Flatten": torch.nn.Flatten}.get(name)
            t = t() if t else torch.nn.MaxPool2d(m.kernel_size)
        if hasattr(m, "weight"):
            with torch.no_grad():
                t.weight.copy_(torch.from_numpy(m.weight.data))
                t.bias.copy_(torch.from_numpy(m.bias.data))
        mods.append(t)
    return torch.nn.Sequential(*mods)


def steps(net: nn.Sequential, x: np.ndarray, y: np.ndarray) -> tuple:
    import torch
    opt = tgi.optimizer("adam", net.named_parameters(), lr=1e-3)
    tnet = to_torch(net)
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step_tgi() -> float:
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    def step_torch() -> float:
        topt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tnet(tx), ty)
        loss.backward()
        topt.step()
        return loss.item()
    return step_tgi, step_torch


def torch_peak(f) -> int:
    from torch.profiler import ProfilerActivity, profile
    f()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        f()
    mem = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                 if e.name() == "[memory]")
    return int(max(0, np.cumsum([b for _, b in mem]).max())) if mem else 0


def main(argv: list | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run (a few seconds)")
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("conv_bench: PyTorch is not installed; pip install -e '.[bench]' (torch==2.13.0)")
        return 1
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    repeats, inner = (3, 2) if args.quick else (15, 5)
    print(f"numpy {np.__version__}, torch {torch.__version__}, python {platform.python_version()}, "
          f"{platform.machine()}, one thread each; CPU time, median of {repeats} interleaved blocks")
    print(f"{'case':<34} {'PyTorch':>10} {'tinygrad_init':>14} {'ratio':>7} {'target':>7}"
          f" {'peak MiB torch':>15} {'tgi':>6} {'ratio':>6}")
    cases = [("LeNet CNN 28x28, batch 64", lenet, (64, 1, 28, 28), 1.5),
             ("MNIST-1D Conv1d net, batch 100", mnist1d_cnn, (100, 1, 40), 1.0)]
    for name, build, shape, target in cases:
        x = rng.standard_normal(shape).astype(np.float32)
        y = rng.integers(0, 10, shape[0])
        f_tgi, f_torch = steps(build(), x, y)
        l1, l2 = f_tgi(), f_torch()
        if abs(l1 - l2) > 1e-4 * max(1.0, abs(l2)):
            raise SystemExit(f"{name}: first-step losses differ: {l1} vs {l2}")
        t_torch, t_tgi = timed_pair(f_torch, f_tgi, repeats, inner)
        m_torch, m_tgi = torch_peak(f_torch), peak_bytes(f_tgi)
        print(f"{name:<34} {t_torch * 1e3:8.2f}ms {t_tgi * 1e3:12.2f}ms {t_tgi / t_torch:6.2f}x "
              f"{target:5.1f}x {m_torch / 2**20:15.2f} {m_tgi / 2**20:6.2f} {m_tgi / m_torch:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
