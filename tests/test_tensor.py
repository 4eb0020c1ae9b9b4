"""Engine behaviour: dtypes, no_grad, detach, accumulation, graph release, deep graphs, errors."""
from __future__ import annotations

import gc
import math
import weakref

import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init.tensor import Tensor, concatenate, maximum, no_grad, stack, where


# ---- dtypes -------------------------------------------------------------------------------------
def test_python_data_becomes_float32() -> None:
    assert Tensor([1.5, 2.0]).dtype == np.float32
    assert Tensor([1, 2]).dtype == np.float32
    assert Tensor(3.0).dtype == np.float32 and Tensor(3.0).shape == ()
    assert Tensor([[True, False]]).dtype == np.float32


def test_ndarray_dtypes_kept_and_dtype_argument() -> None:
    assert Tensor(np.zeros(3)).dtype == np.float64
    assert Tensor(np.zeros(3, np.float32)).dtype == np.float32
    assert Tensor([1.0, 2.0], dtype=np.float64).dtype == np.float64
    assert Tensor(np.zeros(3), dtype=np.float32).dtype == np.float32
    assert Tensor(np.arange(3)).dtype == np.int64
    assert Tensor(np.array([True])).dtype == np.bool_


def test_ndarray_is_wrapped_without_copy() -> None:
    a = np.zeros(3, np.float32)
    assert Tensor(a).data is a


def test_integer_data_cannot_require_grad() -> None:
    with pytest.raises(TypeError, match=r"requires_grad=True needs float data, got dtype int64"):
        Tensor(np.arange(3), requires_grad=True)
    t = Tensor(np.arange(3))
    with pytest.raises(TypeError, match="requires_grad"):
        t.requires_grad = True
    assert Tensor([1, 2], requires_grad=True).requires_grad  # Python ints became float32


@pytest.mark.parametrize("expr", [
    lambda x: x * 2.5, lambda x: 2.5 * x, lambda x: x + 1, lambda x: 1 + x, lambda x: x - 0.5,
    lambda x: 0.5 - x, lambda x: x / 3, lambda x: 3 / x, lambda x: x ** 2, lambda x: x ** 0.5,
    lambda x: 2.0 ** x, lambda x: x * np.float64(2.0), lambda x: np.float64(2.0) * x,
    lambda x: x + np.array([1.0, 2.0]), lambda x: np.array([1.0, 2.0]) * x,
    lambda x: x - [1.0, 2.0], lambda x: x.clip(0.5, 1.5), lambda x: x.leaky_relu(0.1),
    lambda x: tgi.where(np.array([True, False]), x, 0.0), lambda x: tgi.maximum(x, 1.0),
    lambda x: x.pad(1, value=2.5), lambda x: x @ np.ones((2, 2)),
], ids=lambda f: "")
def test_scalars_and_constants_never_upcast_float32(expr) -> None:
    x = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    out = expr(x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.shape == (2,)


def test_mixed_float_tensors_promote_but_grads_keep_leaf_dtype() -> None:
    a = Tensor(np.ones(3, np.float32), requires_grad=True)
    b = Tensor(np.ones(3, np.float64), requires_grad=True)
    out = a * b
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_integer_tensor_as_constant_operand() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    k = Tensor(np.array([3, 4]))
    (x * k).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


# ---- bad data -----------------------------------------------------------------------------------
def test_non_numeric_data_rejected() -> None:
    with pytest.raises(TypeError, match="numeric.*object"):
        Tensor(np.array([1, "a", None], dtype=object))
    with pytest.raises(TypeError, match="numeric"):
        Tensor(["a", "b"])
    with pytest.raises(TypeError, match="numeric"):
        Tensor([1.0, None])
    with pytest.raises(TypeError, match="numeric"):
        Tensor(np.array([1 + 2j]))


def test_ragged_data_rejected() -> None:
    with pytest.raises(ValueError, match="ragged.*list"):
        Tensor([[1.0, 2.0], [3.0]])


def test_bad_operand_rejected() -> None:
    with pytest.raises(TypeError, match="operand"):
        Tensor([1.0]) + "a"


# ---- shape errors name the op and both shapes ---------------------------------------------------
def test_matmul_shape_error() -> None:
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 2\) are not aligned"):
        Tensor(np.ones((3, 4))) @ Tensor(np.ones((5, 2)))


