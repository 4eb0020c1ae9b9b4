"""`tinygrad-init search`: config errors that would fail every trial are refused up front.

Each error names the field, the value and what is allowed, and comes before any
trial runs or anything is written: the study file does not exist afterwards, or
is byte-identical when it held a study already.
"""
import argparse
import hashlib
import textwrap
import uuid
from pathlib import Path

import pytest
from rich.console import Console

from tinygrad_init.cli import build_parser, main
from tinygrad_init.search import cli as search_cli
from tinygrad_init.search import load_study

ROOT = Path(__file__).parents[1]

TRAIN = """
[data]
name = "moons"
n_samples = 120
seed = 0
[model]
layers = [{ type = "linear", out = 8 }, { type = "relu" }, { type = "linear", out = 2 }]
[optimizer]
name = "sgd"
lr = 0.1
[train]
epochs = 1
batch_size = 32
"""


def run_cli(args):
    console = Console(width=400, force_terminal=False)
    with console.capture() as cap:
        code = main(["search", *map(str, args)], console=console)
    return code, " ".join(cap.get().split())  # one line: no wrapping in the assertions


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fn_config(tmp_path):
    """A search config over x in [0, 1] whose objective is a function in a module next to it
    (a fresh module name per test: the config's directory goes on sys.path)."""
    mod = f"scli_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{mod}.py").write_text(textwrap.dedent("""
        def quad(trial, shift=0.0):
            return (trial.params["x"] - 0.3) ** 2 + shift

        def needs_x(trial, x):
            return x

        def fails(trial):
            raise RuntimeError("boom on purpose\\nsecond line")
    """))
    cfg = tmp_path / "f.toml"
    cfg.write_text(textwrap.dedent(f"""
        [search]
        strategy = "random"
        n_trials = 2
        storage = "sqlite:///f.db"
        study = "main"
        [space.x]
        type = "uniform"
        lo = 0.0
        hi = 1.0
        [objective]
        function = "{mod}:quad"
    """))
    return cfg


@pytest.fixture
def train_config(tmp_path):
    (tmp_path / "train.toml").write_text(TRAIN)
    cfg = tmp_path / "t.toml"
    cfg.write_text(textwrap.dedent("""
        [search]
        strategy = "random"
        n_trials = 1
        storage = "sqlite:///t.db"
        study = "main"
        [space."optimizer.lr"]
        type = "loguniform"
        lo = 1e-3
        hi = 1.0
        [objective]
        kind = "train"
        config = "train.toml"
    """))
    return cfg


def existing_study(cfg: Path, db: Path) -> str:
    """Run the config once (a study in the file), return the file's sha256."""
    code, out = run_cli([cfg])
    assert code == 0, out
    assert db.exists()
    return sha(db)


# ----------------------------------------------------------------- 1. objective config


def test_function_objective_options_are_checked_against_its_signature(fn_config):
    db = fn_config.parent / "f.db"
    code, out = run_cli([fn_config, "--set", "objective.options.foo=1"])
    assert code == 1
    assert "objective.options.foo = 1 is invalid" in out and "has no parameter 'foo'" in out
    assert "its options are: shift" in out
    assert not db.exists()
    # an option named like a dimension: the objective reads it from trial.params
    code, out = run_cli([fn_config, "--set", "objective.options.x=0.5"])
    assert code == 1 and "objective.options.x = 0.5 is invalid" in out and "trial.params['x']" in out
    assert not db.exists()
    # a parameter without a value (here: a dimension the function expects as an argument)
    mod = fn_config.read_text().split('function = "')[1].split(":")[0]
    code, out = run_cli([fn_config, "--set", f"objective.function='{mod}:needs_x'"])
    assert code == 1 and f"objective.function = '{mod}:needs_x' is invalid" in out
    assert "parameter 'x' has no value" in out and "trial.params['x']" in out
    assert not db.exists()
    # fixed, it runs every trial (nothing was recorded as failed before)
    code, out = run_cli([fn_config, "--set", "objective.options.shift=1.0"])
    assert code == 0 and "2 trials (2 complete, 0 failed" in out
    before = sha(db)
    code, out = run_cli([fn_config, "--set", "objective.options.shfit=1.0", "--set", "search.n_trials=4"])
    assert code == 1 and "objective.options.shfit = 1.0 is invalid" in out and "did you mean 'shift'?" in out
    assert sha(db) == before


def test_train_objective_monitor_must_be_a_logged_metric(train_config):
    db = train_config.parent / "t.db"
    before = existing_study(train_config, db)
    code, out = run_cli([train_config, "--set", "objective.options.monitor='val_los'", "--set", "search.n_trials=2"])
    assert code == 1
    assert "objective.options.monitor = 'val_los' is invalid: did you mean 'val_loss'?" in out
    assert "train_loss, train_acc, val_loss, val_acc" in out
    assert sha(db) == before


