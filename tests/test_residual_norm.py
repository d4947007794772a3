"""Residual connections (``skip = N``), layer normalisation (``norm = "layer"``, ``eps``) and weight
decay in generated code (issue 9), against PyTorch float64 autograd of the spec (``tests.torch_model``,
written from the spec with ``torch.nn.functional``, never from the derivation).

Covered: examples/residual-layernorm.toml at several widths (K = 2 included), a skip from the
inputs (skip = 0), a skip over two layers, a layer both receiving and sending a skip and a layer
sending two, eps = 0.1, bias = false under layer norm, a symbolic l2, relu exactly on its kink
after layer norm, init_params (gamma ones, beta zeros), and random specs over the whole catalogue
(depth 1-5, random skip and norm placements) with hypothesis.
"""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import derive
from derive.activations import ACTIVATIONS
from derive.render.numpy import module_source
from derive.spec import ModelSpec, load_spec_file, parse_spec
from derive.verify import load_module

from . import torch_model
from .reference import Concrete, random_point
from .test_catalogue import OUTPUTS  # loss -> (units, activation) of an output layer it accepts

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "residual-layernorm.toml"

_counter = itertools.count()


def generated(spec: ModelSpec):
    """The generated module of ``spec``, imported from a file as a user would."""
    name = re.sub(r"\W", "_", spec.name)
    return load_module(module_source(derive.derive(spec)), f"test_residual_{name}_{next(_counter)}")


def assert_matches_torch(spec: ModelSpec, sizes: dict, params: dict, X: np.ndarray, y: np.ndarray,
                         module=None, rtol: float = 1e-10, **keywords: float) -> float:
    """The generated loss, gradients and forward pass equal PyTorch's; returns the loss."""
    module = module or generated(spec)
    loss, grads = module.loss_and_grad(params, X, y, **keywords)
    l2 = next(iter(keywords.values())) if isinstance(spec.l2, str) else None
    expected_loss, expected = torch_model.loss_and_grad(spec, sizes, params, X, y, l2)
    assert loss == pytest.approx(expected_loss, rel=rtol, abs=1e-13)
    assert set(grads) == set(expected)
    for name, value in expected.items():
        scale = max(1.0, float(np.max(np.abs(value))))
        np.testing.assert_allclose(grads[name], value, rtol=rtol, atol=rtol * scale, err_msg=name)
    np.testing.assert_allclose(module.forward(params, X), torch_model.forward(spec, sizes, params, X),
                               rtol=rtol, atol=1e-13)
    return loss


def check(spec: ModelSpec, sizes: dict, n: int = 7, seed: int = 0, **keywords: float) -> float:
    rng = np.random.default_rng(seed)
    params = torch_model.random_params(spec, sizes, rng)
    X, y = torch_model.random_data(spec, sizes, n, rng)
    return assert_matches_torch(spec, sizes, params, X, y, **keywords)


def _spec(text: str) -> ModelSpec:
    return parse_spec(text, "<test>")


# --- the example, at several widths ----------------------------------------------------------------


@pytest.mark.parametrize("K", [2, 3, 8])
@pytest.mark.parametrize("n", [1, 9])
def test_example_equals_torch_at_each_width(K, n):
    """Layer norm over K units: K = 2 is the smallest it allows (zhat is then +-1 up to eps)."""
    check(load_spec_file(EXAMPLE), {"M": 3, "K": K, "C": 4}, n=n, seed=K * 10 + n)


def test_init_params_has_gamma_ones_and_beta_zeros():
    spec = load_spec_file(EXAMPLE)
    sizes = {"M": 3, "K": 5, "C": 4}
    params = generated(spec).init_params(sizes, seed=0)
    shapes = torch_model.parameter_shapes(spec, sizes)
    assert {name: np.shape(value) for name, value in params.items()} == shapes
    for layer in ("1", "2"):
        assert np.array_equal(params["gamma" + layer], np.ones(5))
        assert np.array_equal(params["beta" + layer], np.zeros(5))


