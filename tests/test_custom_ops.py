"""docs/custom-ops.md runs as written: softplus defined with tgi.op, checked by check_op with
the doc's own test function, used in a model that learns; its wrong variant fails as shown."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init.testing import GradcheckError, check_op

DOC = (Path(__file__).parents[1] / "docs" / "custom-ops.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", DOC, re.S)


@pytest.fixture(scope="module")
def doc() -> dict:
    namespace: dict = {}
    for code in BLOCKS:  # one namespace, in order, as a reader pastes them
        exec(compile(code, "docs/custom-ops.md", "exec"), namespace)
    return namespace


def test_the_doc_defines_checks_and_trains_with_softplus(doc) -> None:
    assert len(BLOCKS) == 3
    doc["test_softplus"]()  # the doc's own test, exactly as written there
    x = tgi.Tensor(np.array([-30.0, 0.0, 30.0], np.float32), requires_grad=True)
    y = doc["softplus"](x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, [np.log1p(np.exp(-30.0)), np.log(2.0), 30.0], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1 / (1 + np.exp(30.0)), 0.5, 1.0], rtol=1e-6)
    hist = doc["history"]
    assert hist["train_loss"][-1] < 0.5 * hist["train_loss"][0] and hist["train_acc"][-1] >= 0.85


def test_the_wrong_backward_of_the_doc_fails_with_the_plain_gradient(doc) -> None:
    @tgi.op
    def softplus(x):
        out = np.logaddexp(0.0, x)
        return out, lambda g: g * np.exp(-out)  # the doc's wrong variant
    with pytest.raises(GradcheckError, match=r"check_op\(softplus\) at inputs .*input 0.*plain "
                                             r"gradient of sum\(out\): analytic .* vs numerical"):
        check_op(softplus, ref=lambda x: np.log1p(np.exp(x)), domain=(-20.0, 20.0))
