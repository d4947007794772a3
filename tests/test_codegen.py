"""Generated NumPy code (issue 4): gradients against independent references, stability, contract.

References: central finite differences of the generated loss, and HIPS ``autograd`` applied to an
independent forward pass built here from the spec (not from the derivation or the generated
code). Also: extreme logits under ``np.errstate(all="raise")``, hypothesis on random sizes and on
random specs, inputs left unmodified, byte-identical generation, ruff and mypy on the output, and
``out/`` equal to a fresh generation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import derive
import derive.activations
from derive.losses import LOSSES
from derive.lowering import ArraySymbol, BatchMatMul, BatchTranspose, Hadamard, Outer
from derive.naming import names as model_names
from derive.render.dispatch import module_source  # any model: dense or conv
from derive.spec import ModelSpec, builtin_names, parse_spec
from derive.vectorise import share_log_normaliser, vectorise
from derive.verify import (
    MAX_COORDINATES,
    central_differences,
    load_module,
    random_instance,
    relative_error,
    sample_coordinates,
    size_sets,
    verify_models,
    verify_module,
    worst_errors,
)

from .test_catalogue import catalogue_specs

ROOT = Path(__file__).resolve().parents[1]
BUILTINS = builtin_names()
OUT_FILES = {"a": "a.py", "b": "b.py", "c": "c.py", "c-mlp": "c_mlp.py"}
TOL = 1e-6


@cache
def generated(model: str | ModelSpec):
    derivation = derive.derive(model)
    name = derivation.spec.name.replace("-", "_")
    return derivation, load_module(module_source(derivation), f"test_codegen_{name}_{abs(hash(model))}")


# --- an independent reference: the spec's forward pass in autograd.numpy ---------------------------

ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": lambda z: 1.0 / (1.0 + anp.exp(-z)),
    "tanh": anp.tanh,
    "relu": lambda z: anp.maximum(z, 0.0),
    "softplus": lambda z: anp.log1p(anp.exp(z)),
    "softmax": lambda z: (
        anp.exp(z - anp.max(z, axis=1, keepdims=True))
        / anp.sum(anp.exp(z - anp.max(z, axis=1, keepdims=True)), axis=1, keepdims=True)
    ),
}


def _per_example_loss(loss: str, a, y):
    if loss == "bce":
        return -(y * anp.log(a) + (1.0 - y) * anp.log(1.0 - a))
    if loss == "ce":
        return -anp.sum(y * anp.log(a), axis=1)
    squared = 0.5 * (a - y) ** 2
    return anp.sum(squared, axis=1) if squared.ndim == 2 else squared


def reference_loss(spec: ModelSpec):
    """Mean loss of ``spec`` over a batch, written from the course's equations in autograd.numpy.

    Shapes follow the contract: a layer of one unit gives a vector (n,) and has a bias ();
    its weights are (inputs,), or () when its input is a single unit too.
    """
    layers = model_names(spec).layers

    def loss(params, X, y):
        a = X if spec.inputs != 1 else X[:, 0]
        for layer, names in zip(spec.layers, layers, strict=True):
            w, b = params[names.w.name], params[names.b.name]
            if names.prev_index is not None:
                z = anp.dot(a, anp.transpose(w)) + b  # (n, P) @ (P, K) or (n, P) @ (P,)
            elif names.index is not None:
                z = anp.outer(a, w) + b  # one input unit, K outputs
            else:
                z = a * w + b
            a = ACTIVATIONS[layer.activation](z)
        return anp.mean(_per_example_loss(spec.loss, a, y))

    return loss


def autograd_gradients(spec: ModelSpec, params, X, y):
    return autograd.grad(reference_loss(spec))(params, X, y)


def check_against_references(
    spec_or_model, sizes: dict[str, int], n: int, seed: int, fd: bool = True
) -> None:
    derivation, module = generated(spec_or_model)
    rng = np.random.default_rng(seed)
    params, X, y = random_instance(module, derivation, sizes, n, rng)
    loss, grads = module.loss_and_grad(params, X, y)
    assert set(grads) == set(params)
    for name, value in params.items():
        assert np.shape(grads[name]) == np.shape(value), name
        assert isinstance(grads[name], np.ndarray), name
    expected = autograd_gradients(derivation.spec, params, X, y)
    assert loss == pytest.approx(float(reference_loss(derivation.spec)(params, X, y)), rel=1e-10, abs=1e-12)
    for name in params:
        assert relative_error(grads[name], expected[name]) < 1e-9, (name, sizes, n)
    if fd:
        numeric = central_differences(lambda p: module.loss_and_grad(p, X, y)[0], params)
        for name in params:
            assert relative_error(grads[name], numeric[name]) < TOL, (name, sizes, n)


# --- built-in models --------------------------------------------------------------------------


SIZE_CASES = [
    ({"M": 1, "K": 1, "C": 2}, 1),
    ({"M": 1, "K": 3, "C": 3}, 4),
    ({"M": 4, "K": 1, "C": 2}, 3),
    ({"M": 5, "K": 4, "C": 3}, 1),
    ({"M": 6, "K": 5, "C": 4}, 9),
]


@pytest.mark.parametrize("model", BUILTINS)
@pytest.mark.parametrize(("sizes", "n"), SIZE_CASES)
def test_gradients_match_autograd_and_finite_differences(model, sizes, n):
    spec = derive.derive(model).spec
    needed = {s: v for s, v in sizes.items() if s in spec.sizes()}
    check_against_references(model, needed, n, seed=sum(needed.values()) * 31 + n)


@pytest.mark.parametrize("model", BUILTINS)
def test_parameter_names_and_shapes_follow_the_contract(model):
    expected = {
        "a": {"w": ("M",), "b": ()},
        "b": {"W1": ("K", "M"), "b1": ("K",), "w2": ("K",), "b2": ()},
        "c": {"W": ("C", "M"), "b": ("C",)},
        "c-mlp": {"W1": ("K", "M"), "b1": ("K",), "W2": ("C", "K"), "b2": ("C",)},
    }[model]
    _, module = generated(model)
    sizes = {"M": 7, "K": 5, "C": 3}
    params = module.init_params({s: sizes[s] for s in module.SIZES}, seed=0)
    assert {k: v.shape for k, v in params.items()} == {
        k: tuple(sizes[s] for s in v) for k, v in expected.items()
    }


@pytest.mark.parametrize("model", BUILTINS)
def test_extreme_logits_are_finite_without_warnings(model):
    derivation, module = generated(model)
    rng = np.random.default_rng(7)
    sizes = {s: 4 for s in module.SIZES}
    params, X, y = random_instance(module, derivation, sizes, 6, rng)
    # Scale the output layer so its logits reach |z| ~ 1000 (hidden sigmoids saturate too).
    big = {name: value * 400.0 for name, value in params.items()}
    X = X / np.max(np.abs(X))
    with np.errstate(all="raise"):
        loss, grads = module.loss_and_grad(big, X, y)
        predictions = module.forward(big, X)
    z_out = np.abs(_output_logits(derivation, big, X)).max()
    assert z_out > 300
    assert np.isfinite(loss) and loss >= 0
    assert all(np.all(np.isfinite(g)) for g in grads.values())
    assert np.all(np.isfinite(predictions))


def _output_logits(derivation, params, X):
    """The output pre-activation, through the autograd reference (plain NumPy works the same)."""
    spec = derivation.spec
    layers = model_names(spec).layers
    a = X
    z = X
    for layer, names in zip(spec.layers, layers, strict=True):
        w, b = params[names.w.name], params[names.b.name]
        z = a @ w.T + b
        with np.errstate(all="ignore"):
            a = np.asarray(ACTIVATIONS[layer.activation](z))
    return z


@pytest.mark.parametrize("model", ["c", "c-mlp"])
def test_integer_labels_equal_one_hot_targets(model):
    derivation, module = generated(model)
    rng = np.random.default_rng(3)
    params, X, y = random_instance(module, derivation, {s: 4 for s in module.SIZES}, 5, rng)
    labels = np.argmax(y, axis=1)
    loss, grads = module.loss_and_grad(params, X, labels)
    ref_loss, ref = module.loss_and_grad(params, X, y)
    assert loss == ref_loss
    assert all(np.array_equal(grads[k], ref[k]) for k in ref)


@pytest.mark.parametrize("model", BUILTINS)
def test_inputs_are_not_modified(model):
    derivation, module = generated(model)
    rng = np.random.default_rng(11)
    params, X, y = random_instance(module, derivation, {s: 3 for s in module.SIZES}, 4, rng)
    if LOSSES[derivation.spec.loss].target == "one-hot":
        y = np.argmax(y, axis=1)
    before = ({k: v.copy() for k, v in params.items()}, X.copy(), y.copy())
    module.loss_and_grad(params, X, y)
    module.forward(params, X)
    assert all(np.array_equal(params[k], before[0][k]) for k in params)
    assert np.array_equal(X, before[1]) and np.array_equal(y, before[2])


@pytest.mark.parametrize("model", BUILTINS)
def test_forward_gives_probabilities(model):
    derivation, module = generated(model)
    rng = np.random.default_rng(5)
    params, X, _ = random_instance(module, derivation, {s: 3 for s in module.SIZES}, 4, rng)
    out = module.forward(params, X)
    assert np.all((out > 0) & (out < 1))
    if out.ndim == 2:
        assert np.allclose(out.sum(axis=1), 1.0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(BUILTINS),
    m=st.integers(1, 6),
    k=st.integers(1, 6),
    c=st.integers(2, 5),
    n=st.integers(1, 12),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_random_sizes_and_inputs(model, m, k, c, n, seed):
    spec = derive.derive(model).spec
    sizes = {s: v for s, v in {"M": m, "K": k, "C": c}.items() if s in spec.sizes()}
    check_against_references(model, sizes, n, seed, fd=False)


# --- any spec -----------------------------------------------------------------------------------

HIDDEN = ("sigmoid", "tanh", "relu", "softplus", "identity")


@st.composite
def specs(draw) -> ModelSpec:
    """Random feed-forward specs: depth 1-4, any hidden activations, widths symbolic or literal."""
    depth = draw(st.integers(1, 4))
    widths = [draw(st.sampled_from(["K", "H", 1, 2, 3])) for _ in range(depth - 1)]
    loss = draw(st.sampled_from(["bce", "ce", "mse"]))
    if loss == "bce":
        output = (1, "sigmoid")
    elif loss == "ce":
        output = (draw(st.sampled_from(["C", 3])), "softmax")
    else:
        output = (draw(st.sampled_from(["C", 1, 2])), draw(st.sampled_from(HIDDEN)))
    layers = [(w, draw(st.sampled_from(HIDDEN))) for w in widths] + [output]
    inputs = draw(st.sampled_from(["M", 1, 3]))
    text = f'name = "random"\ninputs = {_toml(inputs)}\nloss = "{loss}"\n' + "".join(
        f'[[layers]]\nunits = {_toml(w)}\nactivation = "{act}"\n' for w, act in layers
    )
    return parse_spec(text, "<random>")


def _toml(value) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), size=st.integers(1, 4), n=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
def test_property_any_spec_matches_autograd(spec, size, n, seed):
    sizes = {s: (max(size, 2) if s == "C" else size) for s in spec.sizes() if isinstance(s, str)}
    check_against_references(spec, sizes, n, seed, fd=False)


def test_deep_mixed_spec_against_finite_differences():
    spec = parse_spec(
        'name = "deep"\ninputs = "M"\nloss = "bce"\n'
        '[[layers]]\nunits = "K"\nactivation = "relu"\n'
        '[[layers]]\nunits = 1\nactivation = "softplus"\n'
        '[[layers]]\nunits = 3\nactivation = "tanh"\n'
        '[[layers]]\nunits = 1\nactivation = "sigmoid"\n',
        "<deep>",
    )
    check_against_references(spec, {"M": 4, "K": 3}, 5, seed=2)


# --- the batch form -------------------------------------------------------------------------------


def test_batch_form_of_the_hidden_error_is_a_matrix_product_then_hadamard():
    statements = {st.target: st for st in vectorise(derive.derive("c-mlp"))}
    delta1 = statements["delta1"].expr
    assert isinstance(delta1, Hadamard)
    product = delta1.args[0]
    assert product == BatchMatMul(ArraySymbol("delta2", real=True), ArraySymbol("W2", real=True))
    gradient = statements["dW1"].expr
    assert gradient.has(BatchTranspose(ArraySymbol("delta1", real=True)))
    assert sp.latex(gradient) == r"\frac{{\boldsymbol{\delta}^{(1)}}^\top X}{n}"
    assert "\\odot" in sp.latex(delta1)


def test_width_one_output_uses_an_outer_product():
    statements = {st.target: st for st in vectorise(derive.derive("b"))}
    assert statements["delta1"].expr.has(Outer)
    assert [st.role for st in vectorise(derive.derive("b"))].count("gradient") == 4


def test_log_normaliser_rules_match_the_activation():
    """exp(z_k - log-normaliser) is the activation itself (SymPy, at a concrete width)."""
    z, k, c = sp.IndexedBase("z", real=True), sp.Symbol("k", integer=True), sp.Symbol("c", integer=True)
    entries = [act for act in derive.activations.ACTIVATIONS.values() if act.log_normaliser]
    assert entries
    for act in entries:
        assert act.vector_forward and act.numpy_log_normalised
        for unit in (1, 3):
            expected = act.vector_forward(z, k, c, 3).doit().subs(k, unit)
            shifted = sp.exp(z[unit] - act.log_normaliser(z, c, 3).doit())
            assert sp.simplify(expected - shifted) == 0, act.name


@pytest.mark.parametrize("model", ["c", "c-mlp"])
def test_softmax_and_cross_entropy_share_the_log_sum_exp(model):
    derivation, module = generated(model)
    rng = np.random.default_rng(13)
    for scale in (1.0, 1000.0):
        z = rng.normal(size=(5, 4)) * scale
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            a, lse = module._softmax_log_sum_exp(z)
        assert np.array_equal(a, module._softmax(z))
        assert np.allclose(lse, np.logaddexp.reduce(z, axis=1), rtol=1e-14, atol=0)
    # Training reads the shared normaliser; predictions keep the plain activation.
    training = share_log_normaliser(vectorise(derivation), derivation)
    out = derivation.names.output
    line = next(st for st in training if st.target.startswith(f"{out.a.name}, "))
    assert line.also and line.role == "forward"
    source = module_source(derivation)
    loss_line = next(text for text in source.splitlines() if text.strip().startswith("loss = "))
    assert ".max(" not in loss_line and line.target.split(", ")[1] in loss_line
    assert f"    {out.a.name}: Array = _softmax(" in source  # forward: the plain activation


@pytest.mark.parametrize("model", ["a", "b"])
def test_losses_without_a_log_normaliser_leave_the_statements_alone(model):
    derivation = derive.derive(model)
    statements = vectorise(derivation)
    assert share_log_normaliser(statements, derivation) == statements


# --- verification command ---------------------------------------------------------------------


def test_verify_passes_for_builtins_and_fails_for_a_wrong_gradient():
    lines: list[str] = []
    assert verify_models(("a", "c"), echo=lines.append)
    assert any(line.startswith("a ") and "ok" in line for line in lines)

    derivation, module = generated("b")
    broken = load_module(module_source(derivation), "test_codegen_broken_b")
    original = broken.loss_and_grad

    def wrong(params, X, y):
        loss, grads = original(params, X, y)
        return loss, {**grads, "W1": grads["W1"] * 1.001}

    broken.loss_and_grad = wrong
    worst = worst_errors(derivation, broken)
    assert worst["W1"] > TOL and worst["b1"] < TOL


# Dense models: a conv model's sizes (kernels that fit) are tested in tests/test_conv.py.
EXAMPLES = sorted(str(path) for path in (ROOT / "examples").glob("*.toml")
                  if not path.stem.startswith("conv"))


@pytest.mark.parametrize("model", [*BUILTINS, *EXAMPLES])
def test_verify_gives_every_size_symbol_its_own_value(model):
    derivation, module = generated(model)
    names = derivation.names
    literal = {int(w) for w in (names.input_width, *(layer.width for layer in names.layers)) if w.is_Integer}
    sets = list(size_sets(derivation, module))
    first = sets[0]
    second = sets[1] if len(first) > 1 else first  # one symbol: no other assignment to rotate to
    for sizes in (first, second):
        assert len(set(sizes.values())) == len(sizes), sizes  # no square shape by accident
        assert not set(sizes.values()) & literal, sizes
    if len(first) > 1:
        assert all(first[s] != second[s] for s in first), (first, second)
    assert any(set(sizes.values()) <= {1, 2} for sizes in sets) or not first


def test_verify_catches_a_weight_used_transposed_on_square_shapes():
    """A module using W (C, M) as if it were (M, C) is self-consistent when C = M: only sizes
    that differ expose it."""
    derivation, _ = generated("c")
    source = module_source(derivation)
    assert source.count("X.dot(W.T) + b") == 2 and "dW = delta.T.dot(X)" in source
    swapped = source.replace("X.dot(W.T) + b", "X.dot(W) + b")
    swapped = swapped.replace("dW = delta.T.dot(X)", "dW = X.T.dot(delta)")
    module = load_module(swapped, "test_codegen_swapped_c")
    rng = np.random.default_rng(1)
    square = {"C": 3, "M": 3}
    params, X, y = random_instance(module, derivation, square, 4, rng)
    grads = module.loss_and_grad(params, X, y)[1]
    numeric = central_differences(lambda p: module.loss_and_grad(p, X, y)[0], params)
    assert relative_error(grads["W"], numeric["W"]) < TOL  # invisible at equal sizes
    lines: list[str] = []
    assert not verify_module(derivation, module, lines.append)
    assert lines[0].startswith("c ") and "FAIL" in lines[0] and "ValueError" in lines[0]


def test_sampled_central_differences_equal_the_full_ones_there():
    rng = np.random.default_rng(4)
    params = {"W": rng.normal(size=(7, 9)), "b": rng.normal(size=(7,)), "c": np.asarray(0.3)}
    X = rng.normal(size=(5, 9))

    def loss(p):
        return float(np.sum(np.tanh(X @ p["W"].T + p["b"]) ** 2) + p["c"] ** 3)

    full = central_differences(loss, params)
    chosen = sample_coordinates(params, rng, limit=10)
    assert [len(chosen[k]) for k in ("W", "b", "c")] == [10, 7, 1]
    sampled = central_differences(loss, params, coordinates=chosen)
    for name in params:
        assert np.array_equal(sampled[name], np.reshape(full[name], -1)[chosen[name]]), name
    assert all(np.array_equal(v, params[k]) for k, v in params.items())  # unchanged


def test_verify_samples_coordinates_of_a_huge_parameter(tmp_path):
    path = tmp_path / "huge.toml"
    path.write_text(
        'name = "huge"\ninputs = 100000\nloss = "mse"\n'
        '[[layers]]\nunits = 3\nactivation = "tanh"\n[[layers]]\nunits = 2\nactivation = "identity"\n'
    )
    lines: list[str] = []
    assert verify_models((str(path),), echo=lines.append)
    assert f"W1 {MAX_COORDINATES} of 300000" in lines[0] and "ok" in lines[0]
    assert f"at most {MAX_COORDINATES}" in lines[-1]


# --- targets from the loss registry -----------------------------------------------------------------

WIDE_REGRESSION = (
    'name = "wide"\ninputs = "M"\nloss = "mse"\n[[layers]]\nunits = 3\nactivation = "identity"\n'
)


def test_multi_output_regression_takes_real_targets_as_they_are():
    spec = parse_spec(WIDE_REGRESSION, "<wide>")
    source = module_source(derive.derive(spec))
    assert "_one_hot" not in source and "class labels" not in source
    assert "y is (n, 3) of real targets" in source
    for sizes, n in (({"M": 2}, 1), ({"M": 4}, 5)):
        check_against_references(spec, sizes, n, seed=n)
    derivation, module = generated(spec)
    params, X, y = random_instance(module, derivation, {"M": 2}, 4, np.random.default_rng(0))
    assert y.shape == (4, 3) and not set(np.unique(y)) <= {0.0, 1.0}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_names_a_target_kind_with_a_sampler(name):
    loss = LOSSES[name]
    rng = np.random.default_rng(2)
    width = None if loss.target == "binary" else 4
    y = loss.sample_targets(rng, 6, width)
    assert y.shape == ((6,) if width is None else (6, width)) and y.dtype == np.float64
    if loss.target in ("binary", "one-hot"):
        assert set(np.unique(y)) <= {0.0, 1.0}
    if loss.target == "one-hot":
        assert np.array_equal(y.sum(axis=1), np.ones(6))


# --- the source text ------------------------------------------------------------------------------


def _generated_in_a_process(model: str, hash_seed: str) -> str:
    """The module for ``model`` generated by a fresh interpreter with its own string-hash seed."""
    code = "import sys; from derive import derive; from derive.render.numpy import module_source; "
    code += "sys.stdout.write(module_source(derive(sys.argv[1])))"
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8")
    run = subprocess.run([sys.executable, "-c", code, model], capture_output=True, text=True,
                         encoding="utf-8", env=env, check=True)
    return run.stdout


@pytest.mark.parametrize("model", ["b", "c-mlp"])
def test_generation_is_deterministic_across_processes(model):
    """Two interpreters with different hash seeds (set and dict order, SymPy's caches) agree."""
    first = _generated_in_a_process(model, "1")
    assert first.startswith('"""Loss and gradients')
    assert first == _generated_in_a_process(model, "2") == module_source(derive.derive(model))


@pytest.mark.parametrize("model", BUILTINS)
def test_out_files_equal_fresh_generation(model):
    path = ROOT / "out" / OUT_FILES[model]
    assert path.read_text(encoding="utf-8") == module_source(derive.derive(model)), f"regenerate {path}"


def test_backward_lines_carry_their_equations():
    source = module_source(derive.derive("c-mlp"))
    delta1 = "    delta1 = delta2.dot(W2) * a1 * (1 - a1)"
    assert "# δ⁽¹⁾ₖ = Σᵢ δ⁽²⁾ᵢ w⁽²⁾ᵢₖ a⁽¹⁾ₖ (1 - a⁽¹⁾ₖ)\n" + delta1 in source
    assert "# ∂L/∂w⁽¹⁾ₖⱼ = δ⁽¹⁾ₖ xⱼ\n    dW1 = delta1.T.dot(X)\n" in source
    assert f"derive {derive.__version__}" in source


def _odd_specs() -> dict[str, ModelSpec]:
    """Specs that stretch the layout: quotes in the title, one input, a wide regression output,
    long names and numbered sizes (long init lines, a long SIZES tuple), 100000 inputs."""
    odd = parse_spec(
        'name = "odd"\ntitle = "A \\"quoted\\" \\\\ title"\ninputs = 1\nloss = "mse"\n'
        '[[layers]]\nunits = "H"\nactivation = "softplus"\n[[layers]]\nunits = 1\nactivation = "relu"\n'
        '[[layers]]\nunits = "C"\nactivation = "tanh"\n',
        "<odd>",
    )
    hidden = "".join(
        f'[[layers]]\nunits = "K{100 + i}"\nactivation = "{HIDDEN[i % len(HIDDEN)]}"\n' for i in range(11)
    )
    deep = parse_spec(
        f'name = "{"d" * 58}-deep"\ntitle = "{"a long title " * 9}"\ninputs = "M999"\nloss = "ce"\n'
        + hidden
        + '[[layers]]\nunits = "C999"\nactivation = "softmax"\n',
        "<deep>",
    )
    big = parse_spec(
        'name = "big"\ninputs = 100000\nloss = "mse"\n[[layers]]\nunits = 99999\nactivation = "sigmoid"\n'
        '[[layers]]\nunits = 3\nactivation = "identity"\n',
        "<big>",
    )
    return {"odd": odd, "deep": deep, "big": big}


EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


def _catalogue_samples(count: int) -> list[ModelSpec]:
    """``count`` specs drawn from the catalogue strategy (every loss and activation), the same
    ones on every run (``derandomize``)."""
    drawn: list[ModelSpec] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None, phases=[Phase.generate])
    @given(catalogue_specs())
    def collect(case: tuple[ModelSpec, int]) -> None:
        drawn.append(case[0])

    collect()
    return drawn


