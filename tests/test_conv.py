"""Convolution models (kind = "conv" / "flatten"): generated code against PyTorch float64 autograd
(F.conv1d / F.conv2d, flatten, linear), the symbolic steps against SymPy's diff of the composed
loss at small concrete sizes, and one test per bad spec (exit 2, one line, key and line named)."""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest
import sympy as sp

from derive.conv import derive_conv
from derive.render.numpy_conv import module_source
from derive.spec import parse_spec
from tests import torch_model

HEADS = {
    "bce": '[[layers]]\nunits = 1\nactivation = "sigmoid"\n',
    "ce": '[[layers]]\nunits = 3\nactivation = "softmax"\n',
    "mse": '[[layers]]\nunits = 4\nactivation = "tanh"\n\n[[layers]]\nunits = 2\nactivation = "identity"\n',
}


def spec_text(inputs: str, convs: list[tuple[int, str, str]], loss: str, bias: bool = True) -> str:
    text = f'name = "cv"\ninputs = {inputs}\nloss = "{loss}"\n\n'
    for channels, kernel, act in convs:
        text += f'[[layers]]\nkind = "conv"\nchannels = {channels}\nkernel = {kernel}\nactivation = "{act}"\n'
        text += "" if bias else "bias = false\n"
        text += "\n"
    return text + '[[layers]]\nkind = "flatten"\n\n' + HEADS[loss]


def load(text: str) -> types.ModuleType:
    module = types.ModuleType("generated_conv")
    exec(compile(module_source(derive_conv(parse_spec(text))), "<generated>", "exec"), module.__dict__)
    return module


def torch_reference(spec, params: dict, X: np.ndarray, y: np.ndarray, sizes: dict | None = None):
    """PyTorch float64 autograd through the one reference (tests/torch_model.py: F.conv1d /
    F.conv2d, torch.flatten, linear layers)."""
    return torch_model.loss_and_grad(spec, sizes or {}, params, X, y)


CASES = [
    # (inputs, conv layers, loss, sizes for symbols)
    ("[2, 9]", [(3, "3", "relu")], "bce"),
    ("[1, 5]", [(2, "5", "tanh")], "ce"),  # the kernel as long as the input
    ("[3, 6]", [(2, "1", "sigmoid")], "mse"),  # kernel size 1
    ("[2, 10]", [(3, "3", "tanh"), (2, "4", "relu")], "ce"),
    ("[2, 7, 6]", [(3, "3", "relu")], "bce"),
    ("[3, 6, 5]", [(2, "[2, 3]", "tanh"), (3, "[3, 1]", "sigmoid")], "ce"),
    ("[1, 4, 4]", [(2, "4", "tanh")], "mse"),  # the kernel as large as the input
    ("[2, 5, 6]", [(2, "1", "relu"), (2, "[2, 2]", "tanh")], "mse"),
    ("[2, 5]", [(2, "2", "tanh"), (3, "4", "relu")], "bce"),  # the second layer's kernel spans its input
    ("[1, 4, 5]", [(2, "[2, 3]", "sigmoid"), (2, "[3, 3]", "tanh")], "ce"),  # a 1 x 1 output
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_generated_code_matches_pytorch(case):
    inputs, convs, loss = CASES[case]
    text = spec_text(inputs, convs, loss)
    spec = parse_spec(text)
    module = load(text)
    rng = np.random.default_rng(case)
    params = {
        k: v + rng.normal(scale=0.3, size=v.shape) for k, v in module.init_params({}, seed=case).items()
    }
    n = 5
    X = rng.normal(size=(n, *spec.input_shape))
    outputs = spec.layers[-1].units
    if loss == "bce":
        y = rng.integers(0, 2, size=n).astype(float)
    elif loss == "ce":
        y = np.eye(outputs)[rng.integers(0, outputs, size=n)]
    else:
        y = rng.normal(size=(n, outputs))
    got_loss, got = module.loss_and_grad(params, X, y)
    want_loss, want = torch_reference(spec, params, X, y)
    assert got_loss == pytest.approx(want_loss, rel=1e-10)
    assert set(got) == set(want)
    for name in want:
        assert got[name].shape == want[name].shape, name
        scale = np.max(np.abs(want[name])) + 1e-300
        assert np.max(np.abs(got[name] - want[name])) <= 1e-10 * scale, name


def test_symbolic_sizes_and_no_bias():
    text = spec_text('[2, "T"]', [(3, '"R"', "relu"), (2, "2", "tanh")], "ce", bias=False)
    module = load(text)
    spec = parse_spec(text)
    rng = np.random.default_rng(7)
    params = module.init_params({"T": 8, "R": 3}, seed=1)
    assert params["W3"].shape == (3, 2 * (8 - 3 + 1 - 2 + 1))
    X = rng.normal(size=(4, 2, 8))
    y = np.eye(3)[rng.integers(0, 3, size=4)]
    got_loss, got = module.loss_and_grad(params, X, y)
    want_loss, want = torch_reference(spec, params, X, y, {"T": 8, "R": 3})
    assert got_loss == pytest.approx(want_loss, rel=1e-10)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="W3"):
        module.loss_and_grad(params, rng.normal(size=(4, 2, 9)), y)  # a longer input than W3 fits
    assert (
        module.loss_and_grad({k: v.astype(np.float32) for k, v in params.items()}, X.astype(np.float32), y)[
            1
        ]["W1"].dtype
        == np.float32
    )


