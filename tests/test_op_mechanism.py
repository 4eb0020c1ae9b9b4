"""The one op mechanism (``tgi.op``): the rule contract, dtype rules, grad mode, and the
walker's per-edge checks (undoing broadcasting, shapes, dtypes, number of gradients)."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init import OpError, Tensor, no_grad


def test_a_rule_becomes_a_differentiable_op() -> None:
    @tgi.op
    def square(x):
        return x * x, lambda g: 2 * x * g
    x = Tensor(np.array([1.0, -3.0]), requires_grad=True)
    y = square(x)
    assert isinstance(y, Tensor) and y.requires_grad and square.__name__ == "square"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, -6.0])
    assert not square(Tensor([1.0])).requires_grad  # no input needs a gradient: no graph
    with no_grad():
        assert not square(x).requires_grad


def test_gradients_shaped_like_the_output_are_summed_to_the_input_shape() -> None:
    @tgi.op
    def plus(a, b):
        return a + b, lambda g: (g, g)
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones((1, 3)), requires_grad=True)
    s = Tensor(np.float64(1.0), requires_grad=True)
    plus(plus(a, b), s).backward(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(b.grad, [[3.0, 5.0, 7.0]])
    assert s.grad.shape == () and s.grad == 15.0


def test_per_input_backwards_are_called_only_for_inputs_that_need_them() -> None:
    calls = []

    @tgi.op
    def prod(a, b):
        return a * b, (lambda g: calls.append("a") or g * b, lambda g: calls.append("b") or g * a)
    x = Tensor(np.ones(3), requires_grad=True)
    prod(x, np.full(3, 2.0)).sum().backward()
    prod(Tensor(np.ones(3)), x).sum().backward()
    assert calls == ["a", "b"]
    np.testing.assert_array_equal(x.grad, [3.0, 3.0, 3.0])


def test_non_tensor_operands_take_the_tensor_dtype() -> None:
    seen = []

    @tgi.op
    def plus(a, b):
        seen.append((np.asarray(a).dtype, np.asarray(b).dtype, type(b)))
        return a + b, (lambda g: g, lambda g: g)
    x = Tensor(np.ones(2, np.float32))
    assert plus(x, np.ones(2)).dtype == np.float32  # a float64 ndarray operand is cast
    assert plus(x, [1, 2]).dtype == np.float32
    assert plus(x, 2.5).dtype == np.float32 and seen[-1][2] is float  # Python scalars stay weak
    assert plus(x, np.float64(2.5)).dtype == np.float32
    assert plus(x, np.arange(2)).dtype == np.float32  # an int ndarray takes the float dtype


@pytest.mark.parametrize("back,match", [
    (lambda a, b: lambda g: (g, g[:1]), r"bad: backward returned a gradient of shape \(1,\) for "
                                       r"input 1 of shape \(3,\) \(output shape \(3,\)\)"),
    (lambda a, b: lambda g: (g, g.astype(np.float32)), r"bad: backward returned a float32 "
                                                      r"gradient for input 1 of dtype float64"),
    (lambda a, b: lambda g: (g,), r"bad: backward returned 1 gradients for 2 inputs"),
    (lambda a, b: (lambda g: g,), r"bad: the rule returned 1 backward functions for 2 inputs"),
])
def test_a_gradient_that_does_not_fit_names_the_op_the_input_and_both_shapes(back, match) -> None:
    @tgi.op(name="bad")
    def rule(a, b):
        return a + b, back(a, b)
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(OpError, match=match):
        rule(a, b).sum().backward()


def test_a_gradient_is_never_broadcast_up_silently() -> None:
    @tgi.op
    def first(a):
        return a[:1] * 1.0, lambda g: g  # should scatter g into a's shape (3,)
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(OpError, match=r"first: .*shape \(1,\) for input 0 of shape \(3,\)"):
        first(x).sum().backward()


def test_rule_errors_name_the_op_and_the_shapes() -> None:
    @tgi.op
    def plus(a, b):
        return a + b, None
    with pytest.raises(ValueError, match=r"plus: shapes \(2,\) and \(3,\) cannot be broadcast"):
        plus(Tensor(np.ones(2)), np.ones(3))


def test_leaf_gradients_are_owned() -> None:
    @tgi.op
    def ident2(a, b):
        return a + b, lambda g: (g, g)
    a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
    g = np.array([1.0, 2.0])
    ident2(a, b).backward(g)
    assert a.grad is not b.grad and a.grad is not g
    a.grad += 1
    np.testing.assert_array_equal(b.grad, [1.0, 2.0])


def test_million_op_chain_backward_is_iterative() -> None:
    x = Tensor(np.array([1.0]), requires_grad=True)
    h = x
    for _ in range(300_000):
        h = h + 0.0
    h.backward()
    np.testing.assert_array_equal(x.grad, [1.0])
