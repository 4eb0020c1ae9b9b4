"""``tinygrad-init search CONFIG.toml`` and ``tinygrad-init search show study.db``.

A search config (TOML)::

    [search]
    strategy = "random"            # a registered strategy name
    n_trials = 20                  # total trials of the study (a rerun resumes)
    seed = 0
    storage = "sqlite:///study.db" # relative paths are relative to the config file
    study = "lr-search"
    workers = 4                    # trials in flight (implies executor = "process")
    executor = "process"           # "none" | "process" | "dask://host:port"

    [search.options]               # the strategy's hyperparameters
    max_resource = 27

    [space.lr]
    type = "loguniform"            # uniform | loguniform | int | choice
    lo = 1e-4
    hi = 1.0

    [objective]
    function = "my_module:objective"   # objective(trial, **options) -> float
    [objective.options]
    epochs = 5

``[objective] kind = "train"`` with ``config = "train.toml"`` trains the model of
a ``tinygrad-init train`` config instead (see :class:`TrainObjective`): the
dimensions are then named by the config fields they set, ``[space."optimizer.lr"]``. ``--set key=value`` overrides any
field by its dotted path (``--set search.n_trials=50 --set space.lr.hi=0.1``).
"""
from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
import tomllib
from typing import Any

from ..experiment import ConfigError, set_field

SEARCH_KEYS = {"strategy", "n_trials", "seed", "storage", "study", "workers", "executor", "options"}
OBJECTIVE_KEYS = {"kind", "function", "config", "options"}
TOP_KEYS = {"search", "space", "objective"}


def _fail(path: str, field: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{path}: {field} = {value!r} is invalid: {allowed}")


def apply_overrides(config: dict, overrides: list[str]) -> dict:
    """Apply ``key.path=value`` overrides (values read as TOML, else strings), as ``train`` does."""
    for item in overrides or []:
        set_field(config, item)
    return config


def load_config(path: str, overrides: list[str] | None = None) -> dict:
    try:
        with open(path, "rb") as f:
            config = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"search config {path!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return apply_overrides(config, overrides or [])


def resolve(config: dict, path: str, args: argparse.Namespace | None = None) -> dict:
    """Validate ``config`` and return the keyword arguments of ``search.run``."""
    from .space import Space

    base = os.path.dirname(os.path.abspath(path))
    for key in config:
        if key not in TOP_KEYS:
            raise ConfigError(f"{path}: unknown table [{key}]; allowed: {', '.join(sorted(TOP_KEYS))}")
    search = config.get("search", {})
    if not isinstance(search, dict):
        _fail(path, "search", search, "must be a table [search]")
    for key in search:
        if key not in SEARCH_KEYS:
            raise ConfigError(f"{path}: unknown field search.{key}; allowed: {', '.join(sorted(SEARCH_KEYS))}")
    out: dict[str, Any] = {}
    strategy = search.get("strategy", "random")
    if not isinstance(strategy, str) or not strategy:
        _fail(path, "search.strategy", strategy, "must be a strategy name")
    from ..registry import get_registry

    names = get_registry().names("search_strategy")
    if strategy not in names:
        import difflib

        close = difflib.get_close_matches(strategy, names, n=1)
        _fail(path, "search.strategy", strategy, (f"did you mean {close[0]!r}? " if close else "")
              + "must be one of " + ", ".join(names))
    out["strategy"] = strategy
    for key, default in (("n_trials", 20), ("seed", 0)):
        v = search.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            _fail(path, f"search.{key}", v, "must be an integer >= 0")
        out[key] = v
    opts = search.get("options", {})
    if not isinstance(opts, dict):
        _fail(path, "search.options", opts, "must be a table [search.options] of the strategy's hyperparameters")
    out["strategy_options"] = opts
    study = search.get("study", os.path.splitext(os.path.basename(path))[0])
    if not isinstance(study, str) or not study:
        _fail(path, "search.study", study, "must be a non-empty name")
    out["study"] = study
    storage = search.get("storage", "sqlite:///" + os.path.splitext(os.path.basename(path))[0] + ".db")
    if not isinstance(storage, str) or not storage:
        _fail(path, "search.storage", storage, "must be 'sqlite:///path.db' or a file path")
    p = storage[len("sqlite:///"):] if storage.startswith("sqlite:///") else storage
    if "://" in p:
        _fail(path, "search.storage", storage, "must be 'sqlite:///path.db' or a file path")
    out["storage"] = p if p == ":memory:" or os.path.isabs(p) else os.path.join(base, p)

    workers = search.get("workers")
    executor = search.get("executor")
    if args is not None and args.workers is not None:
        workers = args.workers
    if args is not None and args.executor is not None:
        executor = args.executor
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        _fail(path, "search.workers", workers, "must be an integer >= 1")
    if executor in (None, "none", ""):
        executor = "process" if workers not in (None, 1) else None
    elif not isinstance(executor, str) or not (executor == "process" or executor.startswith("dask://")):
        _fail(path, "search.executor", executor, "must be 'none', 'process' or 'dask://host:port'")
    out["executor"], out["workers"] = executor, (workers if executor is not None else None)

    space = config.get("space")
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{path}: missing [space.<name>] tables: the search space needs at least one "
                          "dimension, e.g. [space.lr] type = \"loguniform\" lo = 1e-4 hi = 1")
    try:
        out["space"] = Space.from_dict(space)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: space: {exc}") from None
    out["objective"] = _objective(config.get("objective"), path, base)
    return out


