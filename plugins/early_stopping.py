"""Early stopping: stop when a monitored metric stops improving (a callback).

Registers the callback ``early_stopping(monitor="val_loss", patience=5, min_delta=0.0,
mode="min", restore_best_weights=True)``. An epoch improves when the metric beats the
best so far by more than ``min_delta`` (``mode="min"``: ``value < best - min_delta``).
After ``patience`` epochs without improvement training stops; with
``restore_best_weights`` the model gets the weights of its best epoch back (Keras's
``EarlyStopping`` semantics). Its state is saved in checkpoints, so a resumed run
stops at the same epoch as an uninterrupted one. It stops with
``trainer.stop("early_stopping", message)``.
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_init import hookimpl
from tinygrad_init.validation import integer, nonnegative, one_of


class EarlyStopping:
    name = "early_stopping"

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "min", restore_best_weights: bool = True):
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"early_stopping: monitor={monitor!r} is invalid: must be a metric name")
        self.monitor = monitor
        self.patience = integer(self.name, "patience", patience, minimum=0)
        self.min_delta = nonnegative(self.name, "min_delta", min_delta)
        self.mode = one_of(self.name, "mode", mode, ("min", "max"))
        self.restore_best_weights = bool(restore_best_weights)
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.wait = 0
        self.best_weights: dict[str, np.ndarray] | None = None

    def improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    @hookimpl
    def tinygrad_init_epoch_end(self, trainer, epoch, logs):
        if self.monitor not in logs:
            raise KeyError(f"early_stopping: monitor {self.monitor!r} is not among the epoch metrics "
                           f"{sorted(logs)} (validation metrics need fit(val=...))")
        value = float(logs[self.monitor])
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.stop("early_stopping", f"early stopping: {self.monitor} did not improve for {self.wait} "
                         f"epochs (best {self.best:.6g} at epoch {self.best_epoch + 1})")

    @hookimpl
    def tinygrad_init_train_end(self, trainer, history):
        reason = history.stop_reason
        if self.restore_best_weights and self.best_weights is not None and reason is not None \
                and reason.kind == "early_stopping":
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, np.ndarray]:
        sd = {"best": np.array(self.best), "best_epoch": np.array(self.best_epoch),
              "wait": np.array(self.wait)}
        for k, v in (self.best_weights or {}).items():
            sd[f"weights.{k}"] = v
        return sd

    def load_state_dict(self, sd) -> None:
        self.best, self.best_epoch, self.wait = float(sd["best"]), int(sd["best_epoch"]), int(sd["wait"])
        weights = {k[len("weights."):]: np.array(v) for k, v in sd.items() if k.startswith("weights.")}
        self.best_weights = weights or None

    def __repr__(self):
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta}, mode={self.mode!r})")


@hookimpl
def tinygrad_init_add_callbacks():
    return {"early_stopping": EarlyStopping}
