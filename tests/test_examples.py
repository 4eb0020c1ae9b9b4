"""The example scripts run (``--quick``), print their tables with real numbers, save their
plots, are reproducible, and the seed experiment's headline holds at full length.

Every script runs in a subprocess exactly as a user runs it (``python examples/x.py``).
"""
from __future__ import annotations

import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tinygrad_init import experiment, plot

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NUM = r"\d+\.\d+"

# script -> (table titles that must appear, regexes of table rows with numbers, extra plot suffixes)
SCRIPTS = {
    "compare_initializers": (
        ["cost (mean training cross-entropy) per epoch"],
        [rf"│ {name}\s+│\s+{NUM} │" for name in ("zeros", "he", "xavier")], []),
    "compare_optimizers": (
        ["cost (mean training cross-entropy) per epoch"],
        [rf"│ {name}\s+│\s+{NUM}\s+│\s+{NUM} │" for name in ("SGD", r"SGD\+momentum", "RMSprop", "Adam")], []),
    "compare_schedules": (
        ["learning rate per epoch", "training cost per epoch with each schedule"],
        [r"│ exponential\s+│\s+0\.03 │\s+0\.0285 │",  # 0.95**t * lr0
         r"│ inverse_time\s+│\s+0\.03 │\s+0\.015 │",  # lr0 / (1 + t)
         rf"│ cosine\s+│\s+{NUM} │",
         *[rf"│ {name}\s+│[^\n]*│\s+yes\s+│\n" for name in ("step", "exponential", "inverse_time", "cosine")]],
        ["-lr"]),
    "batchnorm_depth": (
        ["1. learning-rate sweep", "2. initialization sweep", "summary"],
        [rf"│ He\s+│ 0\.3\s+│ BN │\s+{NUM} │", rf"│ 0\.01\*randn\s+│ 0\.3\s+│ -\s+│\s+{NUM} │",
         r"│ He\s+│ 1\s+│ -\s+│\s+diverged │"], ["-init"]),
    "fine_tuning": (
        ["target (digits 5-9) test accuracy"],
        [rf"│ {mode}\s+│\s+{NUM} ± {NUM} │" for mode in
         ("last layer", r"all layers \(early lr / 10\)", "from scratch", r"predict only \(NCM, pretrained features\)")]
        + [r"pretrained network: test accuracy \d\.\d{4}"], []),
    "layerwise_pretraining": (
        ["reconstruction MSE per hidden layer", "few labels: test accuracy"],
        [rf"│\s+10 │ layer-wise pretrained\s+│\s+{NUM} │ {NUM} ± {NUM} │ [+-]{NUM} │"], []),
    "digits_cnn": (
        ["summary"],
        [r"epoch\s+1/1\s+train_loss \S+\s+train_acc \d\.\d{4}\s+val_loss", r"final test accuracy \d\.\d{4}"], []),
}


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "COLUMNS", "TTY_COMPATIBLE")}
    env["NO_COLOR"] = "1"
    return env


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Every script with --quick (and --plot), plus two reruns for the reproducibility check,
    all started at once: the machine's cores share the work, the module stays fast."""
    tmp = tmp_path_factory.mktemp("examples")
    jobs = {name: [f"{name}.py", "--quick", "--seed", "0", "--plot", str(tmp / f"{name}.png")] for name in SCRIPTS}
    jobs["again"] = ["compare_optimizers.py", "--quick", "--seed", "0"]
    jobs["seed1"] = ["compare_optimizers.py", "--quick", "--seed", "1"]
    procs = {k: subprocess.Popen([sys.executable, str(EXAMPLES / a[0]), *a[1:]], cwd=ROOT, env=_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k, a in jobs.items()}
    out = {}
    for k, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        out[k] = (proc.returncode, stdout, stderr)
    return tmp, out


def result(quick_runs, name) -> str:
    code, stdout, stderr = quick_runs[1][name]
    assert code == 0, f"{name} exited {code}:\n{stdout[-2000:]}\n{stderr[-3000:]}"
    return stdout


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_example_quick_run(name, quick_runs):
    titles, rows, extra_plots = SCRIPTS[name]
    out = result(quick_runs, name)
    for title in titles:
        assert title in out, f"{name}: table {title!r} missing from the output:\n{out}"
    for row in rows:
        assert re.search(row, out), f"{name}: no line matches {row!r} in:\n{out}"
    assert not re.search(r"\bnan\b", out, re.IGNORECASE), f"{name} printed a NaN:\n{out}"
    png = quick_runs[0] / f"{name}.png"
    pngs = [png] + [png.with_name(png.stem + s + png.suffix) for s in extra_plots]
    if plot.available():
        for p in pngs:
            assert p.exists() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name}: no PNG at {p}"
    else:
        assert "matplotlib is not installed" in out and not png.exists()


def test_examples_are_documented():
    readme, doc = (EXAMPLES / "README.md").read_text(), (ROOT / "docs" / "examples.md").read_text()
    for name in SCRIPTS:
        assert f"{name}.py" in readme and f"examples/{name}.py" in doc, f"{name} is not documented"


def test_example_is_reproducible(quick_runs):
    """Same seed, same numbers (timings aside); another seed, other numbers."""
    def numbers(name):
        return re.findall(NUM, result(quick_runs, name).split("plot saved")[0])
    a, b, c = numbers("compare_optimizers"), numbers("again"), numbers("seed1")
    assert a == b and len(a) >= 4 * 4
    assert c != a


def test_seed_experiment_headline():
    """The full-length seed experiment (30 epochs): zeros and randn*10 stay at ln(10), He and
    Xavier learn. Same code as ``examples/compare_initializers.py`` and ``make demo``."""
    from rich.console import Console

    from tinygrad_init.demo import EPOCHS, run

    assert EPOCHS == 30
    res = run(console=Console(file=io.StringIO(), width=120))
    ln10 = math.log(10)
    assert abs(res["zeros"]["history"]["train_loss"][-1] - ln10) < 0.01
    assert abs(res["randn*10"]["history"]["train_loss"][-1] - ln10) < 0.02
    assert res["zeros"]["test_acc"] < 0.2 and res["randn*10"]["test_acc"] < 0.2
    assert res["he"]["test_acc"] >= 0.95 and res["xavier"]["test_acc"] >= 0.95


CONFIGS = ["digits_mlp.toml", "digits_cnn.toml", "batchnorm_deep.toml", "schedules_exponential.toml"]


@pytest.mark.parametrize("name", CONFIGS)
def test_example_config_loads_and_builds(name):
    """Each training config passes the checks of ``tinygrad-init train`` and builds its model."""
    cfg = experiment.load_config(EXAMPLES / "configs" / name)
    shape = (1, 8, 8) if cfg["data"]["images"] else (64,)
    model = experiment.build_model(cfg["model"], shape)
    assert sum(p.data.size for p in model.parameters()) > 0


