import gzip
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_init import datasets as ds


# ----------------------------------------------------------------------------- IDX
def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    # written from the format description, independently of load_idx
    be = arr.astype(arr.dtype.newbyteorder(">"))
    return (bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape)
            + be.tobytes())


IDX_CASES = [  # (code, dtype, values)
    (0x08, np.uint8, [0, 1, 127, 128, 255, 7]),
    (0x09, np.int8, [-128, -1, 0, 1, 127, 5]),
    (0x0B, np.int16, [-32768, -2, 0, 300, 32767, 9]),
    (0x0C, np.int32, [-2**31, -70000, 0, 70000, 2**31 - 1, 3]),
    (0x0D, np.float32, [-1.5, 0.0, 3.25, 1e-30, 6.5e30, 2.0]),
    (0x0E, np.float64, [-1.5, 0.0, np.pi, 1e-300, 1e300, 2.0]),
]


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("code,dtype,values", IDX_CASES, ids=lambda v: str(v))
def test_load_idx_roundtrip(tmp_path, compress, code, dtype, values):
    arr = np.array(values, dtype=dtype).reshape(2, 3)
    blob = idx_bytes(arr, code)
    path = tmp_path / "x.idx"  # no .gz suffix: compression is detected from the bytes
    path.write_bytes(gzip.compress(blob) if compress else blob)
    out = ds.load_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(out, arr)


def test_load_idx_mnist_like_3d_and_1d(tmp_path):
    imgs = np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6)
    labels = np.array([3, 1, 4, 1], dtype=np.uint8)
    (tmp_path / "i.gz").write_bytes(gzip.compress(idx_bytes(imgs, 0x08)))
    (tmp_path / "l").write_bytes(idx_bytes(labels, 0x08))
    np.testing.assert_array_equal(ds.load_idx(str(tmp_path / "i.gz")), imgs)
    np.testing.assert_array_equal(ds.load_idx(tmp_path / "l"), labels)
    # MNIST's documented magic numbers
    assert idx_bytes(imgs, 0x08)[:4] == (2051).to_bytes(4, "big")
    assert idx_bytes(labels, 0x08)[:4] == (2049).to_bytes(4, "big")


def test_load_idx_errors(tmp_path):
    arr = np.arange(12, dtype=np.int16).reshape(3, 4)
    good = idx_bytes(arr, 0x0B)
    cases = {
        "trunc_data": (good[:-3], "truncated data"),
        "trunc_header": (good[:6], "truncated header"),
        "tiny": (good[:2], "truncated file"),
        "magic": (b"\x01\x00" + good[2:], "bad magic"),
        "code": (good[:2] + b"\x0a" + good[3:], "unknown IDX type code 0x0A"),
        "extra": (good + b"\x00\x00", "size mismatch"),
        "badgz": (gzip.compress(good)[:20], "gzip"),
    }
    for name, (blob, msg) in cases.items():
        p = tmp_path / name
        p.write_bytes(blob)
        with pytest.raises(ValueError, match=msg) as e:
            ds.load_idx(p)
        assert str(p) in str(e.value), name
    with pytest.raises(FileNotFoundError):
        ds.load_idx(tmp_path / "missing")