def _import(spec: str, path: str, base: str) -> Any:
    if not isinstance(spec, str) or ":" not in spec:
        _fail(path, "objective.function", spec, "must be an import path 'module:function'")
    mod_name, _, attr = spec.partition(":")
    if base not in sys.path:
        sys.path.insert(0, base)  # modules next to the config (spawned workers inherit sys.path)
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        _fail(path, "objective.function", spec, f"module {mod_name!r} cannot be imported ({exc})")
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            _fail(path, "objective.function", spec, f"{mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        _fail(path, "objective.function", spec, "must name a callable objective(trial) -> float")
    return obj


def _objective(section: Any, path: str, base: str) -> Any:
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: missing table [objective]: give function = \"module:function\" "
                          "(or kind = \"train\" with config = \"train.toml\")")
    for key in section:
        if key not in OBJECTIVE_KEYS:
            raise ConfigError(f"{path}: unknown field objective.{key}; allowed: {', '.join(sorted(OBJECTIVE_KEYS))}")
    kind = section.get("kind", "function")
    options = section.get("options", {})
    if not isinstance(options, dict):
        _fail(path, "objective.options", options, "must be a table of keyword arguments")
    if kind == "function":
        if "function" not in section:
            raise ConfigError(f"{path}: missing field objective.function (an import path 'module:function')")
        fn = _import(section["function"], path, base)
        return functools.partial(fn, **options) if options else fn
    if kind == "train":
        cfg = section.get("config")
        if not isinstance(cfg, str):
            _fail(path, "objective.config", cfg, "kind = 'train' needs config = 'path/to/train.toml'")
        cfg = cfg if os.path.isabs(cfg) else os.path.join(base, cfg)
        unknown = sorted(set(options) - {"monitor", "set"})
        if unknown:
            _fail(path, f"objective.options.{unknown[0]}", options[unknown[0]],
                  "kind = 'train' accepts monitor (the epoch metric to minimize) and set "
                  "(overrides of the training config)")
        return TrainObjective(cfg, **options)
    _fail(path, "objective.kind", kind, "must be 'function' or 'train'")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    import json

    return json.dumps(v)  # a TOML basic string


