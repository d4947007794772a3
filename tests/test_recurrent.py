"""The recurrent (Elman) layer (issue 10), against independent references.

* Generated code against PyTorch float64 autograd of ``torch.nn.RNN(nonlinearity="tanh",
  batch_first=True)`` with a dense head written here from the spec (``tests/torch_model.py``'s
  activations and losses), many-to-one and many-to-many, on random sizes including T = 1.
* The derivation's own expressions (the recurrence for g and delta, the gradients as sums over
  t) evaluated step by step at concrete sizes, against SymPy's ``diff`` of the fully composed
  loss written out here (T = 1, 2, 3).
* Bad specs: exit 2, one line naming the key and its line.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
import torch

from derive.engine import derive_spec
from derive.render.numpy import module_source
from derive.spec import parse_spec
from derive.verify import load_module

from . import torch_model

HEADER = 'name = "{name}"\ninputs = {inputs}\nloss = "{loss}"\n'
RECURRENT = '[[layers]]\nkind = "recurrent"\nunits = {units}\nactivation = "tanh"\nsteps = {steps}\n'


def rnn_spec(loss: str, outputs: str, head: list[tuple[object, str]], steps: object = '"T"',
             bias: bool = True, inputs: object = '"M"', units: object = '"K"',
             activation: str = "tanh") -> str:
    text = HEADER.format(name="rnn", inputs=inputs, loss=loss) + RECURRENT.format(units=units, steps=steps)
    text = text.replace('activation = "tanh"', f'activation = "{activation}"')
    text += f'outputs = "{outputs}"\n' + ("" if bias else "bias = false\n")
    for width, activation in head:
        shown = f'"{width}"' if isinstance(width, str) else width
        text += f'[[layers]]\nunits = {shown}\nactivation = "{activation}"\n'
    return text


CASES = {
    "last-bce": ("bce", "last", [(1, "sigmoid")]),
    "last-ce": ("ce", "last", [("C", "softmax")]),
    "last-mse-deep": ("mse", "last", [("J", "tanh"), ("C", "identity")]),
    "all-ce": ("ce", "all", [("C", "softmax")]),
    "all-mse": ("mse", "all", [("C", "identity")]),
    "all-bce-deep": ("bce", "all", [("J", "relu"), (1, "sigmoid")]),
    # torch.nn.RNN's other nonlinearity: relu's derivative reads z, not the state.
    "relu-all-mse": ("mse", "all", [("C", "identity")]),
    "relu-last-ce": ("ce", "last", [("C", "softmax")]),
}


def _targets(loss: str, width: int, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if loss == "bce":
        return rng.integers(0, 2, size=shape).astype(np.float64)
    if loss == "ce":
        return np.eye(width)[rng.integers(0, width, size=shape)]
    return rng.normal(size=(*shape, width) if width > 1 else shape)


def torch_rnn(spec, params: dict[str, np.ndarray], head_names: list[tuple[str, str | None]], X: np.ndarray,
              y: np.ndarray) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
    """Loss and gradients by PyTorch: nn.RNN (our b as its b_ih, its b_hh zero), then the head."""
    n, T, M = X.shape
    K = params["W"].shape[0]
    layer = spec.layers[0]
    rnn = torch.nn.RNN(M, K, nonlinearity=layer.activation, batch_first=True, bias=True).double()
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.tensor(params["W"]))
        rnn.weight_ih_l0.copy_(torch.tensor(params["U"]))
        rnn.bias_ih_l0.copy_(torch.tensor(params["b"]) if layer.bias else torch.zeros(K))
        rnn.bias_hh_l0.zero_()
    out, _ = rnn(torch.tensor(X))
    a = out.reshape(n * T, K) if layer.outputs == "all" else out[:, -1]
    tensors = {}
    for dense, (w_name, b_name) in zip(spec.layers[1:], head_names, strict=True):
        w = tensors[w_name] = torch.tensor(params[w_name], requires_grad=True)
        z = a @ w.reshape(-1, a.shape[1]).T
        if b_name is not None:
            b = tensors[b_name] = torch.tensor(params[b_name], requires_grad=True)
            z = z + b.reshape(-1)
        a = torch_model.torch_activation(dense.activation, dict(dense.parameters))(z)
    if a.shape[1] == 1:
        a = a[:, 0]
    predictions = a.detach().numpy().copy()
    if layer.outputs == "all":
        predictions = predictions.reshape(n, T, *predictions.shape[1:])
    target = torch.tensor(y).reshape(a.shape[0], *y.shape[2 if layer.outputs == "all" else 1:])
    total = torch_model.torch_loss(spec.loss, a, target).sum() / n
    total.backward()
    grads = {name: t.grad.numpy().copy() for name, t in tensors.items()}
    grads["W"] = rnn.weight_hh_l0.grad.numpy().copy()
    grads["U"] = rnn.weight_ih_l0.grad.numpy().copy()
    if layer.bias:
        grads["b"] = rnn.bias_ih_l0.grad.numpy().copy()
        assert np.allclose(grads["b"], rnn.bias_hh_l0.grad.numpy())  # the two biases get one gradient
    return float(total.item()), grads, predictions


def _module(text: str):
    spec = parse_spec(text)
    derivation = derive_spec(spec)
    return spec, derivation, load_module(module_source(derivation), "rnn_generated")


def _head_names(derivation) -> list[tuple[str, str | None]]:
    return [(layer.w.name, layer.b.name if layer.bias else None) for layer in derivation.names.layers]


def _assert_close(got: float | np.ndarray, want: float | np.ndarray, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    scale = max(float(np.max(np.abs(want))), 1e-300)
    error = float(np.max(np.abs(got - want))) / scale
    assert error < 1e-10, f"{what}: relative error {error:.2e}"


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", range(4))
def test_generated_code_equals_pytorch(case: str, seed: int) -> None:
    loss, outputs, head = CASES[case]
    rng = np.random.default_rng(seed)
    steps = 1 if seed == 0 else int(rng.integers(2, 6))  # T = 1 on every case's first draw
    activation = "relu" if case.startswith("relu") else "tanh"
    spec, derivation, module = _module(rnn_spec(loss, outputs, head, steps='"T"', bias=seed != 3,
                                                activation=activation))
    sizes = {"M": int(rng.integers(1, 5)), "K": int(rng.integers(2, 6)), "C": int(rng.integers(2, 5)),
             "J": int(rng.integers(1, 5))}
    n = int(rng.integers(1, 6))
    params = {name: rng.normal(scale=0.8, size=shape) for name, shape in _shapes(module, sizes).items()}
    X = rng.normal(size=(n, steps, sizes["M"]))
    width = sizes["C"] if head[-1][0] == "C" else 1
    y = _targets(loss, width, (n, steps) if outputs == "all" else (n,), rng)
    got_loss, got = module.loss_and_grad(params, X, y)
    want_loss, want, predictions = torch_rnn(spec, params, _head_names(derivation), X, y)
    _assert_close(got_loss, want_loss, "loss")
    _assert_close(module.forward(params, X), predictions, "forward")
    assert set(got) == set(want)
    for name in want:
        _assert_close(got[name], want[name], name)


def _shapes(module, sizes: dict[str, int]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(sizes[d] if isinstance(d, str) else d for d in dims)
            for name, dims in module.SHAPES.items() if name != "X"}


def test_generated_code_keeps_float32_and_propagates_nan() -> None:
    spec, derivation, module = _module(rnn_spec("ce", "all", [("C", "softmax")]))
    rng = np.random.default_rng(5)
    sizes = {"M": 3, "K": 4, "C": 3}
    params = {k: v.astype(np.float32) for k, v in module.init_params(sizes, seed=1).items()}
    X = rng.normal(size=(2, 4, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=(2, 4))
    loss, grads = module.loss_and_grad(params, X, y)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert module.forward(params, X).shape == (2, 4, 3)
    X[0, 1, 2] = np.nan
    loss, grads = module.loss_and_grad(params, X, y)
    assert np.isnan(loss) and np.isnan(grads["W"]).any()


def test_generated_code_names_a_bad_argument() -> None:
    _, _, module = _module(rnn_spec("bce", "last", [(1, "sigmoid")], steps=4))
    params = module.init_params({"M": 3, "K": 4})
    with pytest.raises(ValueError, match=r"^X must be \(n, 4, M\)"):
        module.loss_and_grad(params, np.zeros((2, 5, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"^U must be \(K, M\)"):
        module.loss_and_grad({**params, "U": np.zeros((5, 3))}, np.zeros((2, 4, 3)), np.zeros(2))


# --- the derivation's expressions against SymPy's diff of the composed loss ---------------------


def _composed(loss: str, outputs: str, T: int, M: int, K: int, C: int, bias: bool):
    """The loss written out here (tanh state, one dense layer, sigmoid+bce or identity+mse), and
    its symbols."""
    W = sp.Matrix(K, K, lambda a, c: sp.Symbol(f"W_{a}{c}"))
    U = sp.Matrix(K, M, lambda a, c: sp.Symbol(f"U_{a}{c}"))
    b = sp.Matrix(K, 1, lambda a, c: sp.Symbol(f"b_{a}") if bias else 0)
    V = sp.Matrix(C, K, lambda a, c: sp.Symbol(f"V_{a}{c}"))
    c = sp.Matrix(C, 1, lambda a, _: sp.Symbol(f"c_{a}"))
    xs = [sp.Matrix(M, 1, lambda a, _, s=s: sp.Symbol(f"x_{s}{a}")) for s in range(1, T + 1)]
    ys = [sp.Matrix(C, 1, lambda a, _, s=s: sp.Symbol(f"y_{s}{a}")) for s in range(1, T + 1)]
    h = sp.zeros(K, 1)
    total = sp.Integer(0)
    for s in range(T):
        h = (W * h + U * xs[s] + b).applyfunc(sp.tanh)
        if outputs == "all" or s == T - 1:
            z = V * h + c
            if loss == "bce":
                a = 1 / (1 + sp.exp(-z[0]))
                yy = ys[s][0]
                total += -yy * sp.log(a) - (1 - yy) * sp.log(1 - a)
            else:
                total += sum((z[q] - ys[s][q]) ** 2 for q in range(C)) / 2
    return total, W, U, b, V, c, xs, ys


def _evaluate(derivation, values: dict, T: int, K: int, M: int, C: int, head_w: np.ndarray,
              head_b: np.ndarray, ys: list[np.ndarray], hs: list[np.ndarray], xs: list[np.ndarray]):
    """The derivation's e, g, delta at every step, from its expressions, then its gradients."""
    rec = derivation.recurrence
    r = rec.names
    head = derivation.names.layers[0]
    pairs = (("T", T), ("K", K), ("M", M), ("C", C))
    sizes = {sp.Symbol(name, integer=True, positive=True): v for name, v in pairs}
    out_error = derivation.errors[0]
    deltas = {T + 1: np.zeros(K)}
    params = {}
    for a in range(K):
        for q in range(K):
            params[r.w[a + 1, q + 1]] = values["W"][a, q]
        for q in range(M):
            params[r.u[a + 1, q + 1]] = values["U"][a, q]
        params[r.b[a + 1]] = values["b"][a]
    for q in range(C):
        for a in range(K):
            params[head.weight(q + 1 if head.index is not None else None, a + 1)] = head_w[q, a]
    for s in range(T, 0, -1):
        step = {**params, r.t: s, **sizes}
        if r.outputs == "all" or s == T:
            z = head_w @ hs[s] + head_b
            a_out = 1 / (1 + np.exp(-z)) if derivation.spec.loss == "bce" else z
            local = {}
            for q in range(C):
                unit = q + 1 if head.index is not None else None
                local[head.el(head.a, unit)] = a_out[q]
                local[head.el(head.z, unit)] = z[q]
                y_elem = derivation.names.y[unit] if unit is not None else derivation.names.y
                local[y_elem] = ys[s][q]
            for q in range(C):
                unit = q + 1 if head.index is not None else None
                value = out_error.value.xreplace({head.index: unit} if unit else {})
                step[head.el(head.delta, unit)] = float(value.xreplace(local))
            for a in range(K):
                step[r.e[s if r.outputs == "all" else r.head_step, a + 1]] = float(
                    rec.error("e").value.xreplace({r.k: a + 1}).xreplace(sizes).doit().xreplace(step))
        for a in range(K):
            step[r.h[s, a + 1]] = hs[s][a]
            for i in range(K):
                step[r.delta[s + 1, i + 1]] = deltas[s + 1][i]
        g_value = rec.error("g").value
        g = np.array([float(g_value.xreplace({r.k: a + 1, r.t: s}).xreplace(sizes).doit()
                            .xreplace(step).doit()) for a in range(K)])
        for a in range(K):
            step[r.g[s, a + 1]] = g[a]
        deltas[s] = np.array([float(rec.error("delta").value.xreplace({r.k: a + 1, r.t: s}).xreplace(step))
                              for a in range(K)])
    grads = {}
    for grad in rec.gradients:
        shape = (K, K) if grad.parameter == r.w else (K, M) if grad.parameter == r.u else (K,)
        out = np.zeros(shape)
        for index in np.ndindex(shape):
            letters = grad.element.indices
            swap = {letter: position + 1 for letter, position in zip(letters, index, strict=True)}
            term = grad.result.function.xreplace(swap)
            total = 0.0
            for s in range(1, T + 1):
                here = term.xreplace({r.t: s})
                numbers = {r.delta[s, a + 1]: deltas[s][a] for a in range(K)}
                numbers.update({r.h[s - 1, a + 1]: hs[s - 1][a] for a in range(K)})
                numbers.update({r.x[s, q + 1]: xs[s][q] for q in range(M)})
                total += float(here.xreplace(numbers))
            out[index] = total
        grads[grad.parameter.name] = out
    return grads


