"""Plugin discovery and the component registry.

Plugins are found through the entry-point group ``tinygrad_init.plugins`` (the
built-ins too), loaded in sorted order, validated one by one and isolated: a
plugin that fails to import or validate (any exception, ``SystemExit`` and
``KeyboardInterrupt`` included) is reported as ``distribution[entry-name]: <error>``
and every other plugin still works. What a plugin prints while it is imported is
captured (``PluginInfo.output``), a slow import is named (``SlowPluginWarning``), and
exceptions from factories and hooks name the plugin, component and hook (:func:`blame`,
:func:`name_hook_errors`).
"""
from __future__ import annotations

import contextlib
import difflib
import inspect
import io
import os
import time
import types
import warnings
import weakref
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Iterable, Mapping

import pluggy

from . import hookspecs

GROUP = "tinygrad_init.plugins"
DISTRIBUTION = "tinygrad-init"
PREFIX = "tinygrad_init_"

# kind -> registration hook; the order is the order of `tinygrad-init plugins`.
KINDS: dict[str, str] = {
    "initializer": "tinygrad_init_add_initializers",
    "data_initializer": "tinygrad_init_add_data_initializers",
    "optimizer": "tinygrad_init_add_optimizers",
    "schedule": "tinygrad_init_add_schedules",
    "norm": "tinygrad_init_add_norms",
    "search_strategy": "tinygrad_init_add_search_strategies",
    "callback": "tinygrad_init_add_callbacks",
    "pruner": "tinygrad_init_add_pruners",
}
HOOK_NAMES = frozenset(n for n in dir(hookspecs) if n.startswith(PREFIX))
LIFECYCLE_HOOKS = frozenset(HOOK_NAMES - set(KINDS.values()))


class PluginError(Exception):
    """A plugin could not be loaded, or a component could not be found or built."""


class FailedToLoadPlugin(PluginError):
    """Raised (strict mode) or recorded for a plugin that failed to load."""

    def __init__(self, plugin_id: str, exc: BaseException):
        self.plugin_id, self.original = plugin_id, exc
        super().__init__(f"{plugin_id}: {type(exc).__name__}: {exc}")


class UnknownComponentError(PluginError, LookupError):
    """No plugin registers a component of that kind and name."""


class DuplicateComponentError(PluginError):
    """Two plugins register the same component name."""


class PluginCodeError(PluginError):
    """Plugin code (a factory, a registration or lifecycle hook, a callback) raised an
    exception that is not one of the user-facing kinds; the message names the plugin,
    the component and the hook, the original exception is ``__cause__``."""


class PluginLoadWarning(UserWarning):
    """Emitted once for each plugin that failed to load (non-strict mode)."""


class SlowPluginWarning(UserWarning):
    """Emitted for a plugin whose import (and registration) took over ``SLOW_IMPORT_SECONDS``."""


SLOW_IMPORT_SECONDS = 1.0
_clock = time.perf_counter  # tests replace it

# Exceptions meant for the user (bad values, unknown names, missing files) and the project's
# own (TrialPruned, ConfigError...) pass through plugin code unchanged, with a note naming where
# they came from; anything else is wrapped in PluginCodeError naming the plugin and the hook.
USER_ERRORS = (ValueError, TypeError, LookupError, OSError)


def blame(exc: BaseException, where: str) -> BaseException:
    """``exc`` raised in plugin code at ``where`` (``"dist[entry]: kind 'name' factory"``):
    itself with a note if it is a user-facing or tinygrad_init error, else a
    :class:`PluginCodeError` naming ``where`` (raise it ``from exc``)."""
    if isinstance(exc, USER_ERRORS) or type(exc).__module__.split(".")[0] == "tinygrad_init":
        note = f"(raised by {where})"
        if note not in getattr(exc, "__notes__", ()):
            exc.add_note(note)
        return exc
    return PluginCodeError(f"{where} raised {type(exc).__name__}: {exc}")


