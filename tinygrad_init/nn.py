"""Modules and layers: ``Parameter``, ``Module`` and PyTorch-shaped layers.

A ``Module`` finds its parameters by walking its attributes, so a model is written as::

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(2, 16)
            self.blocks = [nn.Linear(16, 16) for _ in range(2)]   # lists work too
            self.out = nn.Linear(16, 2)

        def forward(self, x):
            x = self.fc1(x).relu()
            for b in self.blocks:
                x = b(x).relu()
            return self.out(x)

Discovery rules (evaluated on every call, so reassigning an attribute is always seen):

- an attribute holding a :class:`Parameter` is a parameter of the module, frozen or not;
- an attribute holding a :class:`Module` is a child module;
- lists, tuples and dicts of Parameters / Modules (nested too) are walked, their items named
  ``attr.index`` / ``attr.key`` (``"blocks.1.weight"``);
- ``register_buffer(name, array)`` declares a NumPy array attribute a buffer (saved by
  ``state_dict``, not trained), e.g. BatchNorm's ``running_mean``.

Names follow PyTorch: a module's own parameters (attribute order), then each child's, prefixed
with the child's name (``"fc1.weight"``, ``"0.bias"`` inside a :class:`Sequential`). A
parameter or module reachable twice is reported once, under its first name.

Weight layouts follow PyTorch: ``Linear.weight`` is ``(out_features, in_features)``,
``Conv2d.weight`` is ``(out_channels, in_channels, kh, kw)``.
"""
from __future__ import annotations

from contextlib import contextmanager

import math
from collections import namedtuple
from typing import Any, Iterator

import numpy as np

from .tensor import Tensor, _number
from .validation import count as _count

__all__ = ["Parameter", "Module", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten",
           "Dropout", "Sequential", "Identity", "ReLU", "LeakyReLU", "Tanh", "Sigmoid",
           "Softmax", "LoadResult", "RemovableHandle", "Conv1d", "ConvTranspose2d", "MaxPool1d",
           "AvgPool1d", "AdaptiveAvgPool2d"]


class Parameter(Tensor):
    """A trainable Tensor: what ``Module.parameters()`` collects.

    ``requires_grad`` defaults to True; ``freeze()`` sets it to False (the parameter is still
    listed by ``parameters()`` and saved by ``state_dict()``, optimizers skip it).
    """

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None):
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return (f"Parameter(shape={tuple(self.shape)}, dtype={np.dtype(self.dtype).name}, "
                f"requires_grad={self.requires_grad})")


