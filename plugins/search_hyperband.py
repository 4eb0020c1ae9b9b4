"""Hyperband (Li, Jamieson, DeSalvo, Rostamizadeh, Talwalkar, JMLR 2018).

Registers the search strategy ``hyperband``: ``hyperband(space, seed=None,
max_resource=27, min_resource=1, reduction_factor=3, iterations=1)``.

With ``R = max_resource / min_resource`` and ``eta = reduction_factor``,
``s_max = floor(log_eta R)`` and ``B = (s_max + 1) R``. Bracket ``s`` (from
``s_max`` down to 0) starts ``n = ceil(B / R * eta**s / (s + 1))`` random
configurations at resource ``r = R * eta**-s`` and runs successive halving: rung
``i`` evaluates ``n_i = floor(n * eta**-i)`` configurations with budget
``min_resource * r * eta**i``, and the best ``n_{i+1}`` of them (lowest value;
failed ones last) go on to rung ``i + 1``. For ``max_resource=27, eta=3``:
``n = 27, 12, 6, 4`` with ``r = 1, 3, 9, 27`` - 69 trials per iteration.

Each proposal is a ``Proposal`` (a dict) with a ``budget`` attribute; the runner
copies it to ``trial.budget`` and the objective trains for that many units
(e.g. epochs) and returns its value at that budget. Rungs are synchronous: a
rung's survivors are known once all its results are told, so no trial needs to
talk to another while running (it works unchanged in worker processes). While a
rung waits for results, ``ask()`` proposes from the next bracket; if none can
propose it raises ``SearchExhausted`` and the runner waits for running trials.
A promoted configuration is evaluated again from scratch with the larger budget.
"""
from __future__ import annotations

import math

from tinygrad_init import hookimpl
from tinygrad_init.search import Proposal, SearchExhausted, Strategy, clean_value
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


class _Bracket:
    def __init__(self, spec: dict):
        self.spec, self.rung = spec, 0
        self.configs: list[dict] = []  # configs of the current rung (rung 0: filled by sampling)
        self.results: list[float | None] = []
        self.asked = self.told = 0

    @property
    def size(self) -> int:
        return self.spec["rungs"][self.rung][0]

    @property
    def budget(self):
        return self.spec["rungs"][self.rung][1]

    @property
    def done(self) -> bool:
        return self.rung >= len(self.spec["rungs"])


class Hyperband(Strategy):
    """Hyperband over random configurations; see the module docstring."""

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
        self.brackets = [_Bracket(spec) for _ in range(self.iterations) for spec in self.table]
        self._pending: dict[int, tuple[int, int, int, dict]] = {}  # id -> (bracket, rung, idx, params)
        self._ids = 0

    def ask(self) -> Proposal:
        for b, br in enumerate(self.brackets):
            if br.done or br.asked >= br.size:
                continue
            if br.rung == 0 and len(br.configs) <= br.asked:
                br.configs.append(self.space.sample(self.rng))
                br.results.append(None)
            j = br.asked
            br.asked += 1
            p = Proposal(br.configs[j], budget=br.budget)
            self._ids += 1
            p._hb_id = self._ids
            self._pending[self._ids] = (b, br.rung, j, dict(p))
            return p
        if self._pending:
            raise SearchExhausted("hyperband: waiting for the results of the current rungs")
        raise SearchExhausted("hyperband: every bracket is done")

    def tell(self, params, value) -> None:
        super().tell(params, value)
        key = getattr(params, "_hb_id", None)
        if key not in self._pending:  # a plain dict: the oldest pending equal proposal
            key = next((k for k, (_, _, _, p) in self._pending.items() if p == dict(params)), None)
            if key is None:
                return
        b, rung, j, _ = self._pending.pop(key)
        br = self.brackets[b]
        if br.rung != rung:
            return
        br.results[j] = clean_value(value)
        br.told += 1
        if br.told == br.size:
            self._promote(br)

    def _promote(self, br: _Bracket) -> None:
        order = sorted(range(br.size), key=lambda j: (br.results[j] is None,
                                                       br.results[j] if br.results[j] is not None else 0.0, j))
        br.rung += 1
        if br.done:
            return
        br.configs = [br.configs[j] for j in order[:br.size]]
        br.results = [None] * br.size
        br.asked = br.told = 0


Hyperband.conformance_examples = [{}, {"max_resource": 9, "reduction_factor": 3}]


@hookimpl
def tinygrad_init_add_search_strategies():
    return {"hyperband": Hyperband}
