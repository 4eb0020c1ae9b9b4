"""The search runner: recording, failures, pruning, resume, storage errors, executors, CLI."""
import io
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from rich.console import Console

import tinygrad_init as tgi
from tinygrad_init import hookimpl
from tinygrad_init.search import (IntUniform, LogUniform, PruningCallback, Pruner, Space, StorageError,
                                  Strategy, TrialPruned, Uniform, load_study, run)
from tinygrad_init.testing.contracts_search_strategy import conformance_space, sphere, sphere_objective

from test_search_cli import TRAIN  # noqa: E402 - the tests directory is on sys.path (a moons training config)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def summary(study):
    return [(t.number, t.status, t.params, t.value, t.budget) for t in study.trials]


class Recorder:
    def __init__(self):
        self.events = []

    @hookimpl
    def tinygrad_init_trial_start(self, study, trial):
        self.events.append(("start", trial.number))

    @hookimpl
    def tinygrad_init_trial_end(self, study, trial):
        self.events.append(("end", trial.number, trial.status))


class Telling(Strategy):
    """Random proposals; records the trials it is shown (a test double)."""

    seen = []

    def propose(self, trials, number):
        Telling.seen.append(list(trials))
        return self.space.sample(self.rng)


def test_records_every_trial_and_calls_hooks(tmp_path):
    rec = Recorder()
    study = run(sphere_objective, conformance_space(), strategy="random", n_trials=8,
                storage=f"sqlite:///{tmp_path / 's.db'}", study="a", callbacks=[rec])
    assert [t.number for t in study.trials] == list(range(8))
    assert all(t.status == "complete" and t.value == sphere(t.params) for t in study.trials)
    assert study.best_value == min(t.value for t in study.trials)
    assert rec.events == [e for i in range(8) for e in (("start", i), ("end", i, "complete"))]
    again = load_study(tmp_path / "s.db")
    assert summary(again) == summary(study)
    rows = sqlite3.connect(tmp_path / "s.db").execute(
        "SELECT number, status, params, started <= finished FROM trials ORDER BY number").fetchall()
    assert [(r[0], r[1], json.loads(r[2])) for r in rows] == [(t.number, "complete", t.params) for t in study.trials]
    assert all(r[3] for r in rows)


def test_failed_trials_are_recorded_and_the_search_goes_on():
    Telling.seen = []

    def objective(trial):
        if trial.number == 1:
            raise RuntimeError("boom at one")
        if trial.number == 3:
            return float("nan")
        return trial.params["x"] ** 2

    study = run(objective, {"x": Uniform(-1, 1)}, strategy=Telling, n_trials=5)
    assert [t.status for t in study.trials] == ["complete", "failed", "complete", "failed", "complete"]
    assert "RuntimeError: boom at one" in study.trials[1].error
    assert "nan" in study.trials[3].error
    last = Telling.seen[-1]  # what the strategy saw before trial 4: the failures without a value
    assert [(o.number, o.status, o.value) for o in last] == [
        (0, "complete", study.trials[0].value), (1, "failed", None), (2, "complete", study.trials[2].value),
        (3, "failed", None)]


def test_live_pruning_with_the_median_pruner_stops_trials_early():
    def objective(trial):
        a = trial.params["a"]
        for step in range(10):
            v = a + 1.0 / (step + 1)
            trial.report(step, v)
            if trial.should_prune():
                raise TrialPruned(f"step {step}")
        return v

    study = run(objective, {"a": Uniform(0, 1)}, strategy="random", n_trials=12, seed=3, pruner="median",
                pruner_options={"n_startup_trials": 2})
    pruned = [t for t in study.trials if t.status == "pruned"]
    assert pruned, "some trials above the median must be pruned"
    for t in pruned:
        assert len(t.intermediate) < 10 and t.value == t.intermediate[-1][1]
        done = [u for u in study.trials[:t.number] if u.status == "complete"]
        step, v = t.intermediate[-1]  # the rule, written out: worse than the median of the complete ones
        assert len(done) >= 2 and min(x for _, x in t.intermediate) > np.median([u.intermediate[step][1] for u in done])
    assert all(len(t.intermediate) == 10 for t in study.trials if t.status == "complete")


class AlwaysPrune(Pruner):
    def prune(self, study, trial):
        return trial.intermediate[-1][0] >= 1