@pytest.mark.parametrize("T", [1, 2, 3])
@pytest.mark.parametrize(("loss", "outputs"), [("bce", "last"), ("mse", "all")])
def test_derivation_equals_diff_of_composed_loss(T: int, loss: str, outputs: str) -> None:
    M, K = 2, 2
    C = 1 if loss == "bce" else 2
    head = [(1, "sigmoid")] if loss == "bce" else [("C", "identity")]
    derivation = derive_spec(parse_spec(rnn_spec(loss, outputs, head)))
    total, W, U, b, V, c, xs, ys = _composed(loss, outputs, T, M, K, C, bias=True)
    rng = np.random.default_rng(T)
    values = {"W": rng.normal(size=(K, K)), "U": rng.normal(size=(K, M)), "b": rng.normal(size=K)}
    head_w, head_b = rng.normal(size=(C, K)), rng.normal(size=C)
    x_values = [None] + [rng.normal(size=M) for _ in range(T)]
    draw = (lambda: rng.integers(0, 2, size=C)) if loss == "bce" else (lambda: rng.normal(size=C))
    y_values = [None] + [draw() for _ in range(T)]
    subs = {}
    for symbols, numbers in ((W, values["W"]), (U, values["U"]), (b, values["b"]), (V, head_w), (c, head_b)):
        subs.update({symbols[i]: float(np.ravel(numbers)[i]) for i in range(len(symbols))})
    for s in range(1, T + 1):
        subs.update({xs[s - 1][q]: x_values[s][q] for q in range(M)})
        subs.update({ys[s - 1][q]: float(y_values[s][q]) for q in range(C)})
    hs = [np.zeros(K)]
    for s in range(1, T + 1):
        hs.append(np.tanh(values["W"] @ hs[-1] + values["U"] @ x_values[s] + values["b"]))
    ours = _evaluate(derivation, values, T, K, M, C, head_w, head_b, y_values, hs, x_values)
    for name, symbols in (("W", W), ("U", U), ("b", b)):
        want = np.array([float(sp.diff(total, s).xreplace(subs)) for s in symbols]).reshape(ours[name].shape)
        np.testing.assert_allclose(ours[name], want, rtol=1e-12, atol=1e-14)