def test_train_objective_misspelled_dimension_path_is_named(train_config):
    db = train_config.parent / "t.db"
    code, out = run_cli([train_config, "--set", 'space."optimizer.lrr".type="uniform"',
                         "--set", 'space."optimizer.lrr".lo=0.1', "--set", 'space."optimizer.lrr".hi=0.5'])
    assert code == 1
    assert '[space."optimizer.lrr"] is invalid' in out and "optimizer.lrr = 0.3" in out
    assert "unknown hyperparameter 'lrr' (did you mean 'lr'?)" in out
    assert not db.exists()
    # a path into nothing: the model has three layers
    code, out = run_cli([train_config, "--set", 'space."model.layers.7.out".type="int"',
                         "--set", 'space."model.layers.7.out".lo=2', "--set", 'space."model.layers.7.out".hi=8'])
    assert code == 1 and '[space."model.layers.7.out"] is invalid' in out and "has no item '7'" in out
    assert not db.exists()


def test_train_objective_float_dimension_for_an_integer_field(train_config):
    db = train_config.parent / "t.db"
    before = existing_study(train_config, db)
    sets = ["--set", 'space."model.layers.0.out".type="uniform"', "--set", 'space."model.layers.0.out".lo=4',
            "--set", 'space."model.layers.0.out".hi=16', "--study", "width"]
    code, out = run_cli([train_config, *sets])
    assert code == 1
    assert '[space."model.layers.0.out"] is invalid' in out and "model.layers.0.out = 10.0" in out
    assert "must be an integer" in out and 'use type = "int"' in out
    assert sha(db) == before
    # an int dimension whose low end the layer refuses
    code, out = run_cli([train_config, *sets, "--set", 'space."model.layers.0.out".type="int"',
                         "--set", 'space."model.layers.0.out".lo=0'])
    assert code == 1 and "model.layers.0.out = 0" in out and "out_features=0 is invalid" in out
    assert sha(db) == before


def test_train_objective_monitor_must_agree_with_the_direction(train_config):
    """7: an accuracy wants search.direction = "maximize", a loss "minimize" (else the worst trial is 'best')."""
    db = train_config.parent / "t.db"
    for monitor in ("val_acc", "train_acc"):
        code, out = run_cli([train_config, "--set", f"objective.options.monitor='{monitor}'"])
        assert code == 1
        assert f"objective.options.monitor = '{monitor}' is invalid" in out
        assert "higher-is-better but the search minimizes" in out and 'search.direction = "maximize"' in out
        assert not db.exists()
    code, out = run_cli([train_config, "--set", 'search.direction="maximize"'])  # monitor val_loss
    assert code == 1 and "val_loss is a loss (lower is better)" in out and not db.exists()
    code, out = run_cli([train_config, "--set", 'search.direction="upward"'])
    assert code == 1 and "t.toml: search.direction: direction='upward' is invalid" in out and not db.exists()


def test_train_objective_maximizing_the_validation_accuracy(train_config):
    code, out = run_cli([train_config, "--set", "objective.options.monitor='val_acc'", "--set",
                         'search.direction="maximize"', "--set", "search.n_trials=3"])
    assert code == 0, out
    study = load_study(str(train_config.parent / "t.db"))
    accs = [t.value for t in study.trials]
    assert study.direction == "maximize" and len(accs) == 3 and all(0.0 <= a <= 1.0 for a in accs)
    assert study.best_value == max(accs)
    assert f"best #{study.best_trial.number} {study.best_value:.6g}" in out


# ----------------------------------------------------------------- 2. executor none


def test_explicit_executor_none_wins_over_config_workers(fn_config):
    db = fn_config.parent / "f.db"
    ns = argparse.Namespace(workers=None, executor="none")
    config = search_cli.load_config(str(fn_config), ["search.workers=4"])
    kwargs = search_cli.resolve(config, str(fn_config), ns)
    assert kwargs["executor"] is None and kwargs["workers"] is None
    # without --executor, workers > 1 still implies a process pool
    kwargs = search_cli.resolve(search_cli.load_config(str(fn_config), ["search.workers=4"]), str(fn_config))
    assert kwargs["executor"] == "process" and kwargs["workers"] == 4
    code, out = run_cli([fn_config, "--set", "search.workers=4", "--executor", "none"])
    assert code == 0 and "2 trials (2 complete" in out
    before = sha(db)
    # both given explicitly, at the same level: a contradiction
    code, out = run_cli([fn_config, "--workers", "2", "--executor", "none", "--set", "search.n_trials=3"])
    assert code == 1 and "--workers 2 is invalid with --executor 'none'" in out
    code, out = run_cli([fn_config, "--set", "search.workers=4", "--set", "search.executor='none'",
                         "--set", "search.n_trials=3"])
    assert code == 1 and "search.workers = 4 is invalid with search.executor = 'none'" in out
    assert sha(db) == before


