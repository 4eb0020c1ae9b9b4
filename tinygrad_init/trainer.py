"""The trainer: mini-batch gradient descent that calls the lifecycle hooks at every stage.

Loggers, metric files, checkpoints, early stopping and reduce-on-plateau are
callbacks (plugins), not special cases here.
"""
from __future__ import annotations

import json
import math
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from . import checkpoint as ckpt
from . import functional as F
from .nn import Module, evaluating
from .optim import Optimizer, clip_grad_norm
from .registry import callback as build_callback
from .registry import lifecycle_manager, optimizer as build_optimizer, schedule as build_schedule
from .tensor import Tensor, no_grad
from .validation import integer, real_data

LOSSES: dict[str, Callable] = {
    "cross_entropy": F.cross_entropy,
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "bce_with_logits": F.binary_cross_entropy_with_logits,
    "mse": F.mse_loss, "mse_loss": F.mse_loss,
    "l1": F.l1_loss, "l1_loss": F.l1_loss,
}
CLASSIFICATION = {"cross_entropy", "binary_cross_entropy_with_logits", "bce_with_logits"}


class TrainingDiverged(RuntimeWarning):
    """The loss became NaN or infinite; training stopped and the last good weights were kept."""


class History:
    """Per-epoch metrics of a fit: ``history["val_loss"]`` is the list over epochs."""

    def __init__(self, epochs: Iterable[dict] = (), stop_reason: str | None = None):
        self.epochs: list[dict[str, Any]] = [dict(e) for e in epochs]
        self.stop_reason = stop_reason

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
        return json.dumps({"epochs": self.epochs, "stop_reason": self.stop_reason})

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
    X, y = np.asarray(X), np.asarray(y)
    real_data(what, X=X, y=y)
    if X.dtype == object or not np.issubdtype(X.dtype, np.number):
        raise TypeError(f"{what}: X has dtype {X.dtype}; it must be numeric")
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