class TrainObjective:
    """The objective of ``[objective] kind = "train"``: train the model of a
    training config (``tinygrad-init train`` format, docs/cli.md) with the
    trial's parameters and return the last epoch's ``monitor`` (default
    ``val_loss``).

    Each search dimension is named by the dotted config field it sets, e.g.
    ``[space."optimizer.lr"]``; ``trial.budget`` (Hyperband) sets
    ``train.epochs``. ``set`` lists ``key=value`` overrides of the training config
    applied to every trial first (``set = ["train.epochs=3"]``, as ``train --set``).
    Trials train silently (``output.loggers = []``), an
    ``output.dir`` becomes ``<dir>/trial-<number>``, and in the driver process a
    :class:`~tinygrad_init.search.PruningCallback` on ``monitor`` is attached.
    Picklable, so it runs on process and Dask workers.
    """

    def __init__(self, config: str, monitor: str = "val_loss", set: Any = ()):
        from .. import experiment

        if isinstance(set, str) or not all(isinstance(x, str) for x in set):
            raise ConfigError(f"objective.options.set = {set!r} is invalid: must be a list of "
                              "'key=value' strings, e.g. [\"train.epochs=3\"]")
        self.config, self.monitor, self.set = config, monitor, list(set)
        # a broken training config fails here, before the search
        self.out_dir = experiment.load_config(config, self.set)["output"]["dir"]

    def overrides(self, trial: Any) -> list[str]:
        sets = self.set + [f"{k}={_toml_value(v)}" for k, v in trial.params.items() if v is not None]
        if trial.budget is not None:
            sets.append(f"train.epochs={max(1, int(round(trial.budget)))}")
        sets.append("output.loggers=[]")
        if self.out_dir:
            sets.append(f"output.dir={_toml_value(os.path.join(self.out_dir, f'trial-{trial.number}'))}")
        return sets

    def __call__(self, trial: Any) -> float:
        from .. import experiment
        from .runner import PruningCallback

        cfg = experiment.load_config(self.config, self.overrides(trial))
        trainer, train, val = experiment.build(cfg)
        trainer.callbacks.append(PruningCallback(trial, self.monitor))
        t = cfg["train"]
        history = trainer.fit(train, val, epochs=t["epochs"], batch_size=t["batch_size"], seed=t["seed"])
        if self.monitor not in history:
            raise KeyError(f"objective.options.monitor = {self.monitor!r} is not an epoch metric; "
                           f"the history has: {', '.join(sorted(history.last))}")
        return history.last[self.monitor]


# --------------------------------------------------------------------------- commands


def _search(args: argparse.Namespace, console: Any) -> int:
    from .runner import load_study, run

    if args.config == "show":
        if not args.study_file:
            raise ConfigError("usage: tinygrad-init search show STUDY.db [--study NAME]")
        study = load_study(args.study_file, args.study)
        console.print(study.table())
        best = study.best_trial
        if best is None:
            console.print("no complete trial yet")
        else:
            console.print(f"best trial #{best.number}: value = {best.value:.6g}")
            for k, v in best.params.items():
                console.print(f"  {k} = {v!r}", markup=False, highlight=False)
            if best.budget is not None:
                console.print(f"  (budget {best.budget})", markup=False)
        return 0
    if args.study_file:
        raise ConfigError(f"unexpected argument {args.study_file!r} (did you mean: search show {args.study_file}?)")
    kwargs = resolve(load_config(args.config, args.set), args.config, args)
    if args.study:
        kwargs["study"] = args.study
    study = run(console=console, **kwargs)
    c = study.counts()
    console.print(f"study {study.name!r}: {len(study.trials)} trials ({c['complete']} complete, "
                  f"{c['failed']} failed, {c['pruned']} pruned) in {kwargs['storage']}", markup=False)
    return 0


def add_subparser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``search`` to the ``tinygrad-init`` sub-commands."""
    p = subparsers.add_parser(
        "search", help="run a hyperparameter search from a TOML config, or show a study",
        description="Run (or resume) the hyperparameter search described by CONFIG.toml; rerunning "
        "the same command resumes an interrupted study. `search show STUDY.db` prints the trials "
        "and the best configuration. See docs/search.md.")
    p.add_argument("config", metavar="CONFIG.toml|show", help="a search config, or 'show'")
    p.add_argument("study_file", nargs="?", metavar="STUDY.db", help="with 'show': the study file")
    p.add_argument("--study", default=None, help="the study name (default: from the config / the only one)")
    p.add_argument("--workers", type=int, default=None, help="trials in flight (a process pool unless --executor)")
    p.add_argument("--executor", default=None, help="none | process | dask://host:port")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set search.n_trials=50 (repeatable)")
    p.set_defaults(func=_search)
    return p


def main(argv: list[str] | None = None, console: Any = None) -> int:
    """Stand-alone entry (``python -m tinygrad_init.search.cli``)."""
    from rich.console import Console

    parser = argparse.ArgumentParser(prog="tinygrad-init")
    add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["search", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args, console or Console())
    except (ValueError, TypeError, LookupError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