def test_relu_after_layer_norm_on_its_kink_takes_pytorchs_subgradient():
    """gamma2 = beta2 = 0 puts every unit of layer 2 exactly at relu's kink (relu'(0) = 0)."""
    spec = load_spec_file(EXAMPLE)
    sizes = {"M": 3, "K": 4, "C": 3}
    rng = np.random.default_rng(8)
    params = torch_model.random_params(spec, sizes, rng)
    params["gamma2"][:] = 0.0
    params["beta2"][:] = 0.0
    X, y = torch_model.random_data(spec, sizes, 6, rng)
    assert_matches_torch(spec, sizes, params, X, y)


# --- skips -------------------------------------------------------------------------------------------

SKIP_INPUTS = """
name = "skip-inputs"
inputs = "M"
loss = "bce"
[[layers]]
units = "M"
activation = "elu"
norm = "layer"
skip = 0
[[layers]]
units = 1
activation = "sigmoid"
"""

SKIP_OVER_ONE = """
name = "skip-over-one"
inputs = 3
loss = "huber"
[[layers]]
units = "K"
activation = "silu"
[[layers]]
units = "H"
activation = "gelu"
norm = "layer"
[[layers]]
units = "K"
activation = "tanh"
skip = 1
[[layers]]
units = 2
activation = "identity"
"""

# Layer 1 sends two skips (to 2 and 4); layer 2 receives one and sends one (to 3).
TWO_SKIPS = """
name = "two-skips"
inputs = "M"
loss = "ce"
[[layers]]
units = "K"
activation = "relu"
norm = "layer"
[[layers]]
units = "K"
activation = "leaky_relu"
alpha = 0.1
skip = 1
[[layers]]
units = "K"
activation = "tanh"
norm = "layer"
skip = 2
[[layers]]
units = "K"
activation = "softplus"
skip = 1
[[layers]]
units = "C"
activation = "softmax"
"""


@pytest.mark.parametrize("seed", [0, 1])
def test_skip_from_the_inputs(seed):
    check(_spec(SKIP_INPUTS), {"M": 4}, seed=seed)


@pytest.mark.parametrize("seed", [0, 1])
def test_skip_from_layer_1_into_layer_3(seed):
    check(_spec(SKIP_OVER_ONE), {"K": 4, "H": 2}, seed=seed)


@pytest.mark.parametrize("seed", [0, 1])
def test_two_skips_into_and_out_of_the_same_layer(seed):
    check(_spec(TWO_SKIPS), {"M": 3, "K": 4, "C": 3}, seed=seed)


# --- layer-norm options, bias, weight decay --------------------------------------------------------------

WITH_EPS = EXAMPLE.read_text(encoding="utf-8").replace('norm = "layer"', 'norm = "layer"\neps = 0.1')


def test_eps_is_the_layers():
    spec = _spec(WITH_EPS)
    assert [layer.eps for layer in spec.layers[:2]] == [0.1, 0.1]
    sizes = {"M": 3, "K": 2, "C": 3}  # two units: the variance is small enough for eps to matter
    loss = check(spec, sizes, seed=4)
    rng = np.random.default_rng(4)
    params = torch_model.random_params(spec, sizes, rng)
    X, y = torch_model.random_data(spec, sizes, 7, rng)
    default, _ = torch_model.loss_and_grad(load_spec_file(EXAMPLE), sizes, params, X, y)
    assert abs(loss - default) > 1e-6 * abs(default)  # the test would see eps = 1e-5 used instead


NO_BIAS_NORM = """
name = "no-bias-norm"
inputs = "M"
loss = "mse"
l2 = 0.01
[[layers]]
units = "K"
activation = "gelu"
norm = "layer"
bias = false
[[layers]]
units = "K"
activation = "sigmoid"
norm = "layer"
bias = false
skip = 1
[[layers]]
units = 2
activation = "identity"
bias = false
"""


def test_layer_norm_without_bias():
    spec = _spec(NO_BIAS_NORM)
    sizes = {"M": 3, "K": 4}
    assert set(torch_model.parameter_shapes(spec, sizes)) == {"W1", "gamma1", "beta1", "W2", "gamma2",
                                                              "beta2", "W3"}
    check(spec, sizes, seed=5)


SYMBOLIC_L2 = EXAMPLE.read_text(encoding="utf-8").replace("l2 = 0.001", 'l2 = "lambda"')