@dataclass
class PluginInfo:
    """What ``tgi.plugins()`` reports of one plugin."""

    name: str  # the entry-point name
    distribution: str
    version: str
    value: str  # the module path the entry point names
    status: str = "loaded"  # "loaded" | "failed" | "blocked"
    error: str | None = None
    components: dict[str, list[str]] = field(default_factory=dict)  # kind -> names
    hooks: list[str] = field(default_factory=list)  # lifecycle hooks implemented at module level
    output: str = ""  # what the plugin printed to stdout while it was imported and registered
    load_seconds: float = 0.0  # import + registration time

    @property
    def id(self) -> str:
        return f"{self.distribution}[{self.name}]"


@dataclass(frozen=True)
class Component:
    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str  # plugin id, distribution[entry-name]


def _env_flag(env: Mapping[str, str], key: str) -> bool:
    return env.get(key, "").strip().lower() not in ("", "0", "false", "no", "off")


def _dist_of(ep: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "<unknown>", ""
    return dist.metadata["Name"] or "<unknown>", dist.version or ""


def _norm_dist(name: str) -> str:
    return name.lower().replace("_", "-")


class PluginRegistry:
    """Loads plugins from entry points and looks components up by kind and name.

    :param entry_points: the entry points to load; default: the installed ones of
        the group ``tinygrad_init.plugins``. Tests pass in-memory ``EntryPoint``s.
    :param env: the environment to read ``TINYGRAD_INIT_*`` switches from
        (default ``os.environ``).
    :param strict: turn plugin failures into errors (default from
        ``TINYGRAD_INIT_STRICT_PLUGINS``).

    Nothing is imported until the first lookup.
    """

    def __init__(self, entry_points: Iterable[metadata.EntryPoint] | None = None,
                 env: Mapping[str, str] | None = None, strict: bool | None = None):
        self._given = None if entry_points is None else list(entry_points)
        self.env = dict(os.environ if env is None else env)
        self.strict = _env_flag(self.env, "TINYGRAD_INIT_STRICT_PLUGINS") if strict is None else strict
        self._loaded = False
        self._infos: list[PluginInfo] = []
        self._components: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        self._duplicates: dict[tuple[str, str], list[str]] = {}
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)

    # ----------------------------------------------------------------- loading
    def _entry_points(self) -> list[metadata.EntryPoint]:
        if self._given is not None:
            eps = self._given
        else:
            eps = list(metadata.entry_points(group=GROUP))
            if not any(_norm_dist(_dist_of(ep)[0]) == DISTRIBUTION for ep in eps):
                raise PluginError(
                    "the package metadata of tinygrad-init is missing, so its built-in plugins "
                    "cannot be found: install the package with `pip install -e .` "
                    "(and again after adding an entry point)")
        if _env_flag(self.env, "TINYGRAD_INIT_DISABLE_PLUGIN_AUTOLOAD"):
            eps = [ep for ep in eps if _norm_dist(_dist_of(ep)[0]) == DISTRIBUTION]
        return sorted(eps, key=lambda ep: (ep.name, _dist_of(ep)[0], ep.value))

    def load(self) -> "PluginRegistry":
        if self._loaded:
            return self
        self._loaded = True
        blocked = {n.strip() for n in self.env.get("TINYGRAD_INIT_DISABLE_PLUGINS", "").split(",") if n.strip()}
        for ep in self._entry_points():
            dist, version = _dist_of(ep)
            info = PluginInfo(ep.name, dist, version, ep.value)
            self._infos.append(info)
            if ep.name in blocked:
                info.status = "blocked"
                continue
            out = io.StringIO()
            t0 = _clock()
            try:
                with contextlib.redirect_stdout(out):  # a print at import must not corrupt --json
                    self._load_one(ep, info)
            except BaseException as exc:  # isolate (SystemExit, KeyboardInterrupt too): record, go on
                self._fail(info, exc)
            finally:
                info.load_seconds, info.output = _clock() - t0, out.getvalue()
            if info.load_seconds > SLOW_IMPORT_SECONDS:
                warnings.warn(f"{info.id}: importing and registering it took {info.load_seconds:.1f} s",
                              SlowPluginWarning, stacklevel=2)
        for (kind, name), owners in sorted(self._duplicates.items()):
            exc = DuplicateComponentError(f"{kind} {name!r} is registered by more than one plugin: "
                                          + " and ".join(owners))
            for info in self._infos:
                if info.id in owners:
                    info.error = (info.error + "; " if info.error else "") + str(exc)
            if self.strict:
                raise exc
            warnings.warn(str(exc), PluginLoadWarning, stacklevel=2)
        return self

    def _fail(self, info: PluginInfo, exc: BaseException) -> None:
        info.status, info.error = "failed", f"{type(exc).__name__}: {exc}"
        info.components.clear()
        for comps in self._components.values():
            for name in [n for n, c in comps.items() if c.plugin == info.id]:
                del comps[name]
        failure = FailedToLoadPlugin(info.id, exc)
        if self.strict:
            raise failure from exc
        warnings.warn(str(failure), PluginLoadWarning, stacklevel=3)

    def _load_one(self, ep: metadata.EntryPoint, info: PluginInfo) -> None:
        plugin = ep.load()
        # A function whose name looks like a hook but matches no spec is a misspelling.
        for attr in dir(plugin):
            if attr.startswith(PREFIX) and attr not in HOOK_NAMES and callable(getattr(plugin, attr)):
                close = difflib.get_close_matches(attr, sorted(HOOK_NAMES), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise PluginError(f"{attr!r} is not a tinygrad_init hook{hint}")
        self.pm.register(plugin, name=info.id)
        try:
            impls = {hc.name: hc for hc in (self.pm.get_hookcallers(plugin) or [])}
            if not impls:
                raise PluginError("it implements no tinygrad_init hook (are the functions marked "
                                  "with @tinygrad_init.hookimpl?)")
            collected: dict[str, dict[str, Callable]] = {}
            for kind, hook in KINDS.items():
                if hook not in impls:
                    continue
                (impl,) = [i for i in impls[hook].get_hookimpls() if i.plugin is plugin]
                try:
                    result = impl.function()
                except Exception as exc:
                    raise PluginCodeError(f"{hook}() raised {type(exc).__name__}: {exc}") from exc
                collected[kind] = self._validate(kind, hook, result)
            info.hooks = sorted(h for h in impls if h in LIFECYCLE_HOOKS)
        except BaseException:
            self.pm.unregister(plugin)
            raise
        for kind, comps in collected.items():
            info.components[kind] = sorted(comps)
            for name, factory in comps.items():
                existing = self._components[kind].get(name)
                if existing is not None:
                    owners = self._duplicates.setdefault((kind, name), [existing.plugin])
                    owners.append(info.id)
                    continue
                self._components[kind][name] = Component(kind, name, factory, info.id)

    @staticmethod
    def _validate(kind: str, hook: str, result: Any) -> dict[str, Callable]:
        if not isinstance(result, dict):
            raise TypeError(f"{hook}() must return a dict of name -> factory, got {type(result).__name__}")
        for name, factory in result.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"{hook}() returned a {kind} name that is not a non-empty string: {name!r}")
            if not callable(factory):
                raise TypeError(f"{hook}() returned a {kind} factory for {name!r} that is not "
                                f"callable: {factory!r}")
        return dict(result)

    # ----------------------------------------------------------------- lookups
    def plugins(self) -> list[PluginInfo]:
        return list(self.load()._infos)

    def components(self, kind: str) -> dict[str, Component]:
        self._check_kind(kind)
        return dict(sorted(self.load()._components[kind].items()))

    def names(self, kind: str) -> list[str]:
        return list(self.components(kind))

    def get(self, kind: str, name: str) -> Component:
        self._check_kind(kind)
        self.load()
        if (kind, name) in self._duplicates:
            raise DuplicateComponentError(f"{kind} {name!r} is registered by more than one plugin: "
                                          + " and ".join(self._duplicates[(kind, name)]))
        comps = self._components[kind]
        if name in comps:
            return comps[name]
        available = sorted(comps)
        close = difflib.get_close_matches(str(name), available, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        failed = [i.id for i in self._infos if i.status == "failed"]
        note = f" (plugins that failed to load: {', '.join(failed)})" if failed else ""
        raise UnknownComponentError(f"unknown {kind.replace('_', ' ')} {name!r}{hint} "
                                    f"Available: {', '.join(available) or '(none)'}{note}")

    def build(self, kind: str, name: str, *args: Any, **hparams: Any) -> Any:
        """Build component ``name`` of ``kind``: ``factory(*args, **hparams)``.

        An unknown hyperparameter is a ``TypeError`` naming the component, the
        keyword and the accepted ones; value errors come from the factory.
        """
        comp = self.get(kind, name)
        check_signature(f"{kind} {name!r}", comp.factory, args, hparams)
        try:
            built = comp.factory(*args, **hparams)
        except Exception as exc:
            err = blame(exc, f"{comp.plugin}: {kind} {name!r} factory")
            if err is exc:
                raise
            raise err from exc
        if kind == "callback":
            _remember_origin(built, (comp.plugin, name))
        return built

    def plugin_id(self, plugin: Any) -> str | None:
        """The id ``dist[entry]`` of a loaded plugin module, or ``None``."""
        name = self.load().pm.get_name(plugin)
        return name if name and any(i.id == name for i in self._infos) else None

    def lifecycle_plugins(self) -> list[Any]:
        """The loaded plugin objects that implement lifecycle hooks at module level."""
        self.load()
        return [self.pm.get_plugin(i.id) for i in self._infos if i.status == "loaded" and i.hooks]

    @staticmethod
    def _check_kind(kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown plugin kind {kind!r}; kinds are: {', '.join(KINDS)}")


def check_signature(what: str, fn: Callable, args: tuple, kwargs: dict) -> None:
    """Raise ``TypeError`` naming ``what`` if ``fn`` does not accept ``args``/``kwargs``."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        params = sig.parameters.values()
        # the positional arguments the host passes (params, num_features, space) are not hyperparameters
        positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        host = set(positional[:len(args)])
        accepted = [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
                    and p.name not in host]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            unknown = [k for k in kwargs if k not in accepted]
            if unknown:
                close = difflib.get_close_matches(unknown[0], accepted, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise TypeError(f"{what}: unknown hyperparameter {unknown[0]!r}{hint}; "
                                f"accepted: {', '.join(accepted) or '(none)'}") from None
        raise TypeError(f"{what}: {exc}") from None


def lifecycle_manager(callbacks: Iterable[Any] = ()) -> pluggy.PluginManager:
    """The hook relay of one training run or search: the installed plugins that implement
    lifecycle hooks at module level, then ``callbacks`` (objects with hookimpl methods)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for plugin in [*get_registry().lifecycle_plugins(), *callbacks]:
        pm.register(plugin)
    name_hook_errors(pm)
    return pm


_origins: "weakref.WeakKeyDictionary[Any, tuple[str, str]]" = weakref.WeakKeyDictionary()


def _remember_origin(obj: Any, origin: tuple[str, str]) -> None:
    """Remember that ``obj`` was built as callback ``origin[1]`` of plugin ``origin[0]``."""
    try:
        _origins[obj] = origin
    except TypeError:  # not weak-referenceable or not hashable: named by its class instead
        pass


def _label(plugin: Any) -> str:
    """How an error names a hook's owner: ``plugin dist[entry]`` (module-level hooks),
    ``'name' (Class) of dist[entry]`` (a callback built by name), else the class."""
    if isinstance(plugin, types.ModuleType):
        return f"plugin {get_registry().plugin_id(plugin) or plugin.__name__}"
    try:
        origin = _origins.get(plugin)
    except TypeError:
        origin = None
    return f"{origin[1]!r} ({type(plugin).__name__}) of {origin[0]}" if origin else type(plugin).__name__


def _raising_impl(exc: BaseException, impls: Iterable[Any]) -> Any:
    """The hook implementation in whose frame ``exc`` was raised (first in the traceback)."""
    impls = list(impls)
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        for impl in impls:
            fn = getattr(impl.function, "__func__", impl.function)
            if getattr(fn, "__code__", None) is frame.f_code and (
                    not hasattr(impl.function, "__self__")
                    or frame.f_locals.get("self", impl.plugin) is impl.plugin):
                return impl
        tb = tb.tb_next
    return None


def name_hook_errors(pm: pluggy.PluginManager) -> None:
    """Make an exception raised by a lifecycle hook name its plugin (``dist[entry]``) or
    callback and the hook, as ``Trainer.fit`` does: re-raised as it is (its type still
    means what it meant), the message prefixed (or a note added)."""
    def after(outcome, hook_name, hook_impls, kwargs):
        exc = outcome.exception
        if exc is None or not isinstance(exc, Exception):
            return
        impl = _raising_impl(exc, hook_impls)
        if impl is not None:
            from .trainer import _name_error  # the one rule for naming a hook's error

            _name_error(exc, _label(impl.plugin), hook_name)

    pm.add_hookcall_monitoring(lambda *a: None, after)


_default: PluginRegistry | None = None


def get_registry() -> PluginRegistry:
    """The process-wide registry, built on first use from the installed entry points."""
    global _default
    if _default is None:
        _default = PluginRegistry()
    return _default


def reset_registry() -> None:
    """Forget the process-wide registry (after installing a plugin in a running process)."""
    global _default
    _default = None


# ----------------------------------------------------------------- public accessors


def initializer(name: Any, **hparams: Any) -> Any:
    """Build initializer ``name`` (``"xavier_uniform"``...) with ``hparams``.

    An initializer object (anything callable) is returned as it is, so layers
    accept a name or an object for ``weight_init=``/``bias_init=``.
    """
    if not isinstance(name, str):
        if hparams or not callable(name):
            raise TypeError(f"initializer must be a name or an initializer object, got {name!r}")
        return name
    return get_registry().build("initializer", name, **hparams)


def data_initializer(name: str, **hparams: Any) -> Any:
    """Build data-dependent initializer ``name``: ``apply(model, x, rng=...) -> report``."""
    return get_registry().build("data_initializer", name, **hparams)


def optimizer(name: str, params: Any, **hparams: Any) -> Any:
    """Build optimizer ``name`` over ``params`` (tensors or parameter-group dicts)."""
    return get_registry().build("optimizer", name, params, **hparams)


def schedule(name: Any, **hparams: Any) -> Any:
    """Build schedule ``name``; a callable is returned as it is."""
    if not isinstance(name, str):
        if hparams or not callable(name):
            raise TypeError(f"schedule must be a name or a callable step -> lr, got {name!r}")
        return name
    return get_registry().build("schedule", name, **hparams)


def norm(name: str, num_features: int, **hparams: Any) -> Any:
    """Build normalization layer ``name`` over ``num_features`` channels."""
    return get_registry().build("norm", name, num_features, **hparams)


def search_strategy(name: str, space: Any, seed: int | None = None, **hparams: Any) -> Any:
    """Build search strategy ``name`` over ``space``, seeded with ``seed``."""
    return get_registry().build("search_strategy", name, space, seed=seed, **hparams)


def pruner(name: str, **hparams: Any) -> Any:
    """Build search pruner ``name`` (``prune(study, trial) -> bool``) with ``hparams``."""
    return get_registry().build("pruner", name, **hparams)


def callback(name: str, **hparams: Any) -> Any:
    """Build callback ``name`` (a lifecycle-hook object) with ``hparams``."""
    return get_registry().build("callback", name, **hparams)


def plugins() -> list[PluginInfo]:
    """What is installed: every plugin, its components by kind, distribution,
    version and load status (``loaded``, ``failed`` with the reason, ``blocked``)."""
    return get_registry().plugins()


def available(kind: str) -> list[str]:
    """The sorted names of every component of ``kind``."""
    return get_registry().names(kind)
