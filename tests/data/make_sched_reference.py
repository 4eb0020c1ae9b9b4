"""Record PyTorch's learning rates step by step into ``sched_reference.npz``.

Run in a throwaway venv that has torch (never a runtime dependency)::

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy
    /tmp/torchenv/bin/python tests/data/make_sched_reference.py

For every case the file holds ``<key>`` (float64 lrs: ``optimizer.param_groups[0]["lr"]``
before each update, i.e. the value at step 0, 1, ...) and the JSON list ``cases``
(``{"key", "torch", "spec"}``) where ``spec`` is the equivalent tinygrad_init schedule as a
``{"name": ..., **hparams}`` dict. ReduceLROnPlateau cases (``plateau_cases``) also store the
metric sequence ``<key>.metric``; ``<key>`` is the lr after ``scheduler.step(metric[e])``.
"""
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.optim import SGD, lr_scheduler as L

N = 60
LR = 0.1
warnings.filterwarnings("ignore")  # SequentialLR passes an epoch to step(): deprecated, still used


def opt(lr=LR):
    return SGD([torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))], lr=lr)


def record(make, n=N):
    o = opt()
    sched = make(o)
    lrs = []
    for _ in range(n):
        lrs.append(o.param_groups[0]["lr"])
        o.step()
        sched.step()
    return np.array(lrs, dtype=np.float64)


def seq(o, subs, milestones):
    return L.SequentialLR(o, [f(o) for f in subs], milestones=milestones)


def chain(o, subs):
    return L.ChainedScheduler([f(o) for f in subs])


def S(name, **hp):
    return {"name": name, **hp}