# --- the symbolic steps against SymPy's diff of the composed loss -------------------------------


def _act(name: str, z):
    return {"tanh": sp.tanh, "sigmoid": lambda v: 1 / (1 + sp.exp(-v))}[name](z)


def _forward(d, start: int, values: dict) -> sp.Expr:
    """The loss of one example, written out here from the spec's sizes (loops over channels,
    positions and kernel offsets; not from the derivation's equations), from conv layer
    ``start`` on; ``values`` holds that layer's input elements and receives every a and z."""
    spec = d.spec
    convs = [lay for lay in spec.layers if lay.kind == "conv"]
    shape = [int(s) for s in spec.input_shape]
    channels, sizes = shape[0], shape[1:]
    for number, lay in enumerate(convs, start=1):
        kernel = [int(r) for r in lay.kernel]
        out = [n - r + 1 for n, r in zip(sizes, kernel, strict=True)]
        named = d.layers[number - 1]
        if number >= start:
            for k in range(1, int(lay.units) + 1):
                for pos in np.ndindex(*out):
                    pos = tuple(p + 1 for p in pos)
                    z = named.b[k]
                    for c in range(1, channels + 1):
                        for off in np.ndindex(*kernel):
                            off = tuple(o + 1 for o in off)
                            at = tuple(p + o - 1 for p, o in zip(pos, off, strict=True))
                            z += named.w[(k, c, *off)] * values[named.prev[(c, *at)]]
                    values[named.a[(k, *pos)]] = _act(lay.activation, z)
        channels, sizes = int(lay.units), out
    last, first = d.layers[-1], d.first
    z = first.b + sum(values[e] * first.w[e.indices] for e in list(values) if e.base == last.a)
    a = values[first.a] = _act("sigmoid", z)  # (tanh and sigmoid steps read a, never z)
    y = sp.Symbol("y", real=True)
    return -y * sp.log(a) - (1 - y) * sp.log(1 - a)


def _evaluate(d, expr: sp.Expr, point: dict, values: dict) -> float:
    """A step's value at concrete indices, through the derivation's own error definitions (each
    delta and g written out by its step), the head's output error, and the forward values."""
    defs = {step.name.base: step for step in d.errors}
    head = d.head.error(d.first.number)
    for _ in range(20):
        expr = expr.doit()
        expr = expr.xreplace({head.delta: head.value})
        new = expr.replace(
            lambda e: isinstance(e, sp.Indexed) and e.base in defs,
            lambda e: defs[e.base].value.xreplace(
                dict(zip(defs[e.base].name.indices, e.indices, strict=True))
            ),
        )
        if new == expr:
            break
        expr = new
    return float(expr.xreplace(values_numbers(values, point)).xreplace(point))


def values_numbers(values: dict, point: dict) -> dict:
    return {k: v.xreplace(point) for k, v in values.items() if isinstance(k, sp.Basic)}


