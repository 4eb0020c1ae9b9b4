"""Search spaces: the dimensions a hyperparameter search explores.

A :class:`Space` is an ordered mapping ``name -> dimension``. Every dimension
maps its values to and from the unit interval (``to_unit``/``from_unit``), so a
strategy can work in ``[0, 1]^d`` whatever the dimensions are:

* :class:`Uniform` ``(lo, hi, step=None)`` - a float, uniform on ``[lo, hi]``.
* :class:`LogUniform` ``(lo, hi, step=None)`` - a float whose logarithm is uniform
  (the course's "sample the learning rate on a log scale"); ``0 < lo < hi``.
* :class:`IntUniform` ``(lo, hi, log=False, step=None)`` - an integer in
  ``[lo, hi]``, both ends inclusive; ``log=True`` samples it on a log scale.
* :class:`Choice` ``(options)`` - one of a list of JSON-able options.

``step`` makes a dimension discrete and gives its grid: additive
(``lo, lo+step, ...``) on linear scales, multiplicative (``lo, lo*step, ...``,
``step > 1``) on log scales. Values are plain Python ``float``/``int``/options,
so parameters round-trip through JSON exactly.

Invalid definitions raise ``ValueError`` naming the dimension and the value.
"""
from __future__ import annotations

import itertools
import json
import math
from numbers import Integral, Real
from typing import Any, Iterable, Mapping

import numpy as np

_TOL = 1e-9


def _label(kind: str, name: str | None) -> str:
    return f"dimension {name!r} ({kind})" if name else kind


