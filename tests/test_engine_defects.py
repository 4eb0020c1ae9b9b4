"""Defects of issue 12 and engine errors of issues 20/21, each against PyTorch's behaviour."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init import Tensor, nn


def _grad(f, *xs):
    ts = [Tensor(np.asarray(x, dtype=np.float64), requires_grad=True) for x in xs]
    out = f(*ts)
    out.sum().backward()
    return out.data, [t.grad for t in ts]


# ---- issue 12: defects against PyTorch float64 ---------------------------------------------------
def test_zero_to_a_tensor_power() -> None:
    # torch.pow(0., x): grad 0 where the base is 0 and the exponent >= 0
    out, (g,) = _grad(lambda x: 0 ** x, [0.5, 2.0, 0.0])
    np.testing.assert_array_equal(out, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])


def test_negative_base_to_a_tensor_power() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out, (g,) = _grad(lambda x: (-2) ** x, [2.0, 3.0, 0.5])
    np.testing.assert_array_equal(out[:2], [4.0, -8.0])
    assert np.isnan(out[2]) and np.isnan(g).all()  # log(-2) is nan in real arithmetic


def test_power_zero_and_power_at_zero_base_have_pytorch_gradients() -> None:
    out, (g,) = _grad(lambda x: x ** 0, [0.0, 2.0])
    np.testing.assert_array_equal(out, [1.0, 1.0])
    np.testing.assert_array_equal(g, [0.0, 0.0])
    out, (gx, gy) = _grad(lambda x, y: x ** y, [0.0, 0.0, 3.0], [2.0, 0.0, 0.0])
    np.testing.assert_array_equal(out, [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0])
    np.testing.assert_allclose(gy, [0.0, 0.0, np.log(3.0)])


@pytest.mark.parametrize("ddof", [3, 4, 10])
def test_var_with_ddof_at_or_above_the_count_is_inf_never_negative(ddof) -> None:
    x = Tensor(np.array([1.0, 2.0, 3.0]))
    assert x.var(ddof=ddof).item() == np.inf  # PyTorch: sum / max(0, N - correction)
    assert np.isnan(Tensor(np.array([5.0])).var(ddof=1).item())
    v = Tensor(np.array([[1.0, 2.0], [3.0, 5.0]])).var(axis=1, ddof=ddof)
    np.testing.assert_array_equal(v.data, [np.inf, np.inf])


@pytest.mark.parametrize("shape,axis", [((2, 0), -1), ((0, 3), 0), ((0,), 0)])
def test_softmax_over_a_size_zero_axis(shape, axis) -> None:
    for f in (lambda t: t.softmax(axis), lambda t: t.log_softmax(axis)):
        x = Tensor(np.zeros(shape), requires_grad=True)
        y = f(x)
        assert y.shape == shape
        y.sum().backward()
        assert x.grad.shape == shape


def test_where_of_python_floats_is_float32() -> None:
    assert tgi.where(np.array([True, False]), 1.0, 3.0).dtype == np.float32
    np.testing.assert_array_equal(tgi.where(np.array([True, False]), 1.0, 3.0).data, [1.0, 3.0])


# ---- issues 20 (item 7) and 21 (items 8, 9): errors that name the thing and the value -------------
@pytest.mark.parametrize("f,name", [(lambda a, t: a - t, "sub"), (lambda a, t: a / t, "div"),
                                    (lambda a, t: a ** t, "pow"), (lambda a, t: a + t, "add"),
                                    (lambda a, t: a * t, "mul")])
def test_ndarray_on_the_left_with_unbroadcastable_shapes(f, name) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: shapes \(3,\) and \(2,\) cannot be broadcast"):
        f(np.ones(3), Tensor(np.ones(2)))


def test_backward_grad_must_be_numbers() -> None:
    y = Tensor(np.ones(2), requires_grad=True) * 2
    with pytest.raises(TypeError, match=r"backward: grad must be numbers of shape \(2,\), got str 'abc'"):
        y.backward(grad="abc")


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_of_an_empty_tensor(name) -> None:
    with pytest.raises(ValueError, match=rf"{name}: the tensor of shape \(0,\) is empty"):
        getattr(Tensor(np.zeros(0)), name)()
    with pytest.raises(ValueError, match=rf"{name}: the tensor of shape \(2, 0\) is empty along axis 1"):
        getattr(Tensor(np.zeros((2, 0))), name)(axis=1)


@pytest.mark.parametrize("slope", ["a", None, True])
def test_leaky_relu_slope_must_be_a_number(slope) -> None:
    with pytest.raises(TypeError, match=r"leaky_relu: negative_slope must be a number, got"):
        Tensor(np.ones(2)).leaky_relu(slope)
    with pytest.raises(TypeError, match=r"negative_slope must be a number"):
        tgi.F.leaky_relu(np.ones(2), slope)


def test_complex_input_is_refused_not_cast() -> None:
    for make in (lambda: Tensor(np.array([1 + 2j])), lambda: Tensor([1j], dtype=np.float32),
                 lambda: Tensor(np.ones(2)) * (1 + 1j), lambda: Tensor(np.ones(2)) + np.complex128(1j),
                 lambda: Tensor(np.ones(2)) * np.array([1j, 2j])):
        with pytest.raises(TypeError, match="complex"):
            make()


def test_clip_low_above_high() -> None:
    with pytest.raises(ValueError, match=r"clip: lo 2 is above hi 1"):
        Tensor(np.ones(2)).clip(2, 1)


@pytest.mark.parametrize("f,name", [(lambda t: t.sum(axis=3), "sum"), (lambda t: t.max(axis=3), "max"),
                                    (lambda t: t.min(axis=-4), "min"), (lambda t: t.mean(axis=3), "mean"),
                                    (lambda t: t.softmax(axis=3), "softmax"),
                                    (lambda t: t.log_softmax(axis=3), "log_softmax")])
def test_bad_axis_names_the_op_axis_and_shape(f, name) -> None:
    with pytest.raises(ValueError, match=rf"{name}: axis -?\d is out of bounds for a tensor of shape \(2, 2\)"):
        f(Tensor(np.ones((2, 2))))