LoadResult = namedtuple("LoadResult", ["missing_keys", "unexpected_keys"])
LoadResult.__doc__ = "What ``load_state_dict(strict=False)`` skipped: key lists."


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _walk(name: str, value: Any) -> Iterator[tuple[str, Any]]:
    # yields (name, Parameter | Module) found in value, not descending into Modules
    if isinstance(value, (Parameter, Module)):
        yield name, value
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _walk(f"{name}.{i}", v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(f"{name}.{k}", v)


class RemovableHandle:
    """What ``register_forward_hook``/``register_forward_pre_hook`` return: ``remove()``
    unregisters the hook (twice is harmless); also a context manager that removes on exit."""

    _next = 0

    def __init__(self, hooks: dict) -> None:
        self._hooks = hooks
        RemovableHandle._next += 1
        self.id = RemovableHandle._next

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


class Module:
    """Base class of layers and models. Subclasses implement ``forward``.

    ``module(x)`` calls ``forward(x)``. ``training`` is True after construction; ``train()`` /
    ``eval()`` set it on the module and every submodule (Dropout and BatchNorm read it).
    """

    training: bool = True  # class default, so subclasses that skip super().__init__() work

    def __init__(self) -> None:
        self.training = True
        self.__dict__.setdefault("_buffer_names", [])  # register_buffer may have run already

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        hooks = self.__dict__.get("_forward_hooks")
        if not hooks:
            return self.forward(*args, **kwargs)
        for pre, fn in list(hooks.values()):
            if pre:
                r = fn(self, args)
                if r is not None:
                    args = r if isinstance(r, tuple) else (r,)
        out = self.forward(*args, **kwargs)
        for pre, fn in list(hooks.values()):
            if not pre:
                r = fn(self, args, out)
                if r is not None:
                    out = r
        return out

    def register_forward_hook(self, hook: Any) -> "RemovableHandle":
        """Call ``hook(module, inputs, output)`` after every ``forward`` (PyTorch semantics):
        ``inputs`` is the tuple of positional arguments; a return value other than ``None``
        replaces the output. Returns a handle whose ``remove()`` unregisters the hook."""
        return self._add_hook(hook, False)

    def register_forward_pre_hook(self, hook: Any) -> "RemovableHandle":
        """Call ``hook(module, inputs)`` before every ``forward``: a return value other than
        ``None`` replaces the inputs (a tuple, or one value wrapped into a 1-tuple).
        Returns a handle whose ``remove()`` unregisters the hook."""
        return self._add_hook(hook, True)

    def _add_hook(self, hook: Any, pre: bool) -> "RemovableHandle":
        if not callable(hook):
            kind = "register_forward_pre_hook" if pre else "register_forward_hook"
            raise TypeError(f"{type(self).__name__}.{kind}: the hook must be callable, got {hook!r}")
        hooks = self.__dict__.setdefault("_forward_hooks", {})
        handle = RemovableHandle(hooks)
        hooks[handle.id] = (pre, hook)
        return handle

    # ------------------------------------------------------------------ discovery
    def _members(self) -> Iterator[tuple[str, Any]]:
        """Direct Parameters and child Modules, in attribute order (overridable)."""
        for k, v in vars(self).items():
            yield from _walk(k, v)

    def _own_parameters(self) -> Iterator[tuple[str, Parameter]]:
        return ((n, v) for n, v in self._members() if isinstance(v, Parameter))

    def register_buffer(self, name: str, array: Any) -> None:
        """Declare attribute ``name`` a buffer: state saved by ``state_dict`` but not trained.

        The array is stored as ``self.<name>``; update it in place or reassign the attribute.
        """
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{type(self).__name__}.register_buffer: name={name!r} is invalid: "
                             "must be an identifier")
        if "_buffer_names" not in vars(self):
            self._buffer_names = []
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        setattr(self, name, np.asarray(array))

    def _own_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for n in vars(self).get("_buffer_names", ()):
            v = getattr(self, n, None)
            if v is not None:
                yield n, v

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        seen: set[int] = set()
        for n, v in self._members():
            if isinstance(v, Module) and id(v) not in seen:
                seen.add(id(v))
                yield n, v

    def children(self) -> Iterator["Module"]:
        return (m for _, m in self.named_children())

    def named_modules(self, prefix: str = "", _memo: set[int] | None = None
                      ) -> Iterator[tuple[str, "Module"]]:
        """``(name, module)`` for this module (name ``prefix``, "" at the top) and all
        descendants, depth first."""
        memo = set() if _memo is None else _memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for n, child in self.named_children():
            yield from child.named_modules(_join(prefix, n), memo)

    def modules(self) -> Iterator["Module"]:
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(name, Parameter)`` pairs, frozen ones included, each parameter once."""
        seen: set[int] = set()
        for mname, m in self.named_modules(prefix):
            for n, p in m._own_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield _join(mname, n), p

    def parameters(self) -> list[Parameter]:
        """All parameters (frozen ones included) in ``named_parameters`` order."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for mname, m in self.named_modules(prefix):
            for n, b in m._own_buffers():
                yield _join(mname, n), b

    def buffers(self) -> list[np.ndarray]:
        return [b for _, b in self.named_buffers()]

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> "Module":
        """Set ``training = mode`` on this module and every submodule; returns self."""
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> "Module":
        """``train(False)``: Dropout becomes the identity, BatchNorm uses running stats."""
        return self.train(False)

    def freeze(self) -> "Module":
        """``requires_grad = False`` on every parameter (they get no gradient, optimizers
        skip them; they stay in ``parameters()`` and ``state_dict()``). Returns self."""
        for p in self.parameters():
            p.requires_grad = False
        return self

    def unfreeze(self) -> "Module":
        """``requires_grad = True`` on every parameter. Returns self."""
        for p in self.parameters():
            p.requires_grad = True
        return self

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None (PyTorch's ``set_to_none=True``)."""
        for p in self.parameters():
            p.grad = None

    # ------------------------------------------------------------------ state
    def _state_targets(self) -> dict[str, tuple[str, Any, str]]:
        # key -> ("param", Parameter, "") | ("buffer", owner module, attribute name)
        out: dict[str, tuple[str, Any, str]] = {}
        seen: set[int] = set()
        for mname, m in self.named_modules():
            for n, p in m._own_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    out[_join(mname, n)] = ("param", p, "")
            for n, _ in m._own_buffers():
                out[_join(mname, n)] = ("buffer", m, n)
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{name: array}`` of every parameter and buffer: copies, NumPy arrays only (so
        ``np.savez(path, **model.state_dict())`` and ``np.load(..., allow_pickle=False)``
        round-trip). Order: each module's parameters, then its buffers, then its children's."""
        sd = {}
        for key, (kind, obj, attr) in self._state_targets().items():
            arr = obj.data if kind == "param" else getattr(obj, attr)
            sd[key] = np.array(arr, copy=True)
        return sd

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> LoadResult:
        """Copy arrays from ``state_dict`` into the parameters and buffers, in place.

        All or nothing: every key, shape and value is checked first; on any error nothing has
        changed. Values are cast to the dtype of the parameter/buffer they replace.

        :param strict: a key of the model missing from ``state_dict`` or a key of
            ``state_dict`` the model does not have is an error (``KeyError`` naming the
            keys); with ``strict=False`` both are skipped and returned.
        :raises ValueError: a shape mismatch (naming the key and both shapes) — also with
            ``strict=False`` — or a value that is not numeric.
        :returns: ``LoadResult(missing_keys, unexpected_keys)``.
        """
        who = f"{type(self).__name__}.load_state_dict"
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"{who}: expected a mapping of name -> array, got "
                            f"{type(state_dict).__name__}")
        targets = self._state_targets()
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in targets]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append("missing keys: " + ", ".join(repr(k) for k in missing))
            if unexpected:
                parts.append("unexpected keys: " + ", ".join(repr(k) for k in unexpected))
            raise KeyError(f"{who}: " + "; ".join(parts) + " (nothing was loaded)")
        staged = []
        for key, (kind, obj, attr) in targets.items():
            if key not in state_dict:
                continue
            cur = obj.data if kind == "param" else getattr(obj, attr)
            val = state_dict[key]
            val = val.data if isinstance(val, Tensor) else val
            try:
                val = np.asarray(val)
                if val.dtype.kind not in "biuf":
                    raise TypeError
                new = val.astype(cur.dtype, copy=True)
            except (TypeError, ValueError):
                raise ValueError(f"{who}: {key!r}: value of type {type(state_dict[key]).__name__} "
                                 f"is not a numeric array (nothing was loaded)") from None
            if new.shape != cur.shape:
                raise ValueError(f"{who}: size mismatch for {key!r}: the checkpoint has shape "
                                 f"{new.shape}, the model has shape {tuple(cur.shape)} "
                                 "(nothing was loaded)")
            staged.append((kind, obj, attr, new))
        for kind, obj, attr, new in staged:
            if kind == "param":
                obj.data = new
            else:
                buf = getattr(obj, attr)
                if isinstance(buf, np.ndarray) and buf.flags.writeable:
                    buf[...] = new  # in place: code holding the array keeps seeing it
                else:
                    setattr(obj, attr, new)
        return LoadResult(missing if not strict else [], unexpected if not strict else [])

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for n, child in self.named_children():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"({n}): {body}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if lines:
            return head + "\n  " + "\n  ".join(lines) + "\n)"
        return head + ")"


# ---------------------------------------------------------------------- helpers
@contextmanager
def evaluating(module: Module) -> Iterator[Module]:
    """Eval mode inside the block; afterwards every submodule gets its own mode back.

    For a forward pass that must change nothing (BatchNorm's running statistics stay,
    Dropout is off), without losing which submodules were in which mode.
    """
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, mode in modes:
            m.training = mode


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _pair(layer: str, name: str, value: Any, minimum: int, n: int = 2) -> tuple[int, ...]:
    vals = value if isinstance(value, (tuple, list)) else (value,) * n
    if len(vals) != n:
        raise ValueError(f"{layer}: {name}={value!r} is invalid: must be an int or "
                         f"{'a pair' if n == 2 else f'a tuple of {n}'} of ints")
    return tuple(_count(layer, name, v, minimum) for v in vals)  # type: ignore[return-value]


def _init_array(layer: str, which: str, init: Any, shape: tuple[int, ...],
                rng: np.random.Generator, dtype: Any, bound: float) -> np.ndarray:
    try:
        if init is None:  # PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            return rng.uniform(-bound, bound, size=shape).astype(dtype)
        from .registry import initializer
        fn = initializer(init)
        try:
            arr = np.asarray(fn(shape, rng, dtype))
        except TypeError:
            import inspect
            try:
                inspect.signature(fn).bind(shape, rng, dtype)
            except (TypeError, ValueError):
                raise TypeError(f"{layer}: {which}={init!r} cannot be called as init(shape, rng, "
                                f"dtype) (an initializer's signature)") from None
            raise
    except MemoryError:
        size = math.prod(shape) * np.dtype(dtype).itemsize
        raise MemoryError(f"{layer}: {which.split('_')[0]} of shape {shape} needs "
                          f"{size / 2**30:,.1f} GiB ({np.dtype(dtype)}), more than is free") from None
    if arr.shape != shape:
        raise ValueError(f"{layer}: {which}={init!r} returned shape {arr.shape}, expected {shape}")
    return arr.astype(dtype, copy=False)


def _bias_default(weight_init: Any, bias_init: Any) -> Any:
    # PyTorch's default layer when nothing is chosen; zeros once the weight init is chosen.
    return "zeros" if bias_init is None and weight_init is not None else bias_init


def _generator(rng: Any) -> np.random.Generator:
    from .init import as_generator
    return as_generator(rng)


def _out_size(size: int, k: int, s: int, p: int, d: int = 1) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


# ---------------------------------------------------------------------- layers
class Linear(Module):
    """``y = x @ weight.T + bias``; ``weight`` is ``(out_features, in_features)``.

    ``x`` has shape ``(..., in_features)``. With neither ``weight_init`` nor ``bias_init``
    the init is PyTorch's default: weight and bias ~ ``U(-1/sqrt(in_features),
    1/sqrt(in_features))`` (kaiming_uniform with ``a=sqrt(5)``). Once a ``weight_init`` is
    chosen, the bias defaults to ``zeros`` (the course's and Keras's convention).
    ``weight_init``/``bias_init`` take an initializer name (``"xavier_uniform"``) or object
    (``tgi.initializer(...)``), called as ``init(shape, rng, dtype)``. ``rng``: Generator, int seed or None (the default
    generator, see ``tgi.init.manual_seed``); the weight is drawn before the bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 weight_init: Any = None, bias_init: Any = None, rng: Any = None,
                 dtype: Any = np.float32):
        super().__init__()
        self.in_features = _count("Linear", "in_features", in_features)
        self.out_features = _count("Linear", "out_features", out_features)
        rng = _generator(rng)
        bound = 1.0 / math.sqrt(self.in_features)
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(_init_array(self._name(), "weight_init", weight_init, shape, rng,
                                            dtype, bound))
        self.bias = None if not bias else Parameter(
            _init_array(self._name(), "bias_init", _bias_default(weight_init, bias_init),
                        (self.out_features,), rng, dtype, bound))

    def _name(self) -> str:
        return f"Linear(in_features={self.in_features}, out_features={self.out_features})"

    def forward(self, x: Any) -> Tensor:
        x = _as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self._name()}: input shape {tuple(x.shape)} does not match "
                             f"in_features={self.in_features}")
        return x.linear(self.weight, self.bias)  # one node: no transposed weight copy

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class _ConvNd(Module):
    nd, transposed = 2, False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", weight_init: Any = None, bias_init: Any = None,
                 rng: Any = None, dtype: Any = np.float32):
        super().__init__()
        name, nd = type(self).__name__, self.nd
        self.in_channels = _count(name, "in_channels", in_channels)
        self.out_channels = _count(name, "out_channels", out_channels)
        self.kernel_size = _pair(name, "kernel_size", kernel_size, 1, nd)
        self.stride = _pair(name, "stride", stride, 1, nd)
        self.dilation = _pair(name, "dilation", dilation, 1, nd)
        self.groups = _count(name, "groups", groups)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{name}: groups={groups!r} is invalid: in_channels="
                             f"{self.in_channels} and out_channels={self.out_channels} must both "
                             f"be divisible by it")
        if isinstance(padding, str) and not self.transposed:
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding={padding!r} is invalid: must be 'same', "
                                 f"'valid', an int or a tuple of {nd} ints")
            if padding == "same" and self.stride != (1,) * nd:
                raise ValueError(f"{name}: padding='same' needs stride 1, got {self.stride}")
            self.padding = padding
        else:
            self.padding = _pair(name, "padding", padding, 0, nd)
        modes = ("zeros",) if self.transposed else ("zeros", "reflect", "replicate", "circular")
        if padding_mode not in modes:
            raise ValueError(f"{name}: padding_mode={padding_mode!r} is invalid: must be one of "
                             + ", ".join(map(repr, modes)))
        self.padding_mode = padding_mode
        rng = _generator(rng)
        cin, cout = ((self.out_channels, self.in_channels) if self.transposed else
                     (self.in_channels, self.out_channels))
        shape = (cout, cin // self.groups, *self.kernel_size)
        bound = 1.0 / math.sqrt(shape[1] * math.prod(self.kernel_size))  # PyTorch's fan_in
        self.weight = Parameter(_init_array(self._name(), "weight_init", weight_init, shape, rng,
                                            dtype, bound))
        self.bias = None if not bias else Parameter(
            _init_array(self._name(), "bias_init", _bias_default(weight_init, bias_init),
                        (self.out_channels,), rng, dtype, bound))

    def _name(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def _pads(self) -> list:
        if self.padding == "valid":
            return [(0, 0)] * self.nd
        if self.padding == "same":  # PyTorch: the odd one goes to the end
            tot = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            return [(t // 2, t - t // 2) for t in tot]
        return [(p, p) for p in self.padding]

    def forward(self, x: Any) -> Tensor:
        from . import conv
        x = _as_tensor(x)
        lay = "L" if self.nd == 1 else "H, W"
        if x.ndim != self.nd + 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self._name()}: input shape {tuple(x.shape)} does not match "
                             f"(N, in_channels={self.in_channels}, {lay})")
        if self.transposed:
            return conv.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                         self.output_padding, self.groups, self.dilation)
        pads = self._pads()
        out = [(n + lo + hi - d * (k - 1) - 1) // s + 1 for n, (lo, hi), k, s, d in
               zip(x.shape[2:], pads, self.kernel_size, self.stride, self.dilation)]
        if min(out) < 1:
            raise ValueError(f"{self._name()}: input shape {tuple(x.shape)} is too small: the "
                             f"output would be {tuple(out)}")
        padding = self.padding
        if self.padding_mode != "zeros":
            x, padding = conv.pad(x, [(0, 0), (0, 0)] + pads, self.padding_mode), 0
        fn = conv.conv1d if self.nd == 1 else conv.conv2d
        return fn(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        one = (1,) * self.nd
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, " \
            f"stride={self.stride}"
        if self.padding != (0,) * self.nd:
            s += f", padding={self.padding!r}"
        if self.transposed and self.output_padding != (0,) * self.nd:
            s += f", output_padding={self.output_padding}"
        if self.dilation != one:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if getattr(self, "bias", True) is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) on NCHW input (PyTorch's ``nn.Conv2d``); ``weight``
    is ``(out_channels, in_channels/groups, kh, kw)``, ``bias`` ``(out_channels,)``.

    Output size per spatial axis: ``floor((size + 2*padding - dilation*(k-1) - 1) / stride) + 1``.
    ``padding``: int, pair, ``"valid"`` or ``"same"`` (stride 1); ``padding_mode``: ``"zeros"``,
    ``"reflect"``, ``"replicate"`` or ``"circular"``; ``groups`` splits the channels
    (``groups=in_channels`` is a depthwise convolution).
    Default init is PyTorch's: weight and bias ~ ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with
    ``fan_in = in_channels/groups * kh * kw``; with a ``weight_init`` the bias defaults to zeros.
    ``weight_init``/``bias_init``/``rng`` as in :class:`Linear`.
    """


class Conv1d(_ConvNd):
    """1-D convolution on (N, C, L) input (PyTorch's ``nn.Conv1d``); ``weight`` is
    ``(out_channels, in_channels/groups, k)``. Arguments, output size and init as
    :class:`Conv2d` with one spatial axis."""
    nd = 1


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution (PyTorch's ``nn.ConvTranspose2d``); ``weight`` is
    ``(in_channels, out_channels/groups, kh, kw)``. Output size per spatial axis:
    ``(size - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1``. Default init as
    PyTorch's: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with ``fan_in = weight.shape[1] * kh * kw``
    (= ``out_channels/groups * kh * kw``)."""
    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, weight_init: Any = None, bias_init: Any = None,
                 rng: Any = None, dtype: Any = np.float32):
        self.output_padding = _pair("ConvTranspose2d", "output_padding", output_padding, 0)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, "zeros", weight_init, bias_init, rng, dtype)


class _Pool(Module):
    nd, kind = 2, "max"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        name, nd = type(self).__name__, self.nd
        self.kernel_size = _pair(name, "kernel_size", kernel_size, 1, nd)
        self.stride = self.kernel_size if stride is None else _pair(name, "stride", stride, 1, nd)
        self.padding = _pair(name, "padding", padding, 0, nd)
        self.dilation = _pair(name, "dilation", dilation, 1, nd)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name}: padding={padding!r} is invalid: must be at most half the "
                             f"kernel size {self.kernel_size}")
        for key, v in (("ceil_mode", ceil_mode), ("count_include_pad", count_include_pad)):
            if not isinstance(v, (bool, np.bool_)):
                raise TypeError(f"{name}: {key}={v!r} is invalid: must be true or false")
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)

    def forward(self, x: Any) -> Tensor:
        from . import conv
        x = _as_tensor(x)
        if x.ndim != self.nd + 2:
            raise ValueError(f"{type(self).__name__}({self.extra_repr()}): input shape "
                             f"{tuple(x.shape)} is not {'(N, C, L)' if self.nd == 1 else '(N, C, H, W)'}")
        out = [_out_size(n, k, s, p, d) for n, k, s, p, d in
               zip(x.shape[2:], self.kernel_size, self.stride, self.padding, self.dilation)]
        if min(out) < 1:
            raise ValueError(f"{type(self).__name__}({self.extra_repr()}): input shape "
                             f"{tuple(x.shape)} is too small for the kernel: the output would be "
                             f"{tuple(out)}")
        fn = getattr(conv, f"{self.kind}_pool{self.nd}d")
        extra = ((self.dilation, self.ceil_mode) if self.kind == "max" else
                 (self.ceil_mode, self.count_include_pad))
        return fn(x, self.kernel_size, self.stride, self.padding, *extra)

    def extra_repr(self) -> str:
        s = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        if self.dilation != (1,) * self.nd:
            s += f", dilation={self.dilation}"
        if self.ceil_mode:
            s += ", ceil_mode=True"
        if not self.count_include_pad:
            s += ", count_include_pad=False"
        return s