def test_pruning_callback_inside_a_trainer():
    from tinygrad_init import nn

    X = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    epochs_run = []

    def objective(trial):
        model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.Linear(8, 2, rng=1))
        trainer = tgi.Trainer(model, optimizer="sgd", optimizer_options={"lr": trial.params["lr"]},
                              callbacks=[PruningCallback(trial, "val_loss")])
        try:
            history = trainer.fit((X, y), (X, y), epochs=5, batch_size=16)
        finally:
            epochs_run.append(trainer.epoch)
        return history.last["val_loss"]

    study = run(objective, {"lr": LogUniform(1e-3, 1e-1)}, strategy="random", n_trials=2, pruner=AlwaysPrune)
    assert [t.status for t in study.trials] == ["pruned", "pruned"]
    assert epochs_run == [2, 2] and [s for s, _ in study.trials[0].intermediate] == [0, 1]


def budgeted_sphere(trial):
    return sphere(trial.params) * (trial.budget or 1)


class Interrupt:
    """``objective`` that raises KeyboardInterrupt at trial ``at`` the first time (a simulated kill)."""

    def __init__(self, at, objective=budgeted_sphere):
        self.at, self.objective, self.fired, self.calls = at, objective, False, []

    def __call__(self, trial):
        self.calls.append(trial.number)
        if trial.number == self.at and not self.fired:
            self.fired = True
            raise KeyboardInterrupt
        return self.objective(trial)


@pytest.mark.parametrize("strategy, opts, n", [("random", {}, 10), ("bayes", {"n_initial": 3}, 8), ("tpe", {"n_startup": 3}, 10),
                                               ("grid", {"n": 2}, 16)])
def test_resume_after_interrupt(tmp_path, strategy, opts, n):
    kw = dict(strategy=strategy, strategy_options=opts, n_trials=n, pruner="hyperband",
              pruner_options={"max_resource": 9})
    reference = run(Interrupt(-1), conformance_space(), **kw)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    obj = Interrupt(at=4)
    with pytest.raises(KeyboardInterrupt):
        run(obj, conformance_space(), storage=db, **kw)
    half = load_study(tmp_path / "r.db")
    assert [t.status for t in half.trials] == ["complete"] * 4 + ["running"]
    obj.calls.clear()
    study = run(obj, conformance_space(), storage=db, **kw)
    assert obj.calls[0] == 4 and sorted(obj.calls) == list(range(4, n))  # none repeated
    assert study.trials[4].params == half.trials[4].params  # re-run with the same params
    assert summary(study) == summary(reference)  # continues deterministically


def test_resume_after_sigkill(tmp_path):
    db = tmp_path / "k.db"
    script = tmp_path / "search_script.py"
    script.write_text(textwrap.dedent(f"""
        import time, warnings
        warnings.simplefilter("ignore")
        from tinygrad_init.search import run
        from tinygrad_init.testing.contracts_search_strategy import conformance_space, sphere

        def objective(trial):
            time.sleep(0.05)
            return sphere(trial.params)

        run(objective, conformance_space(), strategy="random", n_trials=40, storage={str(db)!r}, seed=5)
    """))
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            time.sleep(0.05)
            if db.exists():
                try:
                    done = sqlite3.connect(db).execute(
                        "SELECT COUNT(*) FROM trials WHERE status='complete'").fetchone()[0]
                except sqlite3.OperationalError:
                    continue
                if done >= 5:
                    break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    before = load_study(db)
    assert 5 <= len(before.completed) < 40
    calls = []

    def objective(trial):
        calls.append(trial.number)
        return sphere(trial.params)

    study = run(objective, conformance_space(), strategy="random", n_trials=40, storage=str(db), seed=5)
    assert [t.number for t in study.trials] == list(range(40))
    assert all(t.status == "complete" for t in study.trials)
    assert sorted(calls) == [t.number for t in before.trials if t.status != "complete"] + list(
        range(len(before.trials), 40))
    reference = run(lambda t: sphere(t.params), conformance_space(), strategy="random", n_trials=40, seed=5)
    assert summary(study) == summary(reference)


def test_another_space_or_strategy_is_refused_and_file_untouched(tmp_path):
    path = tmp_path / "s.db"
    run(sphere_objective, conformance_space(), strategy="random", n_trials=3, storage=str(path))
    before = path.read_bytes()
    other = Space({**conformance_space().dims, "x": Uniform(-5, 6)})
    with pytest.raises(ValueError, match="created with another space"):
        run(sphere_objective, other, strategy="random", n_trials=5, storage=str(path))
    with pytest.raises(ValueError, match="another strategy 'random'"):
        run(sphere_objective, conformance_space(), strategy="tpe", n_trials=5, storage=str(path))
    with pytest.raises(ValueError, match="seed 0"):
        run(sphere_objective, conformance_space(), strategy="random", n_trials=5, storage=str(path), seed=1)
    assert path.read_bytes() == before


