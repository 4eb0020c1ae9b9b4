"""Discovery, isolation and lookup, with in-memory entry points (DESIGN: "Registry behaviour")."""
import sys
import types
import warnings
from importlib.metadata import EntryPoint

import numpy as np
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
    assert len(HOOK_NAMES) == 20
    for name in HOOK_NAMES:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert "firstresult" in doc and (":return:" in doc or ":param" in doc), name


# ------------------------------------------------ reliability of loading (issue 20 item 4)
import json  # noqa: E402

from rich.console import Console  # noqa: E402

from tinygrad_init import registry  # noqa: E402
from tinygrad_init.cli import main  # noqa: E402
from tinygrad_init.registry import PluginCodeError, SlowPluginWarning, lifecycle_manager  # noqa: E402


def module_file(tmp_path, monkeypatch, name, source):
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return entry_point(name.removeprefix("fake_"), name)


@pytest.mark.parametrize("raise_it, shown", [
    ("raise SystemExit(3)", "SystemExit: 3"),
    ("raise KeyboardInterrupt('ctrl-c at import')", "KeyboardInterrupt: ctrl-c at import"),
    ("class Odd(BaseException): pass\nraise Odd('odd')", "Odd: odd"),
])
def test_base_exceptions_at_import_are_recorded_like_any_failure(tmp_path, monkeypatch, good, raise_it, shown):
    ep = module_file(tmp_path, monkeypatch, "fake_base_exc", raise_it + "\n")
    reg = load([ep, good])
    infos = {i.name: i for i in reg.plugins()}
    assert (infos["base_exc"].status, infos["base_exc"].error) == ("failed", shown)
    assert reg.names("initializer") == ["one"]  # the others still work
    with pytest.raises(FailedToLoadPlugin, match=r"third-party\[base_exc\]: " + shown.split(":")[0]):
        PluginRegistry([ep], env={}, strict=True).load()


PRINTS = """
print("hello from the plugin's import")
import tinygrad_init
@tinygrad_init.hookimpl
def tinygrad_init_add_initializers():
    print("and from its hook")
    return {"chatty": lambda shape, rng, dtype=None: 0}
"""


def installed(tmp_path, monkeypatch, modules: dict, dist="chatty-dist"):
    """Modules plus a .dist-info declaring them as entry points: found through real metadata."""
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(source)
    info = tmp_path / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[tinygrad_init.plugins]\n" + "".join(f"{n} = {n}\n" for n in modules))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_default", None)  # the process-wide registry sees them


def test_a_plugin_printing_at_import_does_not_corrupt_json(tmp_path, monkeypatch, capsys):
    installed(tmp_path, monkeypatch, {"chatty_plugin": PRINTS})
    assert main(["plugins", "--json"], console=Console(width=200)) == 0
    out = capsys.readouterr().out
    rows = {r["plugin"]: r for r in json.loads(out)}  # the whole output is JSON
    row = rows["chatty-dist[chatty_plugin]"]
    assert row["status"] == "loaded"
    assert row["output"] == "hello from the plugin's import\nand from its hook\n"
    monkeypatch.delitem(sys.modules, "chatty_plugin")  # imported afresh: it prints again
    assert main(["plugins"], console=Console(width=250)) == 0
    assert "printed at import: \"hello from the plugin's import\\nand from its hook\"" in capsys.readouterr().out


