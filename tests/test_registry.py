"""Discovery, isolation and lookup, with in-memory entry points (DESIGN: "Registry behaviour")."""
import sys
import types
import warnings
from importlib.metadata import EntryPoint

import pytest

import tinygrad_init as tgi
from tinygrad_init import hookimpl
from tinygrad_init.registry import (GROUP, DuplicateComponentError, FailedToLoadPlugin,
                                    PluginLoadWarning, PluginRegistry, UnknownComponentError)


class FakeDist:
    def __init__(self, name, version="1.0"):
        self.metadata = {"Name": name}
        self.version = version


def entry_point(name, module, dist="third-party"):
    ep = EntryPoint(name, module, GROUP)
    vars(ep).update(dist=FakeDist(dist))  # what importlib.metadata does for installed ones
    return ep


def make_module(monkeypatch, modname, **attrs):
    mod = types.ModuleType(modname)
    for k, v in attrs.items():
        setattr(mod, k, v)
    monkeypatch.setitem(sys.modules, modname, mod)
    return mod


def initializers(**factories):
    @hookimpl
    def tinygrad_init_add_initializers():
        return factories
    return tinygrad_init_add_initializers


def ones_factory(value=1.0):
    return lambda shape, rng, dtype=None: value


@pytest.fixture
def good(monkeypatch):
    make_module(monkeypatch, "fake_good", tinygrad_init_add_initializers=initializers(one=ones_factory))
    return entry_point("good", "fake_good")


def load(eps, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginLoadWarning)
        reg = PluginRegistry(eps, env=kw.pop("env", {}), **kw)
        reg.load()
    return reg


def test_good_plugin_is_found_and_built(good):
    reg = load([good])
    assert reg.names("initializer") == ["one"]
    assert reg.build("initializer", "one", value=3.0)((2,), None) == 3.0
    (info,) = reg.plugins()
    assert (info.id, info.status, info.components) == ("third-party[good]", "loaded", {"initializer": ["one"]})


def test_nothing_is_imported_before_first_use(monkeypatch):
    imported = []

    class Finder:
        def find_spec(self, name, path=None, target=None):
            if name == "never_imported_yet":
                imported.append(name)
            return None
    monkeypatch.setattr(sys, "meta_path", [Finder(), *sys.meta_path])
    reg = PluginRegistry([entry_point("lazy", "never_imported_yet")], env={})
    assert imported == []
    with pytest.warns(PluginLoadWarning, match=r"third-party\[lazy\]: ModuleNotFoundError"):
        reg.load()
    assert imported == ["never_imported_yet"]


def broken_modules(monkeypatch):
    """One module for each way a third-party plugin can be broken."""
    class Boom:
        def __getattr__(self, name):
            raise RuntimeError("boom at import")
    make_module(monkeypatch, "fake_nohooks", helper=lambda: None)

    @hookimpl
    def tinygrad_init_add_initializers():
        return ["not", "a", "dict"]
    make_module(monkeypatch, "fake_nondict", tinygrad_init_add_initializers=tinygrad_init_add_initializers)
    make_module(monkeypatch, "fake_noncallable", tinygrad_init_add_initializers=initializers(bad=42))

    @hookimpl
    def tinygrad_init_add_initialisers():
        return {"x": ones_factory}
    make_module(monkeypatch, "fake_misspelled", tinygrad_init_add_initialisers=tinygrad_init_add_initialisers)
    return [
        entry_point("raises", "fake_raises_on_import_xyz", dist="broken-dist"),
        entry_point("nohooks", "fake_nohooks", dist="broken-dist"),
        entry_point("nondict", "fake_nondict", dist="broken-dist"),
        entry_point("noncallable", "fake_noncallable", dist="broken-dist"),
        entry_point("misspelled", "fake_misspelled", dist="broken-dist"),
    ]


def test_every_broken_plugin_is_isolated_and_reported(monkeypatch, good):
    eps = broken_modules(monkeypatch) + [good]
    with pytest.warns(PluginLoadWarning) as record:
        reg = PluginRegistry(eps, env={}).load()
    assert len(record) == 5
    infos = {i.name: i for i in reg.plugins()}
    assert infos["good"].status == "loaded"
    assert reg.build("initializer", "one")((1,), None) == 1.0
    failed = {n: i.error for n, i in infos.items() if i.status == "failed"}
    assert set(failed) == {"raises", "nohooks", "nondict", "noncallable", "misspelled"}
    assert "ModuleNotFoundError" in failed["raises"]
    assert "implements no tinygrad_init hook" in failed["nohooks"]
    assert "must return a dict" in failed["nondict"] and "got list" in failed["nondict"]
    assert "not callable" in failed["noncallable"] and "'bad'" in failed["noncallable"]
    assert "tinygrad_init_add_initializers" in failed["misspelled"]  # the did-you-mean
    assert all(infos[n].id == f"broken-dist[{n}]" for n in failed)
    assert str(record[0].message).startswith("broken-dist[")


