"""The generated modules' contract at the door and in the arithmetic (issue 12).

Every bad argument is a one-line ``ValueError`` naming it; float32 stays float32; the
activations are accurate to a few ulps over the whole double range (against mpmath at 50
digits); NaN and infinity in X or the parameters propagate without warnings, in every model.
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp

import derive
from derive.activations import ACTIVATIONS
from derive.losses import LOSSES
from derive.render.numpy import module_source
from derive.render.numpy_printer import helper_sources
from derive.verify import load_module

ROOT = Path(__file__).resolve().parents[1]
BUILTINS = ("a", "b", "c", "c-mlp")
# Dense models (X of shape (n, M)): a recurrent one reads sequences (its door and NaN:
# tests/test_recurrent.py), a conv one images (tests/test_conv.py).
EXAMPLES = tuple(sorted(str(p) for p in (ROOT / "examples").glob("*.toml")
                        if 'kind = "recurrent"' not in p.read_text(encoding="utf-8")
                        and not p.stem.startswith("conv")))
SIZES = {"M": 3, "K": 4, "C": 5, "K1": 3, "K2": 4, "K3": 2, "H": 3, "D": 2}


@cache
def module(model: str):
    derivation = derive.derive(model)
    return load_module(module_source(derivation), f"door_{abs(hash(model))}")


def _instance(model: str, n: int = 6, seed: int = 0):
    """Parameters, X and valid targets y (integer labels for ce) for ``model``."""
    mod = module(model)
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=np.shape(v)) for k, v in mod.init_params(SIZES, seed).items()}
    X = rng.normal(size=(n, mod.SHAPES["X"][1] if isinstance(mod.SHAPES["X"][1], int) else SIZES["M"]))
    target = LOSSES[derive.derive(model).spec.loss].target
    out = next(reversed(mod.SHAPES.values()))  # the output layer's last parameter: its units first
    width = None if not out else (out[0] if isinstance(out[0], int) else SIZES[out[0]])
    if target == "one-hot":
        y = np.arange(n) % width
    elif target == "binary":
        y = np.arange(n) % 2
    else:
        y = rng.normal(size=(n,) if width is None else (n, width))
    return mod, params, X, y


def _raises(call, *words):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, message
    return message


# --- bad input: the cases of issue 12, each naming the argument ---------------------------------


def test_class_labels_of_shape_n_by_1_are_refused():
    mod, params, X, y = _instance("c")
    _raises(lambda: mod.loss_and_grad(params, X, y[:, None]), "y must be (n, C)", "(6, 1)")


@pytest.mark.parametrize("labels", ["one-based", "minus-one", "past-C"])
def test_class_labels_out_of_range_are_refused(labels):
    mod, params, X, y = _instance("c")
    bad = {"one-based": y + 1, "minus-one": np.where(y == 0, -1, y), "past-C": y + 5}[labels]
    _raises(lambda: mod.loss_and_grad(params, X, bad), "y must hold class labels in [0, 5)")


def test_one_example_with_a_0d_label_is_refused():
    mod, params, X, y = _instance("c", n=1)
    _raises(lambda: mod.loss_and_grad(params, X, y[0]), "y must be", "()")


def test_fractional_and_non_one_hot_class_targets_are_refused():
    mod, params, X, y = _instance("c")
    _raises(lambda: mod.loss_and_grad(params, X, y + 0.5), "y must hold integer class labels")
    rows = np.eye(5)[y] * 2
    _raises(lambda: mod.loss_and_grad(params, X, rows), "y must hold one-hot rows", "row 0")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 0.5])
@pytest.mark.parametrize("model", BUILTINS)
def test_a_label_that_is_nan_infinite_or_fractional_is_refused(model, bad):
    """One bad value among good labels (and, for ce, in one one-hot row): never a loss."""
    mod, params, X, y = _instance(model)
    labels = y.astype(np.float64)
    labels[3] = bad
    _raises(lambda: mod.loss_and_grad(params, X, labels), "y must hold")
    if model.startswith("c"):
        rows = np.eye(5)[y]
        rows[3, 0] = bad
        _raises(lambda: mod.loss_and_grad(params, X, rows), "y must hold one-hot rows", "row 3")


@pytest.mark.parametrize("model", BUILTINS)
@pytest.mark.parametrize("kind", [np.uint8, np.uint64, np.int8, np.bool_])
def test_labels_of_every_integer_type_are_read(model, kind):
    """0/1 (or class) labels as unsigned, small or boolean integers give the float64 labels' loss;
    unsigned labels used to fail inside the check with an OverflowError."""
    mod, params, X, y = _instance(model)
    if kind is np.bool_:
        y = y % 2
    want = mod.loss_and_grad(params, X, y.astype(np.float64))
    got = mod.loss_and_grad(params, X, y.astype(kind))
    assert got[0] == want[0]
    if kind is not np.bool_:
        _raises(lambda: mod.loss_and_grad(params, X, (y + 7).astype(kind)), "y must hold")


def test_probability_rows_made_in_float32_are_accepted_with_float64_parameters():
    """Rows summing to 1 within float32's rounding: their own precision, not the computation's."""
    mod, params, X, y = _instance("c")
    rows = (np.eye(5)[y] * 0.9 + 0.1 / 5).astype(np.float32)
    assert abs(rows.astype(np.float64).sum(axis=1) - 1).max() > 5 * np.finfo(np.float64).eps
    loss, _ = mod.loss_and_grad(params, X, rows)
    assert np.isfinite(loss)


def test_rows_of_class_probabilities_are_accepted_as_cross_entropy_targets():
    """Label smoothing: rows summing to 1 within rounding give the loss written out by hand."""
    mod, params, X, y = _instance("c")
    rows = np.eye(5)[y] * 0.9 + 0.1 / 5
    loss, _ = mod.loss_and_grad(params, X, rows)
    z = np.asarray(X) @ params["W"].T + params["b"]
    log_a = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    assert loss == pytest.approx(-(rows * log_a).sum(axis=1).mean(), rel=1e-12)


@pytest.mark.parametrize("model", ["a", "b"])
def test_plus_minus_one_labels_are_refused(model):
    mod, params, X, y = _instance(model)
    _raises(lambda: mod.loss_and_grad(params, X, 2 * y - 1), "y must hold 0/1 labels, got -1")


@pytest.mark.parametrize("model", ["a", "b"])
def test_binary_labels_of_shape_n_by_1_are_refused(model):
    mod, params, X, y = _instance(model)
    _raises(lambda: mod.loss_and_grad(params, X, y[:, None]), "y must be (n,)", "(6, 1)")


@pytest.mark.parametrize("model", BUILTINS)
def test_x_with_the_wrong_number_of_columns_names_x_and_m(model):
    mod, params, X, y = _instance(model)
    for call in (lambda: mod.loss_and_grad(params, X[:, :2], y), lambda: mod.forward(params, X[:, :2])):
        _raises(call, "X must be (n, M) = (6, 3)", "got (6, 2)")


@pytest.mark.parametrize("model", ["b", "c-mlp"])
def test_a_transposed_weight_is_named_and_called_transposed(model):
    mod, params, X, y = _instance(model)
    bad = {**params, "W1": params["W1"].T}
    _raises(lambda: mod.loss_and_grad(bad, X, y), "W1 must be (K, M) = (4, 3)", "got (3, 4): transposed?")


@pytest.mark.parametrize("model", BUILTINS)
def test_a_bias_that_would_broadcast_is_refused(model):
    mod, params, X, y = _instance(model)
    name = list(params)[-1]  # the output bias: () or (C,); (1,) broadcasts against either
    bad = {**params, name: np.zeros(1)}
    _raises(lambda: mod.loss_and_grad(bad, X, y), f"{name} must be (", "got (1,)")


@pytest.mark.parametrize("model, shape, words", [
    ("b", (6, 0), "X must have M >= 1, got (6, 0)"),
    (str(ROOT / "examples" / "rnn-many-to-one.toml"), (6, 0, 3), "X must have T >= 1, got (6, 0, 3)"),
    (str(ROOT / "examples" / "rnn-many-to-one.toml"), (0, 4, 3), "X must have at least one row"),
])
def test_an_empty_axis_of_x_is_named(model, shape, words):
    """No steps (a recurrent model's T = 0 used to fail inside a reshape), no inputs, no examples."""
    mod = module(model)
    params = mod.init_params(SIZES)
    _raises(lambda: mod.forward(params, np.zeros(shape)), words)
    _raises(lambda: mod.loss_and_grad(params, np.zeros(shape), np.zeros(shape[0])), words)


def test_missing_parameter_empty_batch_and_non_numbers_are_named():
    mod, params, X, y = _instance("b")
    _raises(lambda: mod.loss_and_grad({k: v for k, v in params.items() if k != "b1"}, X, y), "'b1'")
    _raises(lambda: mod.forward([params["W1"]], X), "params (list) has no 'W1'")
    _raises(lambda: mod.loss_and_grad(params, X[:0], y[:0]), "X must have at least one row")
    _raises(lambda: mod.forward(params, X.astype(str)), "X must hold real numbers")
    _raises(lambda: mod.forward(params, X + 1j), "X must hold real numbers")
    _raises(lambda: mod.forward(params, [[1.0, 2.0, 3.0], [1.0]]), "X is not an array of numbers")
    _raises(lambda: mod.loss_and_grad(params, X, y.astype(str)), "y must hold 0/1 labels")


@pytest.mark.parametrize("model", BUILTINS)
def test_lists_are_accepted_as_arrays(model):
    mod, params, X, y = _instance(model)
    loss, grads = mod.loss_and_grad(params, X, y)
    as_lists = {k: np.asarray(v).tolist() for k, v in params.items()}
    loss_l, grads_l = mod.loss_and_grad(as_lists, X.tolist(), np.asarray(y).tolist())
    assert loss_l == loss and all(np.array_equal(grads[k], grads_l[k]) for k in grads)


# --- dtype ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", BUILTINS)
@pytest.mark.parametrize("label_dtype", [np.int64, np.float64, np.int8])
def test_float32_inputs_give_float32_gradients_whatever_the_labels(model, label_dtype):
    mod, params, X, y = _instance(model)
    y = np.asarray(y).astype(label_dtype) if derive.derive(model).spec.loss != "mse" else y
    p32 = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
    loss32, g32 = mod.loss_and_grad(p32, X.astype(np.float32), y)
    loss64, g64 = mod.loss_and_grad(params, X, y)
    for name in params:
        assert g32[name].dtype == np.float32, name
        assert g64[name].dtype == np.float64, name
        np.testing.assert_allclose(g32[name], g64[name], rtol=2e-3, atol=2e-5)
    assert mod.forward(p32, X.astype(np.float32)).dtype == np.float32
    # The loss was computed in float32: its error is float32's, not float64's.
    assert abs(loss32 - loss64) <= 1e-5 * max(1.0, abs(loss64))


def test_integer_inputs_compute_in_float64():
    mod, params, X, y = _instance("b")
    loss, grads = mod.loss_and_grad(params, np.rint(X * 3).astype(np.int64), y)
    assert all(g.dtype == np.float64 for g in grads.values()) and np.isfinite(loss)


# --- accuracy against mpmath ---------------------------------------------------------------------

EDGES = [-744.4, -708.4, -36.7, -1e-300, 0.0, 5e-324, 36.7, 709.7]
GRID = np.concatenate([np.linspace(-745.0, 745.0, 2981), EDGES])


def _array_function(numpy_form: str):
    """A registry NumPy form ``{z}`` as a function of one array, with the helpers it calls."""
    header = ["import numpy as np", "from typing import Any", "Array = ArrayLike = Any"]
    source = "\n\n".join([*header, *helper_sources().values()])
    source += f"\n\ndef f(z):\n    return {numpy_form.format(z='z')}\n"
    return load_module(source, f"door_form_{abs(hash(numpy_form))}").f


def _ulps(got: float, exact: mpmath.mpf) -> float:
    nearest = float(exact)
    if got == nearest:
        return 0.0
    if not np.isfinite(nearest):
        return np.inf
    return float(abs(mpmath.mpf(got) - exact) / mpmath.mpf(float(np.spacing(abs(nearest)))))


ELEMENTWISE = sorted(name for name, entry in ACTIVATIONS.items() if entry.elementwise)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_every_elementwise_activation_is_accurate_to_a_few_ulps(name):
    """The generated NumPy form against the registry's SymPy forward evaluated by mpmath."""
    entry = ACTIVATIONS[name]
    z = sp.Symbol("z", real=True)
    exact = sp.lambdify(z, entry.forward(z), modules="mpmath")
    with np.errstate(all="ignore"):
        got = np.broadcast_to(_array_function(entry.numpy)(GRID), GRID.shape)
    worst = 0.0
    with mpmath.workdps(400):  # exp(-745) next to 1 (softplus's 1 + e^z) needs ~330 digits
        for x, value in zip(GRID, got, strict=True):
            worst = max(worst, _ulps(float(value), exact(mpmath.mpf(float(x)))))
    assert worst <= 4, f"{name}: {worst} ulps"


def test_softmax_is_backward_stable_on_extreme_rows():
    """Within a few ulps of the exact softmax of its inputs, up to the error that rounding
    each input to a double already carries: |z| ulps of z move e^(z - max z) by |z| eps."""
    rng = np.random.default_rng(1)
    rows = np.vstack([rng.normal(scale=s, size=(20, 6)) for s in (1.0, 30.0, 300.0)])
    got = _array_function(ACTIVATIONS["softmax"].numpy)(rows)
    with mpmath.workdps(50):
        for row, out in zip(rows, got, strict=True):
            exps = [mpmath.exp(mpmath.mpf(float(v))) for v in row]
            total = mpmath.fsum(exps)
            for value, out_value, e in zip(row, out, exps, strict=True):
                allowed = 4 + 2 * (abs(value) + np.abs(row).max())
                assert _ulps(float(out_value), e / total) <= allowed, (row, out)


@pytest.mark.parametrize("label", [0, 1])
def test_binary_cross_entropy_is_accurate_to_a_few_ulps(label):
    """Model a with one input, w = 1, b = 0: the loss of one example is -log sigmoid(+-z)."""
    mod = module("a")
    worst = 0.0
    with mpmath.workdps(50):
        for x in GRID[::5]:
            loss, _ = mod.loss_and_grad({"w": np.ones(1), "b": np.zeros(())}, np.array([[x]]), [label])
            sign = 1 if label else -1
            exact = mpmath.log1p(mpmath.exp(-sign * mpmath.mpf(float(x))))
            worst = max(worst, _ulps(loss, exact))
    assert worst <= 4, worst


def test_a_sigmoid_output_is_never_exactly_0_or_1_where_the_true_value_is_not():
    mod = module("a")
    z = np.linspace(-745.0, 36.0, 20001)  # sigmoid(36) = 1 - 2.3e-16 is still below 1 in doubles
    out = mod.forward({"w": np.ones(1), "b": np.zeros(())}, z[:, None])
    assert np.all((out > 0) & (out < 1))


# --- NaN and infinity: every model alike ---------------------------------------------------------


@pytest.mark.parametrize("model", BUILTINS + EXAMPLES)
def test_nan_and_infinity_propagate_without_warnings_in_every_model(model):
    mod, params, X, y = _instance(model)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for where in ["X", *params]:
            for bad in (np.nan, np.inf):
                p = {k: np.array(v, dtype=float) for k, v in params.items()}
                x = X.copy()
                target = x if where == "X" else p[where]
                target.flat[0] = bad
                keywords = {name: 0.1 for name in getattr(mod, "HYPERPARAMETERS", ())}  # weight decay
                loss, grads = mod.loss_and_grad(p, x, y, **keywords)
                out = mod.forward(p, x)
                if np.isnan(bad):
                    assert np.isnan(loss), (model, where)
                    assert np.isnan(out).any(), (model, where)
                    assert any(np.isnan(g).any() for g in grads.values()), (model, where)
