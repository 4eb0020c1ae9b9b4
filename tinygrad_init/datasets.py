"""Small datasets, synthetic generators, an MNIST IDX reader and data helpers.

Everything here is NumPy in, NumPy out: features are ``float32``, class labels ``int64``.
Every random function takes a ``seed`` (or ``rng``) and draws only from
``np.random.default_rng(seed)``, so the same arguments give the same arrays.

- :func:`load_digits` — the UCI "Optical Recognition of Handwritten Digits" 8x8 set
  (1,797 images, 10 classes, pixel counts 0..16; CC BY 4.0, see ``data/DIGITS_LICENSE.txt``).
- :func:`make_spirals`, :func:`make_moons`, :func:`make_blobs` — 2-D toy problems.
- :func:`load_idx` — MNIST-style IDX files, raw or gzip-compressed.
- :func:`load_mnist1d` — MNIST-1D (Greydanus 2020), built locally by the ``mnist1d`` package.
- :func:`train_val_split`, :class:`Standardizer`, :func:`standardize`, :func:`batches`.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = ["load_digits", "make_spirals", "make_moons", "make_blobs", "load_idx",
           "train_val_split", "Standardizer", "standardize", "digits_split", "batches",
           "load_mnist1d"]

_DATA_DIR = Path(__file__).resolve().parent / "data"


# ----------------------------------------------------------------------------- validation
def _int_arg(fn: str, name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{fn}: {name}={value!r} is invalid: must be an integer >= {minimum}")
    if value < minimum:
        raise ValueError(f"{fn}: {name}={value!r} is invalid: must be an integer >= {minimum}")
    return int(value)


def _float_arg(fn: str, name: str, value, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name}={value!r} is invalid: must be a real number >= {minimum}")
    if not math.isfinite(value) or value < minimum:
        raise ValueError(f"{fn}: {name}={value!r} is invalid: must be a finite number >= {minimum}")
    return float(value)


def _array(fn: str, name: str, value) -> np.ndarray:
    a = np.asarray(value.numpy() if hasattr(value, "numpy") and not isinstance(value, np.ndarray)
                   else value)
    if a.ndim == 0:
        raise ValueError(f"{fn}: {name} must have at least one dimension (one row per sample), "
                         f"got a scalar")
    if a.dtype.kind in "fc" and not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(f"{fn}: {name} contains NaN or infinite values "
                         f"(first at index {tuple(int(i) for i in bad)}: {a[tuple(bad)]!r})")
    return a


def _xy(fn: str, X, y) -> tuple[np.ndarray, np.ndarray | None]:
    X = _array(fn, "X", X)
    if y is None:
        return X, None
    y = _array(fn, "y", y)
    if len(X) != len(y):
        raise ValueError(f"{fn}: X and y have different numbers of samples: "
                         f"X has {len(X)} (shape {X.shape}), y has {len(y)} (shape {y.shape})")
    return X, y


def _generator(fn: str, rng) -> np.random.Generator:
    from .init import as_generator  # None -> the library-wide default generator
    try:
        return as_generator(rng)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{fn}: {e}") from None


def _split_counts(n: int, k: int) -> list[int]:
    # as even as possible; the first n % k groups get one extra sample
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


# ----------------------------------------------------------------------------- digits
def load_digits(images: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Load the UCI 8x8 handwritten digits (the 1,797-image set scikit-learn bundles).

    Args:
        images: if False (default) ``X`` has shape ``(1797, 64)`` (rows of the 8x8 image,
            row-major); if True ``X`` has shape ``(1797, 1, 8, 8)`` (NCHW, for ``Conv2d``).

    Returns:
        ``(X, y)``: ``X`` float32 pixel counts in ``[0, 16]`` (not rescaled — use
        :func:`standardize` or divide by 16), ``y`` int64 digit classes ``0..9``.
        Per-class counts are 178, 182, 177, 183, 181, 182, 181, 179, 174, 180.
        Fresh arrays on every call.

    Source: E. Alpaydin, C. Kaynak, UCI ML Repository, DOI 10.24432/C50P49, CC BY 4.0.
    """
    with np.load(_DATA_DIR / "digits.npz", allow_pickle=False) as d:
        X = d["images"].astype(np.float32)
        y = d["labels"].astype(np.int64)
    X = X.reshape(len(X), 1, 8, 8) if images else X.reshape(len(X), 64)
    return X, y


# ----------------------------------------------------------------------------- generators
def _shuffled(X: np.ndarray, y: np.ndarray, rng: np.random.Generator, shuffle: bool):
    if shuffle:
        p = rng.permutation(len(X))
        X, y = X[p], y[p]
    return X.astype(np.float32), y.astype(np.int64)


