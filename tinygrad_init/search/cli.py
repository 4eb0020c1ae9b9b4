"""``tinygrad-init search CONFIG.toml``, ``search show STUDY.db`` and ``search plot STUDY.db``.

A search config (TOML)::

    [search]
    strategy = "random"            # a registered strategy name
    n_trials = 20                  # total trials of the study (a rerun resumes)
    seed = 0
    storage = "sqlite:///study.db" # relative to the config file; default runs/<config name>/study.db
    study = "lr-search"
    direction = "minimize"         # or "maximize" (an accuracy monitor)
    pruner = "hyperband"           # optional: hyperband | successive_halving | median
    timeout = 600                  # optional: seconds per trial
    max_retries = 2                # a trial left running by crashes is started again at most this often
    workers = 4                    # trials in flight (> 1 implies executor = "process")
    executor = "process"           # "none" | "process" | "dask://host:port"

    [search.options]               # the strategy's hyperparameters
    n_initial = 6
    [search.pruner_options]        # the pruner's
    max_resource = 27

    [space.lr]
    type = "loguniform"            # uniform | loguniform | int | choice
    lo = 1e-4
    hi = 1.0

    [objective]
    function = "my_module:objective"   # objective(trial, **options) -> float
    [objective.options]
    epochs = 5

``[objective] kind = "train"`` with ``config = "train.toml"`` trains the model of a
``tinygrad-init train`` config instead (:class:`~tinygrad_init.search.objective.TrainObjective`).
The config is read into the arguments of :func:`~tinygrad_init.search.run`, which checks
them; an error it raises is reported with the config field it came from.
"""
from __future__ import annotations

import argparse
import difflib
import functools
import importlib
import inspect
import os
import sys
import tomllib
from typing import Any

from ..experiment import ConfigError, set_field
from .objective import _HIGHER_IS_BETTER, TrainObjective, _did_you_mean  # noqa: F401 (TrainObjective: public)

# config field of [search] -> the argument of run()
SEARCH_FIELDS = {"strategy": "strategy", "n_trials": "n_trials", "seed": "seed", "storage": "storage",
                 "study": "study", "direction": "direction", "workers": "workers", "executor": "executor",
                 "options": "strategy_options", "pruner": "pruner", "pruner_options": "pruner_options",
                 "timeout": "timeout", "max_retries": "max_retries"}
OBJECTIVE_KEYS = {"kind", "function", "config", "options"}
TOP_KEYS = {"search", "space", "objective"}


