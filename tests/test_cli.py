"""The command line: plugins listing, --help everywhere, train configs and their errors."""
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from tinygrad_init.cli import build_parser, main
from tinygrad_init.experiment import ConfigError, load_config

ROOT = Path(__file__).parents[1]


def run_cli(args, monkeypatch=None, env=None):
    console = Console(width=200, force_terminal=False)
    if env:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
    with console.capture() as cap:
        code = main(args, console=console)
    return code, cap.get()


def test_help_on_every_subcommand():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == {"plugins", "demo", "train", "search"}
    for name in sub.choices:
        res = subprocess.run([sys.executable, "-m", "tinygrad_init", name, "--help"],
                             capture_output=True, text=True)
        assert res.returncode == 0 and "usage: tinygrad-init" in res.stdout, name


def test_console_script_and_module_agree():
    exe = Path(sys.executable).with_name("tinygrad-init")
    a = subprocess.run([str(exe), "plugins", "--json"], capture_output=True, text=True)
    b = subprocess.run([sys.executable, "-m", "tinygrad_init", "plugins", "--json"], capture_output=True, text=True)
    assert a.returncode == b.returncode == 0 and a.stdout == b.stdout and '"status": "loaded"' in a.stdout


def test_a_broken_plugin_is_listed_in_red_and_fails_only_in_strict_mode(monkeypatch, tmp_path):
    """A broken entry point, installed through real metadata (a .dist-info on sys.path)."""
    dist = tmp_path / "broken_dist-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-dist\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tinygrad_init.plugins]\nbroken = no_such_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out = run_cli(["plugins"])
    assert code == 0
    assert "broken-dist[broken]" in out and "failed" in out and "ModuleNotFoundError" in out
    assert "tinygrad-init[optim_adam]" in out  # everything else still listed
    code, out = run_cli(["plugins", "--strict"])
    assert code == 1
    code, _ = run_cli(["plugins"], monkeypatch, {"TINYGRAD_INIT_STRICT_PLUGINS": "1"})
    assert code == 1


CONFIG = """
[data]
name = "moons"
n_samples = 120
[model]
layers = [{type = "linear", out = 16}, {type = "relu"}, {type = "linear", out = 2}]
weight_init = "kaiming_normal"
[optimizer]
name = "adam"
lr = 0.01
[train]
epochs = 3
batch_size = 16
[output]
loggers = []
"""


def write(tmp_path, text=CONFIG):
    p = tmp_path / "exp.toml"
    p.write_text(text)
    return p


def test_train_runs_a_config_with_overrides_and_checkpoints(tmp_path, capsys):
    import json
    cfg = write(tmp_path, CONFIG.replace("loggers = []", f'loggers = ["rich_logger"]\ndir = "{tmp_path / "run"}"'))
    code, out = run_cli(["train", str(cfg), "--set", "train.epochs=2", "--set", "model.layers.0.out=8", "--json"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert json.loads(out)["epochs"] == 2  # stdout is the JSON alone; the log went to stderr
    assert "epoch   2/2" in err and "epoch" not in out.replace('"epoch', "")
    assert (tmp_path / "run" / "checkpoint.npz").exists()
    resume = ["--resume", str(tmp_path / "run" / "checkpoint.npz")]
    code, out = run_cli(["train", str(cfg), "--set", "train.epochs=4", "--json", *resume])
    err = capsys.readouterr().err
    assert code == 1 and out == "" and "is from another model" in err  # without the same layer override
    assert "0.weight: the checkpoint has shape (8, 2), the model has (16, 2)" in " ".join(err.split())
    code, out = run_cli(["train", str(cfg), "--set", "train.epochs=4", "--set", "model.layers.0.out=8",
                         "--json", *resume])
    assert code == 0 and json.loads(out)["epochs"] == 4 and "resuming after epoch 2" in capsys.readouterr().err


@pytest.mark.parametrize("override, message", [
    ("train.epochs='ten'", "config field 'train.epochs': 'ten' is invalid; must be an integer"),
    ("train.epochs=0", "'train.epochs': 0 is invalid; must be an integer >= 1"),
    ("data.name='mnist'", "'data.name': 'mnist' is invalid; allowed: digits, moons, spirals, blobs, idx"),
    ("train.epoch=3", "'train.epoch': 3 is invalid; the fields of [train] are: epochs"),
    ("model.layers.1.type='relu7'", "'model.layers.1'"),
    ("data.val_fraction=1.5", "'data.val_fraction': 1.5 is invalid; must be between 0 and 1"),
    ("schedule.unit='batch'", "allowed: epoch, step"),
    ("trian.epochs=3", "(did you mean 'train'?)"),
])
def test_config_errors_name_field_value_and_allowed(tmp_path, override, message):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path), [override])
    assert message in str(info.value)


