"""``tinygrad-init search CONFIG.toml`` and ``tinygrad-init search show study.db``.

A search config (TOML)::

    [search]
    strategy = "random"            # a registered strategy name
    n_trials = 20                  # total trials of the study (a rerun resumes)
    seed = 0
    storage = "sqlite:///study.db" # relative paths are relative to the config file
    study = "lr-search"
    direction = "minimize"         # or "maximize" (an accuracy monitor)
    workers = 4                    # trials in flight (> 1 implies executor = "process")
    executor = "process"           # "none" | "process" | "dask://host:port" (--executor none
                                   # overrides workers; workers > 1 with executor "none" is an error)

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
import difflib
import functools
import importlib
import importlib.util
import inspect
import os
import re
import sys
import tomllib
from typing import Any

from ..experiment import ConfigError, set_field

SEARCH_KEYS = {"strategy", "n_trials", "seed", "storage", "study", "workers", "executor", "options", "direction"}
OBJECTIVE_KEYS = {"kind", "function", "config", "options"}
TOP_KEYS = {"search", "space", "objective"}


def _fail(path: str, field: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{path}: {field} = {value!r} is invalid: {allowed}")


def _did_you_mean(name: str, names: Any) -> str:
    close = difflib.get_close_matches(str(name), list(names), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def _space_key(name: str) -> str:
    """``[space.lr]``, ``[space."optimizer.lr"]``: the TOML table of a dimension."""
    return f"[space.{name}]" if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f"[space.{_toml_value(name)}]"


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

    out["executor"], out["workers"] = _executor(search, path, args)

    space = config.get("space")
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{path}: missing [space.<name>] tables: the search space needs at least one "
                          "dimension, e.g. [space.lr] type = \"loguniform\" lo = 1e-4 hi = 1")
    try:
        out["space"] = Space.from_dict(space)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: space: {exc}") from None
    _check_strategy(strategy, out["space"], out["seed"], opts, path)
    direction = search.get("direction", "minimize")
    if direction not in ("minimize", "maximize"):
        _fail(path, "search.direction", direction, "must be \"minimize\" (a loss) or \"maximize\" (e.g. an accuracy)")
    out["direction"] = direction
    out["objective"] = _objective(config.get("objective"), path, base, out["space"])
    if isinstance(out["objective"], TrainObjective):
        _check_direction(out["objective"].monitor, direction, path)
    return out


def _check_direction(monitor: str, direction: str, path: str) -> None:
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


def _executor(search: dict, path: str, args: argparse.Namespace | None) -> tuple[Any, int | None]:
    """-> (executor for ``run``, workers). The command line wins over the config; an explicit
    ``--executor none`` runs in this process whatever the config's ``workers``."""
    cli_workers = None if args is None else getattr(args, "workers", None)
    cli_executor = None if args is None else getattr(args, "executor", None)
    workers, workers_field = search.get("workers"), "search.workers"
    if cli_workers is not None:
        workers, workers_field = cli_workers, "--workers"
    executor, executor_field = search.get("executor"), "search.executor"
    if cli_executor is not None:
        executor, executor_field = cli_executor, "--executor"

    def bad(field: str, value: Any, allowed: str) -> None:
        if field.startswith("--"):
            raise ConfigError(f"{field} {value!r} is invalid: {allowed}")
        _fail(path, field, value, allowed)

    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        bad(workers_field, workers, "must be an integer >= 1")
    allowed = "must be 'none', 'process' or 'dask://host:port' (an integer port)"
    if executor is not None and not isinstance(executor, str):
        bad(executor_field, executor, allowed)
    if executor == "none":
        if executor_field == "--executor" and workers_field == "search.workers":
            workers = None  # an explicit --executor none wins over the config's workers
        elif workers not in (None, 1):
            def said(field: str, value: Any) -> str:
                return f"{field} {value!r}" if field.startswith("--") else f"{field} = {value!r}"

            where = "" if workers_field.startswith("--") and executor_field.startswith("--") else f"{path}: "
            raise ConfigError(f"{where}{said(workers_field, workers)} is invalid with "
                              f"{said(executor_field, 'none')}: executor 'none' runs one trial at a time "
                              "in this process; drop the workers (or set them to 1), or use executor "
                              "'process' or 'dask://host:port' for trials in parallel")
        return None, None
    if executor in (None, ""):
        executor = "process" if workers not in (None, 1) else None
    elif executor.startswith("dask://"):
        from .runner import dask_address_problem

        problem = dask_address_problem(executor)
        if problem:
            bad(executor_field, executor, f"{allowed}; {problem}")
        if importlib.util.find_spec("distributed") is None:
            bad(executor_field, executor, "a Dask executor needs the optional dependency 'distributed': "
                "pip install 'tinygrad-init[distributed]' (or use 'process' or 'none')")
    elif executor != "process":
        bad(executor_field, executor, allowed)
    return executor, (workers if executor is not None else None)