def test_symbolic_l2_is_a_keyword_of_loss_and_grad():
    spec = _spec(SYMBOLIC_L2)
    assert spec.l2 == "lambda"
    module = generated(spec)
    sizes = {"M": 3, "K": 4, "C": 3}
    rng = np.random.default_rng(6)
    params = torch_model.random_params(spec, sizes, rng)
    X, y = torch_model.random_data(spec, sizes, 5, rng)
    with pytest.raises(TypeError):
        module.loss_and_grad(params, X, y)  # the strength must be given
    for strength in (0.0, 0.3, 2.0):
        assert_matches_torch(spec, sizes, params, X, y, module=module, lambda_=strength)


# --- random specs over the catalogue -------------------------------------------------------------

HIDDEN = tuple(sorted(name for name, entry in ACTIVATIONS.items() if entry.elementwise))


@st.composite
def residual_specs(draw):
    """Depth 1-5, any hidden activation (and alpha), any loss; each hidden layer may have a norm
    (of more than one unit, maybe with eps), a skip from an earlier layer of its width (0: the
    inputs), no bias; no, numeric or symbolic weight decay."""
    depth = draw(st.integers(1, 5))
    loss = draw(st.sampled_from(sorted(OUTPUTS)))
    widths = [draw(st.integers(1, 3))]
    layers = []
    for number in range(1, depth + 1):
        output = number == depth
        hidden = (draw(st.integers(1, 3)), draw(st.sampled_from(HIDDEN)))
        units, activation = OUTPUTS[loss] if output else hidden
        extra = ""
        if activation in ("leaky_relu", "elu") and draw(st.booleans()):
            extra += f"alpha = {draw(st.sampled_from([0.05, 0.2, 1.5]))}\n"
        if not draw(st.integers(0, 3)):
            extra += "bias = false\n"
        if not output and units > 1 and draw(st.booleans()):
            extra += 'norm = "layer"\n' + draw(st.sampled_from(["", "eps = 0.1\n", "eps = 0.001\n"]))
        sources = [source for source, width in enumerate(widths) if width == units]
        if not output and sources and draw(st.booleans()):
            extra += f"skip = {draw(st.sampled_from(sources))}\n"
        widths.append(units)
        layers.append(f'[[layers]]\nunits = {units}\nactivation = "{activation}"\n{extra}')
    l2 = draw(st.sampled_from(["", "l2 = 0.1\n", 'l2 = "lambda"\n']))
    text = f'name = "random-{draw(st.integers(0, 10**6))}"\ninputs = {widths[0]}\nloss = "{loss}"\n{l2}'
    return _spec(text + "".join(layers)), draw(st.integers(0, 2**31))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(residual_specs())
def test_random_residual_specs_equal_torch(case):
    spec, seed = case
    keywords = {"lambda_": 0.4} if isinstance(spec.l2, str) else {}
    check(spec, {}, n=5, seed=seed, **keywords)


# --- the derivation itself against SymPy's diff of the composed loss ---------------------------

TANH_SKIP = """
name = "tanh-skip"
inputs = 2
loss = "bce"
[[layers]]
units = 2
activation = "tanh"
norm = "layer"
[[layers]]
units = 2
activation = "tanh"
skip = 1
[[layers]]
units = 1
activation = "sigmoid"
"""


def test_skip_over_an_activation_derived_through_its_output_equals_sympy_diff():
    """tanh' = 1 - tanh(z)^2 is written through the activation's value, which a skip's output
    a = tanh(z) + a^(skip) is not: the derivation must still equal SymPy's diff."""
    spec = _spec(TANH_SKIP)
    concrete = Concrete(derive.derive(spec), {})
    point = random_point(concrete, random.Random(3))
    checked = 0
    for step, at, ours, reference in concrete.gradient_pairs():
        difference = sp.N(ours.xreplace(point), 30) - sp.N(reference.xreplace(point), 30)
        assert abs(difference) < 1e-20, (step.element, at, difference)
        checked += 1
    assert checked == 2 * 2 + 2 + 2 + 2 + 2 * 2 + 2 + 2 + 1