def _fail(path: str, field: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{path}: {field} = {value!r} is invalid: {allowed}")


def _unknown(path: str, what: str, key: str, allowed: Any) -> None:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    raise ConfigError(f"{path}: unknown {what}{key}" + (f" (did you mean {close[0]!r}?)" if close else "")
                      + f"; allowed: {', '.join(sorted(allowed))}")


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
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return apply_overrides(config, overrides or [])


def resolve(config: dict, path: str, args: argparse.Namespace | None = None) -> dict:
    """The keyword arguments of ``search.run`` for ``config`` (``run`` checks their values;
    ``resolve`` checks the config's structure and the objective)."""
    from .space import Space

    base = os.path.dirname(os.path.abspath(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    for key in config:
        if key not in TOP_KEYS:
            _unknown(path, "table ", f"[{key}]", [f"[{k}]" for k in TOP_KEYS])
    search = config.get("search", {})
    if not isinstance(search, dict):
        _fail(path, "search", search, "must be a table [search]")
    for key in search:
        if key not in SEARCH_FIELDS:
            _unknown(path, "field ", f"search.{key}", [f"search.{k}" for k in SEARCH_FIELDS])
    out: dict[str, Any] = {"strategy": "random", "n_trials": 20, "seed": 0, "study": stem}
    out.update({SEARCH_FIELDS[k]: v for k, v in search.items()})
    for key in ("options", "pruner_options"):
        if not isinstance(search.get(key, {}), dict):
            _fail(path, f"search.{key}", search[key], f"must be a table [search.{key}]")
    if "seed" in out.get("strategy_options", {}):
        _fail(path, "search.options.seed", out["strategy_options"]["seed"], "the seed is search.seed")
    storage = search.get("storage")
    if storage is None:  # the default: the output directory, as `train` writes to runs/
        os.makedirs(os.path.join("runs", stem), exist_ok=True)
        out["storage"] = os.path.join("runs", stem, "study.db")
    elif not isinstance(storage, str) or not storage:
        _fail(path, "search.storage", storage, "must be 'sqlite:///path.db' or a file path")
    else:
        p = storage[len("sqlite:///"):] if storage.startswith("sqlite:///") else storage
        out["storage"] = p if "://" in p or p == ":memory:" or os.path.isabs(p) else os.path.join(base, p)
    out["executor"], out["workers"] = _executor(search, path, args)
    out["_fields"] = {**{a: f"search.{k}" for k, a in SEARCH_FIELDS.items()}, "space": "[space]"}
    for flag in ("workers", "executor"):
        if args is not None and getattr(args, flag, None) is not None:
            out["_fields"][flag] = f"--{flag}"

    space = config.get("space")
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{path}: missing [space.<name>] tables: the search space needs at least one "
                          "dimension, e.g. [space.lr] type = \"loguniform\" lo = 1e-4 hi = 1")
    try:
        out["space"] = Space.from_dict(space)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: space: {exc}") from None
    out["objective"] = _objective(config.get("objective"), path, base, out["space"])
    if isinstance(out["objective"], TrainObjective):
        _check_direction(out["objective"].monitor, out.get("direction", "minimize"), path)
    return out


def _check_direction(monitor: str, direction: Any, path: str) -> None:
    """A monitor that is better when higher (an accuracy) wants ``direction = "maximize"``; a loss
    ``"minimize"``: else the 'best' trial would be the worst."""
    if _HIGHER_IS_BETTER.search(monitor) and direction == "minimize":
        _fail(path, "objective.options.monitor", monitor,
              f"{monitor} is higher-is-better but the search minimizes (search.direction = \"minimize\", the "
              "default), so the 'best' trial would be the worst: set search.direction = \"maximize\", or "
              "monitor \"val_loss\"")
    if monitor.endswith("loss") and direction == "maximize":
        _fail(path, "objective.options.monitor", monitor,
              f"{monitor} is a loss (lower is better) but search.direction = \"maximize\": set "
              "search.direction = \"minimize\" (the default), or monitor an accuracy such as \"val_acc\"")


def _executor(search: dict, path: str, args: argparse.Namespace | None) -> tuple[Any, Any]:
    """-> (executor, workers) for ``run``: the command line wins over the config; an explicit
    ``--executor none`` runs in this process whatever the config's ``workers``; ``workers > 1``
    alone implies ``"process"``."""
    workers, wfield = search.get("workers"), f"{path}: search.workers = "
    executor, efield = search.get("executor"), f"search.executor = "
    if args is not None and getattr(args, "workers", None) is not None:
        workers, wfield = args.workers, "--workers "
    if args is not None and getattr(args, "executor", None) is not None:
        executor, efield = args.executor, "--executor "
    if executor == "none":
        if efield.startswith("--") and not wfield.startswith("--"):
            return None, None  # an explicit --executor none wins over the config's workers
        if workers not in (None, 1):
            raise ConfigError(f"{wfield}{workers!r} is invalid with {efield}'none': executor 'none' runs one "
                              "trial at a time in this process; drop the workers (or set them to 1), or use "
                              "executor 'process' or 'dask://host:port' for trials in parallel")
        return None, None
    if executor in (None, "") and isinstance(workers, int) and not isinstance(workers, bool) and workers > 1:
        executor = "process"
    return executor or None, workers


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
    except (Exception, SystemExit) as exc:  # a SyntaxError in it, or it raises when imported
        where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
        _fail(path, "objective.function", spec, f"importing module {mod_name!r} failed{where}: "
              f"{type(exc).__name__}: {exc}")
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            _fail(path, "objective.function", spec, f"{mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        _fail(path, "objective.function", spec, "must name a callable objective(trial) -> float")
    return obj


def _check_function(fn: Any, spec: str, options: dict, space: Any, path: str) -> None:
    """The runner calls ``fn(trial, **options)``: check that call's signature before any trial."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return  # a builtin or C callable: nothing to check
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not positional and not any(p.kind is p.VAR_POSITIONAL for p in params):
        _fail(path, "objective.function", spec, "it is called as objective(trial, **objective.options) "
              "but takes no positional parameter for the trial")
    first = positional[0].name if positional else None
    keywords = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                and p.name != first]
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    dims = list(space.names) if space is not None else []
    for key, value in options.items():
        if key == first:
            _fail(path, f"objective.options.{key}", value,
                  f"{key!r} is the trial, passed by the runner; the options are the other keyword "
                  f"arguments of {spec}: {', '.join(keywords) or '(none)'}")
        if not var_kw and key not in keywords:
            hint = (f"{key!r} is a search dimension: read it as trial.params[{key!r}]; " if key in dims
                    else _did_you_mean(key, keywords))
            _fail(path, f"objective.options.{key}", value,
                  f"{spec} has no parameter {key!r}; {hint}its options are: {', '.join(keywords) or '(none)'}")
    missing = [p.name for p in params[1:] if p.default is p.empty and p.name not in options
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if missing:
        m = missing[0]
        hint = (f"{m!r} is a search dimension: the objective reads it as trial.params[{m!r}], give "
                f"the parameter a default or drop it" if m in dims else
                f"give it in [objective.options] ({m} = ...)")
        _fail(path, "objective.function", spec, f"it is called as {spec.partition(':')[2]}(trial, "
              f"**objective.options), but its parameter {m!r} has no value: {hint}")


def _objective(section: Any, path: str, base: str, space: Any = None) -> Any:
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: missing table [objective]: give function = \"module:function\" "
                          "(or kind = \"train\" with config = \"train.toml\")")
    for key in section:
        if key not in OBJECTIVE_KEYS:
            _unknown(path, "field ", f"objective.{key}", [f"objective.{k}" for k in OBJECTIVE_KEYS])
    kind = section.get("kind", "function")
    options = section.get("options", {})
    if not isinstance(options, dict):
        _fail(path, "objective.options", options, "must be a table of keyword arguments")
    if kind == "function":
        if "function" not in section:
            raise ConfigError(f"{path}: missing field objective.function (an import path 'module:function')")
        fn = _import(section["function"], path, base)
        _check_function(fn, section["function"], options, space, path)
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
        try:
            objective = TrainObjective(cfg, **options)
            if space is not None:
                objective.check(space)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        return objective
    _fail(path, "objective.kind", kind, "must be 'function' or 'train'")


# --------------------------------------------------------------------------- commands


def _show(args: argparse.Namespace, console: Any) -> int:
    from .runner import load_study

    try:
        study = load_study(args.study_file, args.study)
    except ValueError as exc:
        if getattr(exc, "studies", None) is None:
            raise
        raise ConfigError(f"{args.study_file} holds {len(exc.studies)} studies ({', '.join(exc.studies)}): "
                          "name one with --study NAME") from None
    if args.csv:
        console.print(study.to_csv(), end="", markup=False, highlight=False, soft_wrap=True)
        return 0
    if args.command_ == "plot":
        from .plots import plot_study

        out = args.out or os.path.splitext(args.study_file)[0] + "-plots"
        for p in plot_study(study, out):
            console.print(f"wrote {p}", markup=False, highlight=False)
        return 0
    console.print(study.table())
    best = study.best_trial
    if best is None:
        console.print("no complete trial yet")
        return 0
    console.print(f"best trial #{best.number}: value = {best.value:.6g}")
    for k, v in best.params.items():
        console.print(f"  {k} = {v!r}", markup=False, highlight=False)
    if best.budget is not None:
        console.print(f"  (budget {best.budget})", markup=False)
    return 0


def _search(args: argparse.Namespace, console: Any) -> int:
    from .runner import run

    args.command_ = args.config
    if args.config in ("show", "plot"):
        if not args.study_file:
            raise ConfigError(f"usage: tinygrad-init search {args.config} STUDY.db [--study NAME]")
        return _show(args, console)
    if args.study_file:
        raise ConfigError(f"unexpected argument {args.study_file!r} (did you mean: search show {args.study_file}?)")
    kwargs = resolve(load_config(args.config, args.set), args.config, args)
    fields = kwargs.pop("_fields")
    if args.study:
        kwargs["study"], fields["study"] = args.study, "--study"
    try:
        study = run(console=console, **kwargs)
    except (ValueError, TypeError, LookupError, OSError, ImportError) as exc:
        field = fields.get(getattr(exc, "argument", None) or "")
        if field is None:
            raise
        where = "" if field.startswith("--") else f"{args.config}: "
        raise ConfigError(f"{where}{field}: {exc}") from None
    c = study.counts()
    console.print(f"study {study.name!r}: {len(study.trials)} trials ({c['complete']} complete, "
                  f"{c['failed']} failed, {c['pruned']} pruned) in {kwargs['storage']}", markup=False)
    return 0


class _Help(argparse.Action):
    """``-h``/``--help``; after ``show`` (``search show --help``) the help of ``search show``."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, "config", None) == "show":
            parser = argparse.ArgumentParser(
                prog=f"{parser.prog} show", description="Print the trial table of a study file and "
                "its best trial's value and parameters (read-only: the file is not changed).")
            parser.add_argument("study_file", metavar="STUDY.db", help="the study file a search wrote")
            parser.add_argument("--study", metavar="NAME", help="the study, when the file holds several")
        parser.print_help()
        parser.exit()


def add_subparser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``search`` to the ``tinygrad-init`` sub-commands."""
    p = subparsers.add_parser(
        "search", help="run a hyperparameter search from a TOML config, or show / plot a study",
        add_help=False,
        description="Run (or resume) the hyperparameter search described by CONFIG.toml; rerunning "
        "the same command resumes an interrupted study. `search show STUDY.db` prints the trials "
        "and the best configuration (--csv: every trial as CSV); `search plot STUDY.db` writes "
        "PNGs of the study (--out DIR). See docs/search.md.")
    p.add_argument("-h", "--help", action=_Help, help="show this help (search show --help: that of show)")
    p.add_argument("config", metavar="CONFIG.toml|show|plot", help="a search config, or 'show' / 'plot'")
    p.add_argument("study_file", nargs="?", metavar="STUDY.db", help="with 'show' / 'plot': the study file")
    p.add_argument("--study", default=None, metavar="NAME", help="the study name (default: from the config / the only one)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="trials in flight (default: search.workers); > 1 runs a process pool unless "
                   "--executor says otherwise, and is an error with --executor none")
    p.add_argument("--executor", default=None, metavar="none|process|dask://HOST:PORT",
                   help="where trials run (default: search.executor): 'none' one by one in this "
                   "process (it overrides the config's workers), 'process' a process pool, "
                   "'dask://host:port' a Dask cluster (integer port)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set search.n_trials=50 (repeatable)")
    p.add_argument("--csv", action="store_true", help="with 'show': print every trial as CSV")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="with 'plot': the directory of the PNGs (default: STUDY-plots next to the file)")
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
