"""Reduce-on-plateau: registers the callback ``reduce_on_plateau`` (kind ``callback``).

``reduce_on_plateau(monitor="val_loss", mode="min", factor=0.1, patience=10, threshold=1e-4,
threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8)`` follows PyTorch's
ReduceLROnPlateau algorithm exactly. At every epoch end it reads ``logs[monitor]``:

- better:  ``mode="min"``: ``a < best * (1 - threshold)`` (rel) or ``a < best - threshold``
  (abs); ``mode="max"``: ``a > best * (1 + threshold)`` / ``a > best + threshold``.
  A better value becomes ``best`` and resets ``num_bad_epochs``, otherwise it grows by one
  (NaN is never better).
- in cooldown (``cooldown_counter > 0``) the counter drops by one and bad epochs are ignored.
- when ``num_bad_epochs > patience`` every param group's effective lr ``old`` (the
  optimizer's ``get_lr(i)``: base lr or schedule value times ``lr_scale``) becomes
  ``new = max(old * factor, min_lr)`` -- unless ``old - new <= eps`` -- by multiplying the
  group's ``lr_scale`` by ``new / old``; then ``cooldown_counter = cooldown`` and
  ``num_bad_epochs = 0``.

Because it scales ``lr_scale``, it composes with a schedule: the schedule keeps its shape,
multiplied down. ``state_dict()``/``load_state_dict()`` save ``best``, ``num_bad_epochs``,
``cooldown_counter`` and ``last_epoch`` (the optimizer saves ``lr_scale``), so a resumed run
reduces at the same epochs as an uninterrupted one.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from tinygrad_init import hookimpl
from tinygrad_init import validation as V


class MissingMetricError(KeyError):
    """The monitored metric is not in the epoch's logs."""

    def __str__(self) -> str:  # KeyError would print the message as a quoted repr
        return str(self.args[0])


class ReduceOnPlateau:
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving."""

    name = "reduce_on_plateau"
    conformance_examples = [{}, {"monitor": "val_acc", "mode": "max", "factor": 0.5, "patience": 2,
                                 "threshold_mode": "abs", "cooldown": 1, "min_lr": 1e-4}]
    _STATE = ("best", "num_bad_epochs", "cooldown_counter", "last_epoch")

    def __init__(self, monitor: str = "val_loss", mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8):
        n = self.name
        if not isinstance(monitor, str) or not monitor:
            V.fail(n, "monitor", monitor, "a metric name such as 'val_loss'", TypeError)
        self.monitor = monitor
        self.mode = V.one_of(n, "mode", mode, ("min", "max"))
        self.factor = V.in_range(n, "factor", factor, 0.0, 1.0)  # PyTorch: factor < 1
        self.patience = V.integer(n, "patience", patience, 0)
        self.threshold = V.nonnegative(n, "threshold", threshold)
        self.threshold_mode = V.one_of(n, "threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = V.integer(n, "cooldown", cooldown, 0)
        if isinstance(min_lr, (list, tuple)):
            self.min_lr = [V.nonnegative(n, f"min_lr[{i}]", m) for i, m in enumerate(min_lr)]
        else:
            self.min_lr = V.nonnegative(n, "min_lr", min_lr)
        self.eps = V.nonnegative(n, "eps", eps)
        self.reset()

    def reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = -1  # epochs seen (PyTorch's last_epoch)

    def __repr__(self) -> str:
        return (f"{self.name}(monitor={self.monitor!r}, mode={self.mode!r}, factor={self.factor!r}, "
                f"patience={self.patience!r}, threshold={self.threshold!r}, "
                f"threshold_mode={self.threshold_mode!r}, cooldown={self.cooldown!r}, "
                f"min_lr={self.min_lr!r}, eps={self.eps!r})")

    # ------------------------------------------------------------------ the algorithm
    def is_better(self, a: float, best: float) -> bool:
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (self.threshold + 1.0) if self.threshold_mode == "rel" else best + self.threshold)

    def update(self, value: float) -> bool:
        """Feed one epoch's metric; return whether the lr must be reduced now."""
        self.last_epoch += 1
        if self.is_better(value, self.best):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
            return True
        return False

    def _min_lr(self, i: int, n_groups: int) -> float:
        if isinstance(self.min_lr, list):
            if len(self.min_lr) != n_groups:
                raise ValueError(f"{self.name}: min_lr has {len(self.min_lr)} values but the optimizer "
                                 f"has {n_groups} param groups")
            return self.min_lr[i]
        return self.min_lr

    def reduce(self, optimizer: Any) -> list[tuple[float, float]]:
        """Scale every group's ``lr_scale``; return ``[(old_lr, new_lr)]`` per group."""
        groups = optimizer.param_groups
        changes = []
        for i, group in enumerate(groups):
            old = float(optimizer.get_lr(i))
            new = max(old * self.factor, self._min_lr(i, len(groups)))
            if old - new > self.eps:
                group["lr_scale"] = group.get("lr_scale", 1.0) * (new / old)
                changes.append((old, new))
            else:
                changes.append((old, old))
        return changes

    @hookimpl
    def tinygrad_init_epoch_end(self, trainer: Any, epoch: int, logs: Mapping[str, Any]) -> None:
        if self.monitor not in logs:
            raise MissingMetricError(
                f"{self.name}: monitor {self.monitor!r} is not among the epoch metrics "
                f"{sorted(logs)} (validation metrics need validation data)")
        if self.update(float(logs[self.monitor])):
            self.reduce(trainer.optimizer)

    # ------------------------------------------------------------------ resuming
    def state_dict(self) -> dict[str, np.ndarray]:
        """``best`` (float64), ``num_bad_epochs``, ``cooldown_counter``, ``last_epoch`` (int64)."""
        return {"best": np.array(self.best, dtype=np.float64),
                "num_bad_epochs": np.array(self.num_bad_epochs, dtype=np.int64),
                "cooldown_counter": np.array(self.cooldown_counter, dtype=np.int64),
                "last_epoch": np.array(self.last_epoch, dtype=np.int64)}

    def load_state_dict(self, sd: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; missing or extra keys are a ``ValueError``."""
        missing = [k for k in self._STATE if k not in sd]
        extra = sorted(set(sd) - set(self._STATE))
        if missing or extra:
            raise ValueError(f"{self.name}.load_state_dict: missing keys {missing}, unexpected keys {extra}")
        best = float(np.asarray(sd["best"]))
        counters = {k: int(np.asarray(sd[k])) for k in self._STATE[1:]}
        self.best = best
        self.num_bad_epochs = counters["num_bad_epochs"]
        self.cooldown_counter = counters["cooldown_counter"]
        self.last_epoch = counters["last_epoch"]


@hookimpl
def tinygrad_init_add_callbacks():
    return {"reduce_on_plateau": ReduceOnPlateau}
