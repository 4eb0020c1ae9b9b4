"""The trainer: a loop of epochs and batches that calls the lifecycle hooks.

Everything else is a callback (a plugin): the logger, metric files, checkpoints, early
stopping, reduce-on-plateau, penalties, gradient clipping, diagnostics, the divergence
guard and the interrupt checkpoint. The learning rate has one channel: the optimizer's
``lr`` (a float or a schedule of its step counter); callbacks scale its ``lr_scale``.
"""
from __future__ import annotations

import difflib
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pluggy

from . import checkpoint as ckpt
from . import functional as F
from . import hookspecs
from .nn import Module, evaluating
from .optim import Optimizer, PerEpoch
from .registry import LIFECYCLE_HOOKS, PREFIX, get_registry
from .registry import callback as build_callback
from .registry import optimizer as build_optimizer, schedule as build_schedule
from .tensor import Tensor, no_grad
from .validation import count as _count, real_data

LOSSES: dict[str, Callable] = {
    "cross_entropy": F.cross_entropy,
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "bce_with_logits": F.binary_cross_entropy_with_logits,
    "mse": F.mse_loss, "mse_loss": F.mse_loss,
    "l1": F.l1_loss, "l1_loss": F.l1_loss,
}
CLASSIFICATION = {"cross_entropy", "binary_cross_entropy_with_logits", "bce_with_logits"}


class TrainingDiverged(RuntimeWarning):
    """The loss became NaN, infinite or exploded; training stopped (see the message for
    which weights were kept)."""


class NothingToTrain(UserWarning):
    """``fit(resume=...)`` of a run that already finished: no epoch was trained."""


class HyperparameterChanged(UserWarning):
    """``fit(resume=...)`` with an optimizer hyperparameter other than the checkpoint's:
    the value given now is used."""


@dataclass(frozen=True)
class StopReason:
    """Why training stopped before its last epoch: ``kind`` (``"early_stopping"``,
    ``"diverged"``, ``"interrupted"`` or a callback's own word), a human ``message``, and
    ``failure`` (True when the run did not succeed: the CLI exits 1)."""

    kind: str
    message: str
    failure: bool = False

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "failure": self.failure}

    @classmethod
    def from_value(cls, v: Any) -> "StopReason | None":
        if v is None or isinstance(v, StopReason):
            return v
        if isinstance(v, dict):
            return cls(str(v["kind"]), str(v["message"]), bool(v.get("failure", False)))
        return cls("stopped", str(v))  # a checkpoint written before reasons were structured


class History:
    """Per-epoch metrics of a fit: ``history["val_loss"]`` is the list over epochs;
    ``history.stop_reason`` is ``None`` or a :class:`StopReason`."""

    def __init__(self, epochs: Iterable[dict] = (), stop_reason: Any = None):
        self.epochs: list[dict[str, Any]] = [dict(e) for e in epochs]
        self.stop_reason = StopReason.from_value(stop_reason)

    def append(self, logs: dict[str, Any]) -> None:
        self.epochs.append(dict(logs))

    def __getitem__(self, key: str) -> list[Any]:
        if not self.epochs or key not in self.epochs[-1]:
            have = sorted(self.epochs[-1]) if self.epochs else []
            raise KeyError(f"history has no metric {key!r}; it has: {', '.join(have) or '(no epochs yet)'}")
        return [e.get(key) for e in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    def __contains__(self, key: str) -> bool:
        return bool(self.epochs) and key in self.epochs[-1]

    @property
    def last(self) -> dict[str, Any]:
        return self.epochs[-1] if self.epochs else {}

    def to_json(self) -> str:
        r = self.stop_reason
        return json.dumps({"epochs": self.epochs, "stop_reason": None if r is None else r.to_dict()})

    @classmethod
    def from_json(cls, text: str) -> "History":
        d = json.loads(text)
        return cls(d["epochs"], d.get("stop_reason"))

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, stop_reason={self.stop_reason!r})"


