"""Conformance checks for search pruners (kind ``pruner``).

Each check builds ``component.factory(**hparams)`` and drives ``prune(study, trial)``
over a small study of 20 trials reporting learning curves (1/step plus a per-trial
offset, one trial reporting NaN) one report at a time, as the search driver does:

- ``answers_bool``: every answer is a ``bool`` (or a NumPy bool) and a ``budget``, if
  set, is a positive number.
- ``deterministic``: two fresh builds give the same answers (a pruner decides from the
  study's trials only, so a resumed search decides as the uninterrupted one).
- ``sign``: a maximized study with negated values gets the same answers.
"""
from __future__ import annotations

import math
from numbers import Real
from types import SimpleNamespace
from typing import Any

import numpy as np

STEPS = 9


def _answers(component: Any, hparams: dict, sign: float = 1.0) -> list[bool]:
    pruner = component.factory(**hparams)
    study = SimpleNamespace(trials=[], sign=sign, direction="maximize" if sign < 0 else "minimize")
    offsets = np.random.default_rng(0).random(20)
    out = []
    for number, offset in enumerate(offsets):
        trial = SimpleNamespace(number=number, params={"x": float(offset)}, status="running", value=None,
                                intermediate=[], budget=getattr(pruner, "budget", None))
        study.trials.append(trial)
        for step in range(1, STEPS + 1):
            v = math.nan if number == 7 else float(offset) + 1.0 / step
            trial.intermediate.append((step, sign * v))
            answer = pruner.prune(study, trial)
            out.append(answer)
            if answer:
                trial.status = "pruned"
                break
        else:
            trial.status = "complete"
        trial.value = trial.intermediate[-1][1]
    return out


def check_answers_bool(component: Any, hparams: dict) -> None:
    got = _answers(component, hparams)
    bad = [a for a in got if not isinstance(a, (bool, np.bool_))]
    assert not bad, f"pruner {component.name!r}: prune() returned {bad[0]!r}, not a bool"
    budget = getattr(component.factory(**hparams), "budget", None)
    assert budget is None or (isinstance(budget, Real) and budget > 0), \
        f"pruner {component.name!r}: budget={budget!r} must be None or a positive number"


def check_deterministic(component: Any, hparams: dict) -> None:
    a, b = _answers(component, hparams), _answers(component, hparams)
    assert a == b, f"pruner {component.name!r}: two fresh builds answered differently on the same reports"


def check_sign(component: Any, hparams: dict) -> None:
    assert _answers(component, hparams, -1.0) == _answers(component, hparams), (
        f"pruner {component.name!r}: a maximized study (values negated, study.sign = -1) is pruned "
        "differently; compare study.sign * value")


CHECKS = {"answers_bool": check_answers_bool, "deterministic": check_deterministic, "sign": check_sign}
