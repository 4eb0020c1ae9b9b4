"""Manual search ("trial and error"): evaluate a given list of configurations in
order.

Registers the search strategy ``manual``: ``manual(space, seed=None, configs=[...])``.
Each configuration is validated against the space when the strategy is built. Each
proposal is the first configuration of the list that the study's trials do not
account for yet (a configuration listed twice runs twice); after the last one
``SearchExhausted``.
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

    def propose(self, trials, number):
        done = Counter(_key(t.params) for t in trials)
        for c in self.configs:
            if done[_key(c)] > 0:
                done[_key(c)] -= 1
            else:
                return dict(c)
        raise SearchExhausted(f"manual: all {len(self.configs)} configurations were proposed")


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