def test_a_plugin_slow_to_import_is_named(monkeypatch, good):
    ticks = iter([0.0, 1.75])
    monkeypatch.setattr(registry, "_clock", lambda: next(ticks))
    with pytest.warns(SlowPluginWarning, match=r"third-party\[good\]: importing and registering it took 1\.8 s"):
        reg = PluginRegistry([good], env={}).load()
    assert reg.plugins()[0].load_seconds == 1.75
    ticks = iter([0.0, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowPluginWarning)
        PluginRegistry([good], env={}).load()  # under a second: no warning


def test_the_plugins_table_names_a_slow_plugin(tmp_path, monkeypatch):
    slow = "import tinygrad_init.registry as r\nr._test_now += 2.5  # this import 'takes' 2.5 s\n" + PRINTS
    installed(tmp_path, monkeypatch, {"slow_plugin": slow})
    monkeypatch.setattr(registry, "_test_now", 0.0, raising=False)
    monkeypatch.setattr(registry, "_clock", lambda: registry._test_now)
    console = Console(width=250, force_terminal=False)
    with console.capture() as cap:
        assert main(["plugins"], console=console) == 0
    (line,) = [ln for ln in cap.get().splitlines() if "slow import" in ln]
    assert "slow import: 2.5 s" in line


def raising_module(monkeypatch, error):
    def factory(**hp):
        raise error

    @hookimpl
    def tinygrad_init_add_initializers():
        return {"boom": factory}

    @hookimpl
    def tinygrad_init_epoch_end(epoch):
        raise error

    @hookimpl
    def tinygrad_init_add_callbacks():
        return {"bomb": Bomb}
    make_module(monkeypatch, "fake_raising", tinygrad_init_add_initializers=tinygrad_init_add_initializers,
                tinygrad_init_add_callbacks=tinygrad_init_add_callbacks)
    make_module(monkeypatch, "fake_raising_hook", tinygrad_init_epoch_end=tinygrad_init_epoch_end)
    return [entry_point("raising", "fake_raising"), entry_point("raising_hook", "fake_raising_hook")]


class Bomb:
    error = RuntimeError("kaput")

    @hookimpl
    def tinygrad_init_train_start(self, trainer):
        raise self.error


def test_a_raising_factory_names_plugin_and_component(monkeypatch):
    reg = load(raising_module(monkeypatch, RuntimeError("kaput")))
    with pytest.raises(PluginCodeError, match=r"^third-party\[raising\]: initializer 'boom' factory raised "
                                              r"RuntimeError: kaput$") as info:
        reg.build("initializer", "boom")
    assert isinstance(info.value.__cause__, RuntimeError)
    reg = load(raising_module(monkeypatch, ValueError("boom: scale=-1 is invalid")))
    with pytest.raises(ValueError, match="scale=-1 is invalid") as info:  # a value error stays one
        reg.build("initializer", "boom")
    assert info.value.__notes__ == ["(raised by third-party[raising]: initializer 'boom' factory)"]


def test_a_raising_hook_names_plugin_component_and_hook(monkeypatch):
    reg = load(raising_module(monkeypatch, ZeroDivisionError("division by zero")))
    monkeypatch.setattr(registry, "_default", reg)
    pm = lifecycle_manager([])  # the hook relay of a search (Trainer.fit names its own the same way)
    with pytest.raises(ZeroDivisionError, match=r"^callback plugin third-party\[raising_hook\], hook "
                                                r"tinygrad_init_epoch_end: division by zero$"):
        pm.hook.tinygrad_init_epoch_end(trainer=None, epoch=0, logs={})
    bomb, plain = tgi.callback("bomb"), Bomb()
    monkeypatch.setattr(registry, "_default", PluginRegistry([], env={}).load())  # no module hooks
    with pytest.raises(RuntimeError, match=r"^callback 'bomb' \(Bomb\) of third-party\[raising\], hook "
                                           r"tinygrad_init_train_start: kaput$"):
        lifecycle_manager([plain, bomb]).hook.tinygrad_init_train_start(trainer=None, history=None, epochs=1)
    plain.error = KeyError("monitor 'val_acc' is not among the epoch metrics")
    with pytest.raises(KeyError, match="callback Bomb, hook tinygrad_init_train_start: monitor 'val_acc'"):
        lifecycle_manager([plain]).hook.tinygrad_init_train_start(trainer=None, history=None, epochs=1)
    plain.error = OSError(28, "No space left on device")
    with pytest.raises(OSError) as info:  # not a one-string error: named in a note
        lifecycle_manager([plain]).hook.tinygrad_init_train_start(trainer=None, history=None, epochs=1)
    assert info.value.__notes__ == ["raised by callback Bomb, hook tinygrad_init_train_start"]


def test_a_raising_registration_hook_names_the_hook(monkeypatch):
    @hookimpl
    def tinygrad_init_add_norms():
        raise AttributeError("module has no attribute 'BatchNorm'")
    make_module(monkeypatch, "fake_bad_norms", tinygrad_init_add_norms=tinygrad_init_add_norms)
    (info,) = load([entry_point("bad_norms", "fake_bad_norms")]).plugins()
    assert info.error == ("PluginCodeError: tinygrad_init_add_norms() raised AttributeError: "
                          "module has no attribute 'BatchNorm'")


DUPLICATE_ADAM = """
import tinygrad_init
@tinygrad_init.hookimpl
def tinygrad_init_add_optimizers():
    return {"adam": lambda params, lr=0.1: None}
"""
TRAIN = """
[data]
name = "moons"
n_samples = 40
[model]
layers = [{type = "linear", out = 2}]
[optimizer]
name = "adam"
[train]
epochs = 1
[output]
loggers = []
"""


def cli_line(args):
    console = Console(width=400, force_terminal=False)
    with console.capture() as cap:
        code = main(args, console=console)
    return code, cap.get()


def test_duplicate_and_strict_failures_reach_the_cli_as_one_line_errors(tmp_path, monkeypatch):
    installed(tmp_path, monkeypatch, {"dup_adam": DUPLICATE_ADAM, "broken_at_import": "raise SystemExit(2)\n"})
    (tmp_path / "exp.toml").write_text(TRAIN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginLoadWarning)
        code, out = cli_line(["train", str(tmp_path / "exp.toml")])
    assert code == 1 and out.count("\n") == 1
    assert out.startswith("error: optimizer 'adam' is registered by more than one plugin: ")
    assert "chatty-dist[dup_adam]" in out and "tinygrad-init[optim_adam]" in out
    monkeypatch.setattr(registry, "_default", None)
    monkeypatch.setenv("TINYGRAD_INIT_STRICT_PLUGINS", "1")
    code, out = cli_line(["train", str(tmp_path / "exp.toml")])
    assert (code, out) == (1, "error: chatty-dist[broken_at_import]: SystemExit: 2\n")


def test_accepted_hyperparameters_omit_what_the_host_passes():
    p = tgi.Tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(TypeError, match=r"accepted: lr, momentum") as info:
        tgi.optimizer("sgd", [p], lrr=0.1)
    assert "params" not in str(info.value)
    with pytest.raises(TypeError) as info:
        tgi.norm("batch_norm", 3, epss=1e-5)
    assert "num_features" not in str(info.value) and "accepted: eps" in str(info.value)


def test_dir_lists_the_lazily_loaded_public_names():
    import subprocess
    code = "import tinygrad_init, sys; print(' '.join(dir(tinygrad_init))); print('tinygrad_init.tensor' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    names = set(out[0].split())
    assert {"Tensor", "Trainer", "nn", "F", "optimizer", "search", "testing", "Schedule"} <= names
    assert set(tgi.__all__) <= names
    assert out[1] == "False"  # listing them imports nothing


def test_a_callback_raising_during_fit_is_named(monkeypatch):
    from tinygrad_init import nn
    from tinygrad_init.trainer import Trainer

    class Bomb:
        @hookimpl
        def tinygrad_init_epoch_end(self, epoch):
            raise ZeroDivisionError("division by zero")
    model = nn.Sequential(nn.Linear(2, 2, rng=np.random.default_rng(0)))
    trainer = Trainer(model, optimizer="sgd", callbacks=[Bomb()])
    X, y = np.random.default_rng(1).standard_normal((8, 2)), np.array([0, 1] * 4)
    with pytest.raises(ZeroDivisionError, match=r"^callback callbacks\[0\] \(Bomb\), hook "
                                                r"tinygrad_init_epoch_end: division by zero$"):
        trainer.fit((X, y), epochs=1, batch_size=4)  # the trainer names the callback and hook