def make_spirals(n_samples: int = 300, n_classes: int = 3, noise: float = 0.2, seed: int = 0,
                 shuffle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved 2-D spiral arms, one per class (the CS231n "spiral" toy problem).

    Class ``k`` has ``m`` points with radius ``r = linspace(0, 1, m)`` and angle
    ``t = linspace(4k, 4(k+1), m) + noise * N(0, 1)``; the point is ``(r sin t, r cos t)``.
    Samples are split as evenly as possible over the classes (the first
    ``n_samples % n_classes`` classes get one more).

    Returns ``(X float32 (n_samples, 2), y int64 (n_samples,))``, shuffled unless
    ``shuffle=False`` (then sorted by class). Reproducible by ``seed``.
    """
    fn = "make_spirals"
    n_samples = _int_arg(fn, "n_samples", n_samples, 1)
    n_classes = _int_arg(fn, "n_classes", n_classes, 1)
    noise = _float_arg(fn, "noise", noise)
    if n_samples < n_classes:
        raise ValueError(f"{fn}: n_samples={n_samples} must be >= n_classes={n_classes}")
    rng = np.random.default_rng(seed)
    Xs, ys = [], []
    for k, m in enumerate(_split_counts(n_samples, n_classes)):
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(4.0 * k, 4.0 * (k + 1), m) + noise * rng.standard_normal(m)
        Xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(m, k))
    return _shuffled(np.concatenate(Xs), np.concatenate(ys), rng, shuffle)


def make_moons(n_samples: int = 200, noise: float = 0.1, seed: int = 0,
               shuffle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (same geometry as scikit-learn's ``make_moons``).

    Class 0 (``ceil(n/2)`` points): ``(cos a, sin a)``, ``a = linspace(0, pi)``;
    class 1 (``floor(n/2)`` points): ``(1 - cos a, 0.5 - sin a)``. Gaussian noise with
    standard deviation ``noise`` is added to every coordinate.

    Returns ``(X float32 (n_samples, 2), y int64 (n_samples,))``, shuffled unless
    ``shuffle=False``. Reproducible by ``seed``.
    """
    fn = "make_moons"
    n_samples = _int_arg(fn, "n_samples", n_samples, 2)
    noise = _float_arg(fn, "noise", noise)
    rng = np.random.default_rng(seed)
    n0, n1 = _split_counts(n_samples, 2)
    a0, a1 = np.linspace(0.0, np.pi, n0), np.linspace(0.0, np.pi, n1)
    X = np.concatenate([np.stack([np.cos(a0), np.sin(a0)], 1),
                        np.stack([1.0 - np.cos(a1), 0.5 - np.sin(a1)], 1)])
    X = X + noise * rng.standard_normal(X.shape)
    y = np.concatenate([np.zeros(n0), np.ones(n1)])
    return _shuffled(X, y, rng, shuffle)


def make_blobs(n_samples: int = 300, centers=3, n_features: int = 2, cluster_std=1.0,
               seed: int = 0, shuffle: bool = True,
               center_box: tuple[float, float] = (-10.0, 10.0)) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian clusters.

    Args:
        centers: an int ``k`` (centers drawn uniformly from ``center_box`` in every feature)
            or an array of shape ``(k, n_features)``.
        cluster_std: one standard deviation for all clusters, or one per cluster.

    Samples are split as evenly as possible over the clusters; label ``i`` is cluster ``i``.
    Returns ``(X float32 (n_samples, n_features), y int64 (n_samples,))``, shuffled unless
    ``shuffle=False``. Reproducible by ``seed``.
    """
    fn = "make_blobs"
    n_samples = _int_arg(fn, "n_samples", n_samples, 1)
    n_features = _int_arg(fn, "n_features", n_features, 1)
    rng = np.random.default_rng(seed)
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        k = _int_arg(fn, "centers", centers, 1)
        lo, hi = center_box
        C = rng.uniform(lo, hi, size=(k, n_features))
    else:
        C = _array(fn, "centers", centers).astype(np.float64)
        if C.ndim != 2 or C.shape[1] != n_features:
            raise ValueError(f"{fn}: centers must have shape (k, n_features={n_features}), "
                             f"got {C.shape}")
        k = len(C)
    std = np.asarray(cluster_std, dtype=np.float64).reshape(-1)
    if std.size not in (1, k):
        raise ValueError(f"{fn}: cluster_std must be a number or have one value per center "
                         f"({k}), got {std.size} values")
    std = np.broadcast_to(std, (k,))
    if not np.all(np.isfinite(std)) or np.any(std < 0):
        raise ValueError(f"{fn}: cluster_std={cluster_std!r} is invalid: must be finite and >= 0")
    if n_samples < k:
        raise ValueError(f"{fn}: n_samples={n_samples} must be >= the number of centers ({k})")
    counts = _split_counts(n_samples, k)
    X = np.concatenate([C[i] + std[i] * rng.standard_normal((m, n_features))
                        for i, m in enumerate(counts)])
    y = np.repeat(np.arange(k), counts)
    return _shuffled(X, y, rng, shuffle)


# ----------------------------------------------------------------------------- IDX files
# IDX type codes (http://yann.lecun.com/exdb/mnist/): data are big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST / Fashion-MNIST format), raw or gzip-compressed.

    Layout: two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions ``d``, then ``d`` big-endian uint32
    sizes, then the data in big-endian C order. Compression is detected from the gzip magic
    bytes, not the file name.

    Returns an array in native byte order with the file's dtype and shape
    (e.g. ``uint8 (60000, 28, 28)`` for MNIST training images).

    Raises:
        FileNotFoundError: no such file.
        ValueError: bad magic number, unknown type code, truncated header or data, trailing
            bytes, or a corrupt gzip stream — the message names the path.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"load_idx: {path}: corrupt or truncated gzip data ({e})") from None
    if len(raw) < 4:
        raise ValueError(f"load_idx: {path}: truncated file: {len(raw)} bytes, "
                         f"an IDX header needs at least 4")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"load_idx: {path}: bad magic number 0x{raw[:4].hex()}: "
                         f"an IDX file starts with two zero bytes")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(f"load_idx: {path}: unknown IDX type code 0x{code:02X} "
                         f"(known: {known})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"load_idx: {path}: truncated header: {ndim} dimensions need "
                         f"{header} bytes, the file has {len(raw)}")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        kind = "truncated data" if got < expected else "size mismatch"
        raise ValueError(f"load_idx: {path}: {kind}: shape {shape} of {dtype.name} needs "
                         f"{expected} data bytes, the file has {got}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


# ----------------------------------------------------------------------------- splitting
def train_val_split(X, y, val_fraction: float = 0.2, seed: int | np.random.Generator = 0,
                    stratify: bool = False):
    """Shuffle and split into a training and a validation set (seeded).

    Args:
        val_fraction: in ``(0, 1)``. The validation set has ``round(n * val_fraction)`` samples
            (at least 1, and at least 1 sample is left for training). With ``stratify=True``
            the rounding is done per class — each class ``c`` with ``n_c >= 2`` samples gives
            ``round(n_c * val_fraction)`` (clipped to ``[1, n_c - 1]``) to validation; a class
            with a single sample stays in training — so the class proportions of both parts
            match the whole.
        seed: an int seed or a ``np.random.Generator``.
        stratify: split each class of ``y`` separately (``y`` must be class labels).

    Returns:
        ``(X_train, X_val, y_train, y_val)`` (scikit-learn's order). Rows keep their pairing;
        the two parts are disjoint and together hold every sample once.
    """
    fn = "train_val_split"
    X, y = _xy(fn, X, y)
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float, np.floating)) \
            or not 0.0 < val_fraction < 1.0:
        raise ValueError(f"{fn}: val_fraction={val_fraction!r} is invalid: must be in (0, 1)")
    n = len(X)
    if n < 2:
        raise ValueError(f"{fn}: need at least 2 samples to split, got {n}")
    rng = _generator(fn, seed)
    if stratify:
        if y.dtype.kind not in "iub":
            raise ValueError(f"{fn}: stratify=True needs integer class labels, "
                             f"got y of dtype {y.dtype}")
        val_parts, train_parts = [], []
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            m = len(idx)
            k = 0 if m < 2 else min(max(int(round(m * val_fraction)), 1), m - 1)
            val_parts.append(idx[:k])
            train_parts.append(idx[k:])
        val_idx = rng.permutation(np.concatenate(val_parts))
        train_idx = rng.permutation(np.concatenate(train_parts))
        if len(val_idx) == 0:
            raise ValueError(f"{fn}: stratify=True left the validation set empty "
                             f"(every class has a single sample)")
    else:
        k = min(max(int(round(n * val_fraction)), 1), n - 1)
        p = rng.permutation(n)
        val_idx, train_idx = p[:k], p[k:]
    return X[train_idx], X[val_idx], y[train_idx], y[val_idx]


# ----------------------------------------------------------------------------- scaling
class Standardizer:
    """Per-feature standardization ``(x - mean) / std`` with statistics from the training set.

    ``fit(X)`` computes ``mean`` and ``std`` (population, ``ddof=0``) over axis 0, so every
    entry of ``X.shape[1:]`` is a feature. A column whose std is 0 (constant) gets scale 1,
    so it maps to 0 instead of NaN. ``transform`` returns float32 (float64 input stays float64).
    """

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def fit(self, X) -> "Standardizer":
        X = _array("Standardizer.fit", "X", X).astype(np.float64)
        self.mean = X.mean(axis=0)
        self.std = X.std(axis=0)
        self.scale = np.where(self.std > 0, self.std, 1.0)
        return self

    def _check(self, name: str, X) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError(f"Standardizer.{name}: call fit(X_train) first")
        X = _array(f"Standardizer.{name}", "X", X)
        if X.shape[1:] != self.mean.shape:
            raise ValueError(f"Standardizer.{name}: X has feature shape {X.shape[1:]}, "
                             f"the standardizer was fitted on {self.mean.shape}")
        return X

    def transform(self, X) -> np.ndarray:
        X = self._check("transform", X)
        out_dtype = np.float64 if X.dtype == np.float64 else np.float32
        return ((X - self.mean) / self.scale).astype(out_dtype)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, X) -> np.ndarray:
        X = self._check("inverse_transform", X)
        out_dtype = np.float64 if X.dtype == np.float64 else np.float32
        return (X * self.scale + self.mean).astype(out_dtype)

    def __repr__(self) -> str:
        fitted = "unfitted" if self.mean is None else f"features={self.mean.shape}"
        return f"Standardizer({fitted})"


def standardize(train, *others) -> tuple[np.ndarray, ...]:
    """Standardize ``train`` with its own statistics and every array in ``others`` with the
    same ones. Always returns a tuple: ``X_tr, X_va = standardize(X_tr, X_va)``,
    ``(X_tr,) = standardize(X_tr)``."""
    s = Standardizer().fit(train)
    return (s.transform(train), *(s.transform(o) for o in others))


def digits_split(seed: int = 0, val_fraction: float = 0.2):
    """The digits data as the examples use it: ``((X_train, y_train), (X_val, y_val))``,
    a seeded split standardized with the training statistics."""
    X, y = load_digits()
    Xtr, Xva, ytr, yva = train_val_split(X, y, val_fraction=val_fraction, seed=seed)
    Xtr, Xva = standardize(Xtr, Xva)
    return (Xtr, ytr), (Xva, yva)


# ----------------------------------------------------------------------------- batching
def batches(X, y=None, batch_size: int = 32, shuffle: bool = True,
            rng: np.random.Generator | int | None = None,
            drop_last: bool = False) -> Iterator:
    """Iterate over one epoch of mini-batches.

    Yields ``(X_batch, y_batch)`` (or just ``X_batch`` when ``y`` is None), NumPy arrays
    indexed along axis 0. Every sample appears exactly once per epoch; the last batch is
    smaller when ``batch_size`` does not divide ``len(X)``, unless ``drop_last=True`` drops it.
    A ``batch_size`` larger than ``len(X)`` gives one batch.

    Args:
        shuffle: permute the order with ``rng`` (else keep the data order).
        rng: a ``np.random.Generator`` (advanced, so successive epochs differ), an int seed,
            or None for ``tinygrad_init.init.default_generator()``.

    Inputs are validated when ``batches`` is called, not at the first ``next()``.
    """
    fn = "batches"
    X, y = _xy(fn, X, y)
    batch_size = _int_arg(fn, "batch_size", batch_size, 1)
    n = len(X)
    order = _generator(fn, rng).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n

    def it():
        for i in range(0, stop, batch_size):
            idx = order[i:i + batch_size]
            yield X[idx] if y is None else (X[idx], y[idx])
    return it()


# ----------------------------------------------------------------------------- MNIST-1D
_MNIST1D: dict = {}


def load_mnist1d() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """MNIST-1D (Greydanus 2020, "Scaling down deep learning"): 10 classes of 1-D signals.

    Built locally with the ``mnist1d`` package (``make_dataset(get_dataset_args())``: the
    paper's default arguments, seed 42; nothing is downloaded), which is the optional extra
    ``tinygrad-init[mnist1d]``. The package seeds NumPy's and Python's global generators; both
    are restored afterwards, so calling this changes no random state of the caller.

    Returns:
        ``((X_train, y_train), (X_test, y_test))``: 4,000 train and 1,000 test signals of 40
        samples, ``X`` float32 ``(n, 40)`` (the whole set centred to mean 0, std 1 by the
        package), ``y`` int64 classes ``0..9``. Built once per process; fresh copies on every
        call.
    """
    if not _MNIST1D:
        try:
            from mnist1d.data import get_dataset_args, make_dataset
        except ImportError as exc:
            raise ModuleNotFoundError(
                "load_mnist1d needs the 'mnist1d' package, which is not installed "
                f"({exc}); install the extra: pip install 'tinygrad-init[mnist1d]'") from None
        import random

        np_state, py_state = np.random.get_state(), random.getstate()
        try:
            d = make_dataset(get_dataset_args())
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)
        _MNIST1D.update(x=d["x"].astype(np.float32), y=d["y"].astype(np.int64),
                        x_test=d["x_test"].astype(np.float32), y_test=d["y_test"].astype(np.int64))
    m = _MNIST1D
    return (m["x"].copy(), m["y"].copy()), (m["x_test"].copy(), m["y_test"].copy())
