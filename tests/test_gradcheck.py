"""gradcheck, numerical_grad and the hypothesis strategies, as a user of tinygrad_init.testing."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_init.tensor import Tensor
from tinygrad_init.testing import (GradcheckError, arrays, broadcastable_shapes, gradcheck,
                                   numerical_grad, shapes)


def wrong_square(x: Tensor) -> Tensor:
    # forward x**2 (1.5x^2 - 0.5x^2) but the backward sees only d(1.5 x * const)/dx = 1.5x, not 2x
    return x * x.detach() * 1.5 + x.detach() * x.detach() * -0.5


def test_gradcheck_passes_on_correct_function() -> None:
    rng = np.random.default_rng(0)
    assert gradcheck(lambda x, w, b: (x @ w + b).tanh().sum(axis=0), rng.normal(size=(3, 4)),
                     rng.normal(size=(4, 2)), rng.normal(size=2))


def test_gradcheck_reports_input_index_errors_and_worst_element() -> None:
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a, b: a * 2 + wrong_square(b), np.ones((2, 2)), x)
    e = info.value
    msg = str(e)
    assert "input 1" in msg and "max abs error" in msg and "max rel error" in msg
    assert e.index == 1 and len(e.worst) == 2 and f"worst element {e.worst}" in msg
    np.testing.assert_allclose(e.numerical / e.analytic, 2 / 1.5)
    assert isinstance(e, AssertionError)


def test_gradcheck_worst_element_is_the_largest_violation() -> None:
    x = np.array([1.0, -2.0, 10.0, 0.5])
    with pytest.raises(GradcheckError) as info:
        gradcheck(wrong_square, x)
    err = np.abs(info.value.analytic - info.value.numerical)
    assert info.value.worst == (int(np.argmax(err)),)
    assert info.value.max_abs == pytest.approx(err.max())


def test_gradcheck_can_return_false() -> None:
    assert gradcheck(wrong_square, np.array([1.0, 2.0]), raise_exception=False) is False


def test_gradcheck_tolerances_by_dtype_and_explicit() -> None:
    x = np.linspace(-1, 1, 5)
    assert gradcheck(lambda t: (t * 3).exp(), x.astype(np.float32))  # loose float32 defaults
    assert gradcheck(lambda t: (t * 3).exp(), x)
    # an error of 1% passes a 5% rtol and fails the float64 default
    f = lambda t: t * t.detach() * 0.01 + t
    assert gradcheck(f, np.full(3, 1.0), rtol=0.05, atol=0)
    with pytest.raises(GradcheckError):
        gradcheck(f, np.full(3, 1.0))


def test_gradcheck_integer_inputs_are_constants() -> None:
    assert gradcheck(lambda x, i: x[i] * 2, np.arange(4.0), np.array([0, 0, 3]))


def test_gradcheck_unused_input_gets_zero_grad() -> None:
    assert gradcheck(lambda x, y: x * 2, np.ones(3), np.ones(2))


def test_numerical_grad_matches_formula() -> None:
    x, y = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.25, 2.0])
    gx, gy = numerical_grad(lambda a, b: (a * a * b).sum(), x, y)
    np.testing.assert_allclose(gx, 2 * x * y, rtol=1e-7)
    np.testing.assert_allclose(gy, x * x, rtol=1e-7)
    (g,) = numerical_grad(lambda a: a * a, x, cotangent=np.array([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(g, [2.0, 0.0, 12.0], rtol=1e-7)


def test_gradcheck_rejects_non_tensor_output() -> None:
    with pytest.raises(TypeError, match="must return a Tensor"):
        gradcheck(lambda x: 3.0, np.ones(2))


# ---- strategies ---------------------------------------------------------------------------------
@given(shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
def test_shapes_bounds(s: tuple) -> None:
    assert 1 <= len(s) <= 3 and all(2 <= n <= 4 for n in s)


@given(broadcastable_shapes(max_dims=3))
def test_broadcastable_shapes_broadcast(pair: tuple) -> None:
    a, b = pair
    np.broadcast_shapes(a, b)


@given(arrays(shapes(max_side=4), avoid=(0.0, 1.0), margin=0.01))
def test_arrays_avoid_kinks(x: np.ndarray) -> None:
    assert x.dtype == np.float64
    assert np.all(np.abs(x) >= 0.01 - 1e-15) and np.all(np.abs(x - 1) >= 0.01 - 1e-15)


@given(arrays((3, 4), np.float32, positive=True, margin=0.05))
def test_arrays_positive(x: np.ndarray) -> None:
    assert x.dtype == np.float32 and x.shape == (3, 4) and np.all(x >= np.float32(0.05))


@given(arrays(shapes(min_dims=1, max_side=5), distinct=True, avoid=(0.0,)))
def test_arrays_distinct(x: np.ndarray) -> None:
    v = np.sort(x.reshape(-1))
    assert np.all(np.diff(v) >= 1e-4 * (1 - 1e-9))
    assert np.all(np.abs(v) >= 1e-3 - 1e-15)


@given(arrays(shapes(min_dims=1, max_dims=2, max_side=4), avoid=(0.0,)))
def test_strategies_drive_gradcheck_of_a_user_op(x: np.ndarray) -> None:
    def softsign_relu(t: Tensor) -> Tensor:  # a "user op" built from primitives
        return t.relu() / (t.abs() + 1)
    assert gradcheck(softsign_relu, x)


# ---- check_op ---------------------------------------------------------------------------------
import tinygrad_init as tgi  # noqa: E402
from tinygrad_init.testing import check_op  # noqa: E402


@tgi.op
def _cube(x):
    return x ** 3, lambda g: g * 3 * x * x


@tgi.op
def _cube_wrong(x):
    return x ** 3, lambda g: g * 2 * x * x  # should be 3 x^2


def test_check_op_passes_a_correct_op_and_draws_0d_empty_and_broadcast_shapes() -> None:
    seen = set()

    def mul(a: Tensor, b: Tensor) -> Tensor:
        seen.add((a.shape, b.shape))
        return a * b
    check_op(mul, 2, ref=np.multiply, max_examples=60)
    check_op(_cube, ref=lambda x: x ** 3)
    assert any(a == () for a, _ in seen)
    assert any(0 in a + b for a, b in seen)
    assert any(a != b and a and b for a, b in seen)


def test_check_op_reports_the_plain_gradient_mismatch() -> None:
    with pytest.raises(GradcheckError) as info:
        check_op(_cube_wrong, ref=lambda x: x ** 3)
    msg = str(info.value)
    assert "check_op(_cube_wrong)" in msg and "input 0" in msg
    assert "plain gradient of sum(out): analytic" in msg and "numerical" in msg
    e = info.value
    assert e.index == 0 and e.analytic is not None


def test_check_op_catches_a_forward_that_differs_from_the_reference() -> None:
    with pytest.raises(GradcheckError, match="differs from the reference"):
        check_op(_cube, ref=lambda x: x ** 3 + 1e-3)


def test_check_op_catches_float32_turned_float64() -> None:
    @tgi.op
    def up(x):
        return x.astype(np.float64) * 2, lambda g: (g * 2).astype(x.dtype)
    with pytest.raises(GradcheckError, match="float32 inputs gave a float64 output"):
        check_op(up, ref=lambda x: 2 * x)


def test_check_op_catches_an_input_modified_in_place() -> None:
    @tgi.op
    def clobber(x):
        out = x * 2
        def back(g):
            x[...] = 0
            return g * 2
        return out, back
    with pytest.raises(GradcheckError, match="input 0 was modified in place"):
        check_op(clobber, ref=lambda x: 2 * x, empty=False)


def test_check_op_domain_avoid_and_options() -> None:
    def log_abs(x: Tensor, scale: float) -> Tensor:
        assert np.all(np.abs(x.data) >= 0.1 - 1e-5) and np.all(x.data <= 2 + 1e-5)  # eps steps
        return x.abs().log() * scale
    check_op(log_abs, ref=lambda x, scale: np.log(np.abs(x)) * scale, domain=(-2.0, 2.0),
             avoid=(0.0,), margin=0.1, options=st.sampled_from([{"scale": 1.0}, {"scale": 2.0}]))

    def pick(x: Tensor, axis: int) -> Tensor:
        return x.sum(axis=axis)
    check_op(pick, ref=lambda x, axis: x.sum(axis=axis), shapes=st.just(((2, 3),)),
             options=lambda shapes: st.sampled_from([{"axis": 0}, {"axis": 1}]))


def test_check_op_distinct_keeps_ties_out_across_inputs() -> None:
    def mx(a: Tensor, b: Tensor) -> Tensor:
        allv = np.concatenate([a.data.ravel(), b.data.ravel()])
        assert len(np.unique(allv)) == allv.size
        return tgi.maximum(a, b)
    check_op(mx, 2, ref=np.maximum, distinct=True, dtypes=(np.float64,))


def test_numerical_grad_of_a_non_contiguous_input() -> None:
    from tinygrad_init.testing import numerical_grad
    x = np.arange(6, dtype=np.float64).reshape(2, 3).T  # F-ordered: reshape(-1) would copy
    (g,) = numerical_grad(lambda t: (t * t).sum(), x)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-6)
