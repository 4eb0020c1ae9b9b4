"""Hyperband and successive halving as pruners: asynchronous successive halving with
early stopping (ASHA: Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt, Recht,
Talwalkar, MLSys 2020; the bracket table of Li et al., JMLR 2018; Optuna's
``HyperbandPruner`` is the same idea).

Registers the pruners ``hyperband(max_resource=27, min_resource=1, reduction_factor=3)``
and ``successive_halving`` (the same arguments: only Hyperband's most aggressive bracket).

**Brackets.** With ``R = max_resource / min_resource`` and ``eta = reduction_factor``,
``s_max = floor(log_eta R)`` and ``B = (s_max + 1) R``. Bracket ``s`` (from ``s_max``
down to 0) gets ``n = ceil(B / R * eta**s / (s + 1))`` configurations, starting at
``r = R * eta**-s``; its rung ``k`` (``k = 0..s``) is at resource ``min_resource * r *
eta**k`` (``bracket_table``). Trial ``number`` belongs to bracket
``schedule[number % len(schedule)]``: a smooth weighted round-robin in proportion to the
``n`` (every cycle of ``sum(n)`` trials gives bracket ``s`` exactly ``n_s`` of them). Every
trial gets ``budget = max_resource``.

**Pruning rule.** The resource a trial has used is the number of values it has reported
(step numbers are not used). When the ``c``-th report of a trial of bracket ``s`` reaches
a rung (``c = ceil(min_resource * r_s * eta**k)`` for ``k < s``), it is compared with the
``c``-th reports of the other trials of bracket ``s`` that already have one (finished or
still running: the reports the driver has received before it). With ``m`` values in all,
the trial goes on iff its value is among the best ``max(1, floor(m / eta))``; lower is
better, NaN counts worst, a tie goes to the earlier report. Reports between rungs never
prune.
"""
from __future__ import annotations

import math

from tinygrad_init import hookimpl
from tinygrad_init.search import Pruner
from tinygrad_init.validation import number, positive


def _tidy(x: float) -> float | int:
    r = round(x)
    return int(r) if abs(x - r) <= 1e-9 * max(1.0, abs(x)) else float(x)


def bracket_table(max_resource=27, min_resource=1, reduction_factor=3) -> list[dict]:
    """Li et al.'s table: ``[{"s", "n", "r", "rungs": [(n_i, budget_i), ...]}]``,
    brackets from ``s_max`` down to 0 (``r`` in units of ``min_resource``)."""
    eta = float(reduction_factor)
    R = max_resource / min_resource
    s_max = int(math.floor(math.log(R) / math.log(eta) + 1e-9))
    B = (s_max + 1) * R
    table = []
    for s in range(s_max, -1, -1):
        n = int(math.ceil(B / R * eta ** s / (s + 1) - 1e-9))
        r = R * eta ** -s
        rungs = [(int(math.floor(n * eta ** -i + 1e-9)), _tidy(min_resource * r * eta ** i))
                 for i in range(s + 1)]
        table.append({"s": s, "n": n, "r": _tidy(r), "rungs": rungs})
    return table


def bracket_schedule(weights: list[int]) -> list[int]:
    """Smooth weighted round-robin: ``sum(weights)`` indices, index ``i`` exactly
    ``weights[i]`` times, spread evenly (ties go to the lower index)."""
    current, total, out = [0] * len(weights), sum(weights), []
    for _ in range(total):
        current = [c + w for c, w in zip(current, weights)]
        i = current.index(max(current))
        current[i] -= total
        out.append(i)
    return out


class Hyperband(Pruner):
    """Asynchronous Hyperband; see the module docstring."""

    name = "hyperband"
    brackets = None  # all of them

    def __init__(self, max_resource=27, min_resource=1, reduction_factor=3):
        self.max_resource = positive(self.name, "max_resource", max_resource)
        self.min_resource = positive(self.name, "min_resource", min_resource)
        if self.min_resource > self.max_resource:
            raise ValueError(f"{self.name}: min_resource={min_resource!r} is invalid: must be <= "
                             f"max_resource={max_resource!r}")
        self.eta = number(self.name, "reduction_factor", reduction_factor)
        if self.eta <= 1:
            raise ValueError(f"{self.name}: reduction_factor={reduction_factor!r} is invalid: must be > 1")
        self.table = bracket_table(self.max_resource, self.min_resource, self.eta)[:self.brackets]
        self.schedule = [self.table[i]["s"] for i in bracket_schedule([b["n"] for b in self.table])]
        self.rungs = {b["s"]: [math.ceil(budget - 1e-9) for _, budget in b["rungs"][:-1]] for b in self.table}
        self.budget = _tidy(self.max_resource)

    def bracket(self, number: int) -> int:
        """The bracket of trial ``number``."""
        return self.schedule[number % len(self.schedule)]

    def prune(self, study, trial) -> bool:
        count, bracket = len(trial.intermediate), self.bracket(trial.number)
        if count not in self.rungs[bracket]:
            return False

        def value(t):
            v = t.intermediate[count - 1][1]
            return math.inf if v is None or math.isnan(v) else study.sign * v

        mine = value(trial)
        others = [value(t) for t in study.trials if t is not trial and len(t.intermediate) >= count
                  and self.bracket(t.number) == bracket]
        keep = max(1, math.floor((len(others) + 1) / self.eta + 1e-9))
        return sum(v <= mine for v in others) >= keep  # ties: the earlier report ranks first


class SuccessiveHalving(Hyperband):
    """Hyperband's most aggressive bracket alone: every trial starts at ``min_resource``."""

    name = "successive_halving"
    brackets = 1


Hyperband.conformance_examples = [{}, {"max_resource": 9, "reduction_factor": 3}]
SuccessiveHalving.conformance_examples = [{"max_resource": 9}]


@hookimpl
def tinygrad_init_add_pruners():
    return {"hyperband": Hyperband, "successive_halving": SuccessiveHalving}