def _as_xy(data: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        X, y = data
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a pair (X, y) of arrays, got {type(data).__name__}") from None
    if y is None:
        raise TypeError(f"{what}: y is None; give the targets as (X, y)")
    X, y = np.asarray(X), np.asarray(y)
    real_data(what, X=X, y=y)
    if X.dtype == object or not np.issubdtype(X.dtype, np.number):
        raise TypeError(f"{what}: X has dtype {X.dtype}; it must be numeric")
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{what}: X and y must be arrays with one row per sample, got shapes "
                         f"{X.shape} and {y.shape}")
    if len(X) != len(y):
        raise ValueError(f"{what}: X has {len(X)} samples but y has {len(y)}")
    if len(X) == 0:
        raise ValueError(f"{what}: no samples")
    if np.issubdtype(X.dtype, np.floating) and not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{what}: X contains NaN or inf (first at index {tuple(int(i) for i in bad)})")
    if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
        raise ValueError(f"{what}: y contains NaN or inf")
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float32)
    return X, y


def _generators(model: Any) -> list[tuple[str, np.random.Generator]]:
    """Every generator a module keeps (e.g. Dropout's), by module name, for checkpoints."""
    out = []
    for name, mod in model.named_modules():
        for attr, value in vars(mod).items():
            if isinstance(value, np.random.Generator):
                out.append((f"{name or '<root>'}.{attr}", value))
    return out


def _label(cb: Any) -> str:
    return str(getattr(cb, "name", None) or type(cb).__name__)


