"""examples/selu_depth.py: the figures docs/examples.md quotes (seed 0)."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
spec = importlib.util.spec_from_file_location("selu_depth", ROOT / "examples" / "selu_depth.py")
selu_depth = importlib.util.module_from_spec(spec)
spec.loader.exec_module(selu_depth)


def test_selu_with_lecun_normal_self_normalizes_and_other_inits_drift():
    res = selu_depth.run(depth=16, width=256, batch=2000, seed=0)
    lecun, default, he = res["lecun_normal"], res["PyTorch default"], res["kaiming_normal"]
    assert len(lecun) == 16
    for m, v in lecun:  # docs: mean within 0.01 of 0, variance within 0.04 of 1, all 16 layers
        assert abs(m) < 0.02 and abs(v - 1) < 0.05
    variances = [v for _, v in default]
    assert all(b < a for a, b in zip(variances, variances[1:])) and variances[-1] < 1e-3
    he_var = [v for _, v in he]
    assert all(b > a for a, b in zip(he_var, he_var[1:])) and he_var[-1] > 20


def test_selu_depth_script_prints_its_table():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "selu_depth.py"), "--depth", "4",
                          "--batch", "200"], capture_output=True, text=True, env={"NO_COLOR": "1", "COLUMNS": "120"},
                         timeout=120, check=True).stdout
    assert "lecun_normal" in out and "kaiming_normal" in out and "│     4 │" in out