def _check_strategy(strategy: str, space: Any, seed: int, opts: dict, path: str) -> None:
    """Build the strategy once, so a bad ``[search.options]`` fails before the study is written."""
    from ..registry import get_registry, search_strategy

    for key, hint in (("seed", "use search.seed"),
                      ("space", "the space is the [space.<name>] tables")):
        if key in opts:
            raise ConfigError(f"{path}: search.options.{key} = {opts[key]!r} is invalid: "
                              f"search.options.{key} is not a strategy option: {hint}")
    factory = get_registry().get("search_strategy", strategy).factory
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        params = None
    names = [p.name for p in params or () if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [n for n in names[1:] if n != "seed"]  # the first is the space
    if params is not None and not any(p.kind is p.VAR_KEYWORD for p in params):
        for key in opts:
            if key not in names:
                _fail(path, f"search.options.{key}", opts[key],
                      f"strategy {strategy!r} has no option {key!r}; " + _did_you_mean(key, names)
                      + (f"its options are: {', '.join(names)}" if names else "it takes no options"))
    try:
        search_strategy(strategy, space, seed=seed, **opts)
    except (ValueError, TypeError, LookupError) as exc:
        msg = re.sub(r"\bpass (\w+)=", r"set search.options.\1 = ", str(exc))
        msg = msg[len(strategy) + 2:] if msg.startswith(f"{strategy}: ") else msg
        for key in {*names, *opts}:  # "n=0 is invalid" -> "search.options.n = 0 is invalid"
            msg = re.sub(rf"(?<![\w.]){re.escape(key)}=", f"search.options.{key} = ", msg)
        raise ConfigError(f"{path}: search.options of strategy {strategy!r}: {msg}") from None


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
    from ..registry import check_signature

    try:
        check_signature(spec, fn, (None,), options)
    except TypeError as exc:
        _fail(path, "objective.function", spec,
              f"it cannot be called as objective(trial, **objective.options): {exc}")


def _objective(section: Any, path: str, base: str, space: Any = None) -> Any:
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


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    import json

    return json.dumps(v)  # a TOML basic string


_HIGHER_IS_BETTER = re.compile(r"(^|_)(acc|accuracy|auc|f1|precision|recall|r2)$")


def _reason(exc: BaseException) -> str:
    """The message of ``exc`` without the ``--set key:`` prefix of ``set_field``'s errors."""
    msg = re.sub(r"^--set [^:]+: ", "", str(exc))
    return msg if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {msg}"


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
    ``output.dir`` becomes ``<dir>/trial-<number>``, and a
    :class:`~tinygrad_init.search.PruningCallback` on ``monitor`` is attached (it
    prunes where the strategy has a live link: see docs/search.md).
    Picklable, so it runs on process and Dask workers.
    """

    def __init__(self, config: str, monitor: str = "val_loss", set: Any = ()):
        from .. import experiment

        if isinstance(set, str) or not isinstance(set, (list, tuple)) or not all(isinstance(x, str) for x in set):
            raise ConfigError(f"objective.options.set = {set!r} is invalid: must be a list of "
                              "'key=value' strings, e.g. [\"train.epochs=3\"]")
        if not isinstance(monitor, str) or not monitor:
            raise ConfigError(f"objective.options.monitor = {monitor!r} is invalid: must be the name of an "
                              "epoch metric, e.g. \"val_loss\" (or \"val_acc\" with search.direction = \"maximize\")")
        self.config, self.monitor, self.set = config, monitor, list(set)
        # a broken training config fails here, before the search
        try:
            self.out_dir = experiment.load_config(config, self.set)["output"]["dir"]
        except ConfigError as exc:
            raise ConfigError(f"{self._what()}: {exc}") from None

    def _what(self) -> str:
        return f"objective.config = {self.config!r}" + (
            f" (with objective.options.set = {self.set!r})" if self.set else "")

    def _dry_build(self, params: dict, fingerprint: bool = False) -> Any:
        """Build the trainer of a trial with ``params`` (as :meth:`__call__` does) without
        training it, nor creating its output directory."""
        from types import SimpleNamespace

        from .. import experiment

        trial = SimpleNamespace(params=params, budget=None, number=0)
        cfg = experiment.load_config(self.config, self.overrides(trial) + ['output.dir=""', "output.plot=false"])
        built = experiment.build(cfg)
        return (built, experiment.fingerprint(cfg, built)) if fingerprint else built

    def check(self, space: Any) -> None:
        """Build the training setup once, dry, for the space's centre point (and its two
        corners): a misspelled dimension path, a float dimension for an integer field or a
        monitor the trainer does not log fails here, naming the ``[space."..."]`` key or
        the option, instead of failing every trial."""
        try:
            trainer, _, val = self._dry_build({})
        except Exception as exc:
            raise ConfigError(f"{self._what()}: the training config cannot be built: {_reason(exc)}") from None
        metrics = ["epoch", "train_loss"] + (["train_acc"] if trainer.classification else [])
        if val is not None:
            metrics += ["val_loss"] + (["val_acc"] if trainer.classification else [])
        metrics += ["lr", "time"]
        if self.monitor not in metrics:
            raise ConfigError(f"objective.options.monitor = {self.monitor!r} is invalid: "
                              + _did_you_mean(self.monitor, metrics)
                              + f"a training run of {os.path.basename(self.config)} logs the epoch metrics "
                              f"{', '.join(metrics)}")
        n = len(space)
        for u in (0.5, 0.0, 1.0):  # the centre first, then the low and the high corner
            point = space.from_unit([u] * n)
            try:
                self._dry_build(point)
                continue
            except Exception as exc:
                error = exc
            for name in space.names:  # which dimension? each alone, the others as configured
                try:
                    self._dry_build({name: point[name]})
                except Exception as exc:
                    dim = space[name]
                    msg = _reason(exc)
                    if dim.kind in ("uniform", "loguniform") and "integer" in msg:
                        msg += "; the field takes integers: use type = \"int\""
                    elif any(s in msg for s in ("(section)", "has no item", "unknown hyperparameter",
                                                "the fields of", "is not a table")):
                        msg += ("; a dimension of a kind = 'train' objective is named by the dotted "
                                "training-config field it sets, e.g. [space.\"optimizer.lr\"]")
                    raise ConfigError(f"{_space_key(name)} is invalid: the trials set the training config "
                                      f"field {name} = {point[name]!r} (a value of this {dim.kind} "
                                      f"dimension), and that fails: {msg}") from None
            raise ConfigError(f"[space] is invalid: the trials' training config cannot be built at "
                              f"{point!r} (a point of the space; each value alone works): "
                              f"{_reason(error)}") from None
        lo, hi = space.from_unit([0.0] * n), space.from_unit([1.0] * n)
        for name in space.names:  # a dimension must change what the trials train
            if lo[name] != hi[name] and \
                    self._dry_build({name: lo[name]}, True)[1] == self._dry_build({name: hi[name]}, True)[1]:
                raise ConfigError(f"{_space_key(name)} changes nothing: the training setup built with "
                                  f"{name} = {lo[name]!r} and with {name} = {hi[name]!r} is the same (data, "
                                  "weights, optimizer and learning rates, callbacks, fit arguments), so "
                                  "every trial would train the same run")

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
        "search", help="run a hyperparameter search from a TOML config, or show a study", add_help=False,
        description="Run (or resume) the hyperparameter search described by CONFIG.toml; rerunning "
        "the same command resumes an interrupted study. `search show STUDY.db` prints the trials "
        "and the best configuration. See docs/search.md.")
    p.add_argument("-h", "--help", action=_Help, help="show this help (search show --help: that of show)")
    p.add_argument("config", metavar="CONFIG.toml|show", help="a search config, or 'show'")
    p.add_argument("study_file", nargs="?", metavar="STUDY.db", help="with 'show': the study file")
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
