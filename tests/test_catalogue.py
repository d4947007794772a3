"""The course catalogue on the existing engine (issue 9): activations, losses and options added as
local registry rules, checked against independent references.

- Registering an activation changes no other activation's derivation or code: an activation is
  known by the entry its applied function carries, never by matching its formula.
- The generated code's loss and gradients equal PyTorch float64 autograd of a forward pass written
  from the spec with ``torch.nn.functional`` in ``tests.torch_model`` (never from the derivation), on
  random inputs and
  at points exactly on each kink (z = 0), where the code must take PyTorch's subgradient.
- The engine's gradients equal SymPy's ``diff`` of the fully composed loss (``tests.reference``).
"""

from __future__ import annotations

import dataclasses
import math
import random
import subprocess
import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import derive
import derive.render.terminal
from derive import activations, norms
from derive.render.dispatch import module_source  # any model: dense or conv
from derive.render.latex import fragment
from derive.spec import ModelSpec, builtin_names, parse_spec, resolve
from derive.verify import load_module, random_instance

from . import torch_model
from .reference import Concrete, random_point

RELU_SPEC = """
name = "relu-net"
inputs = "M"
loss = "mse"
[[layers]]
units = "K"
activation = "relu"
[[layers]]
units = 1
activation = "softplus"
"""


def _outputs() -> tuple[str, str, str]:
    d = derive.derive(parse_spec(RELU_SPEC))
    return module_source(d), fragment(d), str(d.to_dict())


def test_registering_an_activation_changes_no_other_derivation(monkeypatch):
    before = _outputs()
    # An entry whose formula, matched as a pattern, would match parts of others (the 0 of
    # relu's Heaviside(z, 0), softplus's sigmoid): registering it must change nothing else.
    extra = dataclasses.replace(
        activations.ACTIVATIONS["identity"],
        name="probe",
        forward=lambda z: z * (1 + sp.erf(z / sp.sqrt(2))) / 2,
        derivative=lambda z, a: (1 + sp.erf(z / sp.sqrt(2))) / 2
        + z * sp.exp(-(z**2) / 2) / sp.sqrt(2 * sp.pi),
    )
    monkeypatch.setitem(activations.ACTIVATIONS, "probe", extra)
    assert _outputs() == before


# --- an independent reference: the spec's forward pass in PyTorch -----------------------------


def generated(spec: ModelSpec):
    derivation = derive.derive(spec)
    module = load_module(module_source(derivation), f"test_catalogue_{spec.name.replace('-', '_')}")
    return derivation, module


def assert_matches_torch(
    spec: ModelSpec, sizes: dict, params: dict, X: np.ndarray, y: np.ndarray, rtol: float = 1e-11,
    **keywords: float,
):
    _, module = generated(spec)
    loss, grads = module.loss_and_grad(params, X, y, **keywords)
    l2 = None if isinstance(spec.l2, float) else next(iter(keywords.values()), None)
    expected_loss, expected = torch_model.loss_and_grad(spec, sizes, params, X, y, l2)
    assert loss == pytest.approx(expected_loss, rel=rtol, abs=1e-13)
    for name in params:
        scale = max(1.0, float(np.max(np.abs(expected[name]))))
        np.testing.assert_allclose(grads[name], expected[name], rtol=rtol, atol=rtol * scale, err_msg=name)


def _spec(text: str) -> ModelSpec:
    return parse_spec(text, "<test>")


IDENTITY_OUTPUT = 'units = 2\nactivation = "identity"'


def two_layer(
    activation: str, extra: str = "", loss: str = "mse", output: str = IDENTITY_OUTPUT
) -> ModelSpec:
    return _spec(
        f'name = "t-{activation}"\ninputs = "M"\nloss = "{loss}"\n'
        f'[[layers]]\nunits = "K"\nactivation = "{activation}"\n{extra}\n'
        f"[[layers]]\n{output}\n"
    )


