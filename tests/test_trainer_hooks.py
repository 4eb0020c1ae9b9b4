"""The Trainer as a loop that only calls hooks (issue 16): hook order, train_end always,
errors named, features in their callbacks, forward hooks, one lr channel, one stop."""
import inspect
import io
import warnings

import numpy as np
import pytest
from rich.console import Console

import tinygrad_init as tgi
from tinygrad_init import hookimpl, nn
from tinygrad_init.checkpoint import load_checkpoint
from tinygrad_init.trainer import Trainer, TrainingDiverged

from test_trainer import GrabDiagnostics, assert_same, data, model, trainer, weights

STEP_HOOKS = ("batch_start", "after_loss", "after_backward", "before_step", "step_end")


class AllHooks:
    def __init__(self):
        self.calls = []

    def __getattr__(self, name):  # only the hooks below exist
        raise AttributeError(name)

    @hookimpl
    def tinygrad_init_train_start(self):
        self.calls.append("train_start")

    @hookimpl
    def tinygrad_init_epoch_start(self, epoch):
        self.calls.append(f"epoch_start {epoch}")

    @hookimpl
    def tinygrad_init_batch_start(self, step):
        self.calls.append(f"batch_start {step}")

    @hookimpl
    def tinygrad_init_after_loss(self, step, loss):
        assert isinstance(loss, float)
        self.calls.append(f"after_loss {step}")

    @hookimpl
    def tinygrad_init_after_backward(self, trainer, step):
        assert all(p.grad is not None for p in trainer.model.parameters())
        self.calls.append(f"after_backward {step}")

    @hookimpl
    def tinygrad_init_before_step(self, step):
        self.calls.append(f"before_step {step}")

    @hookimpl
    def tinygrad_init_step_end(self, step):
        self.calls.append(f"step_end {step}")

    @hookimpl
    def tinygrad_init_epoch_end(self, epoch):
        self.calls.append(f"epoch_end {epoch}")

    @hookimpl
    def tinygrad_init_checkpoint(self, epoch):
        self.calls.append(f"checkpoint {epoch}")

    @hookimpl
    def tinygrad_init_train_end(self):
        self.calls.append("train_end")


def test_fit_is_a_short_loop_that_calls_every_hook_in_order():
    assert len(inspect.getsource(Trainer.fit).splitlines()) <= 60  # fits on a screen
    X, y = data(8)
    rec = AllHooks()
    trainer(model(), callbacks=[rec]).fit((X, y), epochs=2, batch_size=4)
    expected = ["train_start"]
    for e in range(2):
        expected.append(f"epoch_start {e}")
        expected += [f"{h} {s}" for s in range(2) for h in STEP_HOOKS]
        expected += [f"epoch_end {e}", f"checkpoint {e}"]
    assert rec.calls == expected + ["train_end"]


class Closer:
    def __init__(self):
        self.closed = 0

    @hookimpl
    def tinygrad_init_train_end(self):
        self.closed += 1


class Boom:
    name = "boom"

    def __init__(self, hook_epoch=1, where="epoch_end"):
        self.hook_epoch, self.where = hook_epoch, where

    @hookimpl
    def tinygrad_init_epoch_end(self, epoch):
        if self.where == "epoch_end" and epoch == self.hook_epoch:
            raise ValueError("boom")

    @hookimpl
    def tinygrad_init_train_end(self):
        if self.where == "train_end":
            raise RuntimeError("closing failed")


def test_a_raising_callback_is_named_after_every_callback_closed_and_checkpoints_survive(tmp_path):
    X, y = data()
    path = tmp_path / "ck.npz"
    buf = io.StringIO()
    logger = tgi.callback("rich_logger", console=Console(file=buf, force_terminal=True), progress=True)
    first, last = Closer(), Closer()
    t = trainer(model(), callbacks=[first, logger, tgi.callback("checkpoint", path=str(path)), Boom(), last])
    with pytest.raises(ValueError, match=r"^callback callbacks\[3\] \(boom\), hook tinygrad_init_epoch_end: boom$"):
        t.fit((X, y), epochs=4, batch_size=16)
    assert first.closed == last.closed == 1  # every callback got train_end
    assert logger._progress is None  # the live bar was stopped
    arrays, meta = load_checkpoint(path)  # the checkpoint of epoch 1 is intact
    assert meta["epoch"] == 1 and len(meta["history"]["epochs"]) == 1
    # a callback failing in train_end does not keep the others from closing; its error is raised
    first, last = Closer(), Closer()
    t = trainer(model(), callbacks=[first, Boom(where="train_end"), last])
    with pytest.raises(RuntimeError, match=r"callbacks\[1\] \(boom\), hook tinygrad_init_train_end: closing"):
        t.fit((X, y), epochs=1)
    assert first.closed == last.closed == 1