@pytest.mark.parametrize("op,name", [(lambda a, b: a + b, "add"), (lambda a, b: a - b, "sub"),
                                     (lambda a, b: a * b, "mul"), (lambda a, b: a / b, "div"),
                                     (lambda a, b: a ** b, "pow"), (tgi.maximum, "maximum"),
                                     (tgi.minimum, "minimum")])
def test_broadcast_error(op, name) -> None:
    with pytest.raises(ValueError, match=rf"{name}: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        op(Tensor(np.ones((2, 3))), Tensor(np.ones(4)))


def test_other_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"reshape: .*\(2, 3\).*\(4,\)"):
        Tensor(np.ones((2, 3))).reshape(4)
    with pytest.raises(ValueError, match=r"where: shapes"):
        where(np.ones(3, bool), Tensor(np.ones(3)), Tensor(np.ones(2)))
    with pytest.raises(ValueError, match=r"concatenate: shapes \[\(2, 3\), \(2, 4\)\]"):
        concatenate([Tensor(np.ones((2, 3))), Tensor(np.ones((2, 4)))], axis=0)
    with pytest.raises(ValueError, match=r"stack: shapes"):
        stack([Tensor(np.ones(3)), Tensor(np.ones(2))])
    with pytest.raises(ValueError, match=r"conv2d: input shape \(1, 3, 5, 5\) and weight shape \(2, 4, 3, 3\)"):
        Tensor(np.ones((1, 3, 5, 5))).conv2d(Tensor(np.ones((2, 4, 3, 3))))
    with pytest.raises(ValueError, match="conv2d: kernel"):
        Tensor(np.ones((1, 1, 2, 2))).conv2d(Tensor(np.ones((1, 1, 3, 3))))
    with pytest.raises(ValueError, match=r"max_pool2d: padding=2 is invalid: must be at most half the kernel"):
        Tensor(np.ones((1, 1, 4, 4))).max_pool2d(2, padding=2)
    with pytest.raises(ValueError, match=r"pad: pad_width must be >= 0"):
        Tensor(np.ones(3)).pad(-1)
    with pytest.raises(ValueError, match="axis 3 is out of bounds"):
        Tensor(np.ones((2, 2))).sum(axis=3)


# ---- backward errors ----------------------------------------------------------------------------
def test_backward_on_non_scalar_needs_grad() -> None:
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"single-element.*\(2, 3\).*grad="):
        y.backward()
    y.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))


def test_backward_grad_of_wrong_shape() -> None:
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"grad has shape \(3, 2\) but the tensor has shape \(2, 3\)"):
        y.backward(np.ones((3, 2)))


def test_backward_without_requires_grad() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor([1.0]) * 2).sum().backward()


def test_second_backward_on_released_graph() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    h = x * 3
    z = (h * h).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        (h + 1).sum().backward()  # h's own graph was freed by z.backward()


# ---- graph semantics ----------------------------------------------------------------------------
def test_grad_accumulates_and_retain_graph() -> None:
    x = Tensor([1.0, -2.0], requires_grad=True)
    y = (x * x * x).sum()  # dy/dx = 3x^2
    y.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad, [3.0, 12.0])
    y.backward()
    np.testing.assert_allclose(x.grad, [6.0, 24.0])
    (x * 5).sum().backward()
    np.testing.assert_allclose(x.grad, [11.0, 29.0])


def test_backward_with_explicit_grad_on_leaf_and_fanout() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    x.backward(np.array([0.5, 0.25]))
    np.testing.assert_allclose(x.grad, [0.5, 0.25])
    x.grad = None
    y = x * 2
    z = (y + y * y + x).sum()  # dz/dx = 2 + 2*(2x)*2 + 1
    z.backward()
    np.testing.assert_allclose(x.grad, 3 + 8 * np.array([1.0, 2.0]))


