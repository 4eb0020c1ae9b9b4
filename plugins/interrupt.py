"""The interrupt checkpoint (a callback): ``interrupt(path=None)``.

While training runs (in the main thread), the first Ctrl-C (SIGINT) only sets a flag:
the step in progress finishes, every other ``step_end`` runs (this one is ``trylast``),
then the run is saved to ``path`` (default: ``trainer.checkpoint_path``, which
``fit(checkpoint=...)`` and the ``checkpoint`` callback set), the trainer is stopped
with kind ``"interrupted"`` (its message names the file) and ``KeyboardInterrupt`` is
raised; ``fit(resume=path)`` continues bit-exactly, mid-epoch. A Ctrl-C during
validation is handled after the epoch's checkpoint phase. A second Ctrl-C interrupts
at once, saving nothing (the state is mid-step). The previous SIGINT handler is put
back at ``train_end``. ``Trainer`` adds this callback unless one is given.
"""
from __future__ import annotations

import signal
import threading
from pathlib import Path

from tinygrad_init import hookimpl


class Interrupt:
    name = "interrupt"

    def __init__(self, path: str | None = None):
        self.path = None if path is None else Path(path)
        self.flag = threading.Event()
        self._old = None
        self.saved: Path | None = None

    def _on_sigint(self, signum, frame):
        if self.flag.is_set():
            raise KeyboardInterrupt
        self.flag.set()

    @hookimpl
    def tinygrad_init_train_start(self):
        self.flag.clear()
        self.saved = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._on_sigint)

    def _maybe_stop(self, trainer):
        if not self.flag.is_set() or trainer.stop_reason is not None:
            return
        path = self.path or trainer.checkpoint_path
        if path is not None:
            self.saved = trainer.save_checkpoint(path)
            msg = f"interrupted: the run was saved to {str(path)!r}; continue it with resume={str(path)!r}"
        else:
            msg = "interrupted: nothing was saved (no checkpoint path: fit(checkpoint=...))"
        trainer.stop("interrupted", msg)
        raise KeyboardInterrupt(msg)

    @hookimpl(trylast=True)
    def tinygrad_init_step_end(self, trainer):
        self._maybe_stop(trainer)

    @hookimpl(trylast=True)
    def tinygrad_init_checkpoint(self, trainer):
        self._maybe_stop(trainer)

    @hookimpl
    def tinygrad_init_train_end(self):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None

    def __repr__(self):
        return f"Interrupt(path={None if self.path is None else str(self.path)!r})"


@hookimpl
def tinygrad_init_add_callbacks():
    return {"interrupt": Interrupt}