# ----------------------------------------------------------------- 3. strategy options


@pytest.mark.parametrize("override, message", [
    ("search.options.seed=1", "search.options.seed = 1 is invalid: the seed is search.seed"),
    ("search.options.space=1", "search.options: strategy_options: space=1 is not a strategy option"),
    ("search.options.foo=1", "search.options: strategy 'random' has no option 'foo'; it takes no options"),
])
def test_strategy_option_errors_name_the_option(fn_config, override, message):
    db = fn_config.parent / "f.db"
    code, out = run_cli([fn_config, "--set", override])
    assert code == 1 and message in out and "multiple values" not in out
    assert not db.exists()


def test_strategy_option_errors_list_the_real_options(fn_config):
    db = fn_config.parent / "f.db"
    before = existing_study(fn_config, db)
    code, out = run_cli([fn_config, "--set", "search.strategy='tpe'", "--set", "search.options.n_startp=9",
                         "--study", "tpe"])
    assert code == 1 and "f.toml: search.options: strategy 'tpe' has no option 'n_startp'" in out
    assert "did you mean 'n_startup'?" in out and "its options are: n_startup, n_ei_candidates" in out
    assert "space" not in out.split("its options are:")[1] and "seed" not in out.split("its options are:")[1]
    code, out = run_cli([fn_config, "--set", "search.pruner='hyperband'", "--set",
                         "search.pruner_options.max_resourc=9", "--study", "hb"])
    assert code == 1 and "f.toml: search.pruner_options: pruner 'hyperband' has no option 'max_resourc'" in out
    assert "did you mean 'max_resource'?" in out and "its options are: max_resource, min_resource" in out
    code, out = run_cli([fn_config, "--set", "search.pruner='hyperbnd'", "--study", "hb"])
    assert code == 1 and "f.toml: search.pruner: unknown pruner 'hyperbnd'; did you mean 'hyperband'?" in out
    code, out = run_cli([fn_config, "--set", "search.strategy='grid'", "--set", "space.x.type='loguniform'",
                         "--set", "space.x.lo=0.1", "--study", "grid"])
    assert code == 1 and "search.options: grid: dimension 'x' (loguniform): has no step, so a grid needs n" in out
    code, out = run_cli([fn_config, "--set", "search.strategy='grid'", "--set", "search.options.n=0", "--study", "grid"])
    assert code == 1 and "search.options: grid: n=0 is invalid: must be an integer >= 1" in out
    assert sha(db) == before


# ----------------------------------------------------------------- 4. --executor


@pytest.mark.parametrize("executor, message", [
    ("dask://a:b", "--executor: executor='dask://a:b' is invalid: a Dask scheduler is 'dask://host:port'"),
    ("dask://localhost", "--executor: executor='dask://localhost' is invalid"),
    ("threads", "--executor: executor='threads' is invalid: must be None (in process), 'process', 'dask://host:port'"),
])
def test_executor_is_validated_before_the_study_is_created(fn_config, executor, message):
    db = fn_config.parent / "f.db"
    code, out = run_cli([fn_config, "--executor", executor])
    assert code == 1 and message in out and "invalid literal" not in out
    assert not db.exists()
    if executor == "dask://a:b":
        assert "the port 'b' is not an integer" in out
        before = existing_study(fn_config, db)
        code, out = run_cli([fn_config, "--executor", executor, "--set", "search.n_trials=3"])
        assert code == 1 and message in out and sha(db) == before


# ----------------------------------------------------------------- 5. search show


def test_show_with_several_studies_asks_for_the_study_option(fn_config):
    db = fn_config.parent / "f.db"
    assert run_cli([fn_config, "--study", "a"])[0] == 0
    assert run_cli([fn_config, "--study", "b"])[0] == 0
    before = sha(db)
    code, out = run_cli(["show", db])
    assert code == 1
    assert "holds 2 studies (a, b): name one with --study NAME" in out and "load_study" not in out
    code, out = run_cli(["show", db, "--study", "b"])
    assert code == 0 and "study 'b' (random, minimize)" in out
    assert sha(db) == before


# ----------------------------------------------------------------- 6. why a trial failed


def test_non_terminal_output_says_why_a_trial_failed(fn_config):
    mod = fn_config.read_text().split('function = "')[1].split(":")[0]
    code, out = run_cli([fn_config, "--set", f"objective.function='{mod}:fails'"])
    assert code == 0 and "2 trials (0 complete, 2 failed" in out
    # the first line of the error, on the trial's own line (run_cli joins the output into one line)
    assert "trial 0 failed value= x=0.636962 | RuntimeError: boom on purpose trial 1 failed" in out
    assert "x=0.889739 | RuntimeError: boom on purpose study 'main'" in out and "second line" not in out


