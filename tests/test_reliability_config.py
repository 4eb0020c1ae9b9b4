"""Config and command-line mistakes are errors naming the field (with did-you-mean), never a
run that silently ignores them, a raw NumPy traceback or a silently replaced earlier run."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from rich.console import Console

import tinygrad_init as tgi
from tinygrad_init import experiment, nn
from tinygrad_init.cli import main
from tinygrad_init.experiment import ConfigError, load_config, set_field
from tinygrad_init.trainer import History, Trainer

CONFIG = """
[data]
name = "moons"
n_samples = 120
[model]
layers = [{type = "linear", out = 8}, {type = "relu"}, {type = "linear", out = 2}]
[optimizer]
name = "sgd"
lr = 0.1
[train]
epochs = 2
batch_size = 16
[output]
loggers = []
"""


def write(tmp_path, text=CONFIG, extra=""):
    p = tmp_path / "exp.toml"
    p.write_text(text + extra)
    return p


def run_cli(args):
    console = Console(width=300, force_terminal=False)
    with console.capture() as cap:
        code = main(args, console=console)
    return code, cap.get()


def error(tmp_path, extra="", overrides=(), text=CONFIG):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text, extra), list(overrides))
    return str(info.value)


# --------------------------------------------------------------- issue 20 item 3: nothing ignored


@pytest.mark.parametrize("extra, field, hint", [
    ('[schedule]\nlr0 = 0.1\ngamma = 0.9\n', "schedule.lr0", "[schedule] needs a 'name'"),
    ('[schedule]\nnmae = "exponential"\ngamma = 0.9\n', "schedule.nmae", "(did you mean 'name'?)"),
    ('[schedule]\nunit = "step"\n', "schedule.unit", "[schedule] needs a 'name'"),
    ('[callbacks]\nname = "early_stopping"\n', "callbacks", "write [[callbacks]]"),
])
def test_section_mistakes_are_named(tmp_path, extra, field, hint):
    msg = error(tmp_path, extra)
    assert f"config field {field!r}" in msg and hint in msg


@pytest.mark.parametrize("layer, field, hint", [
    ('{type = "dropout", rate = 0.1}', "model.layers.1.rate", "dropout layers take p"),
    ('{type = "linear", outt = 4}', "model.layers.1.outt", "(did you mean 'out'?)"),
    ('{type = "relu", inplace = true}', "model.layers.1.inplace", "relu layers take no other field"),
    ('{type = "flatten", start_dim = 2}', "model.layers.1.start_dim", "flatten layers take no other field"),
    ('{type = "leaky_relu", slope = 0.2}', "model.layers.1.slope", "(did you mean 'negative_slope'?)"),
    ('{type = "maxpool2d", kernel = 2, strde = 2}', "model.layers.1.strde", "(did you mean 'stride'?)"),
    ('{type = "reluu"}', "model.layers.1", "(did you mean 'relu'?)"),
])
def test_unknown_keys_on_layers_are_named_with_did_you_mean(tmp_path, layer, field, hint):
    text = CONFIG.replace('{type = "relu"}', layer)
    msg = error(tmp_path, text=text)
    assert f"config field {field!r}" in msg and hint in msg


def test_plot_without_output_dir_is_refused(tmp_path):
    msg = error(tmp_path, overrides=["output.plot=true"])
    assert "'output.plot'" in msg and "output.dir, which is not set" in msg


@pytest.mark.parametrize("override, field", [
    ("data.images=true", "data.images"),      # moons has no images
    ("data.noise=0.1", None),                  # moons takes noise: fine
    ("data.path='x.idx'", "data.path"),
])
def test_data_fields_a_data_set_does_not_take_are_refused(tmp_path, override, field):
    if field is None:
        load_config(write(tmp_path), [override])
        return
    msg = error(tmp_path, overrides=[override])
    assert f"config field {field!r}" in msg and "data set 'moons' does not take it" in msg


def test_blobs_refuse_noise_and_digits_refuse_n_samples(tmp_path):
    assert "'data.noise'" in error(tmp_path, overrides=["data.name='blobs'", "data.noise=0.3"])
    assert "'data.n_samples'" in error(tmp_path, overrides=["data.name='digits'"])


# --------------------------------------------------------------- issue 20 item 7 (config / CLI parts)


@pytest.mark.parametrize("field", ["data.seed", "model.seed", "train.seed"])
def test_negative_and_string_seeds_name_the_field(tmp_path, field):
    msg = error(tmp_path, overrides=[f"{field}=-1"])
    assert f"config field {field!r}: -1 is invalid; a seed must be an integer >= 0" in msg
    msg = error(tmp_path, overrides=[f"{field}='a'"])
    assert f"config field {field!r}: 'a' is invalid; must be an integer" in msg


IMAGES = """
[data]
name = "digits"
images = true
[model]
layers = [{type = "conv2d", out = 4, kernel = 3, padding = 1}, {type = "relu"}, POOL,
          {type = "flatten"}, {type = "linear", out = 10}]
