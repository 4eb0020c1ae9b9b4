"""The optimizer host: parameter groups, the step loop, state dicts and gradient clipping.

An optimizer plugin subclasses :class:`Optimizer` and writes three things:

* ``defaults`` — a dict of every hyperparameter and its default (``lr`` included).
  The constructor signature ``Cls(params, **defaults, nonfinite="raise")`` is
  derived from it, so an unknown keyword is a ``TypeError`` naming the optimizer.
* ``validate(hp)`` — check (and normalize, in place) one group's hyperparameters
  with ``tinygrad_init.validation``; ``lr``, ``lr_scale`` and ``weight_decay``
  are already checked by the host.
* the pure pair ``init_state(data) -> dict[str, np.ndarray]`` and
  ``update(data, grad, state, group, step) -> new data``.

Purity contract of ``update`` (optax's ``init``/``update`` pair is the model):
it never modifies an array in place — not ``data``, not ``grad``, not the state's
arrays (``data`` and ``grad`` arrive as read-only views). It returns the new
parameter value and *rebinds* the keys of ``state`` to new arrays
(``state["exp_avg"] = b1 * m + (1 - b1) * g``), never to ``grad`` or ``data``
themselves (they belong to the caller: copy them). ``state`` is a fresh shallow copy
that the host commits only after every parameter of the step was updated, so a
step that fails half-way changes nothing. ``group`` holds the group's
hyperparameters with ``group["lr"]`` already the *effective* learning rate of
this update (schedule evaluated at :attr:`Optimizer.steps`, times
``lr_scale``); ``step`` is this parameter's update count, 1 for its first
update (PyTorch's per-parameter ``t``, used in bias corrections).

Scalars in ``update`` must be Python floats (not ``np.float64``) so a float32
parameter stays float32 (NEP 50); the host casts the result back to the
parameter's dtype anyway.
"""
from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from . import validation as V

__all__ = ["Optimizer", "clip_grad_norm", "clip_grad_value"]

_NONFINITE = ("raise", "skip")


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


def _is_param(x: Any) -> bool:
    return isinstance(getattr(x, "data", None), np.ndarray) and hasattr(x, "grad")


