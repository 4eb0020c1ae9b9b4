"""The runner under trouble (bad executors, a second driver, a worker process dying,
a killed driver's workers, a study reopened with its dimensions reordered) and
``direction="maximize"``."""
from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from tinygrad_init.search import StorageError, TrialPruned, Uniform, load_study, run


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def quadratic(trial):
    return (trial.params["x"] - 0.3) ** 2


def dies_at_09(trial):
    """Module level (picklable): the configuration x = 0.9 kills its worker process."""
    if trial.params["x"] == 0.9:
        os._exit(3)
    time.sleep(0.05)
    return trial.params["x"]


@pytest.fixture
def study_file(tmp_path):
    db = tmp_path / "s.db"
    run(quadratic, {"x": Uniform(0, 1), "y": Uniform(0, 1)}, strategy="random", n_trials=2,
        storage=str(db), study="a")
    return db


def test_a_bad_executor_is_refused_before_the_study_file_is_touched(study_file):
    before = sha256(study_file)
    space = {"x": Uniform(0, 1), "y": Uniform(0, 1)}
    with pytest.raises(ValueError, match=r"workers=2 needs an executor"):
        run(quadratic, space, strategy="random", n_trials=2, storage=str(study_file), study="b", workers=2)
    with pytest.raises(ValueError, match=r"executor='dask://a:b' is invalid: .*integer port"):
        run(quadratic, space, strategy="random", n_trials=2, storage=str(study_file), study="b",
            executor="dask://a:b")
    with pytest.raises(ValueError, match=r"executor='threads' is invalid"):
        run(quadratic, space, strategy="random", n_trials=2, storage=str(study_file), study="b", executor="threads")
    assert sha256(study_file) == before and load_study(str(study_file)).name == "a"


def test_the_same_dimensions_in_another_order_are_another_space(study_file):
    before = sha256(study_file)
    with pytest.raises(ValueError, match=r"study 'a' .* was created with another space"):
        run(quadratic, {"y": Uniform(0, 1), "x": Uniform(0, 1)}, strategy="random", n_trials=4,
            storage=str(study_file), study="a")
    assert sha256(study_file) == before