[optimizer]
name = "sgd"
lr = 0.05
[train]
epochs = 1
batch_size = 64
[output]
loggers = []
"""


def test_pool_kernel_and_stride_as_lists_work_in_a_config(tmp_path):
    cfg = load_config(write(tmp_path, IMAGES.replace("POOL", '{type = "maxpool2d", kernel = [2, 2], stride = [2, 2]}')))
    trainer, train, val = experiment.build(cfg)
    assert trainer.model[4].in_features == 4 * 4 * 4  # 8x8 digits pooled to 4x4
    assert len(trainer.fit(train, val, epochs=1, batch_size=64)) == 1


def test_a_pool_larger_than_its_input_is_named(tmp_path):
    cfg = load_config(write(tmp_path, IMAGES.replace("POOL", '{type = "avgpool2d", kernel = 9}')))
    with pytest.raises(ConfigError, match=r"'model.layers.2'.*avgpool2d.*too small for the kernel"):
        experiment.build(cfg)


def test_zero_units_name_the_layer_field(tmp_path):
    code, out = run_cli(["train", str(write(tmp_path)), "--set", "model.layers.0.out=0"])
    assert code == 1 and "config field 'model.layers.0' (linear)" in out and "out_features=0" in out


def test_a_non_utf8_config_names_its_path(tmp_path):
    p = tmp_path / "latin1.toml"
    p.write_bytes(CONFIG.replace("moons", "moons\u00e9").encode("latin-1"))
    code, out = run_cli(["train", str(p)])
    assert code == 1 and str(p) in out and "not UTF-8" in out


def test_output_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    msg = error(tmp_path, overrides=[f"output.dir='{tmp_path / 'afile'}'"])
    assert "'output.dir'" in msg and "it is a file, not a folder" in msg


def test_a_missing_idx_file_names_the_field(tmp_path):
    msg = error(tmp_path, overrides=["data.name='idx'", "data.n_samples=null", f"data.path='{tmp_path / 'none.idx'}'",
                                     f"data.labels='{tmp_path / 'none-labels.idx'}'"])
    assert "config field 'data.path'" in msg and "no such file" in msg


def test_batch_norm_with_a_last_batch_of_one_sample_says_so(tmp_path):
    text = CONFIG.replace('{type = "relu"}', '{type = "norm", name = "batch_norm"}, {type = "relu"}')
    # 120 moons, 96 training samples = 5 x 19 + 1
    code, out = run_cli(["train", str(write(tmp_path, text)), "--set", "train.batch_size=19"])
    assert code == 1 and "config field 'train.batch_size': 19 leaves a last batch of one sample" in out
    assert "drop_last" in out
    code, out = run_cli(["train", str(write(tmp_path, text)), "--set", "train.batch_size=20"])
    assert code == 0, out


def test_norm_messages_for_one_sample_and_an_empty_batch():
    with pytest.raises(ValueError, match="a batch of one sample; when it is the last batch of an epoch"):
        tgi.norm("batch_norm", 3)(tgi.Tensor(np.zeros((1, 3), np.float32)))
    with pytest.raises(ValueError, match=r"group_norm\(num_features=4\): got an empty input of shape \(0, 4\)"):
        tgi.norm("group_norm", 4, num_groups=2)(tgi.Tensor(np.zeros((0, 4), np.float32)))


def test_resume_given_the_output_folder_finds_its_checkpoint(tmp_path):
    run = tmp_path / "run"
    cfg = write(tmp_path, extra=f'dir = "{run}"\n')
    assert run_cli(["train", str(cfg)])[0] == 0
    code, out = run_cli(["train", str(cfg), "--set", "train.epochs=3", "--resume", str(run), "--json"])
    assert code == 0 and '"epochs": 3' in out, out
    code, out = run_cli(["train", str(cfg), "--resume", str(tmp_path)])
    assert code == 1 and f"--resume {str(tmp_path)!r}: the folder holds no checkpoint.npz" in out


# --------------------------------------------------------------- issue 20 item 8


def test_json_prints_null_for_nan(tmp_path, monkeypatch):
    history = History([{"epoch": 1, "train_loss": float("nan"), "val_loss": float("inf"), "lr": 0.1}])
    monkeypatch.setattr(experiment, "fit", lambda *a, **k: history)
    code, out = run_cli(["train", str(write(tmp_path)), "--json"])
    assert "NaN" not in out and "Infinity" not in out
    data = json.loads(out[out.index("{"):])
    assert data["train_loss"] is None and data["val_loss"] is None and data["lr"] == 0.1


def _trainer():
    m = nn.Sequential(nn.Linear(2, 2, rng=0))
    return Trainer(m, "cross_entropy", tgi.optimizer("sgd", m.named_parameters(), lr=0.1))


def test_complex_input_is_refused_not_cast():
    X = np.ones((8, 2), np.complex128)
    with pytest.raises(TypeError, match="train data: X has the complex dtype complex128"):
        _trainer().fit((X, np.zeros(8, np.int64)), epochs=1)


def test_epochs_true_is_refused_and_numpy_integers_are_accepted():
    X, y = np.ones((8, 2), np.float32), np.zeros(8, np.int64)
    with pytest.raises((TypeError, ValueError), match="fit: epochs=True is invalid: must be an int"):
        _trainer().fit((X, y), epochs=True)
    assert len(_trainer().fit((X, y), epochs=np.int64(2))) == 2


# --------------------------------------------------------------- issue 22


def test_set_null_removes_a_key_as_the_shipped_config_says(tmp_path):
    from pathlib import Path
    shipped = Path(__file__).parents[1] / "examples" / "configs" / "schedules_exponential.toml"
    assert "--set schedule.gamma=null" in shipped.read_text()
    cfg = load_config(shipped, ["schedule.name='cosine'", "schedule.T_max=20", "schedule.gamma=null"])
    assert "gamma" not in cfg["schedule"]
    sched = {k: v for k, v in cfg["schedule"].items() if k not in ("name", "unit")}
    sched.setdefault("lr0", cfg["optimizer"]["lr"])  # a schedule without lr0 takes optimizer.lr
    assert tgi.schedule("cosine", **sched)(0) == pytest.approx(0.03)
    with pytest.raises((TypeError, ValueError), match="gamma"):  # what the removal is for
        tgi.schedule("cosine", **sched, gamma=0.95)


def test_set_null_on_lists_and_on_missing_keys():
    cfg = {"schedule": {"name": "step", "gamma": 0.5}, "model": {"layers": [{"a": 1}, {"b": 2}]}}
    set_field(cfg, "model.layers.0=null")
    assert cfg["model"]["layers"] == [{"b": 2}]
    with pytest.raises(ConfigError, match=r"there is no schedule.gama to remove \(did you mean 'gamma'\?\)"):
        set_field(cfg, "schedule.gama=null")
    with pytest.raises(ConfigError, match="there is no train to remove"):
        set_field(cfg, "train.epochs=null")
    set_field(cfg, 'schedule.name="null"')  # the string is still reachable
    assert cfg["schedule"]["name"] == "null"


def test_a_fresh_run_into_a_used_output_dir_is_refused_unless_overwrite(tmp_path):
    run = tmp_path / "run"
    cfg = write(tmp_path, CONFIG.replace("loggers = []", f'dir = "{run}"\n'
                                         'loggers = [{name = "metrics_file", path = "m.jsonl"}]'))
    assert run_cli(["train", str(cfg)])[0] == 0
    before = (run / "checkpoint.npz").read_bytes(), (run / "m.jsonl").read_text()
    code, out = run_cli(["train", str(cfg), "--set", "train.seed=3"])
    assert code == 1 and "already holds checkpoint.npz, m.jsonl of an earlier run" in out
    assert "--resume" in out and "--overwrite" in out
    assert ((run / "checkpoint.npz").read_bytes(), (run / "m.jsonl").read_text()) == before
    code, out = run_cli(["train", str(cfg), "--set", "train.seed=3", "--overwrite"])
    assert code == 0 and (run / "checkpoint.npz").read_bytes() != before[0]
    code, out = run_cli(["train", str(cfg), "--set", "train.epochs=3", "--resume", str(run / "checkpoint.npz")])
    assert code == 0 and len((run / "m.jsonl").read_text().splitlines()) == 3


def test_search_show_help_is_its_own():
    res = subprocess.run([sys.executable, "-m", "tinygrad_init", "search", "show", "--help"],
                         capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("usage: tinygrad-init search show")
    assert "STUDY.db" in res.stdout and "--workers" not in res.stdout


def test_the_search_dry_build_of_a_config_that_plots(tmp_path):
    from tinygrad_init.search.cli import TrainObjective
    cfg = write(tmp_path, extra=f'dir = "{tmp_path / "run"}"\nplot = true\n')
    trainer, train, val = TrainObjective(str(cfg))._dry_build({})
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("layer, field, must", [
    ('{type = "linear", out = 4, bias = "x"}', "model.layers.1.bias", "must be true or false"),
    ('{type = "linear", out = 1.5}', "model.layers.1.out", "must be an integer"),
    ('{type = "dropout", p = "a"}', "model.layers.1.p", "must be a number"),
    ('{type = "leaky_relu", negative_slope = "a"}', "model.layers.1.negative_slope", "must be a number"),
])
def test_layer_fields_have_types(tmp_path, layer, field, must):
    msg = error(tmp_path, text=CONFIG.replace('{type = "relu"}', layer))
    assert f"config field {field!r}" in msg and must in msg


def test_checkpoint_every_below_one_is_refused(tmp_path):
    assert "'output.checkpoint_every': 0 is invalid" in error(tmp_path, overrides=["output.checkpoint_every=0"])