class Optimizer:
    """Base class of every optimizer: owns parameter groups, state and the step counter.

    :param params: what to optimize — an iterable of tensors (anything with
        ``.data`` (ndarray), ``.grad`` (ndarray or None) and ``.requires_grad``),
        of ``(name, tensor)`` pairs (``module.named_parameters()``, or the
        ``Module`` itself; names then appear in error messages), or of parameter-group dicts
        ``{"params": [...], "lr": 0.1, ...}`` whose keys override the defaults
        for that group. Empty, or one parameter in two places, is a ``ValueError``.
    :param hparams: the optimizer's hyperparameters (see ``defaults``). ``lr`` is
        a float or a schedule ``step -> lr`` evaluated at :attr:`steps`. Each
        group also has ``lr_scale`` (default 1.0), a multiplier on the lr that
        survives :meth:`set_lr` (reduce-on-plateau multiplies it).
    :param nonfinite: ``"raise"`` (default): a NaN/inf gradient raises
        ``FloatingPointError`` naming the parameter, nothing is updated;
        ``"skip"``: the whole step is skipped with a ``RuntimeWarning`` (the step
        counter does not advance).

    Parameters with ``requires_grad=False`` (frozen) or ``grad is None`` are
    skipped; their state is created at their first update.
    """

    name: str = "optimizer"
    defaults: dict[str, Any] = {"lr": 1e-3}
    conformance_examples: list[dict[str, Any]] = [{}]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        # The real keyword signature, so the registry reports unknown keywords and
        # `inspect.signature(Adam)` documents the defaults. A subclass that writes
        # its own __init__ keeps that one's signature (None: inspect falls through).
        if "__init__" in cls.__dict__:
            cls.__signature__ = None
            return
        ps = [inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        ps += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in cls.defaults.items()]
        ps.append(inspect.Parameter("nonfinite", inspect.Parameter.KEYWORD_ONLY, default="raise"))
        cls.__signature__ = inspect.Signature(ps)

    def __init__(self, params: Any, *, nonfinite: str = "raise", **hparams: Any):
        unknown = [k for k in hparams if k not in self.defaults]
        if unknown:
            raise TypeError(f"{self.name}: unknown hyperparameter {unknown[0]!r}; "
                            f"accepted: {', '.join(self.defaults)}, nonfinite")
        self.nonfinite = V.one_of(self.name, "nonfinite", nonfinite, _NONFINITE)
        base = {**self.defaults, **hparams}
        self.param_groups: list[dict[str, Any]] = []
        self._params: list[Any] = []  # global index -> tensor
        self._names: list[str | None] = []
        self._group_index: list[list[int]] = []  # group -> global indices of its params
        seen: dict[int, int] = {}
        groups = self._split_groups(params)
        for gi, (group_params, overrides) in enumerate(groups):
            bad = [k for k in overrides if k not in self.defaults and k != "lr_scale"]
            if bad:
                raise TypeError(f"{self.name}: parameter group {gi} has unknown key {bad[0]!r}; "
                                f"accepted: params, lr_scale, {', '.join(self.defaults)}")
            hp = {**base, "lr_scale": 1.0, **overrides}
            self._validate_group(hp, where="" if len(groups) == 1 else f" (group {gi})")
            idxs = []
            for name, p in group_params:
                if id(p) in seen:
                    raise ValueError(f"{self.name}: parameter {name or seen[id(p)]!r} appears more "
                                     "than once in the parameter list (each parameter may be in only "
                                     "one group)")
                seen[id(p)] = len(self._params)
                idxs.append(len(self._params))
                self._params.append(p)
                self._names.append(name)
            self.param_groups.append({"params": [self._params[i] for i in idxs], **hp})
            self._group_index.append(idxs)
        self.state: dict[int, dict[str, np.ndarray]] = {}  # global param index -> state arrays
        self._param_steps: dict[int, int] = {}
        self.steps = 0

    # ------------------------------------------------------------------ construction
    def _split_groups(self, params: Any) -> list[tuple[list[tuple[str | None, Any]], dict]]:
        if callable(getattr(params, "named_parameters", None)):  # a Module
            params = params.named_parameters()
        if _is_param(params) or isinstance(params, (Mapping, str, bytes)):
            raise TypeError(f"{self.name}: params must be an iterable of tensors, of (name, tensor) "
                            f"pairs or of parameter-group dicts, got {type(params).__name__}")
        try:
            items = list(params)
        except TypeError:
            raise TypeError(f"{self.name}: params must be an iterable of tensors, of (name, tensor) "
                            f"pairs or of parameter-group dicts, got {type(params).__name__}") from None
        if not items:
            raise ValueError(f"{self.name}: got an empty parameter list")
        if all(isinstance(it, Mapping) for it in items):
            out = []
            for gi, g in enumerate(items):
                if "params" not in g:
                    raise ValueError(f"{self.name}: parameter group {gi} has no 'params' key")
                ps = g["params"]
                ps = [ps] if _is_param(ps) else list(ps)
                if not ps:
                    raise ValueError(f"{self.name}: parameter group {gi} is empty")
                out.append(([self._one_param(x, gi) for x in ps],
                            {k: v for k, v in g.items() if k != "params"}))
            return out
        if any(isinstance(it, Mapping) for it in items):
            raise TypeError(f"{self.name}: params mixes parameter-group dicts and tensors")
        return [([self._one_param(x, None) for x in items], {})]

    def _one_param(self, x: Any, gi: int | None) -> tuple[str | None, Any]:
        name = None
        if isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str):
            name, x = x
        if not _is_param(x):
            where = "" if gi is None else f" in group {gi}"
            what = f"{name!r} is a {type(x).__name__}" if name else f"got a {type(x).__name__}"
            raise TypeError(f"{self.name}: {what}{where}, not a parameter (needs .data ndarray, "
                            ".grad and .requires_grad: a Tensor or Parameter)")
        if not np.issubdtype(x.data.dtype, np.floating):
            raise TypeError(f"{self.name}: parameter {name + ' ' if name else ''}has dtype "
                            f"{x.data.dtype}; only floating-point tensors can be optimized")
        return name, x

    def _validate_group(self, hp: dict, where: str = "") -> None:
        comp = self.name + where
        lr = hp.get("lr")
        if not callable(lr):
            hp["lr"] = V.nonnegative(comp, "lr", lr)
        hp["lr_scale"] = V.nonnegative(comp, "lr_scale", hp["lr_scale"])
        if "weight_decay" in hp:
            hp["weight_decay"] = V.nonnegative(comp, "weight_decay", hp["weight_decay"])
        self.validate(hp, comp)

    def validate(self, hp: dict, component: str) -> None:
        """Check one group's hyperparameters; normalize them in place (tuples, floats).

        Raise ``ValueError``/``TypeError`` via ``tinygrad_init.validation`` with
        ``component`` as the component name. The host already checked ``lr``,
        ``lr_scale`` and ``weight_decay``.
        """

    # ------------------------------------------------------------------ the pure core
    def init_state(self, data: np.ndarray) -> dict[str, np.ndarray]:
        """The initial state of one parameter: a dict of fresh arrays (may be empty)."""
        return {}

    def update(self, data: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
               group: dict[str, Any], step: int) -> np.ndarray:
        """Return the parameter's new value; rebind (never mutate) ``state``'s arrays."""
        raise NotImplementedError

    #: Optional in-place variant ``update_(data, grad, state, group, step) -> None``: writes the
    #: new value into ``data`` and the new state into ``state``'s own arrays, with results
    #: bit-identical to :meth:`update`. The host calls it only after every gradient of the step
    #: was checked (shapes, finiteness) and every parameter array is writeable; it saves the
    #: new arrays a pure update allocates (time and peak memory of a step).
    update_: Callable | None = None

    # ------------------------------------------------------------------ lr
    def _lr_of(self, group: dict, steps: int) -> float:
        lr = group["lr"]
        if callable(lr):
            value = lr(steps)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"{self.name}: the lr schedule returned {value!r} at step {steps}, "
                                "not a number") from None
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{self.name}: the lr schedule returned {value!r} at step {steps}; "
                                 "must be a finite number >= 0")
            lr = value
        return lr * group["lr_scale"]

    def get_lr(self, group: int = 0) -> float:
        """The effective lr of the next update of ``group``: schedule(steps) (or lr) * lr_scale."""
        return self._lr_of(self.param_groups[group], self.steps)

    def set_lr(self, value: float | Callable[[int], float]) -> None:
        """Set ``lr`` (a float or a schedule) of every group; ``lr_scale`` is kept."""
        if not callable(value):
            value = V.nonnegative(self.name, "lr", value)
        for g in self.param_groups:
            g["lr"] = value

    # ------------------------------------------------------------------ stepping
    def _label(self, i: int) -> str:
        return f"{i} ({self._names[i]!r})" if self._names[i] else str(i)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients: ``grad = None`` (default) or zeros."""
        for p in self._params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad = np.zeros_like(p.data)

    def step(self) -> None:
        """Update every trainable parameter that has a gradient; all or nothing."""
        work, bad = [], []
        for group, index in zip(self.param_groups, self._group_index):
            hp = None
            for i in index:
                p = self._params[i]
                if not getattr(p, "requires_grad", True) or p.grad is None:
                    continue
                g = p.grad if p.grad.__class__ is np.ndarray else np.asarray(p.grad)
                if g.shape != p.data.shape:
                    raise ValueError(f"{self.name}: parameter {self._label(i)} has shape "
                                     f"{p.data.shape} but its gradient has shape {g.shape}")
                # one pass: NaN and inf make the sum of squares non-finite; only then look
                # closer (a finite-but-huge gradient can overflow it). BLAS's dot is ~2.5x
                # faster than a sum (benchmarks/README.md)
                if not math.isfinite(np.vdot(g, g)) and not np.isfinite(g).all():
                    bad.append(i)
                if hp is None:
                    hp = {k: v for k, v in group.items() if k != "params"}
                    hp["lr"] = self._lr_of(group, self.steps)
                work.append((i, p, g, hp))
        if bad:
            names = ", ".join(self._label(i) for i in bad)
            msg = f"{self.name}: non-finite gradient in parameter {names} at step {self.steps}"
            if self.nonfinite == "raise":
                raise FloatingPointError(msg + "; no parameter was updated")
            warnings.warn(msg + "; the step was skipped", RuntimeWarning, stacklevel=2)
            return
        if self.update_ is not None and all(p.data.flags.writeable for _, p, _, _ in work):
            # the in-place variant, bit-identical to update(): every gradient was checked above,
            # so the step does not stop half-way (measured: benchmarks/README.md)
            for i, p, g, hp in work:
                if i not in self.state:
                    self.state[i] = self.init_state(p.data)
                self._param_steps[i] = self._param_steps.get(i, 0) + 1
                self.update_(p.data, g, self.state[i], hp, self._param_steps[i])
            self.steps += 1
            return
        new_data, new_state = {}, {}
        for i, p, g, hp in work:
            state = dict(self.state[i]) if i in self.state else self.init_state(p.data)
            # read-only views: an update that writes in place fails loudly instead of
            # corrupting the caller's arrays or a step that must be all-or-nothing
            new = np.asarray(self.update(_readonly(p.data), _readonly(g), state, hp,
                                         self._param_steps.get(i, 0) + 1))
            if new.shape != p.data.shape:
                raise ValueError(f"{self.name}.update returned shape {new.shape} for parameter "
                                 f"{self._label(i)} of shape {p.data.shape}")
            new_data[i], new_state[i] = new.astype(p.data.dtype, copy=False), state
        for i, p, _, _ in work:  # commit
            p.data = new_data[i]
            self.state[i] = new_state[i]
            self._param_steps[i] = self._param_steps.get(i, 0) + 1
        self.steps += 1

    # ------------------------------------------------------------------ state dict
    def _hp_keys(self, group: dict) -> list[str]:
        return [k for k in group if k != "params"]

    def state_dict(self) -> dict[str, np.ndarray]:
        """The whole optimizer state as a FLAT ``dict[str, np.ndarray]`` (copies).

        Keys: ``optimizer`` (0-d str), ``steps``, ``num_params``, ``param.<i>.shape``,
        ``group.<g>.params`` (global parameter indices), ``group.<g>.<hparam>``
        (``lr`` only when it is a float; ``group.<g>.lr_is_schedule`` says which),
        ``state.<i>.step`` and ``state.<i>.<key>`` for every parameter that has
        state. It saves with ``np.savez`` and loads with ``allow_pickle=False``.
        """
        sd: dict[str, np.ndarray] = {
            "optimizer": np.array(self.name),
            "steps": np.array(self.steps, dtype=np.int64),
            "num_params": np.array(len(self._params), dtype=np.int64),
        }
        for i, p in enumerate(self._params):
            sd[f"param.{i}.shape"] = np.array(p.data.shape, dtype=np.int64)
        for gi, g in enumerate(self.param_groups):
            sd[f"group.{gi}.params"] = np.array(self._group_index[gi], dtype=np.int64)
            sd[f"group.{gi}.lr_is_schedule"] = np.array(callable(g["lr"]))
            for k in self._hp_keys(g):
                if k == "lr" and callable(g[k]):
                    continue
                sd[f"group.{gi}.{k}"] = np.array(g[k])
        for i in sorted(self.state):
            sd[f"state.{i}.step"] = np.array(self._param_steps[i], dtype=np.int64)
            for k, v in self.state[i].items():
                sd[f"state.{i}.{k}"] = np.array(v, copy=True)
        return sd

    def load_state_dict(self, sd: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (also an ``np.load``-ed ``.npz``).

        Everything is validated first — optimizer name, number of groups and
        parameters, their shapes, the hyperparameter keys, the state arrays'
        keys, shapes and dtypes — and a mismatch is a ``ValueError`` naming what
        differs; only then is anything loaded (nothing half-loaded). Saved float
        hyperparameters (``lr``, ``lr_scale``...) replace the current ones, as in
        PyTorch; a group saved with a schedule keeps the schedule it has now.
        """
        who = f"{self.name}.load_state_dict"
        sd = {k: np.asarray(sd[k]) for k in sd}
        used: set[str] = set()

        def get(key: str) -> np.ndarray:
            if key not in sd:
                raise ValueError(f"{who}: the state dict has no key {key!r}")
            used.add(key)
            return sd[key]

        steps = int(get("steps"))
        name = str(get("optimizer"))
        if name != self.name:
            raise ValueError(f"{who}: the state dict is from optimizer {name!r}, not {self.name!r}")
        n = int(get("num_params"))
        if n != len(self._params):
            raise ValueError(f"{who}: the state dict has {n} parameters, this optimizer has "
                             f"{len(self._params)}")
        for i, p in enumerate(self._params):
            shape = tuple(int(s) for s in get(f"param.{i}.shape"))
            if shape != p.data.shape:
                raise ValueError(f"{who}: parameter {self._label(i)} has shape {shape} in the state "
                                 f"dict but {p.data.shape} here")
        ng = len({k.split(".")[1] for k in sd if k.startswith("group.")})
        if ng != len(self.param_groups):
            raise ValueError(f"{who}: the state dict has {ng} parameter groups, this optimizer has "
                             f"{len(self.param_groups)}")
        new_groups = []
        for gi, g in enumerate(self.param_groups):
            idx = [int(x) for x in get(f"group.{gi}.params")]
            if idx != self._group_index[gi]:
                raise ValueError(f"{who}: parameter group {gi} holds parameters {idx} in the state "
                                 f"dict but {self._group_index[gi]} here")
            hp = {k: g[k] for k in self._hp_keys(g)}
            if bool(get(f"group.{gi}.lr_is_schedule")):
                if not callable(g["lr"]):
                    raise ValueError(f"{who}: group {gi} was saved with an lr schedule, but this "
                                     "optimizer's lr is a number; build it with the same schedule")
            else:
                hp["lr"] = float(get(f"group.{gi}.lr"))
            for k in self._hp_keys(g):
                if k == "lr":
                    continue
                hp[k] = self._restore_hp(who, gi, k, get(f"group.{gi}.{k}"), g[k])
            self._validate_group(hp, where=f" (loading group {gi})")
            new_groups.append(hp)
        new_state, new_steps = {}, {}
        for i, p in enumerate(self._params):
            if f"state.{i}.step" not in sd:
                continue
            new_steps[i] = int(get(f"state.{i}.step"))
            template = self.init_state(p.data)
            st = {}
            for k, t in template.items():
                v = get(f"state.{i}.{k}")
                if v.shape != np.shape(t) or v.dtype != np.asarray(t).dtype:
                    raise ValueError(f"{who}: state {k!r} of parameter {self._label(i)} is "
                                     f"{v.dtype}{list(v.shape)} in the state dict but "
                                     f"{np.asarray(t).dtype}{list(np.shape(t))} here")
                st[k] = np.array(v, copy=True)
            new_state[i] = st
        extra = sorted(set(sd) - used)
        if extra:
            raise ValueError(f"{who}: unexpected keys in the state dict: {', '.join(extra[:5])}"
                             + (" ..." if len(extra) > 5 else ""))
        # commit
        for g, hp in zip(self.param_groups, new_groups):
            g.update(hp)
        self.state, self._param_steps = new_state, new_steps
        self.steps = steps

    def _restore_hp(self, who: str, gi: int, key: str, arr: np.ndarray, current: Any) -> Any:
        try:
            if isinstance(current, bool):
                return bool(arr)
            if isinstance(current, tuple):
                return tuple(float(x) for x in arr)
            if isinstance(current, str):
                return str(arr)
            if isinstance(current, int):
                return int(arr)
            return float(arr)
        except (TypeError, ValueError):
            raise ValueError(f"{who}: hyperparameter {key!r} of group {gi} is {arr!r} in the state "
                             f"dict, not like {current!r}") from None

    def __repr__(self) -> str:
        g = self.param_groups[0]
        hp = ", ".join(f"{k}={g[k]!r}" for k in self._hp_keys(g))
        return f"{type(self).__name__}({len(self._params)} params, {len(self.param_groups)} groups, {hp})"


