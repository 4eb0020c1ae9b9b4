"""examples/search_learning_rate.py and examples/configs/search_lr.toml, run for real.

The script runs in a subprocess with --quick (8 trials of 1 epoch per strategy) and the
config through the ``tinygrad-init search`` command with a tiny budget; the assertions
read what they print and what they store.
"""
from __future__ import annotations

import functools
import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tinygrad_init as tgi

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "search_learning_rate.py"
CONFIG = ROOT / "examples" / "configs" / "search_lr.toml"
NUM = r"([0-9]+\.[0-9]+)"


def _env() -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               TERM="dumb", NO_COLOR="1")
    env.pop("FORCE_COLOR", None)
    return env


def _flat(text: str) -> str:
    """Rich wraps long lines: compare phrases with the whitespace collapsed."""
    return " ".join(text.split())


def _run(args: list[str], cwd: Path = ROOT, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _cli() -> list[str]:
    exe = Path(sys.executable).parent / "tinygrad-init"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tinygrad_init"]


@functools.lru_cache(maxsize=1)
def _script_module():
    spec = importlib.util.spec_from_file_location("search_learning_rate_example", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    saved = dict(os.environ)
    try:
        spec.loader.exec_module(mod)
    finally:  # the script sets the BLAS thread variables for itself; leave ours alone
        os.environ.clear()
        os.environ.update(saved)
    return mod


def _summary(out: str) -> dict[str, dict]:
    """The first line of each strategy's row in the summary table."""
    rows = {}
    for m in re.finditer(rf"│ (grid|random|bayes) +│ +(\d+)/(\d+) │ +{NUM} │ +{NUM} │ +#(\d+) │", out):
        rows[m.group(1)] = {"complete": int(m.group(2)), "trials": int(m.group(3)),
                            "best": float(m.group(4)), "val_error": float(m.group(5)),
                            "best_trial": int(m.group(6)), "line": out[m.start():out.index("\n", m.start())]}
    return rows


def _trial_values(out: str, study: str) -> dict[int, float]:
    """``{number: value}`` from the per-strategy table titled ``study '<study>'``."""
    start = out.index(f"study '{study}'")
    end = out.find("trials:", start)
    return {int(n): float(v) for n, v in
            re.findall(r"│ +(\d+) │ complete │ +([0-9.e+-]+) │", out[start:end])}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search_example")
    png, db = tmp / "best_so_far.png", tmp / "lr.db"
    args = [sys.executable, str(SCRIPT), "--quick", "--storage", str(db)]
    from tinygrad_init import plot

    if plot.available():
        args += ["--plot", str(png)]
    proc = _run(args)
    return proc, png, db, plot.available()


def test_quick_run_prints_a_summary_of_the_three_strategies(quick):
    proc, _, _, _ = quick
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    rows = _summary(out)
    assert set(rows) == {"grid", "random", "bayes"}, out[-4000:]
    for name, r in rows.items():
        # --quick: a 2x2x2 grid = 8 trials, and the same budget for random and bayes
        assert (r["complete"], r["trials"]) == (8, 8), r["line"]
        assert 0 < r["best"] < math.log(10) * 10, r["line"]
        assert 0 <= r["val_error"] <= 1, r["line"]
        # the summary's best is the lowest value of that strategy's trial table
        values = _trial_values(out, f"{name}-n8-e1-s0")
        assert len(values) == 8
        # the objective is capped at ln(10), the loss of a uniform guess
        assert max(values.values()) <= math.log(10) + 1e-5, values
        assert r["best"] == pytest.approx(min(values.values()), abs=5e-5)
        assert values[r["best_trial"]] == pytest.approx(r["best"], abs=5e-5)
    # distinct learning rates: the 2-point grid has 2, random draws 8 different ones
    assert re.search(r"│ +2 │ +\d+\.\ds │", rows["grid"]["line"]), rows["grid"]["line"]
    assert re.search(r"│ +8 │ +\d+\.\ds │", rows["random"]["line"]), rows["random"]["line"]
    assert "the lowest validation loss came from" in _flat(out)
    assert "The grid tried only 2 learning rates (0.001, 1)" in _flat(out)
    # after 1 epoch at lr=0.001 without momentum the 16-unit net is worse than guessing
    assert _trial_values(out, "grid-n8-e1-s0")[0] == pytest.approx(math.log(10), abs=1e-5)


def test_quick_run_saves_the_best_so_far_plot(quick):
    proc, png, _, has_matplotlib = quick
    if not has_matplotlib:
        pytest.skip("matplotlib is not installed")
    assert proc.returncode == 0
    assert f"plotsavedto{png}" in re.sub(r"\s+", "", proc.stdout)  # a long path wraps anywhere
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quick_run_records_every_study_and_rerunning_resumes_without_new_trials(quick):
    proc, _, db, _ = quick
    assert proc.returncode == 0
    first = {s: {t.number: (t.params, t.value) for t in tgi.search.load_study(db, f"{s}-n8-e1-s0").trials}
             for s in ("grid", "random", "bayes")}
    assert all(len(v) == 8 for v in first.values())
    again = _run([sys.executable, str(SCRIPT), "--quick", "--storage", str(db)])
    assert again.returncode == 0, again.stderr[-3000:]
    for s, trials in first.items():
        study = tgi.search.load_study(db, f"{s}-n8-e1-s0")
        assert {t.number: (t.params, t.value) for t in study.trials} == trials
    assert {k: r["best"] for k, r in _summary(again.stdout).items()} == \
        {k: r["best"] for k, r in _summary(proc.stdout).items()}


def test_an_interrupted_study_is_continued_by_the_script(quick, tmp_path):
    """Three trials recorded by an 'interrupted' search; the script adds the other five,
    and the study equals the one of the uninterrupted quick run."""
    proc, _, full_db, _ = quick
    mod = _script_module()
    db = tmp_path / "partial.db"
    name = mod.study_name("random", 8, 1, 0)
    fn = functools.partial(mod.objective, epochs=1, seed=0)
    tgi.search.run(fn, mod.make_space(), strategy="random", n_trials=3, seed=0, storage=str(db), study=name)
    res = _run([sys.executable, str(SCRIPT), "--quick", "--storage", str(db)])
    assert res.returncode == 0, res.stderr[-3000:]
    resumed = tgi.search.load_study(db, name)
    full = tgi.search.load_study(full_db, name)
    assert [t.status for t in resumed.trials] == ["complete"] * 8
    assert [t.params for t in resumed.trials] == [t.params for t in full.trials]
    assert [t.value for t in resumed.trials] == pytest.approx([t.value for t in full.trials], rel=1e-5)


def test_the_config_runs_the_same_search_and_show_prints_it(tmp_path):
    db = tmp_path / "search_lr.db"
    base = [*_cli(), "search", str(CONFIG), "--set", f"search.storage={db}"]
    res = _run(base + ["--set", "search.n_trials=3"])
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"study 'random': 3 trials (3 complete, 0 failed, 0 pruned) in {db}" in _flat(res.stdout)

    study = tgi.search.load_study(db, "random")
    assert [t.status for t in study.trials] == ["complete"] * 3
    assert study.space.names == ["optimizer.lr", "optimizer.momentum", "model.layers.0.out"]
    # each trial trained the script's model: the same parameters give the same validation loss
    mod = _script_module()
    for t in study.trials:
        params = {"lr": t.params["optimizer.lr"], "momentum": t.params["optimizer.momentum"],
                  "hidden": t.params["model.layers.0.out"]}
        assert 1e-3 <= params["lr"] <= 1.0 and 0 <= params["momentum"] <= 0.95 and 16 <= params["hidden"] <= 256
        assert t.value == pytest.approx(mod.train(params, epochs=5, seed=0)["val_loss"], rel=1e-4)
    # and the same draws as the script's random study (same space order, same seed)
    script_params = tgi.search.run(lambda tr: 0.0, mod.make_space(), strategy="random", n_trials=3, seed=0).trials
    assert [list(t.params.values()) for t in study.trials] == [list(t.params.values()) for t in script_params]

    # rerunning with a larger budget resumes: the first three trials are kept as they are
    res = _run(base + ["--set", "search.n_trials=4"])
    assert res.returncode == 0, res.stderr[-3000:]
    resumed = tgi.search.load_study(db, "random")
    assert len(resumed.trials) == 4
    assert [(t.params, t.value) for t in resumed.trials[:3]] == [(t.params, t.value) for t in study.trials]

    show = _run([*_cli(), "search", "show", str(db)])
    assert show.returncode == 0, show.stderr[-3000:]
    best = resumed.best_trial
    assert "study 'random' (random, minimize)" in show.stdout
    assert "4 trials: 4 complete, 0 failed, 0 pruned, 0 running" in _flat(show.stdout)
    assert f"best trial #{best.number}: value = {best.value:.6g}" in show.stdout
    for key, value in best.params.items():
        assert f"  {key} = {value!r}" in show.stdout


def test_the_config_takes_the_other_strategies_by_override(tmp_path):
    db = tmp_path / "grid.db"
    res = _run([*_cli(), "search", str(CONFIG), "--set", f"search.storage={db}", "--set", "search.strategy=grid",
                "--set", "search.options.n=2", "--set", "search.n_trials=2", "--study", "grid"])
    assert res.returncode == 0, res.stderr[-3000:]
    study = tgi.search.load_study(db, "grid")
    # the first dimension varies slowest: both points share the lowest learning rate
    assert [t.params for t in study.trials] == [
        {"optimizer.lr": 1e-3, "optimizer.momentum": 0.0, "model.layers.0.out": 16},
        {"optimizer.lr": 1e-3, "optimizer.momentum": 0.0, "model.layers.0.out": 256}]