class Dimension:
    """Base class of a search dimension.

    Subclasses implement ``sample(rng)``, ``to_unit(x)``, ``from_unit(u)``,
    ``grid(n=None)``, ``contains(x)`` and ``to_dict()``. ``name`` is set by the
    :class:`Space` holding the dimension (it only appears in error messages).
    """

    kind = "dimension"

    def __init__(self, name: str | None = None):
        self.name = name

    @property
    def label(self) -> str:
        return _label(self.kind, self.name)

    def _fail(self, what: str) -> None:
        raise ValueError(f"{self.label}: {what}")

    def _unit(self, u: Any) -> float:
        """``u`` as a float in ``[0, 1]``; else ``ValueError`` (a strategy proposing outside the
        unit interval would otherwise always get an end of the range)."""
        try:
            u = float(u)
        except (TypeError, ValueError):
            u = math.nan
        if not 0.0 <= u <= 1.0:
            self._fail(f"from_unit({u!r}) is invalid: a unit value must be in [0, 1]")
        return u

    def _real(self, param: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise (TypeError if not isinstance(value, Real) or isinstance(value, bool) else ValueError)(
                f"{self.label}: {param}={value!r} is invalid: must be a finite number")
        return float(value)

    def sample(self, rng: np.random.Generator) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_unit(self, x: Any) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def from_unit(self, u: float) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def grid(self, n: int | None = None) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def contains(self, x: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def named(self, name: str) -> "Dimension":
        """A copy of this dimension carrying ``name`` (used by :class:`Space`)."""
        d = self.from_dict(self.to_dict(), name=name)
        return d

    @staticmethod
    def from_dict(d: Mapping[str, Any], name: str | None = None) -> "Dimension":
        """Build a dimension from ``{"type": ..., ...}`` (the form of ``to_dict``
        and of a ``[space.<name>]`` table in a search config)."""
        where = f"dimension {name!r}" if name else "dimension"
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: must be a table with a 'type', got {d!r}")
        d = dict(d)
        typ = d.pop("type", None)
        cls = _TYPES.get(str(typ).lower()) if typ is not None else None
        if cls is None:
            raise ValueError(f"{where}: type={typ!r} is invalid: must be one of "
                             + ", ".join(repr(t) for t in sorted(_TYPES)))
        allowed = {Uniform: {"lo", "hi", "step"}, LogUniform: {"lo", "hi", "step"},
                   IntUniform: {"lo", "hi", "log", "step"}, Choice: {"options"}}[cls]
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise ValueError(f"{where}: unknown field {unknown[0]!r} for type {typ!r}; "
                             f"allowed: {', '.join(sorted(allowed))}")
        missing = [m for m in (("options",) if cls is Choice else ("lo", "hi")) if m not in d]
        if missing:
            raise ValueError(f"{where}: missing field {missing[0]!r} for type {typ!r}")
        return cls(**d, name=name)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Dimension) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        d = self.to_dict()
        d.pop("type")
        args = ", ".join(f"{k}={v!r}" for k, v in d.items() if v is not None and v is not False)
        return f"{type(self).__name__}({args})"


class _Continuous(Dimension):
    """Shared code of Uniform and LogUniform: a warp ``f`` to a linear scale."""

    log = False

    def __init__(self, lo: float, hi: float, step: float | None = None, *, name: str | None = None):
        super().__init__(name)
        self.lo, self.hi = self._real("lo", lo), self._real("hi", hi)
        if not self.lo < self.hi:
            self._fail(f"lo={lo!r}, hi={hi!r} is an empty or inverted range: must have lo < hi")
        if self.log and self.lo <= 0:
            self._fail(f"lo={lo!r} is invalid: a log-scale range needs lo > 0")
        self.step = None if step is None else self._real("step", step)
        if self.step is not None:
            if self.step <= 0:
                self._fail(f"step={step!r} is invalid: must be > 0")
            if self.log and self.step <= 1:
                self._fail(f"step={step!r} is invalid: a log-scale step is a factor and must be > 1")

    def _warp(self, x: float) -> float:
        return math.log(x) if self.log else x

    def _unwarp(self, z: float) -> float:
        return math.exp(z) if self.log else z

    def _grid_k(self) -> int:
        """The index of the last step-grid point that is <= hi."""
        span = (self._warp(self.hi) - self._warp(self.lo)) / self._warp_step()
        return int(math.floor(span + _TOL))

    def _warp_step(self) -> float:
        return math.log(self.step) if self.log else self.step

    def _snap(self, x: float) -> float:
        if self.step is None:
            return float(min(max(x, self.lo), self.hi))
        k = round((self._warp(x) - self._warp(self.lo)) / self._warp_step())
        return self._point(min(max(k, 0), self._grid_k()))

    def _point(self, k: int) -> float:
        x = self.lo * self.step ** k if self.log else self.lo + k * self.step
        return float(min(x, self.hi))  # 1e-4 * 10**4 may round above hi

    def sample(self, rng: np.random.Generator) -> float:
        z = rng.uniform(self._warp(self.lo), self._warp(self.hi))
        return self._snap(self._unwarp(float(z)))

    def to_unit(self, x: Any) -> float:
        a, b = self._warp(self.lo), self._warp(self.hi)
        return float(min(max((self._warp(float(x)) - a) / (b - a), 0.0), 1.0))

    def from_unit(self, u: float) -> float:
        a, b = self._warp(self.lo), self._warp(self.hi)
        return self._snap(self._unwarp(a + self._unit(u) * (b - a)))

    def grid(self, n: int | None = None) -> list[float]:
        """The step grid if the dimension has a step, else ``n`` points evenly
        spaced (in log space for a log scale) from ``lo`` to ``hi``."""
        if self.step is not None:
            return [self._point(k) for k in range(self._grid_k() + 1)]
        if n is None:
            self._fail("has no step, so a grid needs n (the number of points)")
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
            self._fail(f"grid n={n!r} is invalid: must be an integer >= 1")
        if n == 1:
            return [self._unwarp((self._warp(self.lo) + self._warp(self.hi)) / 2)]
        zs = np.linspace(self._warp(self.lo), self._warp(self.hi), int(n))
        pts = [float(self._unwarp(float(z))) for z in zs]
        pts[0], pts[-1] = self.lo, self.hi  # exact ends despite exp(log(x))
        return pts

    def contains(self, x: Any) -> bool:
        if isinstance(x, bool) or not isinstance(x, Real) or not math.isfinite(x):
            return False
        slack = _TOL * max(abs(self.lo), abs(self.hi), 1.0)
        if not self.lo - slack <= x <= self.hi + slack:
            return False
        if self.step is None:
            return True
        return abs(self._snap(float(x)) - x) <= _TOL * max(abs(x), 1.0)

    def to_dict(self) -> dict:
        return {"type": self.kind, "lo": self.lo, "hi": self.hi, "step": self.step}


class Uniform(_Continuous):
    """A float uniform on ``[lo, hi]``; with ``step``, on the grid ``lo + k*step``."""

    kind = "uniform"


class LogUniform(_Continuous):
    """A float whose log is uniform on ``[log lo, log hi]`` (``0 < lo < hi``).

    With ``step`` (a factor ``> 1``) it lives on the grid ``lo * step**k``, e.g.
    ``LogUniform(1e-4, 1, step=10)`` is ``1e-4, 1e-3, 1e-2, 1e-1, 1``.
    """

    kind = "loguniform"
    log = True


class IntUniform(Dimension):
    """An integer in ``[lo, hi]``, both ends inclusive.

    ``log=True`` samples it on a log scale (``lo >= 1``): each value ``k`` gets the
    probability mass of ``[k - 0.5, k + 0.5]`` under a log-uniform density on
    ``[lo - 0.5, hi + 0.5]``. ``step`` restricts it to ``lo, lo+step, ...``
    (additive) or, with ``log=True``, to ``round(lo * step**k)`` (a factor ``> 1``).
    """

    kind = "int"

    def __init__(self, lo: int, hi: int, log: bool = False, step: float | None = None, *,
                 name: str | None = None):
        super().__init__(name)
        for p, v in (("lo", lo), ("hi", hi)):
            if isinstance(v, bool) or not isinstance(v, Integral):
                if isinstance(v, float) and v.is_integer():
                    continue
                raise TypeError(f"{self.label}: {p}={v!r} is invalid: must be an integer")
        self.lo, self.hi = int(lo), int(hi)
        if not isinstance(log, bool):
            raise TypeError(f"{self.label}: log={log!r} is invalid: must be true or false")
        self.log = log
        if self.lo > self.hi:
            self._fail(f"lo={lo!r}, hi={hi!r} is an inverted range: must have lo <= hi")
        if log and self.lo < 1:
            self._fail(f"lo={lo!r} is invalid: a log-scale integer range needs lo >= 1")
        self.step = None if step is None else self._real("step", step)
        if self.step is not None:
            if self.step <= 0:
                self._fail(f"step={step!r} is invalid: must be > 0")
            if log and self.step <= 1:
                self._fail(f"step={step!r} is invalid: a log-scale step is a factor and must be > 1")
            if not log and not float(self.step).is_integer():
                self._fail(f"step={step!r} is invalid: an integer dimension needs an integer step")
            if not log:
                self.step = int(self.step)
        self._values = self._allowed()

    def _allowed(self) -> list[int] | None:
        """The allowed values when a step restricts them, else None (all of lo..hi)."""
        if self.step is None:
            return None
        if not self.log:
            return list(range(self.lo, self.hi + 1, self.step))
        vals, k = [], 0
        while True:
            v = int(round(self.lo * self.step ** k))
            if v > self.hi:
                break
            if not vals or v != vals[-1]:
                vals.append(v)
            k += 1
        return vals

    def _bounds(self) -> tuple[float, float]:
        a, b = self.lo - 0.5, self.hi + 0.5
        return (math.log(a), math.log(b)) if self.log else (a, b)

    def sample(self, rng: np.random.Generator) -> int:
        if self._values is not None:
            return self._values[int(rng.integers(len(self._values)))]
        if not self.log:
            return int(rng.integers(self.lo, self.hi + 1))
        a, b = self._bounds()
        return self._clip(math.exp(float(rng.uniform(a, b))))

    def _clip(self, x: float) -> int:
        return int(min(max(round(x), self.lo), self.hi))

    def to_unit(self, x: Any) -> float:
        if self._values is not None:
            i = int(np.argmin([abs(v - x) for v in self._values]))
            return (i + 0.5) / len(self._values)
        a, b = self._bounds()
        z = math.log(x) if self.log else float(x)
        return float(min(max((z - a) / (b - a), 0.0), 1.0))

    def from_unit(self, u: float) -> int:
        u = self._unit(u)
        if self._values is not None:
            return self._values[min(int(u * len(self._values)), len(self._values) - 1)]
        a, b = self._bounds()
        z = a + u * (b - a)
        return self._clip(math.exp(z) if self.log else z)

    def grid(self, n: int | None = None) -> list[int]:
        """The allowed values (every integer, or the step grid); with ``n`` and no
        step, at most ``n`` values evenly spaced (log-spaced if ``log``)."""
        if self._values is not None:
            return list(self._values)
        count = self.hi - self.lo + 1
        if n is None or n >= count:
            return list(range(self.lo, self.hi + 1))
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
            self._fail(f"grid n={n!r} is invalid: must be an integer >= 1")
        if self.log:
            pts = np.exp(np.linspace(math.log(self.lo), math.log(self.hi), int(n)))
        else:
            pts = np.linspace(self.lo, self.hi, int(n))
        return sorted({self._clip(float(p)) for p in pts})

    def contains(self, x: Any) -> bool:
        if isinstance(x, bool) or not isinstance(x, Real) or not float(x).is_integer():
            return False
        if self._values is not None:
            return int(x) in self._values
        return self.lo <= x <= self.hi

    def to_dict(self) -> dict:
        return {"type": self.kind, "lo": self.lo, "hi": self.hi, "log": self.log, "step": self.step}


class Choice(Dimension):
    """One of ``options`` (a non-empty list of distinct JSON-able values:
    strings, numbers, booleans, None). Unit mapping: option ``i`` of ``k`` is the
    bin ``[i/k, (i+1)/k)``."""

    kind = "choice"

    def __init__(self, options: Iterable[Any], *, name: str | None = None):
        super().__init__(name)
        if isinstance(options, (str, bytes)) or not isinstance(options, Iterable):
            raise TypeError(f"{self.label}: options={options!r} is invalid: must be a list")
        self.options = list(options)
        if not self.options:
            self._fail("options=[] is invalid: must have at least one option")
        for o in self.options:
            if not (o is None or isinstance(o, (str, bool, int, float))):
                self._fail(f"option {o!r} is invalid: options must be strings, numbers, "
                           "booleans or None (they are stored as JSON)")
            if isinstance(o, float) and not math.isfinite(o):
                self._fail(f"option {o!r} is invalid: options must be finite numbers (NaN is not equal to "
                           "itself, so a stored NaN could never be matched again; JSON has no inf)")
        keys = [self._key(o) for o in self.options]
        if len(set(keys)) != len(keys):
            self._fail(f"options={self.options!r} is invalid: options must be distinct")

    @staticmethod
    def _key(o: Any) -> tuple:
        # True == 1 in Python; keep them apart
        return (type(o).__name__ if isinstance(o, (bool, str)) or o is None else "num", o)

    def index(self, x: Any) -> int:
        k = self._key(x) if (x is None or isinstance(x, (str, bool, int, float))) else None
        for i, o in enumerate(self.options):
            if self._key(o) == k:
                return i
        raise ValueError(f"{self.label}: {x!r} is not one of {self.options!r}")

    def sample(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]

    def to_unit(self, x: Any) -> float:
        return (self.index(x) + 0.5) / len(self.options)

    def from_unit(self, u: float) -> Any:
        k = len(self.options)
        return self.options[min(int(self._unit(u) * k), k - 1)]

    def grid(self, n: int | None = None) -> list:
        return list(self.options)

    def contains(self, x: Any) -> bool:
        try:
            self.index(x)
            return True
        except ValueError:
            return False

    def to_dict(self) -> dict:
        return {"type": self.kind, "options": list(self.options)}


_TYPES: dict[str, type[Dimension]] = {
    "uniform": Uniform, "loguniform": LogUniform, "int": IntUniform, "intuniform": IntUniform,
    "choice": Choice,
}


class Space:
    """An ordered set of named dimensions: ``Space({"lr": LogUniform(1e-4, 1), ...})``.

    Parameters are plain dicts ``{name: value}`` with exactly the space's names.
    ``to_unit``/``from_unit`` map them to and from ``[0, 1]^len(space)`` in the
    order of ``names``.
    """

    def __init__(self, dims: Mapping[str, Dimension]):
        if isinstance(dims, Space):
            dims = dims.dims
        if not isinstance(dims, Mapping) or not dims:
            raise ValueError(f"a search space needs at least one dimension, got {dims!r}")
        self.dims: dict[str, Dimension] = {}
        for name, dim in dims.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"search space: dimension name {name!r} must be a non-empty string")
            if isinstance(dim, Mapping):
                dim = Dimension.from_dict(dim, name=name)
            elif isinstance(dim, (list, tuple)):
                dim = Choice(dim, name=name)
            elif not isinstance(dim, Dimension):
                raise TypeError(f"search space: dimension {name!r} must be Uniform, LogUniform, "
                                f"IntUniform or Choice, got {dim!r}")
            self.dims[name] = dim.named(name) if dim.name != name else dim

    @property
    def names(self) -> list[str]:
        return list(self.dims)

    def __len__(self) -> int:
        return len(self.dims)

    def __iter__(self):
        return iter(self.dims)

    def __getitem__(self, name: str) -> Dimension:
        return self.dims[name]

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Space) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return "Space({" + ", ".join(f"{n!r}: {d!r}" for n, d in self.dims.items()) + "})"

    def sample(self, rng: np.random.Generator) -> dict:
        """One configuration drawn from every dimension's distribution."""
        return {n: d.sample(rng) for n, d in self.dims.items()}

    def to_unit(self, params: Mapping[str, Any]) -> np.ndarray:
        """``params`` as a float64 vector in ``[0, 1]^d`` (order of ``names``)."""
        self.check(params)
        return np.array([d.to_unit(params[n]) for n, d in self.dims.items()], dtype=np.float64)

    def from_unit(self, u: Any) -> dict:
        """The configuration at the unit vector ``u`` (each coordinate in ``[0, 1]``, else
        ``ValueError`` naming the dimension)."""
        u = np.asarray(u, dtype=np.float64).reshape(-1)
        if u.shape[0] != len(self):
            raise ValueError(f"search space: a unit vector needs {len(self)} coordinates, got {u.shape[0]}")
        return {n: d.from_unit(float(x)) for (n, d), x in zip(self.dims.items(), u)}

    def contains(self, params: Any) -> bool:
        """Whether ``params`` has exactly the space's names, each value inside its dimension."""
        return (isinstance(params, Mapping) and set(params) == set(self.dims)
                and all(d.contains(params[n]) for n, d in self.dims.items()))

    def check(self, params: Any, what: str = "configuration") -> dict:
        """Return ``params`` if inside the space, else raise ``ValueError`` naming
        the missing, unknown or out-of-range dimension and its value."""
        if not isinstance(params, Mapping):
            raise ValueError(f"{what} {params!r} is not a dict of dimension -> value")
        missing = [n for n in self.dims if n not in params]
        unknown = [n for n in params if n not in self.dims]
        if missing:
            raise ValueError(f"{what} {dict(params)!r} is missing dimension {missing[0]!r}")
        if unknown:
            raise ValueError(f"{what} {dict(params)!r} has unknown dimension {unknown[0]!r}; "
                             f"the space has: {', '.join(self.dims)}")
        for n, d in self.dims.items():
            if not d.contains(params[n]):
                raise ValueError(f"{what}: {n}={params[n]!r} is outside {d.label}: {d!r}")
        return dict(params)

    def grid(self, n: int | None = None) -> list[dict]:
        """The Cartesian product of every dimension's ``grid(n)``; the first
        dimension varies slowest."""
        axes = [d.grid(n) for d in self.dims.values()]
        return [dict(zip(self.dims, combo)) for combo in itertools.product(*axes)]

    def to_dict(self) -> dict:
        """A JSON-able description; equal dicts mean the same space."""
        return {n: d.to_dict() for n, d in self.dims.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Mapping[str, Any]]) -> "Space":
        """Inverse of :meth:`to_dict`; also reads ``[space.<name>]`` config tables."""
        if not isinstance(d, Mapping):
            raise ValueError(f"search space must be a table of dimensions, got {d!r}")
        return cls({n: Dimension.from_dict(v, name=n) for n, v in d.items()})
