"""The references agree with each other: PyTorch float64 (``tests.torch_model``, written from the
spec with ``torch.nn.functional``) against hand-written NumPy (``bench/handwritten.py``, forward
and backward by hand, no derive code), and against central differences of a NumPy forward pass
for the keys the hand-written model does not use (skip = 0, eps, bias = false, alpha)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.handwritten import hand_residual_layernorm
from derive.activations import ACTIVATIONS
from derive.losses import LOSSES
from derive.spec import load_spec_file, parse_spec

from . import torch_model

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "residual-layernorm.toml"


def test_every_registered_activation_and_loss_has_a_torch_reference():
    assert set(ACTIVATIONS) <= set(torch_model.TORCH_ACTIVATIONS)
    assert set(LOSSES) <= set(torch_model.LOSSES)


def test_parameter_names_follow_the_layers_numbers():
    spec = load_spec_file(EXAMPLE)
    shapes = torch_model.parameter_shapes(spec, {"M": 5, "K": 4, "C": 3})
    assert shapes == {
        "W1": (4, 5), "b1": (4,), "gamma1": (4,), "beta1": (4,),
        "W2": (4, 4), "b2": (4,), "gamma2": (4,), "beta2": (4,),
        "W3": (3, 4), "b3": (3,),
    }


@pytest.mark.parametrize(("seed", "sizes", "n"), [
    (0, {"M": 5, "K": 4, "C": 3}, 8),
    (1, {"M": 3, "K": 2, "C": 2}, 5),  # layer norm over two units
    (2, {"M": 7, "K": 6, "C": 4}, 1),  # one example
    (3, {"M": 4, "K": 9, "C": 5}, 16),
])
def test_hand_written_residual_layernorm_equals_torch(seed, sizes, n):
    spec = load_spec_file(EXAMPLE)
    rng = np.random.default_rng(seed)
    params = torch_model.random_params(spec, sizes, rng)
    X, y = torch_model.random_data(spec, sizes, n, rng)
    loss, grads = hand_residual_layernorm(params, X, y, l2=spec.l2)
    expected_loss, expected = torch_model.loss_and_grad(spec, sizes, params, X, y)
    assert loss == pytest.approx(expected_loss, rel=1e-10)
    assert set(grads) == set(expected)
    for name, value in expected.items():
        scale = float(np.max(np.abs(value)))
        np.testing.assert_allclose(grads[name], value, rtol=1e-10, atol=1e-10 * scale, err_msg=name)


OTHER_KEYS = """
name = "other-keys"
inputs = 3
loss = "mse"
l2 = 0.3
[[layers]]
units = 3
activation = "leaky_relu"
alpha = 0.2
norm = "layer"
eps = 0.5
bias = false
skip = 0
[[layers]]
units = 2
activation = "identity"
"""


def _numpy_loss(params: dict, X: np.ndarray, y: np.ndarray) -> float:
    """OTHER_KEYS's objective written out in NumPy: no bias, layer norm (eps 0.5), leaky relu
    (0.2), plus the inputs; identity output; mse; weight decay 0.3 on W1 and W2."""
    z = X @ params["W1"].T
    zhat = (z - z.mean(axis=1, keepdims=True)) / np.sqrt(z.var(axis=1, keepdims=True) + 0.5)
    u = params["gamma1"] * zhat + params["beta1"]
    a1 = np.where(u > 0, u, 0.2 * u) + X
    a2 = a1 @ params["W2"].T + params["b2"]
    decay = 0.15 * ((params["W1"] ** 2).sum() + (params["W2"] ** 2).sum())
    return float((0.5 * ((a2 - y) ** 2).sum(axis=1)).mean() + decay)


def test_torch_reads_skip_0_eps_bias_and_alpha_as_numpy_does():
    spec = parse_spec(OTHER_KEYS)
    rng = np.random.default_rng(4)
    params = torch_model.random_params(spec, {}, rng)
    assert set(params) == {"W1", "gamma1", "beta1", "W2", "b2"}
    X, y = torch_model.random_data(spec, {}, 6, rng)
    loss, grads = torch_model.loss_and_grad(spec, {}, params, X, y)
    assert loss == pytest.approx(_numpy_loss(params, X, y), rel=1e-13)
    step = 1e-6
    for name, value in params.items():
        for position in np.ndindex(value.shape):
            shifted = {k: v.copy() for k, v in params.items()}
            shifted[name][position] += step
            up = _numpy_loss(shifted, X, y)
            shifted[name][position] -= 2 * step
            down = _numpy_loss(shifted, X, y)
            assert grads[name][position] == pytest.approx((up - down) / (2 * step), rel=1e-6, abs=1e-8)


def test_symbolic_l2_needs_its_value():
    spec = parse_spec(OTHER_KEYS.replace("l2 = 0.3", 'l2 = "lambda"'))
    rng = np.random.default_rng(5)
    params = torch_model.random_params(spec, {}, rng)
    X, y = torch_model.random_data(spec, {}, 4, rng)
    with pytest.raises(ValueError, match="pass its value"):
        torch_model.loss_and_grad(spec, {}, params, X, y)
    loss, _ = torch_model.loss_and_grad(spec, {}, params, X, y, l2=0.3)
    assert loss == pytest.approx(_numpy_loss(params, X, y), rel=1e-13)


def test_params_that_do_not_fit_the_spec_are_refused():
    spec = parse_spec(OTHER_KEYS)
    rng = np.random.default_rng(6)
    params = torch_model.random_params(spec, {}, rng)
    X, y = torch_model.random_data(spec, {}, 4, rng)
    with pytest.raises(ValueError, match="gamma1"):
        torch_model.loss_and_grad(spec, {}, {**params, "gamma1": np.ones(2)}, X, y)
    with pytest.raises(ValueError, match="the spec's are"):
        torch_model.loss_and_grad(spec, {}, {**params, "b1": np.zeros(3)}, X, y)