def check_callback(cb: Any, where: str) -> None:
    """Refuse what is not a callback object: a class, an object without hook methods, a
    method named like a hook that is not one (did you mean ...?) or not marked ``hookimpl``."""
    if isinstance(cb, type):
        raise TypeError(f"{where} is the class {cb.__name__}; pass an instance ({cb.__name__}(...))")
    hooks = [a for a in dir(cb) if a.startswith(PREFIX) and callable(getattr(cb, a, None))]
    for name in hooks:
        if name not in LIFECYCLE_HOOKS:
            close = difflib.get_close_matches(name, sorted(LIFECYCLE_HOOKS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"{where} ({_label(cb)}): {name!r} is not a lifecycle hook{hint}; "
                            f"the hooks are: {', '.join(sorted(LIFECYCLE_HOOKS))}")
        if not hasattr(getattr(cb, name), f"{hookspecs.PROJECT}_impl"):
            raise TypeError(f"{where} ({_label(cb)}): method {name} is not marked with "
                            "@tinygrad_init.hookimpl, so it would never be called")
    if not hooks:
        raise TypeError(f"{where} = {cb!r} is not a callback: it has no method marked @hookimpl "
                        f"named like a lifecycle hook (e.g. tinygrad_init_epoch_end)")


def _name_error(exc: BaseException, who: str, hook: str) -> None:
    """Make ``exc`` (re-raised as it is, so its type still means what it meant) name the
    callback and the hook it came from."""
    if getattr(exc, "tinygrad_init_hook", None):
        return
    exc.tinygrad_init_callback, exc.tinygrad_init_hook = who, hook
    where = f"callback {who}, hook {hook}"
    if len(exc.args) == 1 and isinstance(exc.args[0], str) and not isinstance(exc, OSError):
        exc.args = (f"{where}: {exc.args[0]}",)
    else:
        exc.add_note(f"raised by {where}")


class Trainer:
    """Train ``model`` with ``optimizer`` on a loss; ``fit`` only calls the lifecycle hooks.

    :param model: a ``tinygrad_init.nn.Module``.
    :param loss: a name (``"cross_entropy"``, ``"binary_cross_entropy_with_logits"``,
        ``"mse"``, ``"l1"``) or a callable ``loss(output: Tensor, y: ndarray) -> Tensor``
        returning a scalar Tensor.
    :param optimizer: an ``Optimizer`` holding the model's parameters, or a name built
        over ``model.parameters()`` with ``optimizer_options``.
    :param schedule: optional learning-rate schedule (name or callable), installed as
        the optimizer's ``lr`` when ``fit`` starts: ``schedule(t)`` with ``t`` the epoch
        (``schedule_unit="epoch"``, default, through :class:`~tinygrad_init.optim.PerEpoch`)
        or the optimizer's step counter (``"step"``).
    :param callbacks: a list of callback objects or names (``["rich_logger"]``).
    :param diagnostics, diagnostics_every: add the ``diagnostics`` callback.
    :param l1, l2: add the ``penalty`` callback: ``l1 * sum|w| + l2 / 2 * sum w**2``
        over the weights (``ndim >= 2``).
    :param clip_grad_norm: add the ``grad_clip`` callback with this ``max_norm``.
    :param max_loss: the ``divergence_guard``'s opt-in exploding-loss threshold. The
        guard (NaN/inf loss) and the ``interrupt`` callback (Ctrl-C checkpoint) are
        always added, unless ``callbacks`` has its own.
    """

    def __init__(self, model: Any, loss: str | Callable = "cross_entropy", optimizer: Any = "sgd",
                 schedule: Any = None, *, optimizer_options: dict | None = None,
                 schedule_unit: str = "epoch", callbacks: Sequence[Any] = (),
                 diagnostics: bool = False, diagnostics_every: int | None = None,
                 l1: float = 0.0, l2: float = 0.0, clip_grad_norm: float | None = None,
                 max_loss: float | None = None):
        if not isinstance(model, Module):
            raise TypeError(f"Trainer: model must be a tinygrad_init.nn.Module, got {type(model).__name__}")
        self.model = model
        if isinstance(loss, str):
            if loss not in LOSSES:
                raise ValueError(f"Trainer: unknown loss {loss!r}; available: {', '.join(LOSSES)}")
            self.loss_name, self.loss_fn = loss, LOSSES[loss]
        elif callable(loss):
            self.loss_name, self.loss_fn = getattr(loss, "__name__", "loss"), loss
        else:
            raise TypeError(f"Trainer: loss must be a name or a callable, got {loss!r}")
        if isinstance(optimizer, str):
            optimizer = build_optimizer(optimizer, model.named_parameters(), **(optimizer_options or {}))
        elif optimizer_options:
            raise TypeError("Trainer: optimizer_options only apply when optimizer is given by name")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"Trainer: optimizer must be an Optimizer or a name, got {optimizer!r}")
        self._check_params(model, optimizer)
        self.optimizer = optimizer
        self.schedule = None if schedule is None else build_schedule(schedule)
        if schedule_unit not in ("epoch", "step"):
            raise ValueError(f"Trainer: schedule_unit={schedule_unit!r} is invalid: must be 'epoch' or 'step'")
        self.schedule_unit = schedule_unit
        if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"Trainer: callbacks={callbacks!r} is invalid: must be a list of callback "
                            f"objects or names" + (f", e.g. callbacks=[{callbacks!r}]"
                                                  if isinstance(callbacks, str) else ""))
        self.callbacks = [build_callback(c) if isinstance(c, str) else c for c in callbacks]
        for i, cb in enumerate(self.callbacks):
            check_callback(cb, f"Trainer: callbacks[{i}]")
        if diagnostics_every is not None:
            diagnostics_every = _count("Trainer", "diagnostics_every", diagnostics_every)
        for name, v in (("l1", l1), ("l2", l2)):
            if isinstance(v, bool) or not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"Trainer: {name}={v!r} is invalid: must be a finite number >= 0")
        for name, v in (("clip_grad_norm", clip_grad_norm), ("max_loss", max_loss)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
                raise ValueError(f"Trainer: {name}={v!r} is invalid: must be a number > 0")
        have = {_label(c) for c in self.callbacks}
        builtin = [("penalty", {"l1": l1, "l2": l2}, bool(l1 or l2), "l1/l2"),
                   ("grad_clip", {"max_norm": clip_grad_norm}, clip_grad_norm is not None, "clip_grad_norm"),
                   ("diagnostics", {"every": diagnostics_every}, bool(diagnostics), "diagnostics"),
                   ("divergence_guard", {"max_loss": max_loss}, True, "max_loss" if max_loss is not None else ""),
                   ("interrupt", {}, True, "")]
        for name, _, on, field in builtin:
            if name in have and on and field:
                raise ValueError(f"Trainer: {field} is set and callbacks has its own {name}: "
                                 f"configure one of them, not both")
        self._builtin = [build_callback(n, **hp) for n, hp, on, _ in builtin if on and n not in have]
        self.l1, self.l2, self.clip_grad_norm, self.diagnostics = float(l1), float(l2), clip_grad_norm, bool(diagnostics)
        self._stop: StopReason | None = None
        self.history = History()
        self.epoch = 0  # the epoch in progress (0-based)
        self.global_step = 0
        self.steps_per_epoch = 0
        self.checkpoint_path: Path | None = None
        self.classification = self.loss_name in CLASSIFICATION
        self._progress: dict[str, Any] = {}
        self._rng: np.random.Generator | None = None
        self._saved_shuffle_rng: dict | None = None
        self._calls: dict[str, list] = {}
        self.nothing_to_train: str | None = None  # the message, when fit(resume=) had nothing to do

    @staticmethod
    def _check_params(model: Module, optimizer: Optimizer) -> None:
        held = {id(p) for g in optimizer.param_groups for p in g["params"]}
        named = list(model.named_parameters())
        trainable = [(n, p) for n, p in named if p.requires_grad] or named
        if named and not any(id(p) in held for _, p in named):
            raise ValueError(f"Trainer: the optimizer ({optimizer.name}) holds none of the model's "
                             f"{len(named)} parameters, so training would change nothing: build it over "
                             f"model.parameters()")
        missing = [n for n, p in trainable if id(p) not in held]
        if missing:
            warnings.warn(f"Trainer: the optimizer ({optimizer.name}) does not hold {len(missing)} of the "
                          f"model's trainable parameters, which will not be trained: "
                          f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}", UserWarning,
                          stacklevel=3)

    # ------------------------------------------------------------------ stopping
    def stop(self, kind: Any, message: str | None = None, *, failure: bool = False) -> None:
        """Stop training after the current step: ``stop("early_stopping", "why")`` or
        ``stop(StopReason(...))``. The first reason given wins; it becomes
        ``history.stop_reason``."""
        reason = kind if isinstance(kind, StopReason) else StopReason(str(kind), message or str(kind), failure)
        if self._stop is None:
            self._stop = reason
            self.history.stop_reason = reason

    @property
    def stop_reason(self) -> StopReason | None:
        """Why training is stopping (``None`` while it runs on)."""
        return self._stop

    @property
    def stop_training(self) -> bool:
        return self._stop is not None

    @stop_training.setter
    def stop_training(self, value: Any) -> None:
        raise AttributeError("Trainer.stop_training is read-only: stop with trainer.stop(kind, message)")

    # ------------------------------------------------------------------ evaluation
    def _loss(self, out: Tensor, y: np.ndarray) -> Tensor:
        if self.loss_name in ("binary_cross_entropy_with_logits", "bce_with_logits"):
            y = y.reshape(out.shape).astype(out.dtype)
        loss = self.loss_fn(out, y)
        if not isinstance(loss, Tensor):
            raise TypeError(f"Trainer: the loss {self.loss_name!r} returned {type(loss).__name__} "
                            f"{loss!r}, not a Tensor: compute it with Tensor operations so it can be "
                            "differentiated")
        if loss.data.size != 1:
            raise ValueError(f"Trainer: the loss {self.loss_name!r} returned shape {tuple(loss.shape)}; "
                             "it must be a scalar (reduce it, e.g. with .mean())")
        return loss

    def _correct(self, out: np.ndarray, y: np.ndarray) -> int:
        if out.ndim == 2 and out.shape[1] > 1:
            return int((out.argmax(axis=1) == y).sum())
        return int(((out.reshape(-1) > 0) == (y.reshape(-1) > 0.5)).sum())

    def predict(self, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Model outputs for ``X`` in eval mode, without building a graph."""
        X = np.asarray(X)
        batch_size = _count("predict", "batch_size", batch_size)
        if X.ndim == 0 or len(X) == 0:
            raise ValueError(f"predict: X of shape {X.shape} has no samples")
        with evaluating(self.model), no_grad():
            return np.concatenate([self.model(Tensor(X[i:i + batch_size])).data
                                   for i in range(0, len(X), batch_size)])

    def evaluate(self, data: Any, batch_size: int = 1024, prefix: str = "") -> dict[str, float]:
        """``{loss, acc}`` (classification) or ``{loss}`` of the model on ``(X, y)``, eval mode."""
        batch_size = _count("evaluate", "batch_size", batch_size)
        return self._evaluate(*_as_xy(data, "evaluate data"), batch_size, prefix)

    def _evaluate(self, X: np.ndarray, y: np.ndarray, batch_size: int = 1024,
                  prefix: str = "") -> dict[str, float]:
        total, correct = 0.0, 0
        with evaluating(self.model), no_grad():
            for i in range(0, len(X), batch_size):
                out = self.model(Tensor(X[i:i + batch_size]))
                yb = y[i:i + batch_size]
                total += float(self._loss(out, yb).item()) * len(yb)
                if self.classification:
                    correct += self._correct(out.data, yb)
        res = {f"{prefix}loss": total / len(X)}
        if self.classification:
            res[f"{prefix}acc"] = correct / len(X)
        return res

    # ------------------------------------------------------------------ checkpoints
    def state_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Everything a resume needs: model, optimizer, counters, RNG states, history."""
        from .init import default_generator

        arrays = {**ckpt.prefixed("model", self.model.state_dict()),
                  **ckpt.prefixed("optimizer", self.optimizer.state_dict())}
        for prefix, cb in zip(ckpt.callback_prefixes(self.callbacks), self.callbacks):
            if callable(getattr(cb, "state_dict", None)):
                arrays.update(ckpt.prefixed(prefix, cb.state_dict()))
        meta = {
            "epoch": self.epoch, "global_step": self.global_step, "progress": self._progress,
            "shuffle_rng": None if self._rng is None else self._rng.bit_generator.state,
            "history": json.loads(self.history.to_json()),
            "rng": {"default": default_generator().bit_generator.state,
                    **{k: g.bit_generator.state for k, g in _generators(self.model)}},
            "model_class": type(self.model).__name__,
        }
        return arrays, meta

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write a resumable checkpoint atomically (a crash never destroys the previous one)."""
        arrays, meta = self.state_arrays()
        return ckpt.save_checkpoint(path, arrays, meta)

    def load_checkpoint(self, path: str | Path, steps_per_epoch: int | None = None) -> dict[str, Any]:
        """Restore model, optimizer, counters, RNG states and history from ``path``.

        A checkpoint from another model or optimizer, or a truncated file, raises
        before anything is changed. An optimizer hyperparameter built with another value
        than the checkpoint's (``--set optimizer.lr=0.01`` on resume) keeps the new value,
        with a ``HyperparameterChanged`` warning naming it.
        """
        from .init import default_generator

        arrays, meta = ckpt.load_checkpoint(path)
        ckpt.validate_meta(path, meta, generators=dict(_generators(self.model)), steps_per_epoch=steps_per_epoch)
        ckpt.check_finite(path, arrays)
        model_sd, opt_sd = ckpt.split(arrays, "model"), ckpt.split(arrays, "optimizer")
        mine = self.model.state_dict()
        if set(model_sd) != set(mine) or any(model_sd[k].shape != v.shape for k, v in mine.items()):
            missing, extra = sorted(set(mine) - set(model_sd)), sorted(set(model_sd) - set(mine))
            parts = [f"{k}: the checkpoint has shape {model_sd[k].shape}, the model has {v.shape}"
                     for k, v in mine.items() if k in model_sd and model_sd[k].shape != v.shape][:5]
            if missing:
                parts.append(f"only in the model: {', '.join(missing[:5])}")
            if extra:
                parts.append(f"only in the checkpoint: {', '.join(extra[:5])}")
            raise ckpt.CheckpointError(f"checkpoint {str(path)!r} is from another model "
                                       f"({meta.get('model_class')}): " + "; ".join(parts))
        gens = dict(_generators(self.model))
        cb_states = ckpt.callback_states(path, arrays, self.callbacks)
        opt = self.optimizer
        given = [{k: g[k] for k in opt._hp_keys(g) if k != "lr_scale" and not callable(g[k])}
                 for g in opt.param_groups]
        snapshot_opt = opt.state_dict()
        opt.load_state_dict(opt_sd)  # validates everything before it changes anything
        try:
            ckpt.load_callback_states(path, cb_states)  # all or none
            self.model.load_state_dict(model_sd)
        except Exception:
            opt.load_state_dict(snapshot_opt)
            raise
        for gi, (g, now) in enumerate(zip(opt.param_groups, given)):
            for k, v in now.items():
                if g[k] != v:
                    where = "" if len(opt.param_groups) == 1 else f" (group {gi})"
                    warnings.warn(f"resume: optimizer.{k}{where} is {g[k]!r} in checkpoint {str(path)!r}; "
                                  f"using {v!r} as given now", HyperparameterChanged, stacklevel=3)
                    g[k] = v
        default_generator().bit_generator.state = meta["rng"]["default"]
        for k, g in gens.items():
            g.bit_generator.state = meta["rng"][k]
        self.epoch, self.global_step = meta["epoch"], meta["global_step"]
        self.history = History(meta["history"]["epochs"], meta["history"]["stop_reason"])
        self._progress = meta["progress"]
        self._saved_shuffle_rng = meta.get("shuffle_rng")
        return meta

    # ------------------------------------------------------------------ hooks
    def _hooks(self) -> None:
        """The call table of this fit: for each lifecycle hook, its implementations in
        pluggy's order (installed plugins, then the callbacks), each with its label."""
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        reg = get_registry()
        named = [(f"plugin {reg.plugin_id(p) or getattr(p, '__name__', p)!s}", p)
                 for p in reg.lifecycle_plugins()]
        named += [(f"callbacks[{i}] ({_label(c)})", c) for i, c in enumerate(self.callbacks)]
        named += [(_label(c), c) for c in self._builtin]
        for i, (who, cb) in enumerate(named):
            if not who.startswith("plugin "):
                check_callback(cb, f"Trainer: {who.split(' (')[0]}")
            try:
                pm.register(cb, name=f"{i}:{who}")
            except pluggy.PluginValidationError as exc:
                raise TypeError(f"Trainer: {who}: {exc}") from None
        self._calls = {}
        for hook in LIFECYCLE_HOOKS:
            impls = getattr(pm.hook, hook).get_hookimpls()
            if any(i.hookwrapper or getattr(i, "wrapper", False) for i in impls):
                raise TypeError(f"Trainer: hook wrappers are not supported ({hook})")
            self._calls[hook] = [(i.function, i.argnames, i.plugin_name.split(":", 1)[1])
                                 for i in reversed(impls)]

    def _call(self, hook: str, **kw: Any) -> None:
        for fn, args, who in self._calls[PREFIX + hook]:
            try:
                fn(**{a: kw[a] for a in args})
            except Exception as exc:
                _name_error(exc, who, PREFIX + hook)
                raise

    def _end(self) -> BaseException | None:
        """``train_end`` for every callback, each even if another one raises."""
        first = None
        for fn, args, who in self._calls.get(PREFIX + "train_end", ()):
            try:
                fn(**{a: {"trainer": self, "history": self.history}[a] for a in args})
            except Exception as exc:
                _name_error(exc, who, PREFIX + "train_end")
                first = first or exc
        return first

    # ------------------------------------------------------------------ fit
    def fit(self, train: Any, val: Any = None, epochs: int = 1, batch_size: int = 32, seed: int = 0,
            shuffle: bool = True, resume: str | Path | None = None,
            checkpoint: str | Path | None = None) -> History:
        """Train for ``epochs`` epochs (counting epochs already done when resuming).

        :param train: ``(X, y)`` arrays; ``val`` likewise, evaluated after each epoch.
        :param batch_size: 1 (stochastic), ``len(X)`` (full batch) or anything between.
        :param seed: seeds the shuffling; the same seed gives the same run, bit for bit.
        :param resume: a checkpoint to continue from (same model and optimizer). A run
            that already finished (all epochs, or stopped early) trains nothing and warns
            ``NothingToTrain``.
        :param checkpoint: where Ctrl-C saves the run before ``KeyboardInterrupt`` is
            re-raised (the ``checkpoint`` callback sets it too); its folder must exist.
        :return: the ``History``; ``history.stop_reason`` says why it stopped early.
        """
        X, y = _as_xy(train, "train data")
        val = None if val is None else _as_xy(val, "validation data")
        epochs = _count("fit", "epochs", epochs)
        bs = min(_count("fit", "batch_size", batch_size), len(X))
        if self.loss_name == "cross_entropy":
            self._check_labels(y, X[:1])
        if checkpoint is not None:
            if not Path(checkpoint).parent.is_dir():
                raise FileNotFoundError(f"fit: checkpoint={str(checkpoint)!r}: folder "
                                        f"{str(Path(checkpoint).parent)!r} does not exist")
            self.checkpoint_path = Path(checkpoint)
        steps = self.steps_per_epoch = math.ceil(len(X) / bs)
        if self.schedule is not None:
            self.optimizer.set_lr(self.schedule if self.schedule_unit == "step" else PerEpoch(self.schedule, steps))
        rng = self._rng = np.random.default_rng(seed)
        if not self._start(resume, epochs, rng):
            return self.history  # a finished run: nothing left to train
        self._hooks()
        self.model.train()
        try:
            self._call("train_start", trainer=self, history=self.history, epochs=epochs)
            while self.epoch < epochs and self._stop is None:
                self._epoch(X, y, val, rng, bs, shuffle)
        except BaseException:
            self._end()
            raise
        error = self._end()
        if error is not None:
            raise error
        return self.history

    def _start(self, resume: Any, epochs: int, rng: np.random.Generator) -> bool:
        """Reset for a new run, or load ``resume``; False if that run has nothing left to train."""
        self._stop = self.nothing_to_train = None
        if resume is None:
            self.history, self.epoch, self.global_step, self._progress = History(), 0, 0, {}
            return True
        self.load_checkpoint(resume, steps_per_epoch=self.steps_per_epoch)
        if self.history.stop_reason or (self.epoch >= epochs and not self._progress):
            why = (f"it stopped: {self.history.stop_reason}" if self.history.stop_reason
                   else f"its {self.epoch} epochs of {epochs} are done")
            self.nothing_to_train = f"resume {str(resume)!r}: nothing left to train, the run already finished ({why})"
            warnings.warn(self.nothing_to_train, NothingToTrain, stacklevel=3)
            self._stop = self.history.stop_reason
            return False
        if self._saved_shuffle_rng is not None:
            rng.bit_generator.state = self._saved_shuffle_rng
        return True

    def _epoch(self, X, y, val, rng, bs, shuffle) -> None:
        e, prog, steps = self.epoch, self._progress, self.steps_per_epoch
        if not prog:  # a fresh epoch (not one resumed half-way)
            prog.update(rng=rng.bit_generator.state, step=0, loss_sum=0.0, correct=0, seen=0)
            self._call("epoch_start", trainer=self, epoch=e, num_steps=steps)
        rng.bit_generator.state = prog["rng"]
        order = rng.permutation(len(X)) if shuffle else np.arange(len(X))
        t0, lr = time.perf_counter(), None
        for s in range(prog["step"], steps):
            lr = self._step(X, y, order[s * bs:(s + 1) * bs], e, s, prog)
            if self._stop is not None:
                break
        if prog["seen"] == 0:
            return  # stopped before the epoch's first update: nothing to log
        logs = {"epoch": e + 1, "train_loss": prog["loss_sum"] / prog["seen"]}
        if self.classification:
            logs["train_acc"] = prog["correct"] / prog["seen"]
        if val is not None:
            logs.update(self._evaluate(*val, prefix="val_"))
        logs["lr"] = self.optimizer.get_lr() if lr is None else lr  # the lr of the epoch's last update
        logs["time"] = time.perf_counter() - t0  # of this process, when resumed half-way
        self.history.append(logs)
        self.epoch += 1
        self._progress = {}
        self._call("epoch_end", trainer=self, epoch=e, logs=logs)
        if not (self._stop is not None and self._stop.failure):
            self._call("checkpoint", trainer=self, epoch=e, logs=logs)

    def _step(self, X, y, idx, e, s, prog) -> float | None:
        """One batch; returns the lr of its update (None if a callback stopped before it)."""
        xb, yb = X[idx], y[idx]
        self._call("batch_start", trainer=self, epoch=e, step=s)
        out = self.model(Tensor(xb))
        loss = self._loss(out, yb)
        value = float(loss.item())
        self._call("after_loss", trainer=self, epoch=e, step=s, loss=value)
        if self._stop is not None:
            return None
        self.optimizer.zero_grad()
        loss.backward()
        self._call("after_backward", trainer=self, epoch=e, step=s)
        self._call("before_step", trainer=self, epoch=e, step=s)
        if self._stop is not None:
            return None
        lr = self.optimizer.get_lr()
        self.optimizer.step()
        prog["loss_sum"] += value * len(idx)
        prog["seen"] += len(idx)
        if self.classification:
            prog["correct"] += self._correct(out.data, yb)
        prog["step"] = s + 1
        self.global_step += 1
        logs = {"loss": value, "lr": lr, "batch_size": len(idx), "global_step": self.global_step,
                "epoch_loss": prog["loss_sum"] / prog["seen"]}
        self._call("step_end", trainer=self, epoch=e, step=s, logs=logs)
        return lr

    def _check_labels(self, y: np.ndarray, x0: np.ndarray) -> None:
        if not np.issubdtype(y.dtype, np.integer):
            if np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)):
                return
            raise TypeError(f"cross_entropy needs integer class labels, got y of dtype {y.dtype}")
        with evaluating(self.model), no_grad():
            n_classes = self.model(Tensor(x0)).shape[-1]
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= n_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"labels out of range: found label {bad}, but the model has {n_classes} "
                             f"outputs (labels must be in [0, {n_classes - 1}])")


