"""The rich console logger (a callback): progress, epoch metrics, diagnostics, summary.

Registers ``rich_logger(console=None, diagnostics=True, progress=None, every=1,
diagnostics_every=1)``:

- a live progress bar per epoch with steps/s, ETA, the running mean of the epoch's
  loss (as Keras shows it; ``-`` before the first step) and the lr from the start
  (only when the console is a terminal — CI logs stay readable; ``progress=True``
  or ``False`` forces it);
- one line per epoch (every ``every`` epochs and the last) with train/val metrics,
  the lr and the time;
- with diagnostics (``Trainer(diagnostics=True)``), a per-layer table every
  ``diagnostics_every`` epochs (and at the last), or with ``diagnostics_every="change"``
  only when the set of flagged cells differs from the last table shown:
  activation mean/std, the fraction of dead ReLU units, gradient norm and
  update-to-weight ratio, flagged red where gradients vanish (< 1e-7) or explode
  (> 1e3), where more than half the ReLUs are dead, or where the update ratio
  leaves the usual 1e-4 .. 1e-1 band;
- a summary table at the end with every epoch, the best validation epoch and why
  training stopped.

``console`` is a ``rich.console.Console``; pass one writing to a ``StringIO`` in tests
(``uses_console``: ``experiment.build`` passes the run's console, stderr with ``--json``).
"""
from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn)
from rich.table import Table

from tinygrad_init import hookimpl
from tinygrad_init.validation import integer

METRIC_ORDER = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "time")


def fmt(key, value):
    if value is None:
        return "-"
    if key == "time":
        return f"{value:.2f}s"
    if key.endswith("acc"):
        return f"{value:.4f}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _flags(diag) -> frozenset:
    """The cells the diagnostics table shows in red."""
    out = set()
    for name, a in diag.get("activations", {}).items():
        if (a.get("dead") or 0) > 0.5:
            out.add((name, "dead"))
    for name, p in diag.get("params", {}).items():
        g, r = p["grad_norm"], p["update_ratio"]
        if g < 1e-7 or g > 1e3:
            out.add((name, "grad"))
        if not 1e-4 <= r <= 1e-1:
            out.add((name, "ratio"))
    return frozenset(out)


