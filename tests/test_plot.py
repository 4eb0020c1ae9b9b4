"""The plot helper writes real PNG files (matplotlib comes with the dev extra)."""
import struct

import pytest

from tinygrad_init.plot import available, plot_curves, plot_histories
from tinygrad_init.trainer import History


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    return struct.unpack(">II", data[16:24])


def test_plot_curves_writes_a_png(tmp_path):
    assert available()
    path = plot_curves({"sgd": [2.3, 1.0, 0.5], "adam": [2.3, 0.4, 0.1]}, tmp_path / "c.png",
                       title="cost", logy=True)
    w, h = png_size(path)
    assert (w, h) == (770, 495)  # figsize (7, 4.5) at 110 dpi


def test_plot_histories_and_unknown_metric(tmp_path):
    h = History([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}])
    png_size(plot_histories({"run": h}, tmp_path / "h.png"))
    with pytest.raises(KeyError, match="no metric 'val_loss'"):
        plot_histories({"run": h}, tmp_path / "v.png", metric="val_loss")


def test_missing_matplotlib_gives_an_install_hint(monkeypatch, tmp_path):
    import builtins
    real = builtins.__import__

    def no_mpl(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_mpl)
    assert not available()
    with pytest.raises(ImportError, match=r"install the 'plot' extra"):
        plot_curves({"a": [1, 2]}, tmp_path / "x.png")


def test_levels_are_marked_and_coinciding_curves_stay_distinguishable():
    fig = plot_curves({"zeros": [2.3026] * 30, "randn*10": [2.3026] * 30, "he": [1.0] * 30},
                      levels={"ln(10)": 2.302585})
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert list(lines["ln(10)"].get_ydata()) == [2.302585, 2.302585]
    curves = [lines[k] for k in ("zeros", "randn*10", "he")]
    assert len({ln.get_marker() for ln in curves}) == 3  # each its own marker shape
    assert len({str(ln.get_linestyle()) for ln in curves}) == 3
    assert curves[0].get_markevery() != curves[1].get_markevery()  # markers interleave
