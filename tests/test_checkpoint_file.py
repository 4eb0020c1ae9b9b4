"""Checkpoint files: validated before anything changes, callback state by identity, the best
weights after early stopping, file modes, no leaked files, a full disk named."""
import errno
import gc
import math
import json
import os
import stat
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_init as tgi
from tinygrad_init import checkpoint as ckpt
from tinygrad_init import nn
from tinygrad_init.checkpoint import CheckpointError, CheckpointWarning
from tinygrad_init.trainer import Trainer


def data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def model(seed=0):
    return nn.Sequential(nn.Linear(6, 8, rng=seed), nn.ReLU(), nn.Dropout(0.1, rng=seed + 1),
                         nn.Linear(8, 2, rng=seed + 2))


def make_trainer(m, callbacks=()):
    return Trainer(m, "cross_entropy", tgi.optimizer("adam", m.named_parameters(), lr=0.01),
                   callbacks=list(callbacks))


def weights(m):
    return {k: v.copy() for k, v in m.state_dict().items()}


def raw(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def rewrite(src, dst, meta=None, meta_text=None, arrays=None):
    """Copy checkpoint ``src`` to ``dst`` with its metadata or arrays changed."""
    a = raw(src)
    if meta is not None:
        a[ckpt.META_KEY] = np.array(json.dumps(meta(json.loads(str(a[ckpt.META_KEY])))))
    if meta_text is not None:
        a[ckpt.META_KEY] = np.array(meta_text)
    if arrays is not None:
        arrays(a)
    np.savez(dst, **a)
    return dst


@pytest.fixture
def saved(tmp_path):
    """A checkpoint written after 2 epochs, with early stopping state."""
    X, y = data()
    m = model()
    es = tgi.callback("early_stopping", monitor="train_loss", patience=50)
    t = make_trainer(m, [es])
    t.fit((X, y), epochs=2, batch_size=16)
    path = tmp_path / "ck.npz"
    t.save_checkpoint(path)
    return path


def without(key):
    def f(meta):
        del meta[key]
        return meta
    return f


def setting(key, value):
    def f(meta):
        node = meta
        *parents, last = key.split(".", 1) if key.startswith("rng.") else key.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
        return meta
    return f


def _nan_weight(a):
    a["model/0.weight"] = a["model/0.weight"].copy()
    a["model/0.weight"][0, 0] = np.nan


BAD = [
    ("no_history", dict(meta=without("history")), "field 'history' is missing"),
    ("no_rng", dict(meta=without("rng")), "field 'rng' is missing"),
    ("no_epoch", dict(meta=without("epoch")), "field 'epoch' is missing"),
    ("no_progress", dict(meta=without("progress")), "field 'progress' is missing"),
    ("no_step", dict(meta=without("global_step")), "field 'global_step' is missing"),
    ("bad_rng", dict(meta=setting("rng.default", {"bit_generator": "PCG64", "state": {"state": "a", "inc": 1},
                                                  "has_uint32": 0, "uinteger": 0})), "field 'rng.default'"),
    ("other_rng_kind", dict(meta=setting("rng.default", np.random.MT19937(0).state | {"state": {
        "key": list(range(624)), "pos": 0}})), "field 'rng.default'"),
    ("bad_dropout_rng", dict(meta=setting("rng.2._rng", "x")), "field 'rng.2._rng'"),
    ("history_list", dict(meta=setting("history", [1, 2])), "field 'history'"),
    ("history_entry", dict(meta=setting("history", {"epochs": [1, 2], "stop_reason": None})),
     "field 'history.epochs[0]'"),
    ("not_json", dict(meta_text="{not json"), "is not valid JSON"),
    ("json_list", dict(meta_text="[1, 2, 3]"), "must be a JSON object, got list"),
    ("negative_epoch", dict(meta=setting("epoch", -1)), "field 'epoch' = -1 is invalid: must be an integer >= 0"),
    ("string_epoch", dict(meta=setting("epoch", "2")), "field 'epoch' = '2' is invalid"),
    ("epoch_vs_history", dict(meta=setting("epoch", 5)), "the number of epochs in history"),
    ("bool_step", dict(meta=setting("global_step", True)), "field 'global_step' = True"),
    ("step_past_end", dict(meta=setting("progress", {"rng": np.random.PCG64(0).state, "step": 99,
                                                     "loss_sum": 0.0, "correct": 0, "seen": 0})),
     "field 'progress.step' = 99 is invalid: must be at most the 6 steps"),
    ("bad_stop_reason", dict(meta=setting("history", {"epochs": [{}, {}], "stop_reason": {"kind": 1}})),
     "field 'history.stop_reason'"),
    ("no_stop_reason", dict(meta=setting("history", {"epochs": [{}, {}]})), "field 'history'"),
    ("progress_incomplete", dict(meta=setting("progress", {"step": 1})), "field 'progress.rng' is missing"),
    ("nan_weights", dict(arrays=_nan_weight), "array 'model/0.weight' holds 1 NaN"),
    ("other_format", dict(meta=setting("format", "other/2")), "field 'format' is 'other/2'"),
]


@pytest.mark.parametrize("change, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_checkpoint_is_one_error_naming_file_and_field_and_changes_nothing(saved, tmp_path, change,
                                                                                 message):
    bad = rewrite(saved, tmp_path / "bad.npz", **change)
    X, y = data()
    m = model(seed=7)
    es = tgi.callback("early_stopping", monitor="train_loss", patience=50)
    t = make_trainer(m, [es])
    before, opt_before = weights(m), t.optimizer.state_dict()
    drop_state = m[2]._rng.bit_generator.state
    with pytest.raises(CheckpointError) as info:
        t.fit((X, y), epochs=4, batch_size=16, resume=bad)
    assert str(bad) in str(info.value) and message in str(info.value)
    for k, v in before.items():
        assert np.array_equal(m.state_dict()[k], v), k
    after = t.optimizer.state_dict()
    assert after.keys() == opt_before.keys() and all(np.array_equal(after[k], opt_before[k]) for k in after)
    assert es.best_epoch == -1 and es.best_weights is None and es.wait == 0
    assert m[2]._rng.bit_generator.state == drop_state


def test_the_good_checkpoint_still_resumes(saved):
    X, y = data()
    t = make_trainer(model(seed=7), [tgi.callback("early_stopping", monitor="train_loss", patience=50)])
    assert len(t.fit((X, y), epochs=3, batch_size=16, resume=saved)) == 3


def test_callback_state_follows_the_callback_when_a_logger_is_added_on_resume(saved, tmp_path):
    X, y = data()
    es = tgi.callback("early_stopping", monitor="train_loss", patience=50)
    logger = tgi.callback("metrics_file", path=str(tmp_path / "m.jsonl"))
    t = make_trainer(model(seed=7), [logger, es])  # early_stopping is second now, it was first
    t.load_checkpoint(saved)
    assert es.best_epoch == 1 and es.best_weights is not None
    assert any(k.startswith("callback:early_stopping#0/") for k in raw(saved))


def test_same_named_callbacks_get_their_own_state(tmp_path):
    X, y = data()
    a = tgi.callback("early_stopping", monitor="train_loss", patience=50)
    b = tgi.callback("early_stopping", monitor="train_acc", mode="max", patience=50)
    t = make_trainer(model(), [a, b])
    t.fit((X, y), epochs=2, batch_size=16)
    t.save_checkpoint(tmp_path / "ck.npz")
    a2 = tgi.callback("early_stopping", monitor="train_loss", patience=50)
    b2 = tgi.callback("early_stopping", monitor="train_acc", mode="max", patience=50)
    make_trainer(model(seed=3), [tgi.callback("metrics_file", path=str(tmp_path / "m.csv")), a2, b2]) \
        .load_checkpoint(tmp_path / "ck.npz")
    assert (a2.best, b2.best) == (a.best, b.best) and a.best != b.best


def test_a_saved_callback_state_nobody_claims_is_reported(saved):
    t = make_trainer(model(seed=7))
    with pytest.warns(CheckpointWarning, match="early_stopping#0, which this run does not have"):
        t.load_checkpoint(saved)


def _stops_early(m, tmp_path, callbacks=()):
    X, y = data()
    # the train loss falls every epoch, so "max" improves only at epoch 1: stop after epoch 2
    es = tgi.callback("early_stopping", monitor="train_loss", mode="max", patience=1)
    ck = tgi.callback("checkpoint", path=str(tmp_path / "ck.npz"))
    t = make_trainer(m, [ck, es, *callbacks])
    h = t.fit((X, y), epochs=10, batch_size=16)
    assert len(h) == 2 and h.stop_reason.kind == "early_stopping"
    return es


def test_after_early_stopping_the_checkpoint_holds_the_restored_best_weights(tmp_path):
    m = model()
    es = _stops_early(m, tmp_path)
    saved = ckpt.split(raw(tmp_path / "ck.npz"), "model")
    for k, v in m.state_dict().items():
        assert np.array_equal(saved[k], v), k
        assert np.array_equal(saved[k], es.best_weights[k]), k
    meta = ckpt.load_checkpoint(tmp_path / "ck.npz")[1]
    assert meta["history"]["stop_reason"]["kind"] == "early_stopping" and meta["epoch"] == 2


def test_the_cli_leaves_the_best_weights_after_early_stopping(tmp_path):
    from tinygrad_init.cli import main
    from rich.console import Console

    cfg = tmp_path / "exp.toml"
    cfg.write_text(f"""
[data]
name = "blobs"
n_samples = 120
[model]
layers = [{{type = "linear", out = 8}}, {{type = "relu"}}, {{type = "linear", out = 3}}]
[optimizer]
name = "sgd"
lr = 0.1
[train]
epochs = 10
[output]
dir = "{tmp_path / 'run'}"
loggers = []
[[callbacks]]
name = "early_stopping"
monitor = "train_loss"
mode = "max"
patience = 1
""")
    console = Console(width=200, force_terminal=False)
    with console.capture():
        assert main(["train", str(cfg)], console=console) == 0
    a = raw(tmp_path / "run" / "checkpoint.npz")
    best = ckpt.split(a, "callback:early_stopping#0")
    model_sd = ckpt.split(a, "model")
    assert model_sd and all(np.array_equal(v, best[f"weights.{k}"]) for k, v in model_sd.items())


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_checkpoints_respect_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        path = ckpt.save_checkpoint(tmp_path / "ck.npz", {"a": np.zeros(2)}, {})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_a_truncated_checkpoint_leaks_no_open_file(saved, tmp_path):
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(saved.read_bytes()[:300])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for _ in range(3):
            try:
                ckpt.load_checkpoint(trunc)
            except CheckpointError as exc:
                assert "truncated or corrupt" in str(exc)
            else:
                raise AssertionError("a truncated file loaded")
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)]