# ----------------------------------------------------------------- help and docs


def test_help_and_docs_state_the_executor_rules():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    text = " ".join(sub.choices["search"].format_help().split())
    assert "--executor none|process|dask://HOST:PORT" in text
    assert "--workers N" in text and "--study NAME" in text
    assert "an error with --executor none" in text and "overrides the config's workers" in text
    docs = " ".join((ROOT / "docs" / "cli.md").read_text().split())
    section = docs.split("## Search")[1]
    for phrase in ("--executor none", "--workers N", "--study NAME", "search.options.seed",
                   "objective.options.monitor", "higher-is-better", "search.direction"):
        assert phrase in section, phrase


# ----------------------------------------------------------------- 7. exports, plots, defaults


def test_show_csv_exports_every_trial(fn_config):
    import csv
    import io

    db = fn_config.parent / "f.db"
    existing_study(fn_config, db)
    console = Console(width=40, force_terminal=False)  # narrow: CSV lines must not wrap
    with console.capture() as cap:
        assert main(["search", "show", str(db), "--csv"], console=console) == 0
    rows = list(csv.DictReader(io.StringIO(cap.get())))
    study = load_study(db)
    assert [(int(r["number"]), r["status"], float(r["value"]), float(r["x"])) for r in rows] == [
        (t.number, t.status, t.value, t.params["x"]) for t in study.trials]
    assert study.to_records()[0]["x"] == study.trials[0].params["x"] and "duration" in rows[0]


def test_plot_writes_the_four_pngs(fn_config, tmp_path):
    pytest.importorskip("matplotlib")
    db = fn_config.parent / "f.db"
    run_cli([fn_config, "--set", "search.n_trials=6"])
    code, out = run_cli(["plot", db, "--out", tmp_path / "plots"])
    assert code == 0, out
    for name in ("history", "parallel", "slices", "importance"):
        png = tmp_path / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {png}" in out


def test_importance_is_the_main_effect_share_of_each_dimension():
    from tinygrad_init.search import IntUniform, Space, Trial, Uniform
    from tinygrad_init.search.plots import importance
    from tinygrad_init.search.runner import Study

    rng = __import__("numpy").random.default_rng(0)
    space = Space({"a": Uniform(0, 1), "b": Uniform(0, 1), "n": IntUniform(1, 4)})
    trials = []
    for i in range(60):  # the value depends on a alone; b and n are noise
        p = {"a": float(rng.random()), "b": float(rng.random()), "n": int(rng.integers(1, 5))}
        trials.append(Trial(i, p, status="complete", value=(p["a"] - 0.2) ** 2))
    imp = importance(Study("s", space, "random", {}, 0, "", trials))
    assert abs(sum(imp.values()) - 1.0) < 1e-12 and imp["a"] > 0.8 and max(imp["b"], imp["n"]) < 0.1


def test_the_default_storage_is_in_the_output_directory(fn_config, tmp_path, monkeypatch):
    cfg = fn_config.parent / "nostore.toml"
    cfg.write_text(fn_config.read_text().replace('storage = "sqlite:///f.db"\n', ""))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code, out = run_cli([cfg])
    assert code == 0, out
    assert (work / "runs" / "nostore" / "study.db").is_file()
    assert not any(p.suffix in (".db", ".lock") for p in cfg.parent.iterdir())  # nothing next to the config


@pytest.mark.parametrize("override, message", [
    ("search.timeout=0", "f.toml: search.timeout: timeout=0 is invalid: must be a number of seconds > 0"),
    ("search.max_retries='a'", "f.toml: search.max_retries: max_retries='a' is invalid: must be an integer >= 0"),
    ("search.pruner_options.max_resource=0", "f.toml: search.pruner_options: hyperband: max_resource=0 is invalid"),
    ("search.bogus=1", "f.toml: unknown field search.bogus"),
])
def test_reliability_fields_are_checked_by_run_and_named(fn_config, override, message):
    extra = ["--set", "search.pruner='hyperband'"] if "pruner_options" in override else []
    code, out = run_cli([fn_config, "--set", override, *extra])
    assert code == 1 and message in out, out
    assert not (fn_config.parent / "f.db").exists()


def test_a_timeout_in_the_config_fails_the_slow_trial(fn_config):
    mod = fn_config.read_text().split('function = "')[1].split(":")[0]
    (fn_config.parent / f"{mod}_slow.py").write_text("import time\ndef slow(trial):\n    time.sleep(5)\n    return 1.0\n")
    code, out = run_cli([fn_config, "--set", "search.timeout=0.2", "--set", "search.n_trials=1",
                         "--set", f"objective.function='{mod}_slow:slow'"])
    assert code == 0 and "trial 0 failed" in out and "timed out after 0.2 s" in out