def test_unwritable_storage_fails_before_any_trial(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    calls = []
    with pytest.raises(StorageError, match="does not exist"):
        run(lambda t: calls.append(1) or 0.0, {"x": Uniform(0, 1)}, strategy="random", n_trials=3,
            storage=f"sqlite:///{blocker / 'study.db'}")
    not_sqlite = tmp_path / "junk.db"
    not_sqlite.write_text("this is not a database" * 100)
    with pytest.raises(StorageError, match="junk.db"):
        run(lambda t: calls.append(1) or 0.0, {"x": Uniform(0, 1)}, strategy="random", n_trials=3,
            storage=str(not_sqlite))
    with pytest.raises(StorageError, match="sqlite:///"):
        run(lambda t: 0.0, {"x": Uniform(0, 1)}, strategy="random", storage="postgres://x/y")
    assert calls == []


def test_exhausted_strategy_ends_the_search():
    study = run(lambda t: t.params["a"], {"a": IntUniform(0, 5)}, strategy="grid", n_trials=100)
    assert [t.params["a"] for t in study.trials] == [0, 1, 2, 3, 4, 5]


def test_process_pool_gives_the_same_study():
    serial = run(sphere_objective, conformance_space(), strategy="random", n_trials=12, seed=11)
    parallel = run(sphere_objective, conformance_space(), strategy="random", n_trials=12, seed=11,
                   executor="process", workers=2)
    assert summary(parallel) == summary(serial)


def test_thread_executor_prunes_hyperband_trials():
    def objective(trial):  # reports the sphere plus a decaying term every epoch
        for epoch in range(1, trial.budget + 1):
            trial.report(epoch, sphere(trial.params) + 1.0 / epoch)
            if trial.should_prune():
                raise TrialPruned()
        return sphere(trial.params)

    with ThreadPoolExecutor(3) as ex:
        study = run(objective, conformance_space(), strategy="random", n_trials=17, executor=ex,
                    seed=2, pruner="hyperband", pruner_options={"max_resource": 9})
    assert len(study.trials) == 17 and all(t.budget == 9 for t in study.trials)
    rungs = {2: [1, 3], 1: [3], 0: []}  # report counts where brackets s = 2, 1, 0 are judged
    bracket = tgi.pruner("hyperband", max_resource=9).bracket
    pruned = [t for t in study.trials if t.status == "pruned"]
    assert pruned and all(len(t.intermediate) in rungs[bracket(t.number)] for t in pruned)
    assert all(len(t.intermediate) == 9 for t in study.trials if t.status == "complete")


def test_process_executor_needs_a_picklable_objective():
    with pytest.raises(TypeError, match="picklable"):
        run(lambda t: 0.0, {"x": Uniform(0, 1)}, strategy="random", executor="process", workers=2)
    with pytest.raises(ValueError, match="workers=2 needs an executor"):
        run(sphere_objective, conformance_space(), strategy="random", workers=2)
    with pytest.raises(ValueError, match="executor='threads'"):
        run(sphere_objective, conformance_space(), strategy="random", executor="threads")


def test_console_output():
    buf = io.StringIO()
    run(sphere_objective, conformance_space(), strategy="random", n_trials=3, console=Console(file=buf))
    text = buf.getvalue()
    assert "trial 0 complete" in text and "best trial #" in text
    live = io.StringIO()
    run(sphere_objective, conformance_space(), strategy="random", n_trials=3,
        console=Console(file=live, force_terminal=True, width=160))
    assert "study 'default' (random, minimize)" in live.getvalue()


# --------------------------------------------------------------------------- CLI


def write_config(tmp_path, extra=""):
    (tmp_path / "objmod.py").write_text(textwrap.dedent("""
        import math
        def objective(trial, shift=0.0):
            return (math.log10(trial.params["lr"]) + 2) ** 2 + shift
    """))
    cfg = tmp_path / "s.toml"
    cfg.write_text(textwrap.dedent("""
        [search]
        strategy = "random"
        n_trials = 4
        storage = "sqlite:///s.db"
        study = "lr"
        [space.lr]
        type = "loguniform"
        lo = 1e-4
        hi = 1.0
        [space.act]
        type = "choice"
        options = ["relu", "tanh"]
        [objective]
        function = "objmod:objective"
        [objective.options]
        shift = 1.0
    """) + extra)
    return cfg


def cli(argv):
    from tinygrad_init.search.cli import main

    buf = io.StringIO()
    code = main(argv, console=Console(file=buf, width=200))
    return code, buf.getvalue()


def test_cli_runs_resumes_and_shows(tmp_path, capsys):
    cfg = write_config(tmp_path)
    code, out = cli([str(cfg), "--set", "search.n_trials=3"])
    assert code == 0 and "3 trials (3 complete" in out
    code, out = cli([str(cfg)])
    assert code == 0 and "4 trials (4 complete" in out and "trial 3 complete" in out and "trial 2 " not in out
    study = load_study(tmp_path / "s.db", "lr")
    assert all(t.value == (math.log10(t.params["lr"]) + 2) ** 2 + 1.0 for t in study.trials)
    code, out = cli(["show", str(tmp_path / "s.db")])
    assert code == 0 and f"best trial #{study.best_trial.number}" in out and "lr = " in out


@pytest.mark.parametrize("override, message", [
    ("search.n_trials=-1", "s.toml: search.n_trials: n_trials=-1 is invalid"),
    ("search.strategy='grdi'", "did you mean 'grid'"),
    ("search.workers=0", "s.toml: search.workers: workers=0 is invalid"),
    ("search.executor='threads'", "s.toml: search.executor: executor='threads' is invalid"),
    ("search.bogus=1", "unknown field search.bogus"),
    ("space.lr.lo=0", "dimension 'lr' (loguniform): lo=0"),
    ("objective.function='objmod:nope'", "objective.function = 'objmod:nope' is invalid"),
    ("objective.kind='magic'", "objective.kind = 'magic' is invalid"),
])
def test_cli_config_errors_name_the_field(tmp_path, capsys, override, message):
    cfg = write_config(tmp_path)
    code, _ = cli([str(cfg), "--set", override])
    assert code == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s.db").exists()


def test_parallel_resume_gives_the_uninterrupted_study(tmp_path):
    reference = run(Interrupt(-1), conformance_space(), strategy="random", n_trials=12, seed=9)
    db = str(tmp_path / "p.db")
    obj = Interrupt(at=5)
    with pytest.raises(KeyboardInterrupt):
        with ThreadPoolExecutor(3) as ex:
            run(obj, conformance_space(), strategy="random", n_trials=12, seed=9, executor=ex, storage=db)
    half = load_study(db)
    assert half.trials[5].status == "running"
    obj.calls.clear()
    with ThreadPoolExecutor(3) as ex:
        study = run(obj, conformance_space(), strategy="random", n_trials=12, seed=9, executor=ex, storage=db)
    redone = [t.number for t in half.trials if t.status == "running"]
    assert sorted(obj.calls) == sorted(redone + list(range(len(half.trials), 12)))
    assert summary(study) == summary(reference)


def test_cli_train_objective_with_hyperband(tmp_path):
    (tmp_path / "train.toml").write_text(TRAIN.replace("epochs = 1\n", "epochs = 50\n"))
    cfg = tmp_path / "s.toml"
    cfg.write_text(textwrap.dedent("""
        [search]
        strategy = "random"
        n_trials = 10
        storage = "sqlite:///s.db"
        pruner = "hyperband"
        [search.pruner_options]
        max_resource = 3
        [space."optimizer.lr"]
        type = "loguniform"
        lo = 1e-3
        hi = 1.0
        [objective]
        kind = "train"
        config = "train.toml"
    """))
    code, out = cli([str(cfg)])
    assert code == 0, out
    study = load_study(tmp_path / "s.db")
    # max_resource=3, eta=3: bracket s=1 (3 configs, judged after epoch 1), s=0 (2 configs, never
    # judged), assigned 1, 0, 1, 0, 1 per cycle; every trial may train 3 epochs
    assert len(study.trials) == 10 and [t.budget for t in study.trials] == [3] * 10
    assert all(0 < t.value < 10 for t in study.trials)
    first = []  # the rule on bracket 1's val_loss after epoch 1: keep the best max(1, m // 3) so far
    for t in study.trials:
        if t.number % 5 in (0, 2, 4):
            first.append(t.intermediate[0][1])
            keep = sorted(first)[:max(1, len(first) // 3)]
            assert t.status == ("complete" if first[-1] in keep else "pruned"), t
        else:
            assert t.status == "complete"
        assert len(t.intermediate) == (3 if t.status == "complete" else 1)  # epochs actually trained
    pruned = study.counts()["pruned"]
    assert 0 < pruned < 6 and f"{pruned} pruned" in out
    code, _ = cli([str(cfg), "--set", "objective.options.bogus=1", "--set", "search.study='b'"])
    assert code == 1