CASES = [
    ("constant_factor", "ConstantLR(factor=0.5, total_iters=4)",
     lambda o: L.ConstantLR(o, factor=0.5, total_iters=4), S("constant", lr0=LR, factor=0.5, total_iters=4)),
    ("step_7", "StepLR(step_size=7, gamma=0.5)",
     lambda o: L.StepLR(o, 7, gamma=0.5), S("step", lr0=LR, step_size=7, gamma=0.5)),
    ("step_1", "StepLR(step_size=1, gamma=0.9)",
     lambda o: L.StepLR(o, 1, gamma=0.9), S("step", lr0=LR, step_size=1, gamma=0.9)),
    ("multistep", "MultiStepLR(milestones=[5, 12, 30], gamma=0.3)",
     lambda o: L.MultiStepLR(o, [5, 12, 30], gamma=0.3), S("multistep", lr0=LR, milestones=[5, 12, 30], gamma=0.3)),
    ("multistep_repeat", "MultiStepLR(milestones=[10, 10, 20], gamma=0.5)",
     lambda o: L.MultiStepLR(o, [10, 10, 20], gamma=0.5), S("multistep", lr0=LR, milestones=[10, 10, 20], gamma=0.5)),
    ("exponential", "ExponentialLR(gamma=0.95)",
     lambda o: L.ExponentialLR(o, 0.95), S("exponential", lr0=LR, gamma=0.95)),
    ("polynomial_1", "PolynomialLR(total_iters=40, power=1.0)",
     lambda o: L.PolynomialLR(o, total_iters=40, power=1.0), S("polynomial", lr0=LR, total_steps=40, power=1.0)),
    ("polynomial_2", "PolynomialLR(total_iters=25, power=2.0)",
     lambda o: L.PolynomialLR(o, total_iters=25, power=2.0), S("polynomial", lr0=LR, total_steps=25, power=2.0)),
    ("cosine", "CosineAnnealingLR(T_max=20, eta_min=0.001)",
     lambda o: L.CosineAnnealingLR(o, T_max=20, eta_min=0.001), S("cosine", lr0=LR, T_max=20, eta_min=0.001)),
    ("cosine_0", "CosineAnnealingLR(T_max=25)",
     lambda o: L.CosineAnnealingLR(o, T_max=25), S("cosine", lr0=LR, T_max=25)),
    ("restarts_1", "CosineAnnealingWarmRestarts(T_0=10, T_mult=1, eta_min=0.001)",
     lambda o: L.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=1, eta_min=0.001),
     S("cosine_restarts", lr0=LR, T_0=10, T_mult=1, eta_min=0.001)),
    ("restarts_2", "CosineAnnealingWarmRestarts(T_0=5, T_mult=2)",
     lambda o: L.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2), S("cosine_restarts", lr0=LR, T_0=5, T_mult=2)),
    ("linear_warmup", "LinearLR(start_factor=1/3, end_factor=1.0, total_iters=5)",
     lambda o: L.LinearLR(o, start_factor=1 / 3, end_factor=1.0, total_iters=5),
     S("linear_warmup", lr0=LR, start_factor=1 / 3, end_factor=1.0, warmup_steps=5)),
    ("linear_decay", "LinearLR(start_factor=1.0, end_factor=0.1, total_iters=30)",
     lambda o: L.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=30),
     S("linear_warmup", lr0=LR, start_factor=1.0, end_factor=0.1, total_iters=30)),
    ("one_cycle_cos", "OneCycleLR(max_lr=0.5, total_steps=60)",
     lambda o: L.OneCycleLR(o, max_lr=0.5, total_steps=N, cycle_momentum=False),
     S("one_cycle", max_lr=0.5, total_steps=N)),
    ("one_cycle_linear", "OneCycleLR(max_lr=0.5, total_steps=60, anneal_strategy='linear', pct_start=0.25)",
     lambda o: L.OneCycleLR(o, max_lr=0.5, total_steps=N, anneal_strategy="linear", pct_start=0.25,
                            cycle_momentum=False),
     S("one_cycle", max_lr=0.5, total_steps=N, anneal_strategy="linear", pct_start=0.25)),
    ("one_cycle_three_phase", "OneCycleLR(max_lr=0.3, total_steps=60, three_phase=True, div_factor=10, final_div_factor=100)",
     lambda o: L.OneCycleLR(o, max_lr=0.3, total_steps=N, three_phase=True, div_factor=10,
                            final_div_factor=100, cycle_momentum=False),
     S("one_cycle", max_lr=0.3, total_steps=N, three_phase=True, div_factor=10, final_div_factor=100)),
    ("one_cycle_three_phase_linear", "OneCycleLR(max_lr=0.3, total_steps=60, three_phase=True, anneal_strategy='linear')",
     lambda o: L.OneCycleLR(o, max_lr=0.3, total_steps=N, three_phase=True, anneal_strategy="linear",
                            cycle_momentum=False),
     S("one_cycle", max_lr=0.3, total_steps=N, three_phase=True, anneal_strategy="linear")),
    ("cyclic_triangular", "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=5)",
     lambda o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5, cycle_momentum=False),
     S("cyclic", base_lr=0.01, max_lr=0.1, step_size_up=5)),
    ("cyclic_triangular2", "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=6, mode='triangular2')",
     lambda o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=6, mode="triangular2",
                          cycle_momentum=False),
     S("cyclic", base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=6, mode="triangular2")),
    ("cyclic_exp_range", "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=5, mode='exp_range', gamma=0.97)",
     lambda o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range", gamma=0.97,
                          cycle_momentum=False),
     S("cyclic", base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range", gamma=0.97)),
    ("sequential_warmup_cosine", "SequentialLR([LinearLR(start_factor=0.1, total_iters=5), CosineAnnealingLR(T_max=40)], milestones=[5])",
     lambda o: seq(o, [lambda o: L.LinearLR(o, start_factor=0.1, total_iters=5),
                       lambda o: L.CosineAnnealingLR(o, T_max=40)], [5]),
     S("sequential", schedules=[S("linear_warmup", lr0=LR, start_factor=0.1, warmup_steps=5),
                                S("cosine", lr0=LR, T_max=40)], milestones=[5])),
    ("sequential_three", "SequentialLR([ConstantLR(factor=0.5, total_iters=100), ExponentialLR(0.9), StepLR(5, 0.5)], milestones=[10, 30])",
     lambda o: seq(o, [lambda o: L.ConstantLR(o, factor=0.5, total_iters=100),
                       lambda o: L.ExponentialLR(o, 0.9),
                       lambda o: L.StepLR(o, 5, gamma=0.5)], [10, 30]),
     S("sequential", schedules=[S("constant", lr0=LR, factor=0.5, total_iters=100),
                                S("exponential", lr0=LR, gamma=0.9),
                                S("step", lr0=LR, step_size=5, gamma=0.5)], milestones=[10, 30])),
    ("chained_linear_exp", "ChainedScheduler([LinearLR(start_factor=0.5, total_iters=4), ExponentialLR(0.9)])",
     lambda o: chain(o, [lambda o: L.LinearLR(o, start_factor=0.5, total_iters=4),
                         lambda o: L.ExponentialLR(o, 0.9)]),
     S("chained", schedules=[S("linear_warmup", lr0=LR, start_factor=0.5, warmup_steps=4),
                             S("exponential", lr0=LR, gamma=0.9)])),
    ("chained_step_cosine", "ChainedScheduler([StepLR(10, 0.5), CosineAnnealingLR(T_max=70)])",
     lambda o: chain(o, [lambda o: L.StepLR(o, 10, gamma=0.5),
                         lambda o: L.CosineAnnealingLR(o, T_max=70)]),
     S("chained", schedules=[S("step", lr0=LR, step_size=10, gamma=0.5), S("cosine", lr0=LR, T_max=70)])),
]