class RichLogger:
    name = "rich_logger"
    uses_console = True  # experiment.build passes its console as `console`

    def __init__(self, console=None, diagnostics: bool = True, progress: bool | None = None, every: int = 1,
                 diagnostics_every: int | str = 1):
        if console is None:
            console = Console()
            if not console.is_terminal:  # a log file: wide enough that tables do not wrap
                console = Console(width=120)
        self.console = console
        self.show_diagnostics = bool(diagnostics)
        self.show_progress = progress
        self.every = integer(self.name, "every", every, minimum=1)
        if diagnostics_every != "change":
            diagnostics_every = integer(self.name, "diagnostics_every", diagnostics_every, minimum=1)
        self.diagnostics_every = diagnostics_every
        self._shown_flags = None
        self._progress = None
        self._task = None
        self._diag = None
        self._epochs = 0
        self._t0 = 0.0
        self._task_epoch = -1

    @hookimpl
    def tinygrad_init_train_start(self, trainer, history, epochs):
        self._epochs = epochs
        self._t0 = time.perf_counter()
        n = sum(p.data.size for p in trainer.model.parameters())
        resumed = f", resuming after epoch {len(history)}" if len(history) else ""
        self.console.print(f"[bold]training[/] {type(trainer.model).__name__} ({n:,} parameters) with "
                           f"{trainer.optimizer.name}, loss {trainer.loss_name}, {epochs} epochs{resumed}")
        show = self.console.is_terminal if self.show_progress is None else self.show_progress
        if show:
            self._progress = Progress(
                TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:.1f} steps/s"), TimeRemainingColumn(),
                TextColumn("loss {task.fields[loss]}  lr {task.fields[lr]}"),
                console=self.console, transient=True)
            self._progress.start()

    def _new_task(self, epoch, total, done, trainer):
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task("", total=total, completed=done, rate=0.0,
                                             epoch=f"{epoch + 1}/{self._epochs}", loss="-",
                                             lr=f"{trainer.optimizer.get_lr():.3g}")
        self._task_epoch = epoch
        self._start = time.perf_counter()
        self._steps = 0

    @hookimpl
    def tinygrad_init_epoch_start(self, trainer, epoch, num_steps):
        if self._progress is not None:
            self._new_task(epoch, num_steps, 0, trainer)

    @hookimpl
    def tinygrad_init_step_end(self, trainer, epoch, step, logs):
        if "diagnostics" in logs:
            self._diag = logs["diagnostics"]
        if self._progress is not None:
            if self._task is None or self._task_epoch != epoch:  # an epoch resumed half-way
                self._new_task(epoch, trainer.steps_per_epoch, step, trainer)
            self._steps += 1
            rate = self._steps / max(time.perf_counter() - self._start, 1e-9)
            self._progress.update(self._task, advance=1, rate=rate, loss=f"{logs['epoch_loss']:.4g}",
                                  lr=f"{trainer.optimizer.get_lr():.3g}")

    @hookimpl
    def tinygrad_init_epoch_end(self, epoch, logs):
        last = epoch + 1 == self._epochs
        if (epoch + 1) % self.every == 0 or last:
            parts = [f"{k} {fmt(k, logs[k])}" for k in METRIC_ORDER if k in logs]
            self.console.print(f"epoch {epoch + 1:>3}/{self._epochs}  " + "  ".join(parts))
        if self.show_diagnostics and self._diag is not None:
            if self.diagnostics_every == "change":
                flags = _flags(self._diag)
                show = flags != self._shown_flags
                if show:
                    self._shown_flags = flags
            else:
                show = (epoch + 1) % self.diagnostics_every == 0 or last
            if show:
                self.console.print(self.diagnostics_table(self._diag, epoch))
            self._diag = None

    @staticmethod
    def diagnostics_table(diag, epoch) -> Table:
        table = Table(title=f"diagnostics, epoch {epoch + 1}", title_justify="left")
        for col in ("layer", "act mean", "act std", "dead", "param", "grad norm", "update/weight"):
            table.add_column(col, justify="left" if col in ("layer", "param") else "right")
        for name, a in diag.get("activations", {}).items():
            dead = a.get("dead")
            dead_s = "-" if dead is None else (f"[red]{dead:.0%}[/]" if dead > 0.5 else f"{dead:.0%}")
            table.add_row(f"{name} ({a['layer']})", f"{a['mean']:.3g}", f"{a['std']:.3g}", dead_s, "", "", "")
        for name, p in diag.get("params", {}).items():
            g, r = p["grad_norm"], p["update_ratio"]
            g_s = f"[red]{g:.2e}[/]" if g < 1e-7 or g > 1e3 else f"{g:.2e}"
            r_s = f"[red]{r:.2e}[/]" if not 1e-4 <= r <= 1e-1 else f"{r:.2e}"
            table.add_row("", "", "", "", name, g_s, r_s)
        return table

    @hookimpl
    def tinygrad_init_train_end(self, trainer, history):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None
        if len(history):
            table = Table(title="summary", title_justify="left")
            keys = [k for k in ("epoch",) + METRIC_ORDER if k in history.last]
            for k in keys:
                table.add_column(k, justify="right")
            for e in history.epochs:
                table.add_row(*[fmt(k, e.get(k)) for k in keys])
            self.console.print(table)
            if "val_loss" in history:
                vals = history["val_loss"]
                best = min(range(len(vals)), key=vals.__getitem__)
                acc = history.epochs[best].get("val_acc")
                self.console.print(f"best val_loss {vals[best]:.4g} at epoch {best + 1}"
                                   + (f" (val_acc {acc:.4f})" if acc is not None else ""))
        if not self._t0:
            return  # training never started (a callback failed in train_start)
        elapsed = time.perf_counter() - self._t0
        reason = history.stop_reason
        if reason is not None:
            from rich.markup import escape

            self.console.print(f"[{'red' if reason.failure else 'yellow'}]{escape(reason.message)}[/]")
        self.console.print(f"done in {elapsed:.1f}s")


@hookimpl
def tinygrad_init_add_callbacks():
    return {"rich_logger": RichLogger}