def test_leaf_grads_are_not_aliased() -> None:
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    g = np.array([1.0, 2.0, 3.0])
    (a + b).backward(g)
    assert a.grad is not b.grad and a.grad is not g
    a.grad *= 10  # an optimizer scaling in place must not touch b.grad or the caller's array
    np.testing.assert_array_equal(b.grad, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(g, [1.0, 2.0, 3.0])
    (a + b).backward(g)
    np.testing.assert_array_equal(a.grad, [11.0, 22.0, 33.0])
    np.testing.assert_array_equal(b.grad, [2.0, 4.0, 6.0])


def test_broadcast_grads_have_leaf_shape() -> None:
    x = Tensor(np.ones((4, 3)), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    c = Tensor(np.ones((4, 1)), requires_grad=True)
    s = Tensor(2.0, requires_grad=True)
    ((x + b) * c * s).sum().backward()
    assert b.grad.shape == (3,) and c.grad.shape == (4, 1) and s.grad.shape == ()
    np.testing.assert_allclose(b.grad, np.full(3, 8.0))
    np.testing.assert_allclose(c.grad, np.full((4, 1), 12.0))
    np.testing.assert_allclose(s.grad, 24.0)


def test_no_grad_builds_no_graph_and_restores() -> None:
    x = Tensor([1.0], requires_grad=True)
    assert tgi.is_grad_enabled()
    with no_grad():
        assert not tgi.is_grad_enabled()
        y = x * 2
        with no_grad():
            pass
        assert not tgi.is_grad_enabled()
    assert tgi.is_grad_enabled() and not y.requires_grad
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError
    assert tgi.is_grad_enabled()

    @no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad and tgi.is_grad_enabled()


def test_no_graph_when_no_input_requires_grad() -> None:
    y = Tensor([1.0]) * Tensor([2.0])
    assert not y.requires_grad and y.is_leaf


def test_detach_shares_data_and_stops_gradient() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert d.data is x.data and not d.requires_grad
    (x * d).sum().backward()  # d is a constant: grad is d, not 2x
    np.testing.assert_allclose(x.grad, [1.0, 2.0])


def test_graph_is_released_after_backward() -> None:
    x = Tensor(np.ones(1000), requires_grad=True)

    def build():
        h = x * 3  # only the graph references h
        return (h * h).sum(), weakref.ref(h)
    y, ref = build()
    gc.collect()
    assert ref() is not None
    y.backward()
    gc.collect()
    assert ref() is None

    y, ref = build()
    y.backward(retain_graph=True)
    gc.collect()
    assert ref() is not None
    y.backward()
    np.testing.assert_allclose(x.grad, np.full(1000, 3 * 18.0))  # 3 backwards of d(9x^2)/dx


def test_long_chain_backward_is_iterative() -> None:
    n = 200_000
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x
    for _ in range(n):
        h = h * 1.00001
    h.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(2, math.exp(n * math.log(1.00001))), rtol=1e-9)


# ---- numerics ------------------------------------------------------------------------------------
def test_softmax_and_log_softmax_are_stable_for_large_logits() -> None:
    x = Tensor(np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = x.softmax()
        lp = x.log_softmax()
    np.testing.assert_allclose(p.data, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-12)
    np.testing.assert_allclose(lp.data, [[0, -1000, -2000], [-math.log(3)] * 3], atol=1e-9)
    with np.errstate(over="raise"):
        lp.sum().backward()
    assert np.isfinite(x.grad).all()


def test_sigmoid_stable_for_large_inputs() -> None:
    x = Tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = x.sigmoid()
        s.sum().backward()
    np.testing.assert_allclose(s.data, [0.0, 1 / (1 + math.exp(50)), 0.5, 1 / (1 + math.exp(-50)), 1.0],
                               rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(x.grad[2], 0.25)


def test_var_ddof() -> None:
    x = np.array([[1.0, 2.0, 4.0], [3.0, 3.0, 9.0]])
    for ddof in (0, 1):
        expected = ((x - x.mean(axis=1, keepdims=True)) ** 2).sum(axis=1) / (3 - ddof)
        np.testing.assert_allclose(Tensor(x).var(axis=1, ddof=ddof).data, expected)


def test_max_ties_share_gradient() -> None:
    x = Tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.5, 0.5])


def test_max_pool_ties_send_gradient_to_one_element() -> None:
    x = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    x.max_pool2d(2).sum().backward()
    assert x.grad.sum() == 1.0


def test_maximum_ties_go_to_first_operand() -> None:
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([1.0, 3.0], requires_grad=True)
    maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [1.0, 0.0])
    np.testing.assert_array_equal(b.grad, [0.0, 1.0])


