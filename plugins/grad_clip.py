"""Gradient clipping (a callback): ``grad_clip(max_norm, norm_type=2.0)``.

After ``backward`` (and after the penalties: ``trylast``), the gradients of the model's
parameters are scaled so that their total ``norm_type``-norm is at most ``max_norm``
(``tinygrad_init.optim.clip_grad_norm``, PyTorch's ``clip_grad_norm_``).
``Trainer(clip_grad_norm=...)`` and the config's ``train.clip_grad_norm`` add this
callback; ``[[callbacks]] name = "grad_clip"`` does too. The last total norm (before
clipping) is ``last_norm``.
"""
from __future__ import annotations

import math

from tinygrad_init import hookimpl
from tinygrad_init.optim import clip_grad_norm
from tinygrad_init.validation import fail, positive


class GradClip:
    name = "grad_clip"
    conformance_examples = [{"max_norm": 1.0}, {"max_norm": 0.5, "norm_type": "inf"}]

    def __init__(self, max_norm: float, norm_type: float | str = 2.0):
        self.max_norm = positive(self.name, "max_norm", max_norm)
        if isinstance(norm_type, str):
            if norm_type.lower() != "inf":
                fail(self.name, "norm_type", norm_type, "a number > 0 or 'inf'")
        elif isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)) or not norm_type > 0:
            fail(self.name, "norm_type", norm_type, "a number > 0 or 'inf'")
        self.norm_type = norm_type
        self.last_norm = math.nan

    @hookimpl(trylast=True)
    def tinygrad_init_after_backward(self, trainer):
        self.last_norm = clip_grad_norm(trainer.model.parameters(), self.max_norm, self.norm_type)

    def __repr__(self):
        return f"GradClip(max_norm={self.max_norm}, norm_type={self.norm_type!r})"


@hookimpl
def tinygrad_init_add_callbacks():
    return {"grad_clip": GradClip}
