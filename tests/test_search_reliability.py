"""Search reliability (issues 20.5, 21.5-7, 22): per-trial timeouts, SystemExit, bounded
retries of trials left running by crashes, bounded error text, the lock of a hard-linked
file, damaged or foreign study files, broken objective modules, NaN choices, unit values
out of range; and the old study-file schema migrated."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tinygrad_init.search import Choice, IntUniform, LogUniform, Space, StorageError, Uniform, load_study, run
from tinygrad_init.search.storage import ERROR_LIMIT, Storage

from test_search_cli import run_cli  # noqa: E402 - the tests directory is on sys.path
from test_search_storage import run_python  # noqa: E402

SPACE = {"x": Uniform(0, 1)}


def sleeps_at_1(trial):
    """Module level (picklable): trial 1 hangs, the others return at once."""
    if trial.number == 1:
        time.sleep(8)
    return trial.params["x"]


@pytest.mark.parametrize("executor", [None, "threads", "process"])
def test_a_trial_over_its_timeout_fails_with_a_reason_and_the_search_goes_on(executor):
    if executor == "threads":  # a thread cannot be interrupted: the driver gives up on it
        ex = ThreadPoolExecutor(2)
        study = run(sleeps_at_1, SPACE, strategy="random", n_trials=4, timeout=0.5, executor=ex)
        ex.shutdown(wait=False)
    else:
        study = run(sleeps_at_1, SPACE, strategy="random", n_trials=4, timeout=0.5, executor=executor,
                    workers=2 if executor else None)
    assert [t.status for t in study.trials] == ["complete", "failed", "complete", "complete"]
    # interrupted (or given up on) at the timeout, not waited for ("took 8 s, over the timeout")
    assert study.trials[1].error.startswith("timed out after 0.5 s")
    with pytest.raises(ValueError, match=r"timeout=0 is invalid: must be a number of seconds > 0"):
        run(sleeps_at_1, SPACE, strategy="random", timeout=0)


def test_system_exit_in_an_objective_is_a_failed_trial():
    def objective(trial):
        if trial.number == 0:
            sys.exit("bye from the objective")
        return trial.params["x"]

    study = run(objective, SPACE, strategy="random", n_trials=2)
    assert [t.status for t in study.trials] == ["failed", "complete"]
    assert study.trials[0].error.startswith("SystemExit: bye from the objective")


def test_stored_error_text_is_bounded(tmp_path):
    def objective(trial):
        raise RuntimeError("start " + "x" * 200_000 + " end")

    run(objective, SPACE, strategy="random", n_trials=1, storage=str(tmp_path / "s.db"))
    error = load_study(str(tmp_path / "s.db")).trials[0].error
    assert len(error) <= ERROR_LIMIT and error.startswith("RuntimeError: start xxx") and "characters cut" in error
    assert "end" in error  # the tail (the traceback's last lines) is kept too


def test_a_trial_that_keeps_killing_its_driver_is_retried_a_bounded_number_of_times(tmp_path):
    db = tmp_path / "k.db"
    script = textwrap.dedent(f"""
        import os
        from tinygrad_init.search import Uniform, run
        def objective(trial):
            if trial.number == 1:
                os._exit(9)  # takes the driver down (executor=None: it runs in the driver)
            return trial.params["x"]
        study = run(objective, {{"x": Uniform(0, 1)}}, strategy="random", n_trials=3, storage={str(db)!r},
                    max_retries=1)
        print([t.status for t in study.trials])
    """)
    for attempt in (1, 2):
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 9
        t = load_study(str(db)).trials[1]
        assert t.status == "running" and t.attempts == attempt
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "['complete', 'failed', 'complete']", proc.stderr
    failed = load_study(str(db)).trials[1]
    assert failed.attempts == 2 and "left 'running' by 2 interrupted attempts" in failed.error
    assert "max_retries=1" in failed.error
    with pytest.raises(ValueError, match="max_retries=-1 is invalid"):
        run(lambda t: 0.0, SPACE, strategy="random", max_retries=-1)


def test_a_hard_link_to_the_study_file_shares_its_lock(tmp_path):
    path = tmp_path / "s.db"
    Storage(str(path)).close()
    other = tmp_path / "elsewhere"
    other.mkdir()
    os.link(path, other / "same.db")
    a = Storage(str(path))
    a.lock_study(1, "lr")
    out = run_python(f"""
        from tinygrad_init.search.storage import Storage, StorageError
        try:
            Storage({str(other / "same.db")!r}).lock_study(1, "lr"); print("locked")
        except StorageError as exc:
            print("refused")
    """).stdout.strip()
    a.close()
    assert out == "refused"
    assert not os.path.exists(str(path) + ".lock")  # nothing is written next to the study file


def one_line_storage_error(path, match):
    with pytest.raises(StorageError, match=match) as info:
        load_study(str(path))
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    return str(info.value)


def test_foreign_tables_and_a_damaged_page_are_one_line_errors(tmp_path):
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as c:  # another program's tables of the same names
        c.execute("CREATE TABLE studies (key TEXT, blob BLOB)")
        c.execute("CREATE TABLE trials (id INTEGER, payload TEXT)")
    msg = one_line_storage_error(foreign, "is an SQLite file but not a tinygrad_init study file")
    assert "studies(key, blob)" in msg
    with pytest.raises(StorageError, match="not a tinygrad_init study file"):
        run(lambda t: 0.0, SPACE, strategy="random", n_trials=1, storage=str(foreign))

    damaged = tmp_path / "damaged.db"
    run(lambda t: t.params["x"], SPACE, strategy="random", n_trials=300, storage=str(damaged))
    data = bytearray(damaged.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    data[6 * page: 6 * page + 64] = b"\xff" * 64  # garbage over the header of a page of the trials b-tree
    damaged.write_bytes(bytes(data))
    one_line_storage_error(damaged, r"cannot open study storage .*damaged|malformed")
    with pytest.raises(StorageError, match="damaged|malformed"):
        run(lambda t: 0.0, SPACE, strategy="random", n_trials=400, storage=str(damaged))


def test_broken_json_in_a_row_names_the_file_the_study_and_the_trial(tmp_path):
    db = tmp_path / "s.db"
    run(lambda t: t.params["x"], SPACE, strategy="random", n_trials=3, storage=str(db), study="lr")
    with sqlite3.connect(db) as c:
        c.execute("UPDATE trials SET params = '{\"x\": 0.5' WHERE number = 2")
    msg = one_line_storage_error(db, r"study 'lr', trial 2: column params is not valid JSON")
    assert "s.db" in msg
    with sqlite3.connect(db) as c:
        c.execute("UPDATE trials SET params = '{}', intermediate = '[[1, \"a\"' WHERE number = 2")
    one_line_storage_error(db, r"trial 2: column intermediate is not valid JSON")
    with sqlite3.connect(db) as c:
        c.execute("UPDATE studies SET space = 'nope'")
    one_line_storage_error(db, r"study 'lr': column space is not valid JSON")


def test_an_old_study_file_is_migrated_and_resumes(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as c:  # the schema before the study/sampler split, with a running trial
        c.executescript("""
            CREATE TABLE studies (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, space TEXT NOT NULL,
                strategy TEXT NOT NULL, strategy_options TEXT NOT NULL, seed INTEGER, created REAL NOT NULL);
            CREATE TABLE trials (study_id INTEGER NOT NULL REFERENCES studies(id), number INTEGER NOT NULL,
                params TEXT NOT NULL, budget REAL, status TEXT NOT NULL, value REAL,
                intermediate TEXT NOT NULL DEFAULT '[]', started REAL, finished REAL, error TEXT,
                batch INTEGER NOT NULL, tells_before INTEGER NOT NULL, tell_order INTEGER,
                PRIMARY KEY (study_id, number));
        """)
        c.execute("INSERT INTO studies VALUES (1, 'old', ?, 'random', '{}', 0, 0.0)",
                  (json.dumps(Space(SPACE).to_dict()),))
        c.execute("INSERT INTO trials VALUES (1, 0, '{\"x\": 0.25}', NULL, 'complete', 0.25, '[]', 1, 2, NULL, 0, 0, 0)")
        c.execute("INSERT INTO trials VALUES (1, 1, '{\"x\": 0.75}', NULL, 'running', NULL, '[]', 3, NULL, NULL, 1, 1, NULL)")
    assert [t.status for t in load_study(str(db)).trials] == ["complete", "running"]  # read as it is
    calls = []
    study = run(lambda t: calls.append(t.number) or t.params["x"], SPACE, strategy="random", n_trials=3,
                storage=str(db), study="old")
    assert calls == [1, 2] and [t.status for t in study.trials] == ["complete"] * 3
    assert study.trials[1].params == {"x": 0.75}
    cols = [r[1] for r in sqlite3.connect(db).execute("PRAGMA table_info(trials)")]
    assert "batch" not in cols and "tell_order" not in cols and "attempts" in cols


@pytest.fixture
def broken_module_config(tmp_path):
    def make(source):
        mod = f"broken_{abs(hash(source)) % 10**8}"
        (tmp_path / f"{mod}.py").write_text(textwrap.dedent(source))
        cfg = tmp_path / "b.toml"
        cfg.write_text(textwrap.dedent(f"""
            [search]
            n_trials = 1
            storage = "b.db"
            [space.x]
            type = "uniform"
            lo = 0.0
            hi = 1.0
            [objective]
            function = "{mod}:objective"
        """))
        return cfg, mod
    return make


@pytest.mark.parametrize("source, message", [
    ("def objective(trial)\n    return 1.0\n", "failed (line 1): SyntaxError"),
    ("raise RuntimeError('no data here')\n", "failed: RuntimeError: no data here"),
    ("import sys\nsys.exit(3)\n", "failed: SystemExit: 3"),
])
def test_an_objective_module_that_cannot_be_imported_is_a_config_error(broken_module_config, source, message):
    cfg, mod = broken_module_config(source)
    code, out = run_cli([cfg])
    assert code == 1 and f"b.toml: objective.function = '{mod}:objective' is invalid: importing module" in out
    assert message in out and "Traceback" not in out
    assert not (cfg.parent / "b.db").exists()


def test_nan_choices_are_rejected_when_the_space_is_built():
    with pytest.raises(ValueError, match=r"dimension 'c' \(choice\): option nan is invalid: options must be finite"):
        Space({"c": {"type": "choice", "options": [float("nan"), 1.0]}})  # as a config's [space.c] builds it
    with pytest.raises(ValueError, match=r"choice: option nan is invalid"):
        Space({"c": Choice([float("nan"), 1.0])})
    with pytest.raises(ValueError, match="option inf is invalid"):
        Choice([1.0, float("inf")])


@pytest.mark.parametrize("dim", [Uniform(0, 1), LogUniform(1e-3, 1), IntUniform(1, 9), Choice(["a", "b"])])
def test_from_unit_outside_the_unit_interval_is_an_error(dim):
    space = Space({"d": dim})
    assert space.contains(space.from_unit([1.0])) and space.contains(space.from_unit([0.0]))
    for u in (1.0 + 1e-9, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"dimension 'd' .*from_unit\(.*\) is invalid: a unit value must be in \[0, 1\]"):
            space.from_unit([u])