class Trainer:
    """Train ``model`` with ``optimizer`` on a loss, calling the lifecycle hooks.

    :param model: a ``tinygrad_init.nn.Module``.
    :param loss: a name (``"cross_entropy"``, ``"binary_cross_entropy_with_logits"``,
        ``"mse"``, ``"l1"``) or a callable ``loss(output: Tensor, y: ndarray) -> Tensor``.
    :param optimizer: an ``Optimizer``, or a name built over ``model.parameters()``
        with ``optimizer_options``.
    :param schedule: optional learning-rate schedule (name or callable); the trainer
        calls ``optimizer.set_lr(schedule(t))`` with ``t`` the epoch
        (``schedule_unit="epoch"``, default) or the global step (``"step"``).
    :param callbacks: callback objects or names (``"rich_logger"``...).
    :param diagnostics: collect per-layer activation mean/std (and dead-unit
        fraction after ReLUs), gradient norm and update-to-weight ratio every
        ``diagnostics_every`` steps (default: the last step of each epoch); they
        reach callbacks as ``logs["diagnostics"]``.
    :param l1, l2: penalties on the weights (parameters with ``ndim >= 2``) added
        to the loss: ``l1 * sum|w|`` and ``l2 / 2 * sum w**2``.
    :param clip_grad_norm: clip the global gradient norm to this value.
    """

    def __init__(self, model: Any, loss: str | Callable = "cross_entropy", optimizer: Any = "sgd",
                 schedule: Any = None, *, optimizer_options: dict | None = None,
                 schedule_unit: str = "epoch", callbacks: Sequence[Any] = (),
                 diagnostics: bool = False, diagnostics_every: int | None = None,
                 l1: float = 0.0, l2: float = 0.0, clip_grad_norm: float | None = None):
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
        self.optimizer = optimizer
        self.schedule = None if schedule is None else build_schedule(schedule)
        if schedule_unit not in ("epoch", "step"):
            raise ValueError(f"Trainer: schedule_unit={schedule_unit!r} is invalid: must be 'epoch' or 'step'")
        self.schedule_unit = schedule_unit
        self.callbacks = [build_callback(c) if isinstance(c, str) else c for c in callbacks]
        self.diagnostics = bool(diagnostics)
        if diagnostics_every is not None and (not isinstance(diagnostics_every, int) or diagnostics_every < 1):
            raise ValueError(f"Trainer: diagnostics_every={diagnostics_every!r} is invalid: must be an int >= 1")
        self.diagnostics_every = diagnostics_every
        for name, v in (("l1", l1), ("l2", l2)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"Trainer: {name}={v!r} is invalid: must be a finite number >= 0")
        self.l1, self.l2 = float(l1), float(l2)
        if clip_grad_norm is not None and not (clip_grad_norm > 0):
            raise ValueError(f"Trainer: clip_grad_norm={clip_grad_norm!r} is invalid: must be > 0")
        self.clip_grad_norm = clip_grad_norm
        self.stop_training = False
        self.stop_reason: str | None = None  # a callback that stops training says why here
        self.history = History()
        self.epoch = 0  # the epoch in progress (0-based)
        self.global_step = 0
        self.checkpoint_path: Path | None = None
        self.classification = self.loss_name in CLASSIFICATION
        self._progress: dict[str, Any] = {}
        self._rng: np.random.Generator | None = None
        self._saved_shuffle_rng: dict | None = None

    # ------------------------------------------------------------------ evaluation
    def _loss(self, out: Tensor, y: np.ndarray) -> Tensor:
        if self.loss_name == "binary_cross_entropy_with_logits" or self.loss_name == "bce_with_logits":
            y = y.reshape(out.shape).astype(out.dtype)
        return self.loss_fn(out, y)

    def _correct(self, out: np.ndarray, y: np.ndarray) -> int:
        if out.ndim == 2 and out.shape[1] > 1:
            return int((out.argmax(axis=1) == y).sum())
        return int(((out.reshape(-1) > 0) == (y.reshape(-1) > 0.5)).sum())

    def predict(self, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Model outputs for ``X`` in eval mode, without building a graph."""
        X = np.asarray(X)
        with evaluating(self.model), no_grad():
            return np.concatenate([self.model(Tensor(X[i:i + batch_size])).data
                                   for i in range(0, len(X), batch_size)])

    def evaluate(self, data: Any, batch_size: int = 1024, prefix: str = "") -> dict[str, float]:
        """``{loss, acc}`` (classification) or ``{loss}`` of the model on ``(X, y)``, eval mode."""
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
        before anything is changed.
        """
        from .init import default_generator

        arrays, meta = ckpt.load_checkpoint(path)
        ckpt.validate_meta(path, meta, generators=dict(_generators(self.model)), steps_per_epoch=steps_per_epoch)
        ckpt.check_finite(path, arrays)
        model_sd, opt_sd = ckpt.split(arrays, "model"), ckpt.split(arrays, "optimizer")
        mine = self.model.state_dict()
        if set(model_sd) != set(mine) or any(model_sd[k].shape != v.shape for k, v in mine.items()):
            missing, extra = sorted(set(mine) - set(model_sd)), sorted(set(model_sd) - set(mine))
            shapes = [f"{k}: {model_sd[k].shape} vs {v.shape}" for k, v in mine.items()
                      if k in model_sd and model_sd[k].shape != v.shape]
            raise ckpt.CheckpointError(
                f"checkpoint {str(path)!r} is from another model ({meta.get('model_class')}): "
                f"missing {missing[:5]}, unexpected {extra[:5]}, shape mismatches {shapes[:5]}")
        gens = dict(_generators(self.model))
        cb_states = ckpt.callback_states(path, arrays, self.callbacks)
        snapshot_opt = self.optimizer.state_dict()
        self.optimizer.load_state_dict(opt_sd)  # validates everything before it changes anything
        try:
            ckpt.load_callback_states(path, cb_states)  # all or none
            self.model.load_state_dict(model_sd)
        except Exception:
            self.optimizer.load_state_dict(snapshot_opt)
            raise
        default_generator().bit_generator.state = meta["rng"]["default"]
        for k, g in gens.items():
            g.bit_generator.state = meta["rng"][k]
        self.epoch, self.global_step = meta["epoch"], meta["global_step"]
        self.history = History(meta["history"]["epochs"], meta["history"]["stop_reason"])
        self._progress = meta["progress"]
        self._saved_shuffle_rng = meta.get("shuffle_rng")
        return meta

    # ------------------------------------------------------------------ diagnostics
    def _watch(self) -> tuple[dict, Callable[[], None]]:
        """Record every module's output statistics during the next forward."""
        acts: dict[str, dict[str, float]] = {}
        watched = []
        for name, mod in self.model.named_modules():
            if not name or next(iter(mod.children()), None) is not None:
                continue  # leaves only

            def forward(*args, _f=mod.forward, _name=name, _kind=type(mod).__name__, **kw):
                out = _f(*args, **kw)
                a = out.data
                stats = {"layer": _kind, "mean": float(a.mean()), "std": float(a.std())}
                if _kind in ("ReLU",) and a.ndim >= 2:
                    stats["dead"] = float((a.reshape(a.shape[0], -1) <= 0).all(axis=0).mean())
                acts[_name] = stats
                return out
            mod.forward = forward
            watched.append(mod)

        def unwatch():
            for m in watched:
                del m.forward
        return acts, unwatch

    def _diagnose(self, acts: dict, before: list[np.ndarray]) -> dict[str, Any]:
        params = {}
        for (name, p), old in zip(self.model.named_parameters(), before):
            if p.grad is None or old is None:
                continue
            w = float(np.linalg.norm(old))
            params[name] = {"grad_norm": float(np.linalg.norm(p.grad)),
                            "update_ratio": float(np.linalg.norm(p.data - old)) / w if w > 0 else float("inf")}
        return {"activations": acts, "params": params}

    # ------------------------------------------------------------------ fit
    def fit(self, train: Any, val: Any = None, epochs: int = 1, batch_size: int = 32, seed: int = 0,
            shuffle: bool = True, resume: str | Path | None = None,
            checkpoint: str | Path | None = None) -> History:
        """Train for ``epochs`` epochs (counting epochs already done when resuming).

        :param train: ``(X, y)`` arrays; ``val`` likewise, evaluated after each epoch.
        :param batch_size: 1 (stochastic), ``len(X)`` (full batch) or anything between.
        :param seed: seeds the shuffling; the same seed gives the same run, bit for bit.
        :param resume: a checkpoint to continue from (same model and optimizer).
        :param checkpoint: where Ctrl-C saves the run before ``KeyboardInterrupt`` is
            re-raised (the ``checkpoint`` callback sets it too).
        :return: the ``History``; ``history.stop_reason`` says why it stopped early
            (early stopping, a non-finite loss, an interrupt) or is ``None``.
        """
        X, y = _as_xy(train, "train data")
        val = None if val is None else _as_xy(val, "validation data")
        epochs = integer("fit", "epochs", epochs, minimum=1)  # np.int64 yes, True no
        if not isinstance(batch_size, int) or not 1 <= batch_size:
            raise ValueError(f"fit: batch_size={batch_size!r} is invalid: must be an int >= 1")
        batch_size = min(batch_size, len(X))
        if self.loss_name == "cross_entropy":
            self._check_labels(y, X[:1])
        if checkpoint is not None:
            self.checkpoint_path = Path(checkpoint)
        rng = self._rng = np.random.default_rng(seed)
        if resume is not None:
            self.load_checkpoint(resume, steps_per_epoch=math.ceil(len(X) / batch_size))
            if self._saved_shuffle_rng is not None:
                rng.bit_generator.state = self._saved_shuffle_rng
        else:
            self.history, self.epoch, self.global_step, self._progress = History(), 0, 0, {}
        self.stop_training = False
        self.stop_reason = self.history.stop_reason = None
        hook = lifecycle_manager(self.callbacks).hook
        steps_per_epoch = math.ceil(len(X) / batch_size)
        params = [p for p in self.model.parameters()]
        weights = [p for p in params if p.data.ndim >= 2]
        backup = [np.empty_like(p.data) for p in params]
        interrupted = threading.Event()
        old_handler = None
        if threading.current_thread() is threading.main_thread():
            def on_sigint(signum, frame):  # finish the step in progress, then stop
                if interrupted.is_set():
                    raise KeyboardInterrupt
                interrupted.set()
            old_handler = signal.signal(signal.SIGINT, on_sigint)
        self.model.train()
        hook.tinygrad_init_train_start(trainer=self, history=self.history, epochs=epochs)
        try:
            while self.epoch < epochs and not self.stop_training:
                e = self.epoch
                prog = self._progress
                if not prog:  # a fresh epoch (not one resumed half-way)
                    prog.update(rng=rng.bit_generator.state, step=0, loss_sum=0.0, correct=0, seen=0)
                    hook.tinygrad_init_epoch_start(trainer=self, epoch=e, num_steps=steps_per_epoch)
                rng.bit_generator.state = prog["rng"]
                order = rng.permutation(len(X)) if shuffle else np.arange(len(X))
                t0 = time.perf_counter()
                if self.schedule is not None and self.schedule_unit == "epoch":
                    self.optimizer.set_lr(self.schedule(e))
                for s in range(prog["step"], steps_per_epoch):
                    if self.schedule is not None and self.schedule_unit == "step":
                        self.optimizer.set_lr(self.schedule(self.global_step))
                    idx = order[s * batch_size:(s + 1) * batch_size]
                    xb, yb = X[idx], y[idx]
                    diag = self.diagnostics and (
                        (self.diagnostics_every and self.global_step % self.diagnostics_every == 0)
                        or (not self.diagnostics_every and s == steps_per_epoch - 1))
                    if diag:
                        acts, unwatch = self._watch()
                    try:
                        out = self.model(Tensor(xb))
                    finally:
                        if diag:
                            unwatch()
                    loss = self._loss(out, yb)
                    value = float(loss.item())
                    if not math.isfinite(value):
                        self._diverged(e, s, value, params, backup)
                        break
                    if self.l1:
                        loss = loss + F.l1_penalty(weights) * self.l1
                    if self.l2:
                        loss = loss + F.l2_penalty(weights) * (self.l2 / 2)
                    self.optimizer.zero_grad()
                    loss.backward()
                    if self.clip_grad_norm is not None:
                        clip_grad_norm(params, self.clip_grad_norm)
                    for b, p in zip(backup, params):
                        np.copyto(b, p.data)
                    lr = self.optimizer.get_lr()
                    try:
                        self.optimizer.step()
                    except FloatingPointError as exc:
                        self._diverged(e, s, value, params, backup, reason=str(exc))
                        break
                    prog["loss_sum"] += value * len(idx)
                    prog["seen"] += len(idx)
                    if self.classification:
                        prog["correct"] += self._correct(out.data, yb)
                    prog["step"] = s + 1
                    self.global_step += 1
                    logs = {"loss": value, "lr": lr, "batch_size": len(idx), "global_step": self.global_step}
                    if diag:
                        logs["diagnostics"] = self._diagnose(acts, backup)
                    hook.tinygrad_init_step_end(trainer=self, epoch=e, step=s, logs=logs)
                    if interrupted.is_set():
                        raise KeyboardInterrupt
                    if self.stop_training:
                        break
                if self.history.stop_reason is not None and prog["seen"] == 0:
                    break
                logs = {"epoch": e + 1, "train_loss": prog["loss_sum"] / max(prog["seen"], 1)}
                if self.classification:
                    logs["train_acc"] = prog["correct"] / max(prog["seen"], 1)
                if val is not None:
                    logs.update(self._evaluate(*val, prefix="val_"))  # checked once, above
                logs["lr"] = self.optimizer.get_lr()
                logs["time"] = time.perf_counter() - t0  # of this process, when resumed half-way
                self.history.append(logs)
                self.epoch += 1
                self._progress = {}
                hook.tinygrad_init_epoch_end(trainer=self, epoch=e, logs=logs)
                if self.history.stop_reason is not None:
                    break
                if interrupted.is_set():
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            self.history.stop_reason = "interrupted"
            if self.checkpoint_path is not None:
                self.save_checkpoint(self.checkpoint_path)
            hook.tinygrad_init_train_end(trainer=self, history=self.history)
            raise
        finally:
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
        if self.stop_training and self.history.stop_reason is None:
            self.history.stop_reason = self.stop_reason or "stopped by a callback"
        hook.tinygrad_init_train_end(trainer=self, history=self.history)
        return self.history

    def _diverged(self, epoch: int, step: int, value: float, params: list, backup: list,
                  reason: str | None = None) -> None:
        if self.global_step > 0:  # the weights before the last update gave a finite loss
            for b, p in zip(backup, params):
                p.data = b.copy()
        what = reason or f"the loss is {value}"
        msg = (f"training stopped at epoch {epoch + 1}, step {step + 1}: {what}. The learning rate is "
               f"probably too large (if the cost J increases, decrease it); the last good weights "
               f"were kept")
        self.history.stop_reason = msg
        self.stop_training = True
        warnings.warn(msg, TrainingDiverged, stacklevel=3)

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