@pytest.mark.parametrize(
    "inputs, convs",
    [
        ("[1, 4]", [(2, "2", "tanh"), (2, "2", "sigmoid")]),
        ("[1, 3, 3]", [(2, "2", "tanh"), (1, "[1, 2]", "tanh")]),
    ],
)
def test_steps_equal_sympy_diff_of_the_composed_loss(inputs, convs):
    """Every conv weight and bias gradient, and the input error g1 (the full correlation with its
    index ranges), equal SymPy's diff of the written-out loss at a random point."""
    d = derive_conv(parse_spec(spec_text(inputs, convs, "bce")))
    lower, up = d.layers
    shape = [int(s) for s in d.spec.input_shape]
    values: dict = {
        lower.prev[(c, *pos)]: lower.prev[(c, *pos)]
        for c in range(1, shape[0] + 1)
        for pos in (tuple(p + 1 for p in q) for q in np.ndindex(*shape[1:]))
    }
    loss = _forward(d, 1, values)
    rng = np.random.default_rng(5)
    point = {s: sp.Float(rng.normal()) for s in loss.free_symbols}
    point.update({e: sp.Float(rng.normal()) for e in loss.atoms(sp.Indexed)})
    point[sp.Symbol("y", real=True)] = sp.Float(1)
    checked = 0
    for step in d.gradients[1:]:
        for idx in np.ndindex(*[int(hi) for _, _, hi in step.ranges]):
            at = {v: i + 1 for (v, _, _), i in zip(step.ranges, idx, strict=True)}
            elem = step.name.xreplace(at)
            want = float(sp.diff(loss, elem).xreplace(point))
            got = _evaluate(d, step.value.xreplace(at), point, values)
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12), elem
            checked += 1
    # The input error of conv layer 1's output: the loss as a function of a1, differentiated.
    upper = {e: e for e in values if isinstance(e, sp.Indexed) and e.base == lower.a}
    above = dict(upper)
    loss_of_a1 = _forward(d, 2, above)
    point.update({e: sp.Float(rng.normal()) for e in upper})
    g1 = next(step for step in d.errors if step.name.base == lower.g)
    for idx in np.ndindex(*[int(hi) for _, _, hi in g1.ranges]):
        at = {v: i + 1 for (v, _, _), i in zip(g1.ranges, idx, strict=True)}
        elem = lower.a[g1.name.xreplace(at).indices]
        want = float(sp.diff(loss_of_a1, elem).xreplace(point))
        got = _evaluate(d, g1.value.xreplace(at), point, above)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), elem
        checked += 1
    assert checked > 20


# --- bad specs ------------------------------------------------------------------------------------

BASE = 'name = "bad"\ninputs = [2, 8]\nloss = "bce"\n\n'
CONV = '[[layers]]\nkind = "conv"\nchannels = 3\nkernel = 3\nactivation = "relu"\n\n'
FLAT = '[[layers]]\nkind = "flatten"\n\n'
DENSE = '[[layers]]\nunits = 1\nactivation = "sigmoid"\n'

