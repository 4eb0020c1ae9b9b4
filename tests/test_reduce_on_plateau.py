"""reduce_on_plateau: PyTorch ReduceLROnPlateau's lrs for recorded metric sequences,
resuming, errors, composition with schedules, and the callback contract."""
import io
import json
from pathlib import Path

import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init import hookimpl
from tinygrad_init.registry import Component
from tinygrad_init.testing.contracts_callback import CHECKS

REF = np.load(Path(__file__).parent / "data" / "sched_reference.npz", allow_pickle=False)
PLATEAU = json.loads(str(REF["plateau_cases"]))


class FakeTrainer:
    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.stop_training = False


def sgd(lr, groups=1):
    params = [{"params": [tgi.nn.Parameter(np.zeros(2))]} for _ in range(groups)]
    return tgi.optimizer("sgd", params, lr=lr)


def run(cb, opt, metrics, monitor="val_loss", start=0):
    lrs = []
    for e, m in enumerate(metrics, start):
        cb.tinygrad_init_epoch_end(trainer=FakeTrainer(opt), epoch=e, logs={monitor: float(m), "lr": 0.0})
        lrs.append(opt.get_lr(0))
    return np.array(lrs)


@pytest.mark.parametrize("case", PLATEAU, ids=[c["key"] for c in PLATEAU])
def test_matches_pytorch(case):
    monitor = "val_acc" if case["hparams"].get("mode") == "max" else "val_loss"
    cb = tgi.callback("reduce_on_plateau", monitor=monitor, **case["hparams"])
    lrs = run(cb, sgd(case["lr"]), REF[case["key"] + ".metric"], monitor)
    ref = REF[case["key"]]
    assert len(set(ref.tolist())) > 1, "the fixture must contain reductions"
    np.testing.assert_allclose(lrs, ref, rtol=1e-6, atol=0)


def test_resumed_run_reduces_at_the_same_epochs():
    case = next(c for c in PLATEAU if c["key"] == "plateau_min_abs_cooldown")
    metrics = REF[case["key"] + ".metric"]
    whole = run(tgi.callback("reduce_on_plateau", **case["hparams"]), sgd(0.1), metrics)
    for cut in (1, 7, 13, 30):
        cb, opt = tgi.callback("reduce_on_plateau", **case["hparams"]), sgd(0.1)
        first = run(cb, opt, metrics[:cut])
        buf = io.BytesIO()
        np.savez(buf, **{f"cb.{k}": v for k, v in cb.state_dict().items()},
                 **{f"opt.{k}": v for k, v in opt.state_dict().items()})
        buf.seek(0)
        with np.load(buf, allow_pickle=False) as f:
            saved = {k: f[k] for k in f.files}
        cb2, opt2 = tgi.callback("reduce_on_plateau", **case["hparams"]), sgd(0.1)
        cb2.load_state_dict({k[3:]: v for k, v in saved.items() if k.startswith("cb.")})
        opt2.load_state_dict({k[4:]: v for k, v in saved.items() if k.startswith("opt.")})
        rest = run(cb2, opt2, metrics[cut:], start=cut)
        assert np.concatenate([first, rest]).tolist() == whole.tolist(), f"cut at epoch {cut}"


def test_state_dict_is_flat_and_validated():
    cb = tgi.callback("reduce_on_plateau", patience=1)
    run(cb, sgd(0.1), [1.0, 0.5, 0.6])
    sd = cb.state_dict()
    assert sd["best"] == 0.5 and sd["num_bad_epochs"] == 1 and sd["last_epoch"] == 2
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    with pytest.raises(ValueError, match=r"missing keys \['best'\]"):
        cb.load_state_dict({k: v for k, v in sd.items() if k != "best"})


def test_missing_monitor_lists_available_keys():
    cb = tgi.callback("reduce_on_plateau")
    with pytest.raises(KeyError) as info:
        cb.tinygrad_init_epoch_end(trainer=FakeTrainer(sgd(0.1)), epoch=0, logs={"train_loss": 1.0, "lr": 0.1})
    msg = str(info.value)
    assert "reduce_on_plateau: monitor 'val_loss'" in msg and "['lr', 'train_loss']" in msg


@pytest.mark.parametrize("hp,what", [
    ({"factor": 1.0}, "factor=1.0"), ({"factor": -0.5}, "factor=-0.5"), ({"mode": "minimum"}, "mode='minimum'"),
    ({"patience": -1}, "patience=-1"), ({"threshold": -1e-4}, "threshold=-0.0001"),
    ({"threshold_mode": "relative"}, "threshold_mode='relative'"), ({"cooldown": -2}, "cooldown=-2"),
    ({"min_lr": -1.0}, "min_lr=-1.0"), ({"min_lr": [0.1, -1.0]}, "min_lr[1]=-1.0"), ({"eps": float("nan")}, "eps=nan"),
])
def test_invalid_hyperparameters_are_named(hp, what):
    with pytest.raises(ValueError, match="reduce_on_plateau: " + what.replace("[", r"\[").replace("]", r"\]")):
        tgi.callback("reduce_on_plateau", **hp)