def test_unknown_components_and_hyperparameters_are_named(tmp_path):
    code, out = run_cli(["train", str(write(tmp_path)), "--set", "optimizer.name='adamm'"])
    assert code == 1 and "unknown optimizer 'adamm'; did you mean 'adam'?" in out
    code, out = run_cli(["train", str(write(tmp_path)), "--set", "optimizer.betas1=0.5"])
    assert code == 1 and "unknown hyperparameter 'betas1'" in out
    code, out = run_cli(["train", str(tmp_path / "missing.toml")])
    assert code == 1 and "does not exist" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\nname=1")
    code, out = run_cli(["train", str(bad)])
    assert code == 1 and "not valid TOML" in out


def test_every_example_config_is_valid():
    import tomllib
    from tinygrad_init.search import cli as search_cli
    configs = sorted((ROOT / "examples" / "configs").glob("*.toml"))
    assert configs
    for path in configs:
        if "search" in tomllib.loads(path.read_text()):
            search_cli.resolve(search_cli.load_config(str(path)), str(path))
        else:
            load_config(path)


def test_set_follows_toml_key_rules_including_quoted_dots():
    from tinygrad_init.experiment import set_field
    cfg = {"space": {"optimizer.lr": {"hi": 1.0}}, "model": {"layers": [{"out": 3}]}}
    set_field(cfg, 'space."optimizer.lr".hi=0.1')
    set_field(cfg, "model.layers.0.out=64")
    set_field(cfg, "train.epochs=2")
    assert cfg == {"space": {"optimizer.lr": {"hi": 0.1}}, "model": {"layers": [{"out": 64}]},
                   "train": {"epochs": 2}}
    with pytest.raises(ConfigError, match="not a valid key path"):
        set_field(cfg, "a..b=1")


def test_search_train_objective_applies_its_set_overrides(tmp_path):
    from tinygrad_init.experiment import run as run_experiment
    from tinygrad_init.search import run
    from tinygrad_init.search.cli import TrainObjective
    from tinygrad_init.search.space import Space, Uniform
    cfg = write(tmp_path)
    objective = TrainObjective(str(cfg), set=["train.epochs=1", "train.batch_size=32"])
    study = run(objective, Space({"optimizer.lr": Uniform(0.01, 0.02)}), strategy="random",
                n_trials=1, storage=None, seed=0)
    (trial,) = study.trials
    expected, _ = run_experiment(cfg, ["train.epochs=1", "train.batch_size=32",
                                       f"optimizer.lr={trial.params['optimizer.lr']!r}"])
    assert len(expected) == 1 and trial.value == expected.last["val_loss"]
    with pytest.raises(ValueError, match="must be a list of 'key=value' strings"):
        TrainObjective(str(cfg), set="train.epochs=1")


def test_demo_command_runs_the_initializer_comparison(tmp_path):
    code, out = run_cli(["demo", "--epochs", "2", "--plot", str(tmp_path / "d.png")])
    assert code == 0
    for label in ("zeros", "randn*10", "he", "xavier", "test acc", "dead ReLUs per layer"):
        assert label in out
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