# ----------------------------------------------------------------------------- digits
def test_load_digits():
    X, y = ds.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16 and np.all(X == np.round(X))
    np.testing.assert_array_equal(np.bincount(y),
                                  [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    # first row of the UCI/scikit-learn file is a zero
    assert y[0] == 0
    np.testing.assert_array_equal(X[0, :8], [0, 0, 5, 13, 9, 1, 0, 0])
    Xi, yi = ds.load_digits(images=True)
    assert Xi.shape == (1797, 1, 8, 8) and Xi.dtype == np.float32
    np.testing.assert_array_equal(Xi.reshape(1797, 64), X)
    np.testing.assert_array_equal(yi, y)
    X[0, 0] = 99  # callers get their own copy
    assert ds.load_digits()[0][0, 0] == 0


def test_digits_attribution_shipped():
    from pathlib import Path
    text = (Path(ds.__file__).parent / "data" / "DIGITS_LICENSE.txt").read_text()
    for s in ("Alpaydin", "Kaynak", "10.24432/C50P49", "CC BY 4.0", "UCI"):
        assert s in text


# ----------------------------------------------------------------------------- generators
@pytest.mark.parametrize("make,kw,n,k,d", [
    (ds.make_spirals, dict(n_samples=301, n_classes=4), 301, 4, 2),
    (ds.make_moons, dict(n_samples=201), 201, 2, 2),
    (ds.make_blobs, dict(n_samples=100, centers=3, n_features=5), 100, 3, 5),
])
def test_generators_shape_labels_seed(make, kw, n, k, d):
    X, y = make(**kw, seed=3)
    assert X.shape == (n, d) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    counts = np.bincount(y, minlength=k)
    assert len(counts) == k and counts.max() - counts.min() <= 1 and counts.sum() == n
    X2, y2 = make(**kw, seed=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make(**kw, seed=4)
    assert not np.array_equal(X, X3)
    assert np.isfinite(X).all()


def test_spirals_geometry_noise_free():
    X, y = ds.make_spirals(n_samples=30, n_classes=3, noise=0.0, shuffle=False)
    r = np.linspace(0, 1, 10)
    for k in range(3):
        t = np.linspace(4 * k, 4 * (k + 1), 10)
        np.testing.assert_allclose(X[y == k], np.stack([r * np.sin(t), r * np.cos(t)], 1),
                                   atol=1e-6)


def test_moons_geometry_noise_free():
    X, y = ds.make_moons(n_samples=20, noise=0.0, shuffle=False)
    a = np.linspace(0, np.pi, 10)
    np.testing.assert_allclose(X[y == 0], np.stack([np.cos(a), np.sin(a)], 1), atol=1e-6)
    np.testing.assert_allclose(X[y == 1], np.stack([1 - np.cos(a), 0.5 - np.sin(a)], 1),
                               atol=1e-6)


def test_blobs_given_centers_and_std():
    C = np.array([[0.0, 0.0], [100.0, -50.0]])
    X, y = ds.make_blobs(n_samples=4000, centers=C, cluster_std=[1.0, 3.0], seed=0)
    for i in range(2):
        np.testing.assert_allclose(X[y == i].mean(0), C[i], atol=0.3)
        np.testing.assert_allclose(X[y == i].std(0), [1.0, 3.0][i], rtol=0.1)
    with pytest.raises(ValueError, match="cluster_std"):
        ds.make_blobs(centers=C, cluster_std=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="centers must have shape"):
        ds.make_blobs(centers=C, n_features=3)


def test_generator_argument_errors():
    with pytest.raises(ValueError, match="n_samples=0"):
        ds.make_moons(n_samples=0)
    with pytest.raises(ValueError, match="noise=-1"):
        ds.make_spirals(noise=-1)
    with pytest.raises(TypeError, match="n_classes"):
        ds.make_spirals(n_classes=2.5)


# ----------------------------------------------------------------------------- split
def test_split_sizes_disjoint_reproducible():
    X = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = np.arange(50)
    Xtr, Xva, ytr, yva = ds.train_val_split(X, y, val_fraction=0.3, seed=1)
    assert len(Xva) == 15 and len(Xtr) == 35
    np.testing.assert_array_equal(Xtr[:, 0], 2 * ytr)  # pairs kept together
    np.testing.assert_array_equal(Xva[:, 0], 2 * yva)
    assert set(ytr).isdisjoint(yva) and set(ytr) | set(yva) == set(range(50))
    again = ds.train_val_split(X, y, val_fraction=0.3, seed=1)
    for a, b in zip((Xtr, Xva, ytr, yva), again):
        np.testing.assert_array_equal(a, b)
    other = ds.train_val_split(X, y, val_fraction=0.3, seed=2)
    assert not np.array_equal(yva, other[3])


def test_split_stratified_proportions():
    y = np.repeat([0, 1, 2], [100, 50, 10])
    X = np.random.default_rng(0).normal(size=(160, 3))
    Xtr, Xva, ytr, yva = ds.train_val_split(X, y, val_fraction=0.2, seed=0, stratify=True)
    np.testing.assert_array_equal(np.bincount(yva), [20, 10, 2])
    np.testing.assert_array_equal(np.bincount(ytr), [80, 40, 8])
    rows = {tuple(r) for r in np.concatenate([Xtr, Xva])}
    assert len(rows) == 160


def test_split_errors():
    X, y = np.zeros((10, 2)), np.zeros(9)
    with pytest.raises(ValueError, match="different numbers of samples"):
        ds.train_val_split(X, y)
    with pytest.raises(ValueError, match="val_fraction"):
        ds.train_val_split(X, np.zeros(10), val_fraction=1.0)
    Xn = np.zeros((10, 2))
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ds.train_val_split(Xn, np.zeros(10))


# ----------------------------------------------------------------------------- scaling
def test_standardizer_formula_and_constant_column():
    rng = np.random.default_rng(0)
    tr = np.column_stack([rng.normal(5, 2, 200), np.full(200, 7.0)])
    va = np.column_stack([rng.normal(5, 2, 50), np.full(50, 7.0)])
    s = ds.Standardizer().fit(tr)
    out = s.transform(va)
    m, sd = tr[:, 0].mean(), tr[:, 0].std()
    np.testing.assert_allclose(out[:, 0], (va[:, 0] - m) / sd, rtol=1e-5)
    np.testing.assert_array_equal(out[:, 1], 0.0)  # zero variance -> 0, not NaN
    t2, v2 = ds.standardize(tr, va)
    np.testing.assert_allclose(v2, out)
    np.testing.assert_allclose(t2[:, 0].mean(), 0, atol=1e-6)
    np.testing.assert_allclose(t2[:, 0].std(), 1, atol=1e-5)
    np.testing.assert_allclose(s.inverse_transform(out), va, rtol=1e-5)
    with pytest.raises(ValueError, match="feature shape"):
        s.transform(np.zeros((3, 5)))
    with pytest.raises(RuntimeError, match="fit"):
        ds.Standardizer().transform(tr)


def test_standardizer_images_and_dtype():
    X, _ = ds.load_digits(images=True)
    (Z,) = ds.standardize(X)
    assert Z.shape == X.shape and Z.dtype == np.float32 and np.isfinite(Z).all()


# ----------------------------------------------------------------------------- batching
@pytest.mark.parametrize("bs", [1, 7, 10, 64, 100, 1000])
@pytest.mark.parametrize("shuffle", [True, False])
def test_batches_cover_every_sample_once(bs, shuffle):
    n = 100
    X = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n)
    seen = []
    sizes = []
    for xb, yb in ds.batches(X, y, bs, shuffle=shuffle, rng=0):
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)
        seen.extend(yb.tolist())
        sizes.append(len(yb))
    assert sorted(seen) == list(range(n))
    assert sizes == [bs] * (n // bs) + ([n % bs] if n % bs else []) if bs <= n else sizes == [n]
    if not shuffle:
        assert seen == list(range(n))
    dropped = [len(b) for _, b in ds.batches(X, y, bs, rng=0, drop_last=True)]
    assert dropped == [bs] * (n // bs)


def test_batches_seeding():
    X = np.arange(50)
    a = [b.tolist() for b in ds.batches(X, None, 8, rng=5)]
    b = [b.tolist() for b in ds.batches(X, None, 8, rng=5)]
    assert a == b
    g = np.random.default_rng(5)
    e1 = [b.tolist() for b in ds.batches(X, None, 8, rng=g)]
    e2 = [b.tolist() for b in ds.batches(X, None, 8, rng=g)]
    assert e1 == a and e1 != e2  # a Generator advances: epochs differ


def test_batches_errors():
    X = np.zeros((10, 2))
    for bad in (0, -3):
        with pytest.raises(ValueError, match="batch_size"):
            ds.batches(X, np.zeros(10), bad)
    with pytest.raises(TypeError, match="batch_size"):
        ds.batches(X, np.zeros(10), 2.5)
    with pytest.raises(ValueError, match="X has 10.*y has 8"):
        ds.batches(X, np.zeros(8), 2)
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        ds.batches(X, np.zeros(10), 2)


@given(n=st.integers(1, 60), bs=st.integers(1, 70), seed=st.integers(0, 2**32 - 1),
       drop_last=st.booleans())
def test_batches_property(n, bs, seed, drop_last):
    X = np.arange(n)
    got = [b for b in ds.batches(X, None, bs, rng=seed, drop_last=drop_last)]
    flat = np.concatenate(got) if got else np.array([], dtype=X.dtype)
    if drop_last:
        assert all(len(b) == bs for b in got) and len(flat) == n - n % bs
        assert len(set(flat.tolist())) == len(flat)
    else:
        assert sorted(flat.tolist()) == list(range(n))


def test_batches_default_rng_follows_manual_seed():
    import tinygrad_init as tgi
    X = np.arange(20)
    tgi.init.manual_seed(11)
    a = [b.tolist() for b in ds.batches(X, None, 5)]
    tgi.init.manual_seed(11)
    b = [b.tolist() for b in ds.batches(X, None, 5)]
    tgi.init.manual_seed(tgi.init.DEFAULT_SEED)
    assert a == b and sorted(sum(a, [])) == list(range(20))