class MaxPool2d(_Pool):
    """Max pooling over ``kernel_size`` windows of NCHW input (PyTorch's ``nn.MaxPool2d``);
    ``stride`` defaults to the kernel size; padding is ``-inf`` (never selected); ``dilation``
    spreads the window; ``ceil_mode`` keeps a last partial window."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)


class AvgPool2d(_Pool):
    """Average pooling over ``kernel_size`` windows of NCHW input (PyTorch's ``nn.AvgPool2d``);
    ``stride`` defaults to the kernel size; zero padding counts in the average unless
    ``count_include_pad=False``; ``ceil_mode`` keeps a last partial window."""
    kind = "avg"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode, count_include_pad)


class MaxPool1d(_Pool):
    """Max pooling over windows of (N, C, L) input (PyTorch's ``nn.MaxPool1d``)."""
    nd = 1

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)


class AvgPool1d(_Pool):
    """Average pooling over windows of (N, C, L) input (PyTorch's ``nn.AvgPool1d``)."""
    nd, kind = 1, "avg"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode, count_include_pad)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size`` (int or pair; ``None`` keeps that axis),
    PyTorch's ``nn.AdaptiveAvgPool2d``: cell ``i`` of ``o`` over an axis of ``n`` averages
    ``[floor(i*n/o), ceil((i+1)*n/o))``."""

    def __init__(self, output_size: Any):
        super().__init__()
        vals = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
        if len(vals) != 2 or not all(v is None or (isinstance(v, (int, np.integer))
                                                   and not isinstance(v, bool) and v >= 1)
                                     for v in vals):
            raise ValueError(f"AdaptiveAvgPool2d: output_size={output_size!r} is invalid: must "
                             f"be an int >= 1 or a pair of them (None keeps the input's size)")
        self.output_size = tuple(None if v is None else int(v) for v in vals)

    def forward(self, x: Any) -> Tensor:
        from . import conv
        return conv.adaptive_avg_pool2d(_as_tensor(x), self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` (default: all but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Any) -> Tensor:
        x = _as_tensor(x)
        try:
            return x.flatten(self.start_dim, self.end_dim)
        except ValueError:
            raise ValueError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}): input "
                             f"of shape {tuple(x.shape)} has no such dimensions (the default keeps "
                             f"the batch axis 0: it needs (N, ...) input)") from None

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Inverted dropout: in training, zero each entry with probability ``p`` and scale the
    rest by ``1/(1-p)`` (so the expectation is unchanged); identity in eval mode.

    ``p`` in ``[0, 1)``. ``rng``: Generator, int seed, or None = draw from the default
    generator at call time (``tgi.init.manual_seed`` makes it reproducible).
    """

    def __init__(self, p: float = 0.5, rng: Any = None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) \
                or not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p={p!r} is invalid: must be a number in [0, 1)")
        self.p = float(p)
        self._rng = None if rng is None else _generator(rng)

    def forward(self, x: Any) -> Tensor:
        x = _as_tensor(x)
        if not self.training or self.p == 0.0:
            return x
        rng = self._rng if self._rng is not None else _generator(None)
        mask = (rng.random(x.shape) >= self.p).astype(x.dtype) / np.asarray(1.0 - self.p, x.dtype)
        return x * Tensor(mask.astype(x.dtype))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Sequential(Module):
    """Apply modules in order. Indexable (``seq[0]``, ``seq[1:]`` is a Sequential), has
    ``len``, iterates over its modules; parameters are named ``"0.weight"``, ``"1.bias"``..."""

    def __init__(self, *modules: Module):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is {type(m).__name__}, not a Module")
        self.layers = list(modules)

    def _members(self) -> Iterator[tuple[str, Any]]:
        for i, m in enumerate(self.layers):
            yield str(i), m
        for k, v in vars(self).items():
            if k != "layers":
                yield from _walk(k, v)

    def append(self, module: Module) -> "Sequential":
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: {type(module).__name__} is not a Module")
        self.layers.append(module)
        return self

    def forward(self, x: Any) -> Any:
        for m in self.layers:
            x = m(x)
        return x

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return Sequential(*self.layers[i])
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)


