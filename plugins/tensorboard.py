"""TensorBoard event files for a training run or a search (a callback; `tensorboard` extra).

Registers ``tensorboard(logdir="runs/tensorboard", every=50, histograms=True)``. Written with
``tensorboardX`` (event files without TensorFlow); open them with
``tensorboard --logdir runs/tensorboard``.

For a training run it writes, under ``logdir``:

- ``train/loss`` and ``train/lr`` every ``every`` optimizer steps (x axis: the global step);
- every numeric epoch metric (``epoch/train_loss``, ``epoch/val_acc``, ``epoch/lr``, ...)
  at the end of each epoch (x axis: the epoch number, from 1), the same values as
  ``History``;
- every ``every`` steps, histograms of each parameter (``weights/<name>``), its gradient
  (``grads/<name>``) and the output of each leaf module (``activations/<module>``, taken
  by a forward hook, removed at the end of training);
- with ``Trainer(diagnostics=True)``, the per-layer diagnostics as scalars:
  ``diagnostics/<layer>/act_std``, ``.../grad_norm``, ``.../update_ratio``.

For a search (``run(..., callbacks=[tgi.callback("tensorboard", logdir=...)])``) it writes
each finished trial's hyperparameters and value to ``logdir/<study>/trial-<n>`` for
TensorBoard's HPARAMS view, so trials compare side by side.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tinygrad_init import hookimpl
from tinygrad_init.validation import integer


def _writer(logdir):
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ImportError("tensorboard: the callback needs tensorboardX: pip install "
                          "'tinygrad-init[tensorboard]'") from None
    return SummaryWriter(str(logdir))


class TensorBoard:
    name = "tensorboard"

    def __init__(self, logdir: str = "runs/tensorboard", every: int = 50, histograms: bool = True):
        self.logdir = Path(logdir)
        self.every = integer(self.name, "every", every, 1)
        if not isinstance(histograms, bool):
            raise TypeError(f"tensorboard: histograms must be true or false, got {histograms!r}")
        self.histograms = histograms
        self.writer = None
        self._handles: list = []
        self._acts: dict[str, np.ndarray] = {}

    # -- training --------------------------------------------------------------------------
    @hookimpl
    def tinygrad_init_train_start(self, trainer):
        self.writer = _writer(self.logdir)
        self._acts = {}
        if self.histograms:
            for name, mod in trainer.model.named_modules():
                if name and next(iter(mod.children()), None) is None:  # leaf modules
                    self._handles.append(mod.register_forward_hook(self._keep(name)))

    def _keep(self, name):
        def hook(module, inputs, output):
            self._acts[name] = output.data  # the latest forward's output (no copy)
        return hook

    @hookimpl
    def tinygrad_init_step_end(self, trainer, logs):
        step = logs["global_step"]
        if step % self.every:
            return
        w = self.writer
        w.add_scalar("train/loss", logs["loss"], step)
        w.add_scalar("train/lr", logs["lr"], step)
        self._diagnostics(logs.get("diagnostics"), step)
        if self.histograms:
            for name, p in trainer.model.named_parameters():
                w.add_histogram(f"weights/{name}", p.data, step)
                if p.grad is not None:
                    w.add_histogram(f"grads/{name}", p.grad, step)
            for name, a in self._acts.items():
                if a.size and np.isfinite(a).all():
                    w.add_histogram(f"activations/{name}", a, step)

    def _diagnostics(self, diag, step):
        if not diag:
            return
        for layer, s in diag.get("activations", {}).items():
            self.writer.add_scalar(f"diagnostics/{layer}/act_std", s["std"], step)
        for name, s in diag.get("params", {}).items():
            self.writer.add_scalar(f"diagnostics/{name}/grad_norm", s["grad_norm"], step)
            self.writer.add_scalar(f"diagnostics/{name}/update_ratio", s["update_ratio"], step)

    @hookimpl
    def tinygrad_init_epoch_end(self, epoch, logs):
        for key, value in logs.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"epoch/{key}", value, epoch + 1)
        self._diagnostics(logs.get("diagnostics"), epoch + 1)
        self.writer.flush()

    @hookimpl
    def tinygrad_init_train_end(self):
        for h in self._handles:
            h.remove()
        self._handles, self._acts = [], {}
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    # -- search ----------------------------------------------------------------------------
    @hookimpl
    def tinygrad_init_trial_end(self, study, trial):
        if trial.status != "complete" or trial.value is None:
            return
        params = {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                  for k, v in trial.params.items()}
        w = _writer(self.logdir / study.name / f"trial-{trial.number}")
        try:
            w.add_hparams(params, {"value": float(trial.value)}, name=".")
        finally:
            w.close()

    def __repr__(self):
        return (f"TensorBoard(logdir={str(self.logdir)!r}, every={self.every}, "
                f"histograms={self.histograms})")


@hookimpl
def tinygrad_init_add_callbacks():
    return {"tensorboard": TensorBoard}