rng = np.random.default_rng(0)
t = np.arange(N)
LOSS = np.round(0.5 + 0.5 * np.exp(-t / 8) + 0.02 * rng.standard_normal(N), 4)
ACC = np.round(0.9 - 0.4 * np.exp(-t / 10) + 0.01 * rng.standard_normal(N), 4)
# improves, then creeps down by less than the default rel threshold 1e-4: a plateau for patience=10
CREEP = np.concatenate([1.0 - 0.05 * t[:10], 0.55 - 1e-6 * t[:N - 10]])
PLATEAU = [
    ("plateau_min_rel", LOSS, LR, dict(mode="min", factor=0.5, patience=2)),
    ("plateau_min_abs_cooldown", LOSS, LR,
     dict(mode="min", factor=0.5, patience=1, threshold=0.01, threshold_mode="abs", cooldown=2, min_lr=0.004)),
    ("plateau_max_rel", ACC, LR, dict(mode="max", factor=0.1, patience=3, threshold=0.01, cooldown=1)),
    ("plateau_max_abs", ACC, LR, dict(mode="max", factor=0.3, patience=2, threshold=0.005, threshold_mode="abs")),
    ("plateau_defaults", CREEP, LR, dict()),
    ("plateau_eps", LOSS, 1e-7, dict(mode="min", factor=0.5, patience=0)),
]


def main():
    out, cases = {}, []
    for key, desc, make, spec in CASES:
        out[key] = record(make)
        cases.append({"key": key, "torch": desc, "spec": spec})
    plateau = []
    for key, metric, lr, hp in PLATEAU:
        o = opt(lr)
        sched = L.ReduceLROnPlateau(o, **hp)
        lrs = []
        for m in metric:
            o.step()
            sched.step(float(m))
            lrs.append(o.param_groups[0]["lr"])
        out[key] = np.array(lrs, dtype=np.float64)
        out[key + ".metric"] = np.asarray(metric, dtype=np.float64)
        plateau.append({"key": key, "lr": lr, "hparams": hp})
    out["cases"] = np.array(json.dumps(cases))
    out["plateau_cases"] = np.array(json.dumps(plateau))
    out["torch_version"] = np.array(torch.__version__)
    path = Path(__file__).with_name("sched_reference.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(cases)} schedule + {len(plateau)} plateau cases)")


if __name__ == "__main__":
    main()