class Identity(Module):
    """Returns its input."""

    def forward(self, x: Any) -> Any:
        return x


class ReLU(Module):
    """``max(x, 0)``."""

    def forward(self, x: Any) -> Tensor:
        return _as_tensor(x).relu()


class LeakyReLU(Module):
    """``x if x > 0 else negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = _number("LeakyReLU", "negative_slope", negative_slope)

    def forward(self, x: Any) -> Tensor:
        return _as_tensor(x).leaky_relu(self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    """``tanh(x)``."""

    def forward(self, x: Any) -> Tensor:
        return _as_tensor(x).tanh()


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``."""

    def forward(self, x: Any) -> Tensor:
        return _as_tensor(x).sigmoid()


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``axis`` (PyTorch's ``dim``)."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def forward(self, x: Any) -> Tensor:
        return _as_tensor(x).softmax(axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


def _activation(name: str, op: str, doc: str, **defaults: Any) -> type:
    """An activation Module calling ``Tensor.<op>(**options)``; options are checked when the
    layer is built (a bad value is an error naming the layer and the option)."""
    def __init__(self: Module, *args: Any, **kw: Any) -> None:
        Module.__init__(self)
        if len(args) > len(defaults):
            raise TypeError(f"{name}: takes at most {len(defaults)} options "
                            f"({', '.join(defaults)}), got {len(args)}")
        unknown = sorted(set(kw) - set(defaults))
        if unknown:
            raise TypeError(f"{name}: unknown option {unknown[0]!r} (options: "
                            f"{', '.join(defaults) or 'none'})")
        for k, v in {**defaults, **dict(zip(defaults, args)), **kw}.items():
            if isinstance(defaults[k], float):
                if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
                    raise TypeError(f"{name}: {k}={v!r} is not a number")
                v = float(v)
            setattr(self, k, v)
        try:
            self.forward(Tensor(np.zeros(1)))
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None

    def forward(self: Module, x: Any) -> Tensor:
        return getattr(_as_tensor(x), op)(**{k: getattr(self, k) for k in defaults})

    def extra_repr(self: Module) -> str:
        return ", ".join(f"{k}={getattr(self, k)!r}" for k in defaults)

    return type(name, (Module,), {"__init__": __init__, "forward": forward, "__doc__": doc,
                                  "extra_repr": extra_repr, "__module__": __name__})


GELU = _activation("GELU", "gelu", "``x * Phi(x)``; ``approximate='tanh'``: the tanh form.",
                   approximate="none")
SiLU = _activation("SiLU", "silu", "``x * sigmoid(x)``.")
ELU = _activation("ELU", "elu", "``x if x > 0 else alpha * (exp(x) - 1)``.", alpha=1.0)
SELU = _activation("SELU", "selu", "``scale * elu(x, alpha)`` (self-normalizing; pair with "
                   "``lecun_normal``).")
CELU = _activation("CELU", "celu", "``max(0, x) + min(0, alpha (exp(x/alpha) - 1))``.", alpha=1.0)
Softplus = _activation("Softplus", "softplus", "``log(1 + exp(beta x)) / beta``, linear above "
                       "``threshold``.", beta=1.0, threshold=20.0)
Mish = _activation("Mish", "mish", "``x * tanh(softplus(x))``.")
Hardswish = _activation("Hardswish", "hardswish", "``x * relu6(x + 3) / 6``.")
Hardsigmoid = _activation("Hardsigmoid", "hardsigmoid", "``relu6(x + 3) / 6``.")
ReLU6 = _activation("ReLU6", "relu6", "``min(max(x, 0), 6)``.")
Hardtanh = _activation("Hardtanh", "hardtanh", "``clip(x, min_val, max_val)``.",
                       min_val=-1.0, max_val=1.0)
LogSigmoid = _activation("LogSigmoid", "logsigmoid", "``log(sigmoid(x))``.")
Softsign = _activation("Softsign", "softsign", "``x / (1 + |x|)``.")


class PReLU(Module):
    """``x if x > 0 else a * x`` with a learnable slope ``a``: one (``num_parameters=1``) or
    one per channel (axis 1), initialised to ``init`` (PyTorch's 0.25)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype: Any = None):
        super().__init__()
        n = _count("PReLU", "num_parameters", num_parameters)
        if isinstance(init, bool) or not isinstance(init, (int, float, np.number)):
            raise TypeError(f"PReLU: init={init!r} is not a number")
        self.weight = Parameter(np.full(n, float(init), dtype=dtype or np.float32))

    def forward(self, x: Any) -> Tensor:
        return _as_tensor(x).prelu(self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.weight.shape[0]}"


ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid,
               "softmax": Softmax, "gelu": GELU, "silu": SiLU, "elu": ELU, "selu": SELU,
               "celu": CELU, "softplus": Softplus, "mish": Mish, "hardswish": Hardswish,
               "hardsigmoid": Hardsigmoid, "relu6": ReLU6, "hardtanh": Hardtanh,
               "logsigmoid": LogSigmoid, "softsign": Softsign, "prelu": PReLU}
__all__ += ["GELU", "SiLU", "ELU", "SELU", "CELU", "Softplus", "Mish", "Hardswish", "Hardsigmoid",
            "ReLU6", "Hardtanh", "LogSigmoid", "Softsign", "PReLU", "ACTIVATIONS"]


# Recurrent layers and Embedding live in rnn.py (which imports this module), exported here as
# nn.RNN, nn.GRU, ... on first access, so either module can be imported first.
_RNN_NAMES = ("RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell", "Embedding")
__all__ += list(_RNN_NAMES)


def __getattr__(name: str) -> Any:
    if name in _RNN_NAMES:
        from . import rnn
        return getattr(rnn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
