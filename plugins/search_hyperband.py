"""Hyperband as asynchronous successive halving with early stopping (ASHA: Li,
Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt, Recht, Talwalkar, MLSys 2020;
the bracket table of Li et al., JMLR 2018; Optuna's ``HyperbandPruner`` is the
same idea).

Registers the search strategy ``hyperband``: ``hyperband(space, seed=None,
max_resource=27, min_resource=1, reduction_factor=3, iterations=1)``.

**Brackets.** With ``R = max_resource / min_resource`` and ``eta =
reduction_factor``, ``s_max = floor(log_eta R)`` and ``B = (s_max + 1) R``.
Bracket ``s`` (from ``s_max`` down to 0) gets ``n = ceil(B / R * eta**s / (s + 1))``
configurations, starting at ``r = R * eta**-s``; its rung ``k`` (``k = 0..s``) is at
resource ``min_resource * r * eta**k`` (``bracket_table``). For ``max_resource=27,
eta=3``: ``n = 27, 12, 6, 4`` with ``r = 1, 3, 9, 27`` - 49 configurations.

**Proposals.** Each ``ask()`` draws a random configuration from ``self.rng`` and
proposes it as a ``Proposal`` with ``budget = max_resource`` (the objective trains
up to that many units, e.g. epochs) and ``bracket = s``. Brackets are assigned
round-robin in proportion to their ``n`` (smooth weighted round-robin, the same
for every seed): every cycle of ``sum(n)`` configurations gives bracket ``s``
exactly ``n_s`` of them, and every prefix of a cycle is within one of that share.
``iterations`` is the number of cycles; then ``ask()`` raises ``SearchExhausted``
(the runner's ``n_trials`` caps the study before that if smaller).

**Pruning rule.** The resource a trial has used is the number of values it has
reported (``trial.report(step, value)`` once per epoch, as ``PruningCallback``
does; step numbers are not used). When the ``c``-th report of a trial of bracket
``s`` reaches a rung (``c = ceil(min_resource * r_s * eta**k)`` for ``k < s``; the
last rung is ``max_resource``, where a trial completes), its value joins the
values every trial of bracket ``s`` reported at that rung so far, in arrival
order. With ``m`` values there, the trial goes on iff its value is among the best
``max(1, floor(m / eta))`` (lower is better; NaN/None counts worst; ties go to the
earlier report); otherwise ``should_prune`` is ``True`` and the trial is recorded
``pruned`` with its last value. Reports between rungs never prune. An objective
that never reports runs its full budget. The state (``RungBoard``) is a small
picklable object, so the runner can host it for trials in worker processes.
"""
from __future__ import annotations

import math

from tinygrad_init import hookimpl
from tinygrad_init.search import Proposal, SearchExhausted, Strategy
from tinygrad_init.validation import integer, number, positive


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


class RungBoard:
    """The values reported at each rung of each bracket, and the pruning rule.

    :param rungs: ``{bracket: [report counts at which it is judged]}``.
    :param eta: the reduction factor.
    """

    def __init__(self, rungs: dict[int, list[int]], eta: float):
        self.rungs, self.eta = rungs, eta
        self.values: dict[tuple[int, int], dict[int, float]] = {}  # (bracket, count) -> {trial: value}

    def report(self, number: int, bracket: int | None, count: int, value: float | None) -> bool:
        """Record the ``count``-th report of trial ``number``; ``True``: prune it."""
        if count not in self.rungs.get(bracket, ()):
            return False
        seen = self.values.setdefault((bracket, count), {})
        seen[number] = math.inf if value is None or math.isnan(value) else float(value)
        keep = max(1, math.floor(len(seen) / self.eta + 1e-9))
        return number not in sorted(seen, key=seen.get)[:keep]  # stable: ties by arrival


class Hyperband(Strategy):
    """Asynchronous Hyperband over random configurations; see the module docstring."""

    name = "hyperband"

    def __init__(self, space, seed=None, max_resource=27, min_resource=1, reduction_factor=3,
                 iterations=1):
        super().__init__(space, seed)
        self.max_resource = positive("hyperband", "max_resource", max_resource)
        self.min_resource = positive("hyperband", "min_resource", min_resource)
        if self.min_resource > self.max_resource:
            raise ValueError(f"hyperband: min_resource={min_resource!r} is invalid: must be <= "
                             f"max_resource={max_resource!r}")
        self.eta = number("hyperband", "reduction_factor", reduction_factor)
        if self.eta <= 1:
            raise ValueError(f"hyperband: reduction_factor={reduction_factor!r} is invalid: must be > 1")
        self.iterations = integer("hyperband", "iterations", iterations, minimum=1)
        self.table = bracket_table(self.max_resource, self.min_resource, self.eta)
        self.schedule = [self.table[i]["s"] for i in bracket_schedule([b["n"] for b in self.table])]
        self.board = RungBoard({b["s"]: [math.ceil(budget - 1e-9) for _, budget in b["rungs"][:-1]]
                                for b in self.table}, self.eta)
        self.asked = 0

    def ask(self) -> Proposal:
        if self.asked >= self.iterations * len(self.schedule):
            raise SearchExhausted(f"hyperband: all {self.asked} configurations are proposed "
                                  f"(iterations={self.iterations} x {len(self.schedule)})")
        s = self.schedule[self.asked % len(self.schedule)]
        self.asked += 1
        return Proposal(self.space.sample(self.rng), budget=_tidy(self.max_resource), bracket=s)

    def should_prune(self, trial, step, value) -> bool:
        bracket = getattr(trial, "bracket", None)
        return self.board.report(trial.number, bracket, len(trial.intermediate), value)

    def pruning_board(self) -> RungBoard:
        return self.board


Hyperband.conformance_examples = [{}, {"max_resource": 9, "reduction_factor": 3}]


@hookimpl
def tinygrad_init_add_search_strategies():
    return {"hyperband": Hyperband}
