"""Manual search ("trial and error"): evaluate a given list of configurations in
order.

Registers the search strategy ``manual``: ``manual(space, seed=None, configs=[...])``.
Each configuration is validated against the space when the strategy is built;
after the last one ``ask()`` raises ``SearchExhausted``. A configuration told
without having been asked (finished trials told to a fresh strategy after a
restart) is skipped once when its turn comes.
"""
from __future__ import annotations

import json
from collections import Counter

from tinygrad_init import hookimpl
from tinygrad_init.search import SearchExhausted, Strategy


def _key(params) -> str:
    return json.dumps(dict(params), sort_keys=True)


class ManualSearch(Strategy):
    """The configurations of ``configs``, in the given order."""

    name = "manual"

    def __init__(self, space, seed=None, configs=None):
        super().__init__(space, seed)
        if configs is None or isinstance(configs, (str, bytes, dict)) or not hasattr(configs, "__iter__"):
            raise ValueError(f"manual: configs={configs!r} is invalid: must be a non-empty list of "
                             "configurations (dicts of dimension -> value)")
        self.configs = [self.space.check(c, f"manual: configs[{i}]") for i, c in enumerate(configs)]
        if not self.configs:
            raise ValueError("manual: configs=[] is invalid: must be a non-empty list of configurations")
        self._next = 0
        self._pending: Counter[str] = Counter()  # asked, not yet told
        self._credit: Counter[str] = Counter()  # told without being asked: skip once

    def ask(self) -> dict:
        while self._next < len(self.configs) and self._credit[_key(self.configs[self._next])] > 0:
            self._credit[_key(self.configs[self._next])] -= 1
            self._next += 1
        if self._next >= len(self.configs):
            raise SearchExhausted(f"manual: all {len(self.configs)} configurations were proposed")
        self._next += 1
        params = dict(self.configs[self._next - 1])
        self._pending[_key(params)] += 1
        return params

    def tell(self, params, value) -> None:
        super().tell(params, value)
        k = _key(params)
        if self._pending[k] > 0:
            self._pending[k] -= 1
        else:
            self._credit[k] += 1


# Configurations inside the conformance kit's fixed space (see
# tinygrad_init.testing.contracts_search_strategy.conformance_space).
ManualSearch.conformance_examples = [{"configs": [
    {"x": 0.5, "lr": 0.01, "units": 8, "act": "relu"},
    {"x": -2.0, "lr": 0.1, "units": 64, "act": "tanh"},
    {"x": 4.0, "lr": 1e-4, "units": 1, "act": "sigmoid"},
]}]


@hookimpl
def tinygrad_init_add_search_strategies():
    return {"manual": ManualSearch}