NEW_ACTIVATIONS = [
    ("leaky_relu", ""),
    ("leaky_relu", "alpha = 0.2"),
    ("elu", ""),
    ("elu", "alpha = 0.5"),
    ("silu", ""),
    ("gelu", ""),
    ("softsign", ""),
]
ON_KINK = [
    ("relu", ""),
    ("leaky_relu", ""),
    ("leaky_relu", "alpha = 0.3"),
    ("elu", ""),
    ("elu", "alpha = 2.5"),
]


@pytest.mark.parametrize(("activation", "extra"), NEW_ACTIVATIONS)
def test_new_activation_gradients_equal_pytorch(activation, extra):
    spec = two_layer(activation, extra)
    derivation, module = generated(spec)
    rng = np.random.default_rng(7)
    params, X, y = random_instance(module, derivation, {"M": 3, "K": 4}, 9, rng)
    assert_matches_torch(spec, {"M": 3, "K": 4}, params, X, y)


@pytest.mark.parametrize(("activation", "extra"), ON_KINK)
def test_subgradient_at_zero_is_pytorchs(activation, extra):
    """Inputs of zero and zero biases put every hidden unit exactly at z = 0."""
    spec = two_layer(activation, extra)
    derivation, module = generated(spec)
    rng = np.random.default_rng(3)
    params, X, y = random_instance(module, derivation, {"M": 3, "K": 4}, 6, rng)
    X[:3] = 0.0
    params["b1"][:] = 0.0
    assert_matches_torch(spec, {"M": 3, "K": 4}, params, X, y)
    # The kink matters: at z = 0 the code's gradient for W2 and b1 is not the other side's.
    _, grads = module.loss_and_grad(params, X, y)
    assert np.all(np.isfinite(grads["b1"]))


@pytest.mark.parametrize(("helper", "reference"), [("_normal_cdf", "ncdf"), ("_normal_pdf", "npdf")])
def test_normal_helpers_are_accurate_to_a_few_ulps(helper, reference):
    """gelu's Phi and phi against mpmath at 40 digits, over both tails (to underflow)."""
    _, module = generated(two_layer("gelu"))
    grid = np.concatenate([np.linspace(-38, 38, 3001), [0.0, 1e-300, -1e-20, 0.5, -8.125, 30.0]])
    with np.errstate(all="raise", under="ignore"):
        ours = getattr(module, helper)(grid)
        assert np.array_equal(getattr(module, helper)(np.array([1e300, -1e300])), [*(
            [1.0, 0.0] if helper == "_normal_cdf" else [0.0, 0.0])])
    mpmath.mp.dps = 40
    worst = 0.0
    for value, got in zip(grid, ours, strict=True):
        exact = float(getattr(mpmath, reference)(mpmath.mpf(float(value))))
        worst = max(worst, abs(got - exact) / math.ulp(max(exact, 2.3e-308)))
    assert worst <= 3, worst


@pytest.mark.parametrize("activation", ["leaky_relu", "elu", "silu", "gelu", "softsign"])
def test_extreme_pre_activations_stay_finite_without_warnings(activation):
    spec = two_layer(activation)
    derivation, module = generated(spec)
    rng = np.random.default_rng(1)
    params, X, y = random_instance(module, derivation, {"M": 3, "K": 4}, 4, rng)
    X *= 300.0
    with np.errstate(all="raise", under="ignore"):
        loss, grads = module.loss_and_grad(params, X, y)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())


# --- the derivation itself against SymPy's diff of the composed loss ---------------------------


def _sympy_agrees(spec: ModelSpec, sizes: dict, points: int = 2, tol: float = 1e-20) -> int:
    symbols = {sp.Symbol(k, integer=True, positive=True): v for k, v in sizes.items()}
    concrete = Concrete(derive.derive(spec), symbols)
    rng = random.Random(5)
    checked = 0
    for _ in range(points):
        point = random_point(concrete, rng)
        for step, at, ours, reference in concrete.gradient_pairs():
            difference = sp.N(ours.xreplace(point), 30) - sp.N(reference.xreplace(point), 30)
            assert abs(difference) < tol, (spec.name, step.element, at, difference)
            checked += 1
    return checked