def test_a_full_disk_names_the_checkpoint_and_keeps_the_previous_one(saved, monkeypatch):
    before = saved.read_bytes()
    t = make_trainer(model())

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(np, "savez", full)
    with pytest.raises(OSError) as info:
        t.save_checkpoint(saved)
    assert info.value.errno == errno.ENOSPC
    assert str(saved) in str(info.value) and "No space left" in str(info.value)
    assert saved.read_bytes() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["ck.npz"]


def test_resume_from_a_folder_is_refused_naming_it(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder"):
        ckpt.load_checkpoint(tmp_path)


def test_a_callback_state_that_does_not_load_changes_nothing(tmp_path):
    X, y = data()

    def callbacks():
        return [tgi.callback("reduce_on_plateau", monitor="train_loss", patience=0, factor=0.5),
                tgi.callback("early_stopping", monitor="train_loss", patience=50)]
    t = make_trainer(model(), callbacks())
    t.fit((X, y), epochs=2, batch_size=16)
    t.save_checkpoint(tmp_path / "ck.npz")

    def drop_wait(a):
        del a["callback:early_stopping#0/wait"]
    bad = rewrite(tmp_path / "ck.npz", tmp_path / "bad.npz", arrays=drop_wait)
    m = model(seed=7)
    rop, es = callbacks()
    t = make_trainer(m, [rop, es])
    before, opt_before, rop_before = weights(m), t.optimizer.state_dict(), dict(vars(rop))
    with pytest.raises(CheckpointError, match=r"field 'callback:early_stopping#0' \(the state of "
                                              r"early_stopping#0\) does not load: KeyError"):
        t.fit((X, y), epochs=4, batch_size=16, resume=bad)
    assert all(np.array_equal(m.state_dict()[k], v) for k, v in before.items())
    after = t.optimizer.state_dict()
    assert all(np.array_equal(after[k], opt_before[k]) for k in opt_before)
    assert es.best_epoch == -1 and es.best_weights is None and es.wait == 0 and es.best == math.inf
    assert vars(rop) == rop_before  # loaded first, then given its own state back
    t.load_checkpoint(tmp_path / "ck.npz")
    assert vars(rop) != rop_before  # (the good file does change it)


def _leaves(node, path=()):
    """Every (path, value) in a JSON tree, containers included."""
    yield path, node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        yield from _leaves(v, path + (k,))


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                        st.text(max_size=5), st.lists(st.integers(), max_size=3),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@given(data=st.data())
def test_any_corrupted_metadata_field_loads_or_is_a_checkpoint_error_changing_nothing(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("fuzz")
    X, y = data_xy = globals()["data"]()
    t = make_trainer(model(), [tgi.callback("early_stopping", monitor="train_loss", patience=50)])
    t.fit(data_xy, epochs=1, batch_size=32)
    t.save_checkpoint(tmp / "ck.npz")
    meta = json.loads(str(raw(tmp / "ck.npz")[ckpt.META_KEY]))
    paths = [p for p, _ in _leaves(meta) if p and p[0] != "format"]
    path = data.draw(st.sampled_from(paths), label="path")
    delete = data.draw(st.booleans(), label="delete")
    value = None if delete else data.draw(JSON_VALUES, label="value")

    def change(m):
        node = m
        for k in path[:-1]:
            node = node[k]
        if delete:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return m
    bad = rewrite(tmp / "ck.npz", tmp / "bad.npz", meta=change)
    m = model(seed=7)
    t2 = make_trainer(m, [tgi.callback("early_stopping", monitor="train_loss", patience=50)])
    before = weights(m)
    try:
        t2.load_checkpoint(bad, steps_per_epoch=3)
    except CheckpointError as exc:
        assert str(bad) in str(exc)
        assert all(np.array_equal(m.state_dict()[k], v) for k, v in before.items())


def test_a_file_that_is_not_an_archive_is_named_as_such(tmp_path):
    (tmp_path / "notes.npz").write_text("hello\n")
    with pytest.raises(CheckpointError, match="^checkpoint '.*notes.npz' is not an .npz archive") as info:
        ckpt.load_checkpoint(tmp_path / "notes.npz")
    assert "truncated" not in str(info.value) and "pickle" not in str(info.value)


@pytest.mark.parametrize("reason", [None, "early stopping: val_loss did not improve",
                                    {"kind": "early_stopping", "message": "early stopping: ...", "failure": False}])
def test_stop_reasons_as_text_or_structured_are_valid(saved, tmp_path, reason):
    def change(meta):
        meta["history"]["stop_reason"] = reason
        return meta
    good = rewrite(saved, tmp_path / "good.npz", meta=change)
    arrays, meta = ckpt.load_checkpoint(good)
    ckpt.validate_meta(good, meta, steps_per_epoch=6)
