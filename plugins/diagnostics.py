"""Training diagnostics (a callback): ``diagnostics(every=None)``.

On a diagnosed step it records, through forward hooks on every leaf module (nothing
patches ``forward``), each layer's output mean and std (and, after a ReLU, the fraction
of dead units: units that are <= 0 for every sample of the batch), and for every
parameter with a gradient the gradient norm (after penalties and clipping) and the
update-to-weight ratio ``||w_new - w_old|| / ||w_old||``. They reach the other callbacks
as ``logs["diagnostics"] = {"activations": {name: {...}}, "params": {name: {...}}}`` in
``step_end`` (this callback's ``step_end`` runs first). Diagnosed steps: every ``every``
global steps, or (default) the last step of each epoch.
``Trainer(diagnostics=True, diagnostics_every=N)`` and ``train.diagnostics`` add it.
"""
from __future__ import annotations

import numpy as np

from tinygrad_init import hookimpl
from tinygrad_init.validation import integer


class Diagnostics:
    name = "diagnostics"
    conformance_examples = [{}, {"every": 3}]

    def __init__(self, every: int | None = None):
        self.every = None if every is None else integer(self.name, "every", every, minimum=1)
        self._handles: list = []
        self._acts: dict = {}
        self._old: dict | None = None
        self._grads: dict = {}

    def _diagnosed(self, trainer, step) -> bool:
        if self.every:
            return trainer.global_step % self.every == 0
        return step == trainer.steps_per_epoch - 1

    def _remove(self):
        for h in self._handles:
            h.remove()
        self._handles = []

    @hookimpl
    def tinygrad_init_batch_start(self, trainer, step):
        self._old = None
        if not self._diagnosed(trainer, step):
            return
        self._acts = {}
        for name, mod in trainer.model.named_modules():
            if name and next(iter(mod.children()), None) is None:  # leaves only
                self._handles.append(mod.register_forward_hook(self._recorder(name)))

    def _recorder(self, name):
        def record(module, inputs, out):
            a = out.data
            stats = {"layer": type(module).__name__, "mean": float(a.mean()), "std": float(a.std())}
            if type(module).__name__ == "ReLU" and a.ndim >= 2:
                stats["dead"] = float((a.reshape(a.shape[0], -1) <= 0).all(axis=0).mean())
            self._acts[name] = stats
        return record

    @hookimpl
    def tinygrad_init_after_loss(self):
        if self._handles:
            self._remove()
            self._old = {}

    @hookimpl
    def tinygrad_init_before_step(self, trainer):
        if self._old is None:
            return
        self._grads = {}
        for name, p in trainer.model.named_parameters():
            if p.grad is not None:
                self._old[name] = np.array(p.data, copy=True)
                self._grads[name] = float(np.linalg.norm(p.grad))

    @hookimpl(tryfirst=True)
    def tinygrad_init_step_end(self, trainer, logs):
        if self._old is None:
            return
        params = {}
        for name, p in trainer.model.named_parameters():
            if name not in self._old:
                continue
            old = self._old[name]
            w = float(np.linalg.norm(old))
            params[name] = {"grad_norm": self._grads[name],
                            "update_ratio": float(np.linalg.norm(p.data - old)) / w if w > 0 else float("inf")}
        logs["diagnostics"] = {"activations": self._acts, "params": params}
        self._old = None

    @hookimpl
    def tinygrad_init_train_end(self):
        self._remove()
        self._old = None

    def __repr__(self):
        return f"Diagnostics(every={self.every})"


@hookimpl
def tinygrad_init_add_callbacks():
    return {"diagnostics": Diagnostics}
