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
import torch
import torch.nn.functional as F

from derive.conv import derive_conv
from derive.render.numpy_conv import module_source
from derive.spec import parse_spec
from tests.torch_model import torch_activation, torch_loss

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


def torch_reference(spec, params: dict, X: np.ndarray, y: np.ndarray):
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    h = torch.tensor(X, dtype=torch.float64)
    number = 0
    for layer in spec.layers:
        if layer.kind == "flatten":
            h = torch.flatten(h, start_dim=1)
            continue
        number += 1
        w, b = tensors[f"W{number}" if f"W{number}" in tensors else f"w{number}"], tensors.get(f"b{number}")
        if layer.kind == "conv":
            conv = F.conv1d if h.ndim == 3 else F.conv2d
            z = conv(h, w, b)
        else:
            z = h @ w.T if w.ndim == 2 else h @ w
            z = z + b if b is not None else z
        h = torch_activation(layer.activation, dict(layer.parameters))(z)
    target = torch.tensor(y, dtype=torch.float64)
    loss = torch_loss(spec.loss, h, target).mean()
    loss.backward()
    return float(loss.detach()), {k: t.grad.numpy() for k, t in tensors.items()}


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
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_generated_code_matches_pytorch(case):
    inputs, convs, loss = CASES[case]
    text = spec_text(inputs, convs, loss)
    spec = parse_spec(text)
    module = load(text)
    rng = np.random.default_rng(case)
    params = {k: v + rng.normal(scale=0.3, size=v.shape) for k, v in module.init_params({}, seed=case).items()}
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
    want_loss, want = torch_reference(spec, params, X, y)
    assert got_loss == pytest.approx(want_loss, rel=1e-10)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="W3"):
        module.loss_and_grad(params, rng.normal(size=(4, 2, 9)), y)  # a longer input than W3 fits
    assert module.loss_and_grad({k: v.astype(np.float32) for k, v in params.items()},
                                X.astype(np.float32), y)[1]["W1"].dtype == np.float32


# --- the symbolic steps against SymPy's diff of the composed loss -------------------------------


def _composed(d, sizes: dict[str, int]):
    """The loss of one example at concrete sizes, written out from the set-up equations."""
    subs = {sp.Symbol(k, integer=True, positive=True): v for k, v in sizes.items()}
    values: dict = {}

    def value(expr):
        return expr.subs(subs).doit().xreplace(values)

    for layer in d.layers:
        grid = [range(1, int(n.subs(subs)) + 1) for n in (layer.channels, *layer.out_sizes)]
        z_eq = next(eq for eq in d.setup if eq.lhs == layer.el(layer.z))
        for point in np.ndindex(*[len(g) for g in grid]):
            at = dict(zip((layer.channel, *layer.positions), (p + 1 for p in point), strict=True))
            z = value(z_eq.rhs.xreplace(at))
            values[layer.a[tuple(at.values())]] = layer.entry.unit(z)
    rest = [eq for eq in d.setup if eq.lhs.has(*[q for q in (d.first.z, d.first.a)]) or eq.lhs.name == "L"] \
        if False else None
    del rest
    first = d.first
    head = d.head.names
    for eq in d.setup[2 * len(d.layers):]:
        lhs = eq.lhs
        if lhs.free_symbols & {first.index} if first.index is not None else False:
            for i in range(1, int(first.width.subs(subs)) + 1):
                values[lhs.xreplace({first.index: i})] = value(eq.rhs.xreplace({first.index: i}))
        else:
            free = [s for s in lhs.free_symbols if s in head.index_widths()]
            if free:
                (letter,) = free
                for i in range(1, int(head.index_widths()[letter].subs(subs)) + 1):
                    values[lhs.xreplace({letter: i})] = value(eq.rhs.xreplace({letter: i}))
            else:
                values[lhs] = value(eq.rhs)
    return values[sp.Symbol("L", real=True)], values


@pytest.mark.parametrize("inputs, convs", [("[1, 4]", [(2, "2", "tanh"), (1, "2", "sigmoid")]),
                                           ("[1, 3, 3]", [(1, "2", "tanh"), (1, "[1, 2]", "tanh")])])
def test_steps_equal_sympy_diff_of_the_composed_loss(inputs, convs):
    d = derive_conv(parse_spec(spec_text(inputs, convs, "bce")))
    loss, values = _composed(d, {})
    rng = np.random.default_rng(3)
    point = {s: sp.Float(rng.normal()) for s in loss.free_symbols}
    lower, up = d.layers
    for step in d.gradients:
        if step.parameter not in (lower.w, up.w):
            continue
        layer = lower if step.parameter is lower.w else up
        g = step.value
        # Every error the step reads, written out at the point by its own definition.
        ranges = [range(1, int(r[2]) + 1) for r in step.ranges]
        for idx in np.ndindex(*[len(r) for r in ranges]):
            at = {r[0]: i + 1 for r, i in zip(step.ranges, idx, strict=True)}
            elem = step.name.xreplace(at)
            want = sp.diff(loss, elem).xreplace(point)
            got = _evaluate(d, g.xreplace(at), values, point)
            assert abs(float(got - want)) <= 1e-9 * (1 + abs(float(want))), (layer.number, elem)


def _evaluate(d, expr, values, point):
    """``expr`` (in deltas, g's, a's, z's) evaluated at ``point`` through the derivation's own
    error definitions, unrolled down to the composed values."""
    defs = {}
    for step in d.errors:
        defs[step.name.base] = step
    head_delta = d.head.error(1)
    expr = expr.doit()
    for _ in range(12):
        new = expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base in defs,
                           lambda e: _instance(defs[e.base], e)).doit()
        if head_delta.delta.free_symbols & new.free_symbols or new.has(head_delta.delta):
            new = new.xreplace({head_delta.delta: head_delta.value})
        new = new.replace(lambda e: isinstance(e, sp.Indexed) and e.base.name.startswith("delta")
                          and e.base not in defs, lambda e: head_delta.value.xreplace(
                              {head_delta.delta.indices[0]: e.indices[0]} if e.indices else {}))
        if new == expr:
            break
        expr = new
    expr = expr.replace(lambda e: isinstance(e, sp.Indexed) and e in values, lambda e: values[e])
    expr = expr.xreplace({k: v for k, v in values.items() if isinstance(k, sp.Symbol)})
    expr = expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base.name.startswith("delta"),
                        lambda e: sp.nan)
    z_values = {}
    return sp.N(expr.doit().xreplace(point).xreplace(z_values))


def _instance(step, element):
    at = dict(zip(step.name.indices, element.indices, strict=True))
    return step.value.xreplace(at)


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
    "skip on conv": (BASE + CONV.replace("activation", "skip = 0\nactivation") + FLAT + DENSE, 9, "skip", None),
    "norm on conv": (BASE + CONV.replace("activation", 'norm = "layer"\nactivation') + FLAT + DENSE, 9, "norm",
                     None),
    "flatten with keys": (BASE + CONV + FLAT.replace("\n\n", "\nunits = 3\n\n") + DENSE, 13, "flatten", "units"),
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
