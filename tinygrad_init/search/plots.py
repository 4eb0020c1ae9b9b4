"""PNG views of a study (``tinygrad-init search plot STUDY.db``; needs the ``plot`` extra).

* ``history.png``: each finished trial's value by trial number (pruned ones marked), and
  the best value so far;
* ``parallel.png``: parallel coordinates, one line per complete trial over the dimensions
  (on the unit scale of each: log dimensions in log space, choices by option), coloured by
  value;
* ``slices.png``: one panel per dimension, value against the parameter;
* ``importance.png``: :func:`importance` of each dimension, a bar chart.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _complete(study: Any) -> list:
    return [t for t in study.trials if t.status == "complete" and t.value is not None]


def importance(study: Any, bins: int = 5) -> dict[str, float]:
    """First-order (main-effect) importance of each dimension, the share of the variance of
    the ranked values that the dimension explains alone: the correlation ratio
    ``eta^2 = Var(E[r | x_j]) / Var(r)`` (the first-order Sobol index, estimated from the
    trials by binning, Plischke 2013). ``r`` are the ranks of the complete trials' values (a
    diverged trial is then just the worst, not a huge number); ``x_j`` is binned into
    ``bins`` equally filled bins (a choice into its options). Normalized to sum to 1 (all 0
    with fewer than 3 complete trials or constant values)."""
    done = _complete(study)
    names = study.space.names
    if len(done) < 3:
        return {n: 0.0 for n in names}
    r = np.argsort(np.argsort([study.sign * t.value for t in done], kind="stable"), kind="stable").astype(float)
    total = r.var()
    out = {}
    for n in names:
        dim = study.space[n]
        if dim.kind == "choice":
            groups = np.array([dim.index(t.params[n]) for t in done])
        else:
            u = np.array([dim.to_unit(t.params[n]) for t in done])
            order = np.argsort(u, kind="stable")
            groups = np.empty(len(u), int)
            groups[order] = np.arange(len(u)) * min(bins, len(u)) // len(u)
        means = {g: r[groups == g].mean() for g in set(groups.tolist())}
        between = np.mean([(means[g] - r.mean()) ** 2 for g in groups])
        out[n] = float(between / total) if total > 0 else 0.0
    s = sum(out.values())
    return {n: (v / s if s > 0 else 0.0) for n, v in out.items()}


def plot_study(study: Any, out_dir: str | Path) -> list[Path]:
    """Write the four PNGs of the module docstring into ``out_dir`` (created); -> their paths."""
    from ..plot import _pyplot

    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done, names = _complete(study), study.space.names
    title = f"study {study.name!r} ({study.strategy}, {study.direction})"
    paths = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(out / name)
        plt.close(fig)
        paths.append(out / name)

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    ax.plot([t.number for t in done], [t.value for t in done], "o", ms=4, label="complete")
    pruned = [t for t in study.trials if t.status == "pruned" and t.value is not None]
    if pruned:
        ax.plot([t.number for t in pruned], [t.value for t in pruned], "x", ms=5, label="pruned")
    best, xs, ys = None, [], []
    for t in study.trials:
        if t in done and (best is None or study.sign * t.value < study.sign * best):
            best = t.value
        if best is not None:
            xs.append(t.number)
            ys.append(best)
    ax.step(xs, ys, where="post", color="k", label="best so far")
    ax.set(title=title, xlabel="trial", ylabel="value")
    ax.legend()
    save(fig, "history.png")

    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(names) + 2), 4.5), dpi=100)
    if done:
        values = np.array([t.value for t in done])
        colors = plt.cm.viridis((values - values.min()) / (np.ptp(values) or 1.0))
        for t, c in zip(done, colors):
            ax.plot(range(len(names)), study.space.to_unit(t.params), color=c, alpha=0.7)
        sm = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(values.min(), values.max()))
        fig.colorbar(sm, ax=ax, label="value")
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set(title="parallel coordinates (unit scale of each dimension)", ylabel="unit scale", ylim=(-0.05, 1.05))
    save(fig, "parallel.png")

    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.5), dpi=100, squeeze=False)
    for ax, n in zip(axes[0], names):
        dim = study.space[n]
        x = [t.params[n] for t in done]
        if dim.kind == "choice":
            x = [dim.index(v) for v in x]
            ax.set_xticks(range(len(dim.options)), [str(o) for o in dim.options])
        elif getattr(dim, "log", False):
            ax.set_xscale("log")
        ax.plot(x, [t.value for t in done], "o", ms=4)
        ax.set(xlabel=n, ylabel="value")
    save(fig, "slices.png")

    imp = importance(study)
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(names) + 1.5), dpi=100)
    ax.barh(list(imp), list(imp.values()))
    ax.set(title="parameter importance (main effect, eta^2 of the ranked values)", xlabel="share", xlim=(0, 1))
    save(fig, "importance.png")
    return paths