def test_fancy_index_repeats_accumulate() -> None:
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


# ---- interop ------------------------------------------------------------------------------------
def test_ndarray_on_the_left_defers_to_tensor() -> None:
    x = Tensor(np.ones(2, np.float32), requires_grad=True)
    y = np.array([2.0, 3.0]) * x
    assert isinstance(y, Tensor) and y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 3.0])


def test_accessors() -> None:
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and len(x) == 2
    assert x.numpy() is x.data and Tensor(2.5).item() == 2.5
    assert "Tensor(" in repr(x) and "float64" in repr(x)
    assert x.T.shape == (3, 2) and x.reshape((3, 2)).shape == (3, 2) and x.flatten().shape == (6,)
    assert np.asarray(x) is x.data


def test_no_grad_is_per_thread() -> None:
    import threading
    x = Tensor([1.0], requires_grad=True)
    entered, release, seen = threading.Event(), threading.Event(), []

    def other() -> None:
        with no_grad():
            entered.set()
            release.wait(5)

    t = threading.Thread(target=other)
    t.start()
    entered.wait(5)
    seen.append((x * 2).requires_grad)  # this thread still builds graphs
    release.set()
    t.join()
    assert seen == [True]


def test_linear_matches_composition_and_names_shapes() -> None:
    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=(2, 3, 4)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.normal(size=(5, 4)).astype(np.float32), requires_grad=True)
    b = Tensor(rng.normal(size=5).astype(np.float32), requires_grad=True)
    y = x.linear(w, b)
    np.testing.assert_allclose(y.data, x.data @ w.data.T + b.data, rtol=1e-6)
    y.sum().backward()
    assert w.grad.shape == (5, 4) and w.grad.flags.c_contiguous
    np.testing.assert_allclose(w.grad, np.ones((6, 5)).T @ x.data.reshape(6, 4), rtol=1e-5)
    np.testing.assert_allclose(b.grad, np.full(5, 6.0))
    with pytest.raises(ValueError, match=r"linear: input shape \(2, 3\), weight shape \(5, 4\)"):
        Tensor(np.ones((2, 3))).linear(w)


def test_astype_casts_gradient_back() -> None:
    x = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [2.0, 4.0])


def test_tensor_of_tensor_and_grad_as_tensor() -> None:
    a = Tensor(np.ones(2))
    assert Tensor(a).data is a.data
    x = Tensor(np.ones(2), requires_grad=True)
    (x * 3).backward(Tensor(np.array([1.0, 2.0])))
    np.testing.assert_allclose(x.grad, [3.0, 6.0])


def test_reflected_matmul_and_abs() -> None:
    x = Tensor(np.eye(2, dtype=np.float32) * 2, requires_grad=True)
    y = np.array([[1.0, 2.0]]) @ x
    assert isinstance(y, Tensor) and y.dtype == np.float32
    np.testing.assert_allclose(y.data, [[2.0, 4.0]])
    np.testing.assert_allclose(abs(Tensor([-1.5, 2.0])).data, [1.5, 2.0])
    assert Tensor(np.arange(16).reshape(1, 1, 4, 4)).max_pool2d(2, padding=1).data.max() == 15
