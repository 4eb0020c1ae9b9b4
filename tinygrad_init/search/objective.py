"""The training objective of a search config (``[objective] kind = "train"``): train the
model of a ``tinygrad-init train`` config for every trial and return an epoch metric."""
from __future__ import annotations

import os
import re
from typing import Any

from ..experiment import ConfigError


def _did_you_mean(name: str, names: Any) -> str:
    import difflib

    close = difflib.get_close_matches(str(name), list(names), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def space_key(name: str) -> str:
    """``[space.lr]``, ``[space."optimizer.lr"]``: the TOML table of a dimension."""
    return f"[space.{name}]" if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f"[space.{toml_value(name)}]"


def toml_value(v: Any) -> str:
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
        training it, nor creating its output directory; with ``fingerprint``, also return
        the digest of what it would train (``experiment.fingerprint``)."""
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
                    raise ConfigError(f"{space_key(name)} is invalid: the trials set the training config "
                                      f"field {name} = {point[name]!r} (a value of this {dim.kind} "
                                      f"dimension), and that fails: {msg}") from None
            raise ConfigError(f"[space] is invalid: the trials' training config cannot be built at "
                              f"{point!r} (a point of the space; each value alone works): "
                              f"{_reason(error)}") from None
        lo, hi = space.from_unit([0.0] * n), space.from_unit([1.0] * n)
        for name in space.names:  # a dimension must change what the trials train
            if lo[name] != hi[name] and \
                    self._dry_build({name: lo[name]}, True)[1] == self._dry_build({name: hi[name]}, True)[1]:
                raise ConfigError(f"{space_key(name)} changes nothing: the training setup built with "
                                  f"{name} = {lo[name]!r} and with {name} = {hi[name]!r} is the same (data, "
                                  "weights, optimizer and learning rates, callbacks, fit arguments), so "
                                  "every trial would train the same run")

    def overrides(self, trial: Any) -> list[str]:
        sets = self.set + [f"{k}={toml_value(v)}" for k, v in trial.params.items() if v is not None]
        if trial.budget is not None:
            sets.append(f"train.epochs={max(1, int(round(trial.budget)))}")
        sets.append("output.loggers=[]")
        if self.out_dir:
            sets.append(f"output.dir={toml_value(os.path.join(self.out_dir, f'trial-{trial.number}'))}")
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
