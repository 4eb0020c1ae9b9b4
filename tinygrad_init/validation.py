"""Hyperparameter checks shared by the host and the plugins.

Each raises ``ValueError`` (or ``TypeError`` for a wrong type) whose message names
the component, the parameter and the bad value, e.g.
``adam: lr=-0.1 is invalid: must be a finite number >= 0``.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any, Iterable


def fail(component: str, param: str, value: Any, requirement: str, exc: type = ValueError) -> None:
    raise exc(f"{component}: {param}={value!r} is invalid: must be {requirement}")


def number(component: str, param: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        fail(component, param, value, "a real number", TypeError)
    if not math.isfinite(value):
        fail(component, param, value, "a finite number")
    return float(value)


def nonnegative(component: str, param: str, value: Any) -> float:
    if number(component, param, value) < 0:
        fail(component, param, value, "a finite number >= 0")
    return float(value)


def positive(component: str, param: str, value: Any) -> float:
    if number(component, param, value) <= 0:
        fail(component, param, value, "a finite number > 0")
    return float(value)


def in_range(component: str, param: str, value: Any, lo: float, hi: float,
             lo_closed: bool = True, hi_closed: bool = False) -> float:
    v = number(component, param, value)
    ok = (v >= lo if lo_closed else v > lo) and (v <= hi if hi_closed else v < hi)
    if not ok:
        fail(component, param, value, f"in {'[' if lo_closed else '('}{lo}, {hi}{']' if hi_closed else ')'}")
    return v


def integer(component: str, param: str, value: Any, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
            hasattr(value, "__index__") and not isinstance(value, float)):
        fail(component, param, value, "an integer", TypeError)
    value = int(value)
    if minimum is not None and value < minimum:
        fail(component, param, value, f"an integer >= {minimum}")
    return value


def real_data(what: str, **arrays: Any) -> None:
    """Refuse complex arrays (``X``, ``y``...) rather than silently dropping the imaginary part."""
    import numpy as np

    for name, a in arrays.items():
        if np.iscomplexobj(a):
            raise TypeError(f"{what}: {name} has the complex dtype {np.asarray(a).dtype}; only real "
                            "numbers are supported (take .real or abs() yourself if that is meant)")


def count(who: str, name: str, value: Any, minimum: int = 1) -> int:
    """An int >= ``minimum`` (NumPy integers too, bools not): ``TypeError`` for another type,
    ``ValueError`` below ``minimum``, both naming ``who`` and ``name``."""
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{who}: {name}={value!r} is invalid: must be an integer >= {minimum}")
    if value < minimum:
        raise ValueError(f"{who}: {name}={value!r} is invalid: must be an integer >= {minimum}")
    return int(value)


def one_of(component: str, param: str, value: Any, choices: Iterable[Any]) -> Any:
    choices = list(choices)
    if value not in choices:
        fail(component, param, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def shape(component: str, param: str, value: Any) -> tuple[int, ...]:
    """An int or a non-empty sequence of ints >= 1, as a tuple (``normalized_shape``...)."""
    dims = (value,) if hasattr(value, "__index__") and not isinstance(value, bool) else value
    try:
        dims = tuple(dims)
    except TypeError:
        fail(component, param, value, "an int or a tuple of ints", TypeError)
    if not dims:
        fail(component, param, value, "a non-empty shape")
    return tuple(integer(component, param, d, minimum=1) for d in dims)


def betas(component: str, value: Any) -> tuple[float, float]:
    """A pair ``(beta1, beta2)``, each in ``[0, 1)`` (Adam-family decay rates)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        fail(component, "betas", value, "a pair (beta1, beta2)", TypeError)
    return (in_range(component, "betas[0]", value[0], 0.0, 1.0),
            in_range(component, "betas[1]", value[1], 0.0, 1.0))