def test_stop_is_one_structured_mechanism():
    X, y = data()

    class Target:
        @hookimpl
        def tinygrad_init_step_end(self, trainer, logs):
            if logs["global_step"] == 3:
                trainer.stop("target", "loss low enough")

    t = trainer(model(), callbacks=[Target()])
    h = t.fit((X, y), epochs=5, batch_size=16)
    assert (h.stop_reason.kind, h.stop_reason.message, h.stop_reason.failure) == ("target", "loss low enough", False)
    assert len(h) == 1 and t.global_step == 3  # the partial epoch is logged
    with pytest.raises(AttributeError, match=r"trainer.stop\(kind, message\)"):
        t.stop_training = True
    assert tgi.History.from_json(h.to_json()).stop_reason == h.stop_reason


def grads_after(m, X, y, l2=0.0):
    out = m(tgi.Tensor(X))
    loss = tgi.F.cross_entropy(out, y)
    if l2:
        loss = loss + tgi.F.l2_penalty([p for p in m.parameters() if p.data.ndim >= 2]) * (l2 / 2)
    loss.backward()
    return {n: p.grad.copy() for n, p in m.named_parameters()}


def test_penalty_and_clipping_are_callbacks_in_the_gradient_hooks():
    X, y = data(16)
    seen = []

    class Probe:
        @hookimpl
        def tinygrad_init_before_step(self, trainer):
            g = np.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum()) for p in trainer.model.parameters()))
            seen.append(g)
    ref = model()
    expected = grads_after(ref, X, y, l2=0.5)  # the penalty written into the loss, by hand
    m = model()
    t = Trainer(m, "cross_entropy", tgi.optimizer("sgd", m.parameters(), lr=0.0), l2=0.5, callbacks=[Probe()])
    got = {}

    class Grab:
        @hookimpl
        def tinygrad_init_before_step(self, trainer):
            got.update({n: p.grad.copy() for n, p in trainer.model.named_parameters()})
    t.callbacks.append(Grab())
    t.fit((X, y), epochs=1, batch_size=16, shuffle=False)
    for k in expected:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-5, atol=1e-7)
    assert [type(c).__name__ for c in t._builtin][:1] == ["Penalty"]
    # clipping runs after the penalty: the norm the optimizer sees is at most max_norm
    seen.clear()
    trainer(model(), "sgd", l2=0.5, clip_grad_norm=0.05, callbacks=[Probe()]).fit((X, y), epochs=2, batch_size=4)
    assert len(seen) == 8 and max(seen) <= 0.05 * (1 + 1e-5)
    # the same callbacks by name, as a config's [[callbacks]] would give them
    seen.clear()
    trainer(model(), "sgd", callbacks=[tgi.callback("penalty", l2=0.5), tgi.callback("grad_clip", max_norm=0.05),
                                       Probe()]).fit((X, y), epochs=2, batch_size=4)
    assert len(seen) == 8 and max(seen) <= 0.05 * (1 + 1e-5)


class NoPatch(nn.Module):
    """A leaf that fails if anyone replaced its forward on the instance."""

    def forward(self, x):
        assert "forward" not in vars(self), "forward was monkey-patched"
        return x.relu()