def slow_driver(tmp_path, workers: int = 1, strategy: str | None = None) -> subprocess.Popen:
    """A search in another process whose trials write their pid and then sleep."""
    (tmp_path / "slowmod.py").write_text(textwrap.dedent(f"""
        import os, time
        def objective(trial):
            open(os.path.join({str(tmp_path)!r}, f"pid-{{os.getpid()}}"), "w").close()
            time.sleep(30)
            return 0.0
    """))
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import slowmod
        from tinygrad_init.search import Uniform, run
        run(slowmod.objective, {{"x": Uniform(0, 1)}}, strategy="random", pruner={strategy!r}, n_trials=4,
            storage={str(tmp_path / "s.db")!r}, study="slow",
            executor={"'process'" if workers > 1 else None}, workers={workers if workers > 1 else None})
    """)
    return subprocess.Popen([sys.executable, "-c", code])


def wait_for_pids(tmp_path, n: int, timeout: float = 60.0) -> list[int]:
    end = time.time() + timeout
    while time.time() < end:
        pids = [int(f.split("-")[1]) for f in os.listdir(tmp_path) if f.startswith("pid-")]
        if len(pids) >= n:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} trials started within {timeout} s")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:  # an unreaped zombie has exited too
            return "\nState:\tZ" not in f.read()
    except FileNotFoundError:
        return False


def test_a_second_driver_of_a_running_study_is_refused(tmp_path):
    driver = slow_driver(tmp_path)
    try:
        wait_for_pids(tmp_path, 1)
        with pytest.raises(StorageError, match=r"study 'slow' in .* is in use by another search process"):
            run(quadratic, {"x": Uniform(0, 1)}, strategy="random", n_trials=4, storage=str(tmp_path / "s.db"),
                study="slow")
    finally:
        driver.kill()
        driver.wait()
    study = load_study(str(tmp_path / "s.db"))
    assert [t.status for t in study.trials] == ["running"]  # the second driver ran nothing


def children(pid: int) -> list[int]:
    out = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:  # the field after the state: ppid
                    out.append(int(entry))
        except (FileNotFoundError, ProcessLookupError):  # ended meanwhile
            pass
    return out


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to see the workers")
@pytest.mark.parametrize("strategy", [None, "hyperband"])
def test_the_processes_of_a_killed_driver_end_too(tmp_path, strategy):
    driver = slow_driver(tmp_path, workers=2, strategy=strategy)
    try:
        pids = wait_for_pids(tmp_path, 2)
        assert all(alive(p) for p in pids)
        pids = sorted(set(pids) | set(children(driver.pid)))
        assert len(pids) >= 2
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    end = time.time() + 10
    while any(alive(p) for p in pids) and time.time() < end:
        time.sleep(0.1)
    assert not any(alive(p) for p in pids), "orphaned processes are still running"


def test_a_dying_worker_process_fails_only_its_own_trial(tmp_path):
    configs = [{"x": x} for x in (0.1, 0.9, 0.2, 0.3, 0.4)]
    study = run(dies_at_09, {"x": Uniform(0, 1)}, strategy="manual", strategy_options={"configs": configs},
                n_trials=5, storage=str(tmp_path / "s.db"), study="crash", executor="process", workers=2)
    by_x = {t.params["x"]: t for t in study.trials}
    assert len(study.trials) == 5 and sorted(by_x) == [0.1, 0.2, 0.3, 0.4, 0.9]
    assert by_x[0.9].status == "failed" and "worker process died" in by_x[0.9].error
    assert all(by_x[x].status == "complete" and by_x[x].value == x for x in (0.1, 0.2, 0.3, 0.4))
    stored = load_study(str(tmp_path / "s.db"))  # and so in the file
    assert sorted((t.params["x"], t.status) for t in stored.trials) == sorted((x, t.status) for x, t in by_x.items())


# --------------------------------------------------------------------------- direction


def peak(trial):
    return 1.0 - (trial.params["x"] - 0.3) ** 2  # an "accuracy": highest at x = 0.3


def test_maximize_finds_the_highest_value_and_tells_strategies_the_negated_value(tmp_path):
    for strategy in ("random", "bayes", "tpe"):
        up = run(peak, {"x": Uniform(0, 1)}, strategy=strategy, n_trials=15, seed=2, direction="maximize")
        down = run(lambda t: -peak(t), {"x": Uniform(0, 1)}, strategy=strategy, n_trials=15, seed=2)
        # the strategy sees the same numbers either way: the same proposals
        assert [t.params for t in up.trials] == [t.params for t in down.trials]
        assert up.best_value == max(t.value for t in up.trials) == -down.best_value
        assert up.best_trial.number == down.best_trial.number
        if strategy == "bayes":
            assert abs(up.best_params["x"] - 0.3) < 0.02


def accuracy_curve(trial):
    """Reports an accuracy that grows with the epoch; the better x, the higher."""
    for epoch in range(1, int(trial.budget) + 1):
        value = peak(trial) - 1.0 / epoch
        trial.report(epoch, value)
        if trial.should_prune():
            raise TrialPruned(f"epoch {epoch}")
    return value


def loss_curve(trial):
    for epoch in range(1, int(trial.budget) + 1):
        value = -(peak(trial) - 1.0 / epoch)
        trial.report(epoch, value)
        if trial.should_prune():
            raise TrialPruned(f"epoch {epoch}")
    return value


def test_hyperband_prunes_the_lowest_when_maximizing():
    opts = {"max_resource": 9}
    up = run(accuracy_curve, {"x": Uniform(0, 1)}, strategy="random", pruner="hyperband", pruner_options=opts,
             n_trials=17, seed=0, direction="maximize")
    down = run(loss_curve, {"x": Uniform(0, 1)}, strategy="random", pruner="hyperband", pruner_options=opts,
               n_trials=17, seed=0)
    assert [t.status for t in up.trials] == [t.status for t in down.trials]
    assert "pruned" in [t.status for t in up.trials]
    assert [len(t.intermediate) for t in up.trials] == [len(t.intermediate) for t in down.trials]


def test_the_direction_is_part_of_the_study(tmp_path):
    db = str(tmp_path / "s.db")
    run(peak, {"x": Uniform(0, 1)}, strategy="random", n_trials=3, storage=db, study="acc", direction="maximize")
    before = sha256(db)
    with pytest.raises(ValueError, match=r"created with another direction 'maximize' \(now 'minimize'\)"):
        run(peak, {"x": Uniform(0, 1)}, strategy="random", n_trials=5, storage=db, study="acc")
    with pytest.raises(ValueError, match=r"direction='up' is invalid: must be 'minimize' or 'maximize'"):
        run(peak, {"x": Uniform(0, 1)}, strategy="random", n_trials=5, storage=db, study="acc", direction="up")
    assert sha256(db) == before
    study = load_study(db)
    assert study.direction == "maximize" and study.best_value == max(t.value for t in study.trials)


def test_a_study_file_from_before_directions_is_read_as_minimize(tmp_path):
    db = str(tmp_path / "old.db")
    run(quadratic, {"x": Uniform(0, 1)}, strategy="random", n_trials=3, storage=db, study="old")
    with sqlite3.connect(db) as c:  # the schema as it was: no direction column
        c.execute("ALTER TABLE studies DROP COLUMN direction")
    before = sha256(db)
    assert load_study(db).direction == "minimize" and sha256(db) == before  # read-only: unchanged
    with pytest.raises(ValueError, match="created with another seed"):  # refused: nothing written
        run(quadratic, {"x": Uniform(0, 1)}, strategy="random", n_trials=5, storage=db, study="old", seed=1)
    assert sha256(db) == before
    study = run(quadratic, {"x": Uniform(0, 1)}, strategy="random", n_trials=5, storage=db, study="old")
    assert study.direction == "minimize" and len(study.trials) == 5  # resumed as it was
    new = run(peak, {"x": Uniform(0, 1)}, strategy="random", n_trials=2, storage=db, study="new",
              direction="maximize")  # a new study adds the column
    assert new.direction == "maximize"
    assert load_study(db, "old").direction == "minimize" and load_study(db, "new").direction == "maximize"