@pytest.mark.parametrize(("activation", "extra"), NEW_ACTIVATIONS)
def test_new_activation_derivation_equals_sympy_diff(activation, extra):
    assert _sympy_agrees(two_layer(activation, extra), {"M": 2, "K": 2}) > 0


# --- losses ----------------------------------------------------------------------------------------

LOSS_CASES = [
    ("svm", 'units = 3\nactivation = "identity"'),
    ("svm", 'units = "C"\nactivation = "identity"'),
    ("hinge", 'units = 1\nactivation = "identity"'),
    ("huber", 'units = 1\nactivation = "identity"'),
    ("huber", 'units = "C"\nactivation = "identity"'),
]


def loss_spec(loss: str, output: str, hidden: str = "tanh") -> ModelSpec:
    return two_layer(hidden, loss=loss, output=output)


@pytest.mark.parametrize(("loss", "output"), LOSS_CASES)
def test_new_loss_gradients_equal_pytorch(loss, output):
    spec = loss_spec(loss, output)
    derivation, module = generated(spec)
    rng = np.random.default_rng(11)
    params, X, y = random_instance(module, derivation, {"M": 3, "K": 4, "C": 4}, 12, rng)
    if loss == "huber":
        y = y * 3.0  # residuals on both sides of delta = 1
    assert_matches_torch(spec, {"M": 3, "K": 4, "C": 4}, params, X, y)


@pytest.mark.parametrize(("loss", "output"), LOSS_CASES)
def test_new_loss_derivation_equals_sympy_diff(loss, output):
    assert _sympy_agrees(loss_spec(loss, output), {"M": 2, "K": 2, "C": 3}) > 0


def test_svm_takes_integer_labels_as_ce_does():
    spec = loss_spec("svm", 'units = 3\nactivation = "identity"')
    derivation, module = generated(spec)
    params, X, y = random_instance(module, derivation, {"M": 3, "K": 2}, 5, np.random.default_rng(2))
    one_hot = module.loss_and_grad(params, X, y)
    labels = module.loss_and_grad(params, X, y.argmax(axis=1))
    assert one_hot[0] == labels[0]
    assert all(np.array_equal(one_hot[1][k], labels[1][k]) for k in params)


def _on_margin(loss: str):
    """Outputs exactly on the hinge's kink: zero output weights, biases that meet the margin."""
    output = 'units = 3\nactivation = "identity"' if loss == "svm" else 'units = 1\nactivation = "identity"'
    spec = loss_spec(loss, output)
    derivation, module = generated(spec)
    params, X, _ = random_instance(module, derivation, {"M": 3, "K": 2}, 4, np.random.default_rng(4))
    params[derivation.names.output.w.name][...] = 0.0
    if loss == "svm":
        params["b2"][...] = [0.0, 1.0, 0.0]  # label 1: both other margins are exactly 0
        y = np.eye(3)[[1, 1, 0, 2]]
    elif loss == "hinge":
        params["b2"][...] = 1.0  # label 1 (t = 1), output 1: 1 - t z = 0
        y = np.array([1.0, 1.0, 0.0, 1.0])
    else:
        params["b2"][...] = 0.5  # huber: residuals exactly -1, 0 and +1, where the cases meet
        y = np.array([1.5, 0.5, -0.5, 0.5])
    return spec, params, X, y


@pytest.mark.parametrize("loss", ["svm", "hinge", "huber"])
def test_margin_kink_takes_pytorchs_subgradient(loss):
    spec, params, X, y = _on_margin(loss)
    assert_matches_torch(spec, {"M": 3, "K": 2}, params, X, y)


# --- layers without bias -----------------------------------------------------------------------------

NO_BIAS = """
name = "no-bias"
inputs = "M"
loss = "ce"
[[layers]]
units = "K"
activation = "gelu"
bias = false
[[layers]]
units = "H"
activation = "tanh"
[[layers]]
units = "C"
activation = "softmax"
bias = false
"""