def test_module_raising_at_import_keeps_the_original_exception(tmp_path, monkeypatch, good):
    (tmp_path / "fake_explodes_at_import.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = load([entry_point("explodes", "fake_explodes_at_import"), good])
    infos = {i.name: i for i in reg.plugins()}
    assert infos["explodes"].status == "failed"
    assert infos["explodes"].error == "RuntimeError: boom at import"
    assert infos["good"].status == "loaded"
    with pytest.raises(FailedToLoadPlugin) as info:
        PluginRegistry([entry_point("explodes", "fake_explodes_at_import")], env={}, strict=True).load()
    assert isinstance(info.value.original, RuntimeError)
    assert str(info.value) == "third-party[explodes]: RuntimeError: boom at import"


def test_strict_mode_turns_failure_into_error(monkeypatch, good):
    eps = broken_modules(monkeypatch)[:1] + [good]
    with pytest.raises(FailedToLoadPlugin, match=r"broken-dist\[raises\]: ModuleNotFoundError") as info:
        PluginRegistry(eps, env={"TINYGRAD_INIT_STRICT_PLUGINS": "1"}).load()
    assert isinstance(info.value.original, ModuleNotFoundError)


def test_duplicate_name_is_an_error_naming_both_plugins(monkeypatch, good):
    make_module(monkeypatch, "fake_dup", tinygrad_init_add_initializers=initializers(
        one=ones_factory, two=ones_factory))
    reg = load([good, entry_point("dup", "fake_dup", dist="other-dist")])
    with pytest.raises(DuplicateComponentError, match=r"other-dist\[dup\] and third-party\[good\]"):
        reg.get("initializer", "one")
    assert reg.build("initializer", "two")((1,), None) == 1.0  # the rest of both plugins works
    assert all("more than one plugin" in i.error for i in reg.plugins())
    with pytest.raises(DuplicateComponentError):
        PluginRegistry([good, entry_point("dup", "fake_dup")], env={}, strict=True).load()


def test_unknown_name_lists_available_and_closest(good):
    reg = load([good])
    with pytest.raises(UnknownComponentError, match=r"unknown initializer 'onee'; did you mean 'one'\? Available: one"):
        reg.get("initializer", "onee")
    with pytest.raises(ValueError, match="unknown plugin kind 'initialiser'"):
        reg.get("initialiser", "one")


def test_unknown_hyperparameter_names_component_and_keyword(good):
    reg = load([good])
    with pytest.raises(TypeError, match=r"initializer 'one': unknown hyperparameter 'valeu' \(did you mean 'value'\?\); accepted: value"):
        reg.build("initializer", "one", valeu=2)


def test_discovery_is_sorted(monkeypatch):
    for m in ("fake_b", "fake_a", "fake_c"):
        make_module(monkeypatch, m, tinygrad_init_add_initializers=initializers(**{m: ones_factory}))
    eps = [entry_point(m[-1], m) for m in ("fake_b", "fake_c", "fake_a")]
    assert [i.name for i in load(eps).plugins()] == ["a", "b", "c"]
    assert load(eps).names("initializer") == ["fake_a", "fake_b", "fake_c"]


def test_blocking_by_name_and_disabling_autoload(monkeypatch, good):
    make_module(monkeypatch, "fake_own", tinygrad_init_add_initializers=initializers(own=ones_factory))
    own = entry_point("own", "fake_own", dist="tinygrad-init")
    reg = load([good, own], env={"TINYGRAD_INIT_DISABLE_PLUGINS": " good , x"})
    assert {i.name: i.status for i in reg.plugins()} == {"good": "blocked", "own": "loaded"}
    assert reg.names("initializer") == ["own"]
    reg = load([good, own], env={"TINYGRAD_INIT_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert [i.name for i in reg.plugins()] == ["own"]


def test_lifecycle_plugins_are_listed(monkeypatch, good):
    seen = []

    @hookimpl
    def tinygrad_init_epoch_end(epoch):
        seen.append(epoch)
    mod = make_module(monkeypatch, "fake_observer", tinygrad_init_epoch_end=tinygrad_init_epoch_end)
    reg = load([good, entry_point("observer", "fake_observer")])
    assert reg.lifecycle_plugins() == [mod]
    assert {i.name: i.hooks for i in reg.plugins()}["observer"] == ["tinygrad_init_epoch_end"]


def test_installed_metadata_lists_every_builtin():
    """Integration: the real installed entry points (pip install -e .) carry every built-in."""
    import tomllib
    from pathlib import Path
    declared = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())[
        "project"]["entry-points"][GROUP]
    infos = {i.name: i for i in tgi.plugins() if i.distribution == "tinygrad-init"}
    assert set(infos) == set(declared)
    bad = {n: i.error for n, i in infos.items() if i.status != "loaded"}
    assert bad == {}


def test_accessors_pass_objects_through():
    def init(shape, rng, dtype=None):
        return 0
    assert tgi.initializer(init) is init
    with pytest.raises(TypeError, match="initializer must be a name"):
        tgi.initializer(3)


def test_every_hook_spec_is_documented():
    from tinygrad_init import hookspecs
    from tinygrad_init.registry import HOOK_NAMES
    assert len(HOOK_NAMES) == 15
    for name in HOOK_NAMES:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert "firstresult" in doc and (":return:" in doc or ":param" in doc), name