def test_per_group_min_lr_and_eps():
    opt = sgd(0.1, groups=2)
    opt.param_groups[1]["lr_scale"] = 0.5  # group 1 runs at 0.05
    cb = tgi.callback("reduce_on_plateau", factor=0.1, patience=0, min_lr=[0.0, 0.02])
    run(cb, opt, [1.0, 1.0, 1.0])  # two reductions
    assert opt.get_lr(0) == pytest.approx(0.001)
    assert opt.get_lr(1) == pytest.approx(0.02)  # max(0.005, 0.02), then 0.02 - 0.02 <= eps: kept
    with pytest.raises(ValueError, match="min_lr has 2 values but the optimizer has 1"):
        run(tgi.callback("reduce_on_plateau", patience=0, min_lr=[0.0, 0.0]), sgd(0.1), [1.0, 1.0])


def test_scales_a_schedule_without_changing_its_shape():
    s = tgi.schedule("cosine", lr0=0.1, T_max=20)
    opt = tgi.optimizer("sgd", [tgi.nn.Parameter(np.zeros(2))], lr=s)
    opt.steps = 5
    cb = tgi.callback("reduce_on_plateau", factor=0.5, patience=0)
    run(cb, opt, [1.0, 1.0])
    assert opt.param_groups[0]["lr"] is s and opt.param_groups[0]["lr_scale"] == pytest.approx(0.5)
    assert opt.get_lr() == pytest.approx(0.5 * s(5))
    opt.steps = 9
    assert opt.get_lr() == pytest.approx(0.5 * s(9))


def test_in_a_training_run():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = tgi.nn.Sequential(tgi.nn.Linear(4, 2, rng=0))
    cb = tgi.callback("reduce_on_plateau", factor=0.5, patience=0, threshold=0.2)
    trainer = tgi.Trainer(model, "cross_entropy", tgi.optimizer("sgd", model.parameters(), lr=0.05),
                          callbacks=[cb])
    history = trainer.fit((X, y), val=(X, y), epochs=6, batch_size=16)
    # replay the recorded val_loss through a fresh callback: the same reductions, at the same epochs
    replay = run(tgi.callback("reduce_on_plateau", factor=0.5, patience=0, threshold=0.2), sgd(0.05),
                 history["val_loss"])
    assert replay[-1] < 0.05, "the run must have reduced the lr at least once"
    assert history["lr"][1:] == pytest.approx(replay[:-1].tolist())
    assert trainer.optimizer.get_lr() == pytest.approx(replay[-1])


# ------------------------------------------------------------------ the callback contract





def comp(factory):
    return Component("callback", "bad", factory, "test[bad]")


class Unmarked:
    def tinygrad_init_epoch_end(self, trainer, epoch, logs):
        pass


class Misspelled:
    @hookimpl
    def tinygrad_init_epoch_ends(self, trainer, epoch, logs):
        pass


class Registration:
    @hookimpl
    def tinygrad_init_add_schedules(self):
        return {}


class BadSignature:
    @hookimpl
    def tinygrad_init_epoch_end(self, trainer, epoch, logs, extra):
        pass


class NoHooks:
    pass


class LossyState:
    def __init__(self):
        self.best = 1.5

    @hookimpl
    def tinygrad_init_epoch_end(self, logs):
        pass

    def state_dict(self):
        return {"best": np.array(self.best)}

    def load_state_dict(self, sd):
        self.best = float(int(sd["best"]))  # drops the fraction


class NestedState(LossyState):
    def state_dict(self):
        return {"inner": {"best": self.best}}


@pytest.mark.parametrize("check,factory,message", [
    ("hooks", Unmarked, "not marked with @tinygrad_init.hookimpl"),
    ("hooks", Misspelled, "'tinygrad_init_epoch_ends' is not a tinygrad_init hook"),
    ("hooks", Registration, "is a registration hook"),
    ("hooks", BadSignature, "pluggy rejects it"),
    ("hooks", NoHooks, "implements no lifecycle hook"),
    ("builds", lambda: None, "returned None"),
    ("state_roundtrip", LossyState, "does not reproduce the state"),
    ("state_roundtrip", NestedState, "must be flat"),
])
def test_contract_catches_bad_callbacks(check, factory, message):
    with pytest.raises(AssertionError, match=message):
        CHECKS[check](comp(factory), {})