def test_diagnostics_use_forward_hooks_not_patched_forward():
    X, y = data()
    m = nn.Sequential(nn.Linear(6, 16, rng=0), NoPatch(), nn.Linear(16, 3, rng=1))
    grab = GrabDiagnostics()
    trainer(m, callbacks=[grab], diagnostics=True).fit((X, y), epochs=2, batch_size=40)
    got = grab.got
    assert len(got) == 2  # the last step of each epoch
    assert set(got[0]["activations"]) == {"0", "1", "2"} and got[0]["activations"]["1"]["layer"] == "NoPatch"
    assert set(got[0]["params"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert all(not vars(mod).get("_forward_hooks") for mod in m.modules())  # all hooks removed


def test_lsuv_uses_forward_hooks():
    m = nn.Sequential(nn.Linear(6, 16, rng=0), NoPatch(), nn.Linear(16, 3, rng=1))
    calls = []
    m[0].register_forward_hook(lambda mod, inp, out: calls.append(1))  # the user's hook stays
    X, _ = data(64)
    report = tgi.data_initializer("lsuv")(m, X, rng=0)
    assert all(r["converged"] for r in report["layers"])
    assert calls and len(m[0]._forward_hooks) == 1


def test_forward_hooks_have_pytorch_semantics():
    lin = nn.Linear(2, 2, rng=0)
    x = tgi.Tensor(np.ones((1, 2), np.float32))
    base = lin(x).data.copy()
    seen = []
    h1 = lin.register_forward_hook(lambda m, inp, out: seen.append((m, inp[0].shape, out.shape)))
    h2 = lin.register_forward_hook(lambda m, inp, out: out * 2)  # replaces the output
    pre = lin.register_forward_pre_hook(lambda m, inp: (inp[0] * 0,))  # replaces the inputs
    out = lin(x)
    assert seen == [(lin, (1, 2), (1, 2))]
    np.testing.assert_allclose(out.data, 2 * lin.bias.data[None, :])
    pre.remove()
    np.testing.assert_allclose(lin(x).data, 2 * base)
    h2.remove()
    h2.remove()  # twice is harmless
    with h1:
        pass
    np.testing.assert_allclose(lin(x).data, base)
    assert len(seen) == 2 and not lin._forward_hooks
    with pytest.raises(TypeError, match="the hook must be callable"):
        lin.register_forward_hook(3)
    # a replaced output carries gradients
    lin.register_forward_hook(lambda m, inp, out: out * 3)
    lin(x).sum().backward()
    np.testing.assert_allclose(lin.bias.grad, [3.0, 3.0])


class Snapshots:
    def __init__(self):
        self.by_step = {}

    @hookimpl
    def tinygrad_init_train_start(self, trainer):
        self.by_step[trainer.global_step] = weights(trainer.model)

    @hookimpl
    def tinygrad_init_step_end(self, trainer):
        self.by_step[trainer.global_step] = weights(trainer.model)


def test_divergence_guard_keeps_this_runs_last_good_weights_and_says_which():
    X, y = data()
    m = model()
    snaps = Snapshots()
    t = Trainer(m, "cross_entropy", tgi.optimizer("sgd", m.parameters(), lr=1e6), callbacks=[snaps])
    with pytest.warns(TrainingDiverged) as w, np.errstate(all="ignore"):
        h = t.fit((X, y), epochs=5, batch_size=16)
    k = t.global_step  # the updates made; the next loss was not finite
    assert f"those of global step {k - 1} (after {k - 1} updates" in h.stop_reason.message
    assert_same(weights(m), snaps.by_step[k - 1])
    assert h.stop_reason.message in str(w[0].message)


def test_exploding_loss_guard_is_opt_in_and_names_the_kept_weights():
    X, y = data()
    runs = {}
    for max_loss in (None, 50.0):
        m = model()
        snaps = Snapshots()
        t = Trainer(m, "cross_entropy", tgi.optimizer("sgd", m.parameters(), lr=3.0), callbacks=[snaps],
                    max_loss=max_loss)
        with warnings.catch_warnings(record=True), np.errstate(all="ignore"):
            warnings.simplefilter("always")
            h = t.fit((X * 30, y), epochs=3, batch_size=16)
        runs[max_loss] = (t, h, snaps)
    t, h, snaps = runs[50.0]
    assert h.stop_reason.kind == "diverged" and "above max_loss=50" in h.stop_reason.message
    k = t.global_step
    assert f"global step {k - 1}" in h.stop_reason.message
    assert_same(weights(t.model), snaps.by_step[k - 1])
    t0, h0, _ = runs[None]
    assert h0.stop_reason is None or "max_loss" not in h0.stop_reason.message  # off by default
    assert t0.global_step > k
    with pytest.raises(ValueError, match="max_loss=-1"):
        trainer(model(), max_loss=-1)


def test_the_trainer_features_are_callbacks_a_config_can_name(tmp_path):
    from tinygrad_init.experiment import build, load_config
    p = tmp_path / "c.toml"
    p.write_text("""
[data]
name = "moons"
n_samples = 100
[model]
layers = [{type = "linear", out = 8}, {type = "relu"}, {type = "linear", out = 2}]
[train]
l2 = 0.01
clip_grad_norm = 1.0
diagnostics = true
[output]
loggers = []
[[callbacks]]
name = "divergence_guard"
max_loss = 1e6
[[callbacks]]
name = "interrupt"
""")
    trainer, _, _ = build(load_config(p))
    assert [repr(c) for c in trainer.callbacks] == ["DivergenceGuard(max_loss=1000000.0)", "Interrupt(path=None)"]
    assert [type(c).__name__ for c in trainer._builtin] == ["Penalty", "GradClip", "Diagnostics"]
    # one feature configured twice is refused, not applied twice
    with pytest.raises(ValueError, match="l1/l2 is set and callbacks has its own penalty"):
        Trainer(model(), "cross_entropy", "sgd", l2=0.1, callbacks=[tgi.callback("penalty", l1=0.1)])
    with pytest.raises(ValueError, match="max_loss is set and callbacks has its own divergence_guard"):
        Trainer(model(), "cross_entropy", "sgd", max_loss=10, callbacks=["divergence_guard"])