def test_generated_code_passes_ruff_and_mypy(tmp_path):
    """ruff (the project's settings and ruff's defaults, 88 columns) and mypy --strict, on the
    built-in models, odd specs, every example and a sample of random catalogue specs."""
    for model in BUILTINS:
        (tmp_path / f"gen_{model.replace('-', '_')}.py").write_text(module_source(derive.derive(model)))
    for name, spec in _odd_specs().items():
        (tmp_path / f"gen_{name}.py").write_text(module_source(derive.derive(spec)))
    for example in EXAMPLES:
        name = f"gen_example_{example.stem.replace('-', '_')}.py"
        (tmp_path / name).write_text(module_source(derive.derive(str(example))))
    for number, spec in enumerate(_catalogue_samples(20)):
        (tmp_path / f"gen_catalogue_{number}.py").write_text(module_source(derive.derive(spec)))
    config = str(ROOT / "pyproject.toml")
    # The tools of the interpreter running the tests (a venv's bin/ need not be on PATH).
    ruff = [sys.executable, "-m", "ruff"]
    extra = ["--extend-select", "N,ANN,RUF", "--ignore", "RUF003,N803,N806"]
    for command in (
        [*ruff, "check", "--config", config, *extra, "."],
        [*ruff, "format", "--check", "--config", config, "."],
        # ruff's defaults (line length 88), with line lengths checked too.
        [*ruff, "check", "--isolated", "--extend-select", "E501,W", *extra, "."],
        [*ruff, "format", "--check", "--isolated", "."],
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / ".mypy"),
            ".",
        ],
    ):
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0, f"{command[1:4]}:\n{result.stdout}{result.stderr}"
    odd_module = load_module((tmp_path / "gen_odd.py").read_text(), "test_codegen_odd")
    assert odd_module.SIZES == ("C", "H")