BAD = {
    "kernel larger": (BASE + CONV.replace("kernel = 3", "kernel = 9") + FLAT + DENSE, 8, "kernel 9", "8"),
    "dense after conv": (BASE + CONV + DENSE, 11, "flatten", None),
    "conv after flatten": (BASE + CONV + FLAT + CONV + DENSE, 15, "conv", None),
    "conv after dense": (BASE + CONV + FLAT + DENSE + "\n" + CONV + FLAT + DENSE, 19, "conv", None),
    "vector inputs": (BASE.replace("[2, 8]", "8") + CONV + FLAT + DENSE, 2, "inputs", None),
    "skip on conv": (
        BASE + CONV.replace("activation", "skip = 0\nactivation") + FLAT + DENSE,
        9,
        "skip",
        None,
    ),
    "norm on conv": (
        BASE + CONV.replace("activation", 'norm = "layer"\nactivation') + FLAT + DENSE,
        9,
        "norm",
        None,
    ),
    "skip on the dense head": (
        BASE + CONV + FLAT + DENSE.replace("units", "skip = 1\nunits"),
        15,
        "skip",
        None,
    ),
    "flatten with keys": (
        BASE + CONV + FLAT.replace("\n\n", "\nunits = 3\n\n") + DENSE,
        13,
        "flatten",
        "units",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_conv_spec(name, tmp_path):
    text, line, word, other = BAD[name]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    run = subprocess.run([sys.executable, "-m", "derive", "show", str(path)], capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    message = run.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert f"bad.toml:{line}:" in message, message
    assert word in message and (other is None or other in message), message


# --- the CLI: show (terminal, JSON, LaTeX), sheet, code, verify ------------------------------------

EXAMPLE_1D = "examples/conv1d.toml"
EXAMPLE_2D = "examples/conv2d.toml"


def _derive(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "derive", *args], capture_output=True, text=True)


def test_show_states_the_full_correlation_with_its_ranges():
    run = _derive("show", EXAMPLE_2D)
    assert run.returncode == 0, run.stderr
    text = run.stdout
    # The input error of conv layer 1: offsets from max(1, .) to min(R, .), the kernel read flipped
    # (delta at u - p + 1), and the range of each free index.
    assert "q=max(1, v - 4)" in text and "min(2, v)" in text and "p=max(1, u - 3)" in text
    assert "δ⁽²⁾_{m,-p+u+1,-q+v+1}" in text
    assert "for k = 1..4, u = 1..6, v = 1..6" in text


def test_json_round_trips_and_its_shapes_are_the_generated_code_s():
    import json

    run = _derive("show", "--json", EXAMPLE_2D)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    d = derive_conv(parse_spec(open(EXAMPLE_2D).read()))
    table = data["symbols"]
    local = {name: sp.IndexedBase(name, real=True) for name in table["indexed"]}
    local |= {name: sp.Symbol(name, real=True) for name in table["scalars"]}
    local |= {name: sp.Symbol(name, integer=True, positive=True) for name in table["integers"]}
    g1 = next(e for e in data["errors"] if e.get("name") == "g1[k, u, v]")
    parsed = sp.parse_expr(g1["value"], local_dict={**local, "Max": sp.Max, "Min": sp.Min, "Sum": sp.Sum})
    step = next(s for s in d.errors if s.name.base.name == "g1")
    assert sp.srepr(parsed) == sp.srepr(step.value)
    module = load(open(EXAMPLE_2D).read())
    shapes = {k: list(map(str, v.shape)) for k, v in module.init_params({}).items()}
    assert data["parameters"] == shapes


def test_latex_fragment_and_sheet(tmp_path):
    from derive.compile import available

    run = _derive("show", "--latex", EXAMPLE_1D)
    assert run.returncode == 0, run.stderr
    assert r"k = 1, \dots, 4" in run.stdout and "tikzpicture" in run.stdout
    out = tmp_path / "conv.tex"
    run = _derive("sheet", EXAMPLE_1D, EXAMPLE_2D, "-o", str(out), "--pdf" if available() else "--no-pdf")
    assert run.returncode == 0, run.stderr
    tex = out.read_text()
    # The input error's offset ranges, stated in its sums' bounds, beside its indices' ranges.
    assert r"\max\left(1, v - 4\right) \leq q \leq \min\left(2, v\right)" in tex
    assert r"\qquad k = 1, \dots, 4,\ u = 1, \dots, 6,\ v = 1, \dots, 6" in tex
    if available():
        assert out.with_suffix(".pdf").stat().st_size > 10_000


def test_verify_command_passes_on_the_examples():
    run = _derive("verify", EXAMPLE_1D, EXAMPLE_2D)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(" ok ") == 2


def test_generated_conv_code_keeps_the_conventions():
    """NaN propagates without warnings, float32 stays float32, a wrong shape names the argument."""
    import warnings

    module = load(open(EXAMPLE_2D).read())
    rng = np.random.default_rng(2)
    params = module.init_params({}, seed=3)
    X = rng.normal(size=(3, 3, 8, 8))
    y = np.array([1, 4, 9])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        bad = X.copy()
        bad[0, 1, 2, 3] = np.nan
        loss, grads = module.loss_and_grad(params, bad, y)
        assert np.isnan(loss) and np.isnan(grads["W1"]).any()
        assert np.isnan(module.forward(params, bad)).any()
    low = {k: v.astype(np.float32) for k, v in params.items()}
    _, grads = module.loss_and_grad(low, X.astype(np.float32), y)
    assert all(g.dtype == np.float32 for g in grads.values())
    with pytest.raises(ValueError, match=r"^X must be \(n, 3, 8, 8\)"):
        module.loss_and_grad(params, X[:, :2], y)
    with pytest.raises(ValueError, match=r"^W2 must be \(2, 4, 3, 2\)"):
        module.loss_and_grad({**params, "W2": params["W2"][:, :, :2]}, X, y)


def test_check_grades_a_conv_model_through_the_command_line():
    """(The grader's own tests: tests/test_check_conv.py.)"""
    right = r"\frac{\partial L}{\partial b^{(1)}_k} = \sum_t \delta^{(1)}_{kt}"
    wrong = r"\frac{\partial L}{\partial b^{(1)}_k} = \delta^{(1)}_{k1}"
    assert _derive("check", EXAMPLE_1D, right).returncode == 0
    run = _derive("check", EXAMPLE_1D, wrong)
    assert run.returncode == 1 and "incorrect" in run.stdout
