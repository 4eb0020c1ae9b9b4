"""Trajectories equal PyTorch's to float32 rounding.

tests/data/optim_reference.npz was recorded by tests/data/make_optim_reference.py
with torch (single-tensor implementations). Every case replays the recorded
gradients through the tinygrad_init optimizer of the same name and hyperparameters
and compares the whole parameter trajectory.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tinygrad_init as tgi

REF = np.load(Path(__file__).parent / "data" / "optim_reference.npz", allow_pickle=False)
CASES = json.loads(str(REF["cases"]))


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_trajectory_matches_pytorch(case):
    name = case["case"]
    n = len([k for k in REF.files if k.startswith("p0.")])
    params = [tgi.Tensor(REF[f"p0.{j}"].copy(), requires_grad=True) for j in range(n)]
    opt = tgi.optimizer(case["optimizer"], params, **case["kwargs"])
    steps = REF[f"{name}.grads.0"].shape[0]
    for t in range(steps):
        for j, p in enumerate(params):
            p.grad = REF[f"{name}.grads.{j}"][t].copy()
        opt.step()
        for j, p in enumerate(params):
            assert p.data.dtype == np.float32
            np.testing.assert_allclose(p.data, REF[f"{name}.traj.{j}"][t + 1], rtol=1e-5, atol=1e-6,
                                       err_msg=f"{name}: parameter {j} after step {t + 1}")


def test_fixture_covers_every_builtin_with_a_torch_counterpart():
    # lion is not in torch.optim: test_optim.py checks it against the paper's formula
    covered = {c["optimizer"] for c in CASES}
    assert covered == {"sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "adamax", "nadam", "radam"}
    assert covered | {"lion"} <= set(tgi.available("optimizer"))


@pytest.mark.parametrize("k", range(len(REF["clip.settings"])))
def test_clip_grad_norm_matches_pytorch(k):
    max_norm, norm_type = (float(x) for x in REF["clip.settings"][k])
    n = len([key for key in REF.files if key.startswith("clip.grad.")])
    ps = [tgi.Tensor(np.zeros_like(REF[f"clip.grad.{j}"]), requires_grad=True) for j in range(n)]
    for j, p in enumerate(ps):
        p.grad = REF[f"clip.grad.{j}"].copy()
    total = tgi.clip_grad_norm(ps, max_norm, norm_type=norm_type)
    assert total == pytest.approx(float(REF[f"clip.{k}.total"]), rel=1e-5)
    for j, p in enumerate(ps):
        np.testing.assert_allclose(p.grad, REF[f"clip.{k}.grad.{j}"], rtol=1e-5, atol=1e-7)


def test_clip_grad_value_matches_pytorch():
    n = len([key for key in REF.files if key.startswith("clip.grad.")])
    ps = [tgi.Tensor(np.zeros_like(REF[f"clip.grad.{j}"]), requires_grad=True) for j in range(n)]
    for j, p in enumerate(ps):
        p.grad = REF[f"clip.grad.{j}"].copy()
    tgi.clip_grad_value(ps, 1.25)
    for j, p in enumerate(ps):
        np.testing.assert_array_equal(p.grad, REF[f"clipvalue.grad.{j}"])
