"""Record PyTorch reference values for the ops and losses of issue 13 into ops_reference.npz.

Run with torch installed (never a dependency of tinygrad_init; tests only read the .npz)::

    pip install torch==2.13.0
    python tests/data/make_ops_reference.py

Each case stores float64 inputs ``<case>__x<i>`` (integer ones too, as int64), the output
``<case>__out``, the upstream gradient ``<case>__g`` and the gradients ``<case>__grad<i>`` of
``sum(out * g)`` for every float input. Inputs include the points where a convention is
chosen (kinks, ties, zeros), so the recorded gradients pin PyTorch's choice there. Read by
tests/test_ops_reference.py, which holds the same case names.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as TF

OUT = Path(__file__).with_name("ops_reference.npz")
rng = np.random.default_rng(0)
res: dict[str, np.ndarray] = {}
EDGES = np.array([-7.0, -3.0, -2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5, 3.0, 6.0, 7.0, 21.0, -1.3, 0.7])


def record(name, fn, *xs, const=()):
    """``const``: indices of float inputs that are data (weights, targets): no gradient."""
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=i not in const)
          if x.dtype.kind == "f" else torch.tensor(x) for i, x in enumerate(xs)]
    out = fn(*ts)
    g = rng.standard_normal(out.shape)
    for i, x in enumerate(xs):
        res[f"{name}__x{i}"] = x
    res[f"{name}__out"] = out.detach().numpy()
    res[f"{name}__g"] = g
    if out.requires_grad:
        (out * torch.tensor(g)).sum().backward()
    for i, t in enumerate(ts):
        if t.dtype.is_floating_point and i not in const:
            res[f"{name}__grad{i}"] = (t.grad if t.grad is not None else torch.zeros_like(t)).numpy()


A = rng.standard_normal((3, 4))
for name, fn in {
    "gelu": TF.gelu, "gelu_tanh": lambda x: TF.gelu(x, approximate="tanh"), "silu": TF.silu,
    "elu": lambda x: TF.elu(x, 0.5), "selu": TF.selu, "celu": lambda x: TF.celu(x, 2.0),
    "softplus": TF.softplus, "softplus_beta": lambda x: TF.softplus(x, 2.0, 3.0),
    "mish": TF.mish, "hardswish": TF.hardswish, "hardsigmoid": TF.hardsigmoid,
    "relu6": TF.relu6, "hardtanh": lambda x: TF.hardtanh(x, -0.5, 2.5),
    "logsigmoid": TF.logsigmoid, "softsign": TF.softsign, "erf": torch.erf,
    "sign": torch.sign, "floor": torch.floor, "round": torch.round, "trunc": torch.trunc,
    "exp2": torch.exp2, "expm1": torch.expm1, "atan": torch.atan, "square": torch.square,
}.items():
    record(name, fn, EDGES)
record("prelu", lambda x, w: TF.prelu(x, w), rng.standard_normal((2, 3, 4)), np.array([0.1, -0.2, 0.3]))
record("remainder", torch.remainder, np.array([5.5, -5.5, 5.5, -5.5, 0.3]), np.array([2.0, 2.0, -2.0, -2.0, 0.7]))
record("atan2", torch.atan2, A, rng.standard_normal((4,)))
record("logaddexp", torch.logaddexp, A, np.array([800.0, -800.0, 0.0, 1.0]))
record("lerp", torch.lerp, A, rng.standard_normal((3, 4)), rng.standard_normal((4,)))
Z = np.array([[2.0, 0.0, 3.0, 1.5], [0.0, 0.0, 2.0, -1.0], [1.0, 2.0, -3.0, 0.5]])
record("prod", lambda x: x.prod(1), Z)
record("prod_all", lambda x: x.prod(), Z[:, 1:])
record("cumprod", lambda x: x.cumprod(1), Z)
record("cumsum", lambda x: x.cumsum(0), Z)
record("logsumexp", lambda x: x.logsumexp(1), np.array([[1.0, 2.0, 3.0], [-np.inf, 0.0, 1000.0]]))
record("norm2", lambda x: torch.linalg.vector_norm(x, 2, dim=1), np.array([[3.0, 4.0], [0.0, 0.0]]))
record("norm_inf", lambda x: torch.linalg.vector_norm(x, float("inf"), dim=1), np.array([[3.0, -3.0, 1.0], [1.0, 2.0, 0.0]]))
record("norm1", lambda x: torch.linalg.vector_norm(x, 1), A)
record("std", lambda x: x.std(1, correction=1), A)
record("sort_desc", lambda x: x.sort(1, descending=True).values, A)
record("topk", lambda x: x.topk(2, 1).values, A)
record("gather", lambda x, i: x.gather(1, i), A, np.array([[0, 0], [3, 1], [2, 2]]))
record("scatter_add", lambda x, s, i: x.scatter_add(0, i, s), A, rng.standard_normal((2, 4)),
       np.array([[0, 1, 2, 0], [0, 0, 1, 2]]))
record("index_select", lambda x, i: x.index_select(1, i), A, np.array([3, 0, 3]))
record("masked_fill", lambda x, m: x.masked_fill(m, -2.0), A, np.array([True, False, True, False]))
record("einsum_mm", lambda a, b: torch.einsum("ij,jk->ik", a, b), A, rng.standard_normal((4, 2)))
record("einsum_trace", lambda a: torch.einsum("ii->", a), rng.standard_normal((3, 3)))
record("einsum_diag_outer", lambda a, b: torch.einsum("ii,j->ij", a, b), rng.standard_normal((3, 3)), rng.standard_normal(2))
record("einsum_batch", lambda a, b: torch.einsum("...ij,...jk->...ik", a, b), rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 2)))
L = rng.standard_normal((5, 4))
T = np.array([0, 3, 1, 1, 2])
W = np.array([0.5, 1.0, 2.0, 1.5])
record("ce", lambda z, t: TF.cross_entropy(z, t), L, T)
record("ce_full", lambda z, w, t: TF.cross_entropy(z, t, weight=w, ignore_index=1, label_smoothing=0.2), L, W, T, const=(1,))
record("ce_full_sum", lambda z, w, t: TF.cross_entropy(z, t, weight=w, ignore_index=1, label_smoothing=0.2, reduction="sum"), L, W, T, const=(1,))
record("ce_full_none", lambda z, w, t: TF.cross_entropy(z, t, weight=w, ignore_index=1, label_smoothing=0.2, reduction="none"), L, W, T, const=(1,))
P = np.exp(rng.standard_normal((5, 4)))
P /= P.sum(1, keepdims=True)
record("ce_probs", lambda z, p, w: TF.cross_entropy(z, p, weight=w, label_smoothing=0.1), L, P, W, const=(1, 2))
L3 = rng.standard_normal((2, 4, 3))
T3 = np.array([[0, 3, 1], [2, 2, 0]])
record("ce_spatial", lambda z, w, t: TF.cross_entropy(z, t, weight=w, ignore_index=2), L3, W, T3, const=(1,))
record("nll", lambda lp, w, t: TF.nll_loss(lp, t, weight=w, ignore_index=0), L, W, T, const=(1,))
Y = rng.uniform(0, 1, (5, 4))
record("bce", lambda p, y, w: TF.binary_cross_entropy(p, y, weight=w), 1 / (1 + np.exp(-L)), Y, W, const=(1, 2))
record("bce_edges", lambda p, y: TF.binary_cross_entropy(p, y, reduction="none"), np.array([0.0, 1.0, 0.5]), np.array([1.0, 0.0, 0.5]), const=(1,))
record("bce_logits", lambda x, y, w, pw: TF.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw), L * 5, Y, W, np.array([3.0, 1.0, 0.5, 2.0]), const=(1, 2, 3))
record("huber", lambda x, y: TF.huber_loss(x, y, delta=0.7), L, Y, const=(1,))
record("smooth_l1", lambda x, y: TF.smooth_l1_loss(x, y, reduction="sum", beta=0.7), L, Y, const=(1,))
record("kl_batchmean", lambda lp, q: TF.kl_div(lp, q, reduction="batchmean"), TF.log_softmax(torch.tensor(L), 1).numpy(), np.where(P > 0.3, 0.0, P), const=(1,))
record("kl_log_target", lambda lp, q: TF.kl_div(lp, q, reduction="sum", log_target=True), TF.log_softmax(torch.tensor(L), 1).numpy(), np.log(P), const=(1,))
for k, v in list(res.items()):  # inputs drawn as float64 arrays; bool/int kept
    res[k] = np.asarray(v)
np.savez(OUT, **res)
print(f"wrote {len(res)} arrays to {OUT}")