def fine_tune(model: Any, mode: str, lr: float, early_lr: float | None = None) -> list[dict[str, Any]]:
    """Prepare ``model`` for one of the three fine-tuning modes; return parameter groups.

    - ``"predict"``: freeze everything (no training; use ``Trainer.predict``); returns ``[]``.
    - ``"last_layer"``: freeze every parameter except those of the last layer that has any.
    - ``"all"``: train everything from the current (pretrained) weights; with
      ``early_lr``, every layer but the last gets that smaller learning rate.
    """
    named = list(model.named_parameters())
    if not named:
        raise ValueError("fine_tune: the model has no parameters")
    last_prefix = named[-1][0].rsplit(".", 1)[0]
    last = [p for n, p in named if n.rsplit(".", 1)[0] == last_prefix]
    early = [p for n, p in named if n.rsplit(".", 1)[0] != last_prefix]
    if mode == "predict":
        model.freeze()
        return []
    if mode == "last_layer":
        model.freeze()
        for p in last:
            p.requires_grad = True
        return [{"params": last, "lr": lr}]
    if mode == "all":
        model.unfreeze()
        if early_lr is None:
            return [{"params": early + last, "lr": lr}]
        return [{"params": early, "lr": early_lr}, {"params": last, "lr": lr}]
    raise ValueError(f"fine_tune: mode={mode!r} is invalid: must be 'predict', 'last_layer' or 'all'")