# --- bad specs -------------------------------------------------------------------------------

GOOD = rnn_spec("bce", "last", [(1, "sigmoid")])
BAD = {
    "not-first": (HEADER.format(name="r", inputs='"M"', loss="bce")
                  + '[[layers]]\nunits = "K"\nactivation = "tanh"\n'
                  + RECURRENT.format(units='"K"', steps='"T"')
                  + '[[layers]]\nunits = 1\nactivation = "sigmoid"\n', "kind", 8, "must be the first layer"),
    "outputs": (GOOD.replace('outputs = "last"', 'outputs = "every"'), "outputs", 9,
                "outputs must be one of"),
    "steps": (GOOD.replace('steps = "T"', "steps = 0"), "steps", 8, "steps must be a positive integer"),
    "steps-missing": (GOOD.replace('steps = "T"\n', ""), "steps", 4, "missing key 'steps'"),
    "norm": (GOOD.replace('outputs = "last"', 'outputs = "last"\nnorm = "layer"'), "norm", 10,
             "not supported on a recurrent layer"),
    "skip": (GOOD.replace('outputs = "last"', 'outputs = "last"\nskip = 0'), "skip", 10,
             "not supported on a recurrent layer"),
    "kind": (GOOD.replace('kind = "recurrent"', 'kind = "lstm"'), "kind", 5, "unknown kind"),
    "steps-on-dense": (GOOD + "steps = 3\n", "steps", 13, "steps is a key of a recurrent layer"),
    "last-layer": (HEADER.format(name="r", inputs='"M"', loss="mse")
                   + RECURRENT.format(units='"K"', steps='"T"'), "kind", 5, "needs a dense layer after it"),
    "one-unit": (GOOD.replace('units = "K"', "units = 1"), "units", 6, "at least 2 units"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_spec_exits_2_naming_key_and_line(case: str, tmp_path) -> None:
    text, key, line, message = BAD[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    command = [sys.executable, "-m", "derive", "show", str(path)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f":{line}:" in lines[0] and key in lines[0] and message in lines[0], lines[0]


# --- the sheet, the terminal, JSON ---------------------------------------------------------------

EXAMPLES = ("examples/rnn-many-to-one.toml", "examples/rnn-many-to-many.toml")


@pytest.mark.latex
def test_sheet_compiles_with_bptt_and_the_unrolled_chain(tmp_path) -> None:
    from derive import compile as latex_compile
    from derive.render.latex import sheet
    from derive.spec import load_spec_file

    from .test_sheet import ROOT, assert_clean, pdf_text, require

    require("pdflatex")
    derivations = [derive_spec(load_spec_file(f"{ROOT}/{path}")) for path in EXAMPLES]
    # three steps drawn one by one; relu; no bias; two dense layers, every step
    deep = rnn_spec("mse", "all", [("J", "tanh"), (2, "identity")], steps=3, bias=False, activation="relu")
    derivations.append(derive_spec(parse_spec(deep)))
    built = latex_compile.build(sheet(derivations))
    assert_clean(built.log)
    text = pdf_text(built.pdf, tmp_path)
    assert "Backpropagationthroughtime" in text
    assert "therecurrentlayerunrolled" in text  # the drawing's caption
    assert "isthereatthelaststeponly" in text  # many-to-one: the head path at t = T alone


def test_show_and_json_state_the_recurrence() -> None:
    import json

    from derive.render.terminal import render
    from derive.serialize import to_dict

    derivation = derive_spec(parse_spec(rnn_spec("ce", "all", [("C", "softmax")])))
    text = render(derivation)
    assert "Backpropagation through time" in text and "δ_{T+1,k} = 0" in text
    data = json.loads(json.dumps(to_dict(derivation)))["recurrence"]
    assert data["errors"][1]["value"] == "e[t, k] + Sum(W[i, k]*delta[1 + t, i], (i, 1, K))"
    assert [g["result"] for g in data["gradients"]] == [
        "Sum(delta[t, k]*h[-1 + t, j], (t, 1, T))", "Sum(delta[t, k]*x[t, m], (t, 1, T))",
        "Sum(delta[t, k], (t, 1, T))"]


def test_verify_checks_sequences_by_finite_differences() -> None:
    from derive.verify import verify_models

    from .test_sheet import ROOT

    lines: list[str] = []
    assert verify_models([f"{ROOT}/{path}" for path in EXAMPLES], lines.append)
    assert lines[0].startswith("rnn-many-to-one ok") and " W " in lines[0] and " U " in lines[0]


def test_check_grades_a_recurrent_model_through_the_command_line() -> None:
    """(The grader's own tests: tests/test_check_recurrent.py.)"""
    from .test_sheet import ROOT

    def check(answer: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "derive", "check", f"{ROOT}/{EXAMPLES[0]}", answer]
        return subprocess.run(command, capture_output=True, text=True)

    assert check(r"\frac{\partial L}{\partial b_k} = \sum_t \delta_{tk}").returncode == 0
    assert check(r"\frac{\partial L}{\partial b_k} = \delta_{Tk}").returncode == 1