def test_layers_without_bias_have_no_b_and_match_pytorch():
    spec = _spec(NO_BIAS)
    derivation, module = generated(spec)
    assert [q.name for q in derivation.names.parameters()] == ["W3", "W2", "b2", "W1"]
    sizes = {"M": 3, "K": 4, "H": 2, "C": 3}
    params, X, y = random_instance(module, derivation, sizes, 7, np.random.default_rng(5))
    assert set(params) == {"W1", "W2", "b2", "W3"}
    assert_matches_torch(spec, sizes, params, X, y)
    # the set-up states it: z = sum_j w_kj x_j, with no b
    assert derivation.setup[0].rhs.free_symbols.isdisjoint({derivation.names.layers[0].b})


def test_layers_without_bias_derivation_equals_sympy_diff():
    assert _sympy_agrees(_spec(NO_BIAS), {"M": 2, "K": 2, "H": 1, "C": 2}, points=1) > 0


# --- weight decay ----------------------------------------------------------------------------------

L2_SPEC = """
name = "decay"
inputs = "M"
loss = "ce"
l2 = {l2}
[[layers]]
units = "K"
activation = "relu"
[[layers]]
units = 1
activation = "tanh"
bias = false
[[layers]]
units = "C"
activation = "softmax"
"""


@pytest.mark.parametrize("n", [1, 6])
def test_numeric_weight_decay_is_written_into_the_code_and_matches_pytorch(n):
    spec = _spec(L2_SPEC.format(l2="0.05"))
    derivation, module = generated(spec)
    assert not hasattr(module, "HYPERPARAMETERS")
    params, X, y = random_instance(module, derivation, {"M": 3, "K": 4, "C": 3}, n, np.random.default_rng(n))
    assert_matches_torch(spec, {"M": 3, "K": 4, "C": 3}, params, X, y)


@pytest.mark.parametrize("n", [1, 6])
def test_symbolic_weight_decay_is_a_keyword_of_loss_and_grad(n):
    spec = _spec(L2_SPEC.format(l2='"lambda"'))
    derivation, module = generated(spec)
    assert module.HYPERPARAMETERS == ("lambda_",)
    params, X, y = random_instance(module, derivation, {"M": 3, "K": 2, "C": 3}, n, np.random.default_rng(n))
    with pytest.raises(TypeError):
        module.loss_and_grad(params, X, y)  # the strength must be given
    for strength in (0.0, 0.3, 2.0):
        assert_matches_torch(spec, {"M": 3, "K": 2, "C": 3}, params, X, y, lambda_=strength)


def test_weight_decay_derivation_equals_sympy_diff_of_the_objective():
    """dOmega/dw from the derivation, plus the example's gradient, against SymPy's diff of
    L + Omega written out at concrete sizes (one example: the batch mean of one)."""
    spec = _spec(L2_SPEC.format(l2='"lambda"'))
    d = derive.derive(spec)
    sizes = {sp.Symbol(k, integer=True, positive=True): v for k, v in {"M": 2, "K": 2, "C": 2}.items()}
    concrete = Concrete(d, sizes)
    # Omega written here: l2/2 times the square of every weight element the composed loss holds.
    weights = {layer.w.name for layer in d.names.layers}
    elements = [e for e in concrete.loss.atoms(sp.Indexed, sp.Symbol) if getattr(e, "name", None) in weights
                or isinstance(e, sp.Indexed) and e.base.name in weights]
    omega = d.names.l2 / 2 * sp.Add(*(e**2 for e in elements))
    point = random_point(concrete, random.Random(9))
    point[d.names.l2] = sp.Float("0.7", 30)
    checked = 0
    for step, at, ours, _ in concrete.gradient_pairs():
        factor = d.decay.factor(step.element)
        total = ours + (factor.raw.xreplace(at) if factor is not None else 0)
        reference = sp.diff(concrete.loss + omega, step.element.xreplace(at))
        difference = sp.N(total.xreplace(point), 30) - sp.N(reference.xreplace(point), 30)
        assert abs(difference) < 1e-20, (step.element, at, difference)
        checked += factor is not None
    assert checked == 2 * 2 + 2 + 2 * 1  # every element of W1 (K x M), w2 (K), W3 (C x 1)