# ---------------------------------------------------------------------------- clipping


def _grads(params: Any) -> list[Any]:
    if _is_param(params):
        params = [params]
    out = []
    for p in params:
        if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
            p = p[1]
        if p.grad is not None:
            out.append(p)
    return out


def clip_grad_norm(params: Any, max_norm: float, norm_type: float | str = 2.0,
                   error_if_nonfinite: bool = False) -> float:
    """Scale gradients so their total norm is at most ``max_norm`` (PyTorch's ``clip_grad_norm_``).

    The total norm is the ``norm_type``-norm of the vector of the per-parameter
    gradient norms (= the norm of all gradients concatenated; ``inf`` is the max
    absolute entry). Every gradient is multiplied by
    ``min(1, max_norm / (total_norm + 1e-6))``. Parameters without a gradient are
    ignored. Returns the total norm *before* clipping, as a float. With
    ``error_if_nonfinite=True`` a NaN/inf total norm raises ``FloatingPointError``.
    """
    max_norm = V.nonnegative("clip_grad_norm", "max_norm", max_norm)
    if isinstance(norm_type, str):
        if norm_type.lower() != "inf":
            V.fail("clip_grad_norm", "norm_type", norm_type, "a number > 0 or 'inf'")
        norm_type = math.inf
    elif not (isinstance(norm_type, (int, float)) and norm_type > 0):
        V.fail("clip_grad_norm", "norm_type", norm_type, "a number > 0 or 'inf'")
    ps = _grads(params)
    if not ps:
        return 0.0
    gs = [np.asarray(p.grad, dtype=np.float64) for p in ps]
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in gs)
    else:
        norms = np.array([np.sum(np.abs(g) ** norm_type) for g in gs])
        total = float(np.sum(norms) ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise FloatingPointError(f"clip_grad_norm: the total gradient norm is {total}")
    coef = min(1.0, max_norm / (total + 1e-6))
    for p in ps:
        p.grad = (p.grad * coef).astype(p.grad.dtype, copy=False)
    return total


def clip_grad_value(params: Any, clip_value: float) -> None:
    """Clamp every gradient entry to ``[-clip_value, clip_value]`` (PyTorch's ``clip_grad_value_``)."""
    c = V.nonnegative("clip_grad_value", "clip_value", clip_value)
    for p in _grads(params):
        p.grad = np.clip(p.grad, -c, c).astype(p.grad.dtype, copy=False)
