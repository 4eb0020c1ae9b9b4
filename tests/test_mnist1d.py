"""datasets.load_mnist1d (built with the mnist1d package) and the MNIST-1D table example."""
import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_init import datasets


def test_load_mnist1d_shapes_dtypes_classes():
    (x, y), (xt, yt) = datasets.load_mnist1d()
    assert x.shape == (4000, 40) and xt.shape == (1000, 40)
    assert x.dtype == xt.dtype == np.float32 and y.dtype == yt.dtype == np.int64
    assert set(np.unique(y)) == set(range(10)) and set(np.unique(yt)) == set(range(10))
    both = np.concatenate([x, xt])
    assert abs(both.mean()) < 1e-3 and abs(both.std() - 1) < 1e-3  # centred by the package
    assert np.bincount(y).tolist() == [398, 396, 411, 394, 394, 402, 401, 404, 402, 398]
    x[:] = 0  # the caller owns its copy
    assert datasets.load_mnist1d()[0][0].any()


def test_load_mnist1d_leaves_the_global_random_state_alone(monkeypatch):
    before = datasets.load_mnist1d()  # from the process cache when the test above ran
    monkeypatch.setattr(datasets, "_MNIST1D", {})  # build again
    np.random.seed(123)
    random.seed(123)
    expect_np, expect_py = np.random.random(3), random.random()
    np.random.seed(123)
    random.seed(123)
    first = datasets.load_mnist1d()
    assert np.array_equal(np.random.random(3), expect_np) and random.random() == expect_py
    assert np.array_equal(first[0][0], before[0][0]) and np.array_equal(first[1][1], before[1][1])


def test_load_mnist1d_names_the_extra_when_the_package_is_missing(monkeypatch):
    monkeypatch.setattr(datasets, "_MNIST1D", {})
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'tinygrad-init\[mnist1d\]'"):
        datasets.load_mnist1d()


def test_train_config_with_a_gru_on_mnist1d(tmp_path):
    from rich.console import Console

    from tinygrad_init.cli import main
    from tinygrad_init.experiment import ConfigError, build, load_config

    cfg = Path(__file__).parents[1] / "examples" / "configs" / "mnist1d_gru.toml"
    trainer, train, val = build(load_config(cfg))
    assert train[0].shape == (4000, 40) and val[0].shape == (1000, 40)  # MNIST-1D's own split
    names = [n for n, _ in trainer.model.named_parameters()]
    assert "0.rnn.weight_hh_l0_reverse" in names and trainer.model(train[0][:3]).shape == (3, 10)
    console = Console(width=200, force_terminal=False)
    with console.capture() as cap:
        code = main(["train", str(cfg), "--set", "train.epochs=2", "--json"], console=console)
    out = cap.get()
    assert code == 0, out
    acc = float(re.search(r'"val_acc": ([0-9.]+)', out).group(1))
    assert acc > 0.2  # chance is 0.1: two epochs (80 steps) already learn something
    lstm = load_config(cfg, ["model.layers.0.type='lstm'", "model.layers.0.output='last'",
                             "model.layers.0.forget_bias=1.0", "model.layers.0.weight_hh_init='orthogonal'"])
    model = build(lstm)[0].model
    assert model(train[0][:2]).shape == (2, 10) and model.layers[1].__class__.__name__ == "Flatten"
    np.testing.assert_array_equal(model.layers[0].rnn.bias_ih_l0.numpy()[6:12], 1.0)
    with pytest.raises(ConfigError, match="output"):
        build(load_config(cfg, ["model.layers.0.output='all'"]))


def test_mnist1d_table_quick_run_prints_the_table_and_saves_the_plot(tmp_path):
    import os
    import subprocess

    root = Path(__file__).parents[1]
    png = tmp_path / "mnist1d.png"
    env = {**os.environ, "NO_COLOR": "1", "OPENBLAS_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, str(root / "examples" / "mnist1d_table.py"), "--quick",
                          "--plot", str(png)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "MNIST-1D test accuracy (the paper's table)" in out
    for label, paper in (("logistic regression", 32), (r"MLP 40-100-100-10 \(residual\)", 68),
                         (r"CNN \(3 x Conv1d, 25 channels\)", 94), (r"GRU \(bidirectional, hidden 6\)", 91)):
        row = re.search(rf"│ {label}\s+│\s+(\d+) │\s+100 │\s+(\d+\.\d) │\s+{paper} │\s+([+-]\d+\.\d) │"
                        rf"\s+(\d+\.\d\d) ms │", out)
        assert row, f"no table row for {label} in\n{out}"
        params, acc, diff = int(row.group(1)), float(row.group(2)), float(row.group(3))
        assert params > 0 and 10 < acc <= 100 and abs(acc - paper - diff) < 0.051
    assert "nan" not in out.lower()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run([sys.executable, str(root / "examples" / "mnist1d_table.py"), "--models", "rnn"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "unknown model(s) rnn; available: lr, mlp, cnn, gru" in bad.stderr