def test_weight_decay_is_shown_in_every_rendering():
    d = derive.derive(_spec(L2_SPEC.format(l2='"lambda"')))
    text = derive.render.terminal.render(d)
    assert "Weight decay" in text and "λ⋅w⁽¹⁾ₖⱼ" in text
    assert r"\frac{\partial \Omega}{\partial w^{(1)}_{kj}} &= \lambda w^{(1)}_{kj}" in fragment(d)
    assert d.to_dict()["decay"]["factors"][-1]["raw"] == "lambda*W1[k, j]"


# --- bad specs -------------------------------------------------------------------------------------

BAD = {
    "svm-softmax": (
        'loss = "svm"\n[[layers]]\nunits = "C"\nactivation = "softmax"\n',
        3,
        "loss 'svm' needs an identity output layer of more than one unit",
    ),
    "svm-one-unit": (
        'loss = "svm"\n[[layers]]\nunits = 1\nactivation = "identity"\n',
        3,
        "loss 'svm' needs an identity output layer of more than one unit",
    ),
    "hinge-wide": (
        'loss = "hinge"\n[[layers]]\nunits = 2\nactivation = "identity"\n',
        3,
        "loss 'hinge' needs an identity output layer of 1 unit",
    ),
    "huber-sigmoid": (
        'loss = "huber"\n[[layers]]\nunits = 1\nactivation = "sigmoid"\n',
        3,
        "loss 'huber' needs an identity output layer",
    ),
    "alpha-on-relu": (
        'loss = "mse"\n[[layers]]\nunits = 1\nactivation = "relu"\nalpha = 0.1\n',
        7,
        "layer 1: activation 'relu' takes no parameter 'alpha' (its parameters: none)",
    ),
    "alpha-text": (
        'loss = "mse"\n[[layers]]\nunits = 1\nactivation = "elu"\nalpha = "big"\n',
        7,
        "layer 1: alpha must be a finite number, got 'big'",
    ),
    "bias-text": (
        'loss = "mse"\n[[layers]]\nunits = 1\nactivation = "elu"\nbias = "no"\n',
        7,
        "layer 1: bias must be true or false, got 'no'",
    ),
    "l2-negative": ('loss = "mse"\nl2 = -0.1\n[[layers]]\nunits = 1\nactivation = "elu"\n', 4,
                    'l2 must be a non-negative number or a symbol such as "lambda", got -0.1'),
    "l2-unknown-symbol": ('loss = "mse"\nl2 = "lam"\n[[layers]]\nunits = 1\nactivation = "elu"\n', 4,
                          "l2 'lam' is not a known symbol; use a number or one of: alpha,"),
    "alpha-nan": (
        'loss = "mse"\n[[layers]]\nunits = 1\nactivation = "leaky_relu"\nalpha = nan\n',
        7,
        "layer 1: alpha must be a finite number, got nan",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_catalogue_specs_exit_2_with_one_line(case, tmp_path):
    body, line, message = BAD[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(f'name = "bad"\ninputs = 2\n{body}', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "derive", "show", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"derive: error: {path}:{line}: {message}"), result.stderr


# --- every built-in and example -------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
def _one_example_loss(model: str) -> bool:
    """Whether a model's loss is one example's: a batch norm couples the batch, and its examples
    are checked against PyTorch's batch_norm in tests/test_batch_norm.py instead. A recurrent model
    reads sequences: tests/test_recurrent.py checks it against torch.nn.RNN."""
    spec = resolve(model)
    if spec.recurrent is not None:
        return False
    return all(layer.norm is None or norms.get(layer.norm).over == "units" for layer in spec.layers)


MODELS = [
    m
    for m in (*builtin_names(), *sorted(str(path) for path in (ROOT / "examples").glob("*.toml")))
    if _one_example_loss(m)
]


@pytest.mark.parametrize("model", MODELS)
def test_every_model_equals_pytorch(model):
    derivation = derive.derive(model)
    spec = derivation.spec
    _, module = generated(spec)
    sizes = {name: 3 + i for i, name in enumerate(module.SIZES)}
    params, X, y = random_instance(module, derivation, sizes, 6, np.random.default_rng(13))
    keywords = {name: 0.25 for name in getattr(module, "HYPERPARAMETERS", ())}
    assert_matches_torch(spec, sizes, params, X, y, **keywords)


# SymPy's diff of the composed loss grows as width**depth: models with literal widths of 16 units
# (examples/binary-classifier.toml) are left to the PyTorch test above.
# (A conv model's steps are checked against SymPy's diff in tests/test_conv.py.)
SMALL = [m for m in MODELS if all(isinstance(w, str) or w <= 4 for w in resolve(m).sizes())
         and not resolve(m).convolutional]


@pytest.mark.parametrize("model", SMALL)
def test_every_model_equals_sympy_diff(model):
    derivation = derive.derive(model)
    sizes = {str(s): 2 for s in derivation.names.size_symbols()}
    assert _sympy_agrees(derivation.spec, sizes, points=1) > 0


# --- random specs over the catalogue -------------------------------------------------------------

HIDDEN = ("identity", "sigmoid", "tanh", "relu", "softplus", "leaky_relu", "elu", "silu", "gelu", "softsign")


OUTPUTS = {  # loss -> (units, activation) of an output layer it accepts
    "mse": (2, "identity"),
    "huber": (2, "identity"),
    "svm": (3, "identity"),
    "hinge": (1, "identity"),
    "ce": (3, "softmax"),
    "bce": (1, "sigmoid"),
}


@st.composite
def catalogue_specs(draw):
    """Depth 1-5, any hidden activation (and alpha), any loss, layers with or without bias, and no,
    numeric or symbolic weight decay."""
    depth = draw(st.integers(1, 5))
    loss = draw(st.sampled_from(sorted(OUTPUTS)))
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
        layers.append(f'[[layers]]\nunits = {units}\nactivation = "{activation}"\n{extra}')
    l2 = draw(st.sampled_from(["", "l2 = 0.1\n", 'l2 = "lambda"\n']))
    inputs = draw(st.integers(1, 3))
    text = f'name = "random-{draw(st.integers(0, 10**6))}"\ninputs = {inputs}\nloss = "{loss}"\n{l2}'
    return _spec(text + "".join(layers)), draw(st.integers(0, 2**31))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalogue_specs())
def test_random_catalogue_specs_equal_pytorch(case):
    spec, seed = case
    derivation, module = generated(spec)
    rng = np.random.default_rng(seed)
    params, X, y = random_instance(module, derivation, {}, 5, rng)
    keywords = {name: 0.4 for name in getattr(module, "HYPERPARAMETERS", ())}
    assert_matches_torch(spec, {}, params, X, y, rtol=1e-10, **keywords)


def test_every_l2_symbol_has_a_typeset_name():
    from derive import naming
    from derive.spec import L2_SYMBOLS

    for name in L2_SYMBOLS:
        assert naming.latex_name(name) == "\\" + name
        assert naming.unicode_name(name) != name and naming.is_coefficient(name)


def test_float32_stays_float32_through_the_new_activations():
    """The house's dtype contract: the arithmetic is in the dtype of X and the parameters."""
    spec = _spec(
        'name = "f32"\ninputs = 3\nloss = "huber"\n'
        '[[layers]]\nunits = 4\nactivation = "gelu"\n[[layers]]\nunits = 3\nactivation = "silu"\n'
        '[[layers]]\nunits = 2\nactivation = "elu"\n[[layers]]\nunits = 2\nactivation = "identity"\n'
    )
    derivation, module = generated(spec)
    params, X, y = random_instance(module, derivation, {}, 5, np.random.default_rng(0))
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    loss, grads = module.loss_and_grad(p32, X.astype(np.float32), y)
    assert module.forward(p32, X.astype(np.float32)).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values()), {k: g.dtype for k, g in grads.items()}
    _, exact = module.loss_and_grad(params, X, y)
    for name in params:
        np.testing.assert_allclose(grads[name], exact[name], rtol=1e-3, atol=1e-4)
