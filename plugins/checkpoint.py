"""Checkpoints during training (a callback).

Registers ``checkpoint(path="checkpoint.npz", every=1, save_best=False,
monitor="val_loss", mode="min")``. Every ``every`` epochs it writes a resumable
checkpoint (model, optimizer, schedule position, RNG states, history) atomically to
``path``; with ``save_best`` it also writes ``<stem>-best.npz`` whenever the monitored
metric improves. It also becomes the trainer's interrupt checkpoint: Ctrl-C saves the
run there before training stops. Resume with ``trainer.fit(..., resume=path)``.

When early stopping ends the run (and ``early_stopping(restore_best_weights=True)`` has
given the model its best epoch's weights back), ``path`` is written once more after every
other ``train_end`` hook, so the checkpoint left behind holds the weights the run ended
with -- the best ones -- and the history that says it stopped early.
"""
from __future__ import annotations

import math
from pathlib import Path

from tinygrad_init import hookimpl
from tinygrad_init.validation import integer, one_of


class Checkpoint:
    name = "checkpoint"

    def __init__(self, path: str = "checkpoint.npz", every: int = 1, save_best: bool = False,
                 monitor: str = "val_loss", mode: str = "min"):
        self.path = Path(path)
        if self.path.suffix != ".npz":
            raise ValueError(f"checkpoint: path={str(path)!r} is invalid: must end in .npz")
        self.every = integer(self.name, "every", every, minimum=1)
        self.save_best = bool(save_best)
        self.monitor = monitor
        self.mode = one_of(self.name, "mode", mode, ("min", "max"))
        self.best = math.inf if mode == "min" else -math.inf
        self.saved: list[Path] = []

    @property
    def best_path(self) -> Path:
        return self.path.with_name(self.path.stem + "-best.npz")

    @hookimpl
    def tinygrad_init_train_start(self, trainer):
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"checkpoint: folder {str(self.path.parent)!r} of {str(self.path)!r} "
                                    "does not exist")
        trainer.checkpoint_path = self.path

    @hookimpl
    def tinygrad_init_epoch_end(self, trainer, epoch, logs):
        if (epoch + 1) % self.every == 0:
            self.saved.append(trainer.save_checkpoint(self.path))
        if self.save_best:
            if self.monitor not in logs:
                raise KeyError(f"checkpoint: monitor {self.monitor!r} is not among the epoch metrics {sorted(logs)}")
            value = float(logs[self.monitor])
            if value < self.best if self.mode == "min" else value > self.best:
                self.best = value
                trainer.save_checkpoint(self.best_path)

    @hookimpl(trylast=True)  # after early stopping's train_end has restored the best weights
    def tinygrad_init_train_end(self, trainer, history):
        reason = history.stop_reason  # a StopReason(kind, message), or the message alone
        if getattr(reason, "kind", None) == "early_stopping" or str(reason or "").startswith("early stopping"):
            self.saved.append(trainer.save_checkpoint(self.path))

    def __repr__(self):
        return f"Checkpoint(path={str(self.path)!r}, every={self.every}, save_best={self.save_best})"


@hookimpl
def tinygrad_init_add_callbacks():
    return {"checkpoint": Checkpoint}
