"""``Schedule``: the base class of learning-rate schedules (pure functions of the step)."""
from __future__ import annotations

from typing import Any

from . import validation as V


class Schedule:
    """A pure schedule ``s(step) -> float``; its hyperparameters are attributes.

    Subclasses set ``name`` and ``hparams`` (the attribute names that define the
    schedule) and implement ``value(t)`` for a validated integer ``t >= 0``. The
    base gives the checked ``__call__``, ``config()`` (rebuilds it with
    ``tgi.schedule(**config)``; nested schedules as their own configs) and a
    readable ``repr``.
    """

    name = "schedule"
    hparams: tuple[str, ...] = ()

    def __call__(self, step: int) -> float:
        return float(self.value(V.integer(self.name, "step", step, 0)))

    def value(self, t: int) -> float:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """``{"name": ..., **hparams}`` (sub-schedules as their configs when they have one)."""
        def conf(v: Any) -> Any:
            if isinstance(v, list):
                return [conf(x) for x in v]
            return v.config() if hasattr(v, "config") and callable(v) else v
        return {"name": self.name, **{k: conf(getattr(self, k)) for k in self.hparams}}

    def __repr__(self) -> str:
        return f"{self.name}(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.hparams) + ")"
