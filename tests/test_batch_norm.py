"""Batch normalisation (issue 10): the generated code against PyTorch float64 autograd of
``F.batch_norm`` in training mode (biased batch variance), written here from the spec, never from
the derivation; and the sheet compiled by a real LaTeX engine.

The batch couples the examples, so every case is run on several batch sizes, down to 2.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import derive
from derive import compile as latex_compile
from derive.render.latex import sheet
from derive.render.numpy import module_source
from derive.spec import parse_spec
from derive.verify import load_module

from .test_sheet import assert_clean, pdf_text, require

torch.set_default_dtype(torch.float64)

ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "identity": lambda t: t}

SPECS = {
    "relu-ce": """
name = "bn"
inputs = "M"
loss = "ce"
[[layers]]
units = "K"
activation = "relu"
norm = "batch"
[[layers]]
units = "C"
activation = "softmax"
""",
    "one-unit-eps-nobias": """
name = "bn1"
inputs = 3
loss = "bce"
l2 = 0.01
[[layers]]
units = 1
activation = "tanh"
norm = "batch"
eps = 0.1
bias = false
[[layers]]
units = 1
activation = "sigmoid"
""",
    "batch-and-layer-and-skip": """
name = "bnln"
inputs = "K"
loss = "mse"
[[layers]]
units = "K"
activation = "tanh"
norm = "batch"
skip = 0
[[layers]]
units = "K"
activation = "sigmoid"
norm = "layer"
[[layers]]
units = "K"
activation = "relu"
norm = "batch"
skip = 1
[[layers]]
units = 2
activation = "identity"
""",
}


def _torch_loss(spec, params: dict, X: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, dict]:
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    suffix = (lambda n: str(n)) if spec.depth > 1 else (lambda n: "")
    outputs = [torch.tensor(X)]
    for number, layer in enumerate(spec.layers, start=1):
        s = suffix(number)
        w = t.get(f"W{s}", t.get(f"w{s}"))
        a = outputs[-1]
        z = a @ w.T if w.dim() == 2 else (a * w).sum(-1, keepdim=True) if w.dim() == 1 else a * w
        if f"b{s}" in t:
            z = z + t[f"b{s}"]
        if z.dim() == 2 and z.shape[1] == 1 and layer.units == 1:
            z = z[:, 0]
        if layer.norm == "batch":
            column = z if z.dim() == 2 else z[:, None]
            normed = F.batch_norm(column, None, None, t[f"gamma{s}"].reshape(-1), t[f"beta{s}"].reshape(-1),
                                  training=True, eps=layer.eps)
            z = normed if z.dim() == 2 else normed[:, 0]
        elif layer.norm == "layer":
            z = F.layer_norm(z, (z.shape[-1],), t[f"gamma{s}"], t[f"beta{s}"], eps=layer.eps)
        out = z if layer.activation == "softmax" else ACT[layer.activation](z)
        if layer.skip is not None:
            out = out + outputs[layer.skip]
        outputs.append(out)
    last = outputs[-1]
    if spec.loss == "ce":
        loss = F.cross_entropy(last, torch.tensor(y))
    elif spec.loss == "bce":
        loss = F.binary_cross_entropy_with_logits(z, torch.tensor(y))
    else:
        loss = 0.5 * ((last - torch.tensor(y)) ** 2).sum(-1).mean()
    if spec.l2 is not None:
        weights = [v for k, v in t.items() if k.lower().startswith("w")]
        loss = loss + spec.l2 / 2 * sum((v**2).sum() for v in weights)
    loss.backward()
    return loss, {k: v.grad.numpy() for k, v in t.items()}


def _case(name: str, n: int, seed: int):
    spec = parse_spec(SPECS[name])
    module = load_module(module_source(derive.derive(spec)), f"bn_{name.replace('-', '_')}")
    rng = np.random.default_rng(seed)
    sizes = {"M": 4, "K": 3, "C": 3}
    params = module.init_params({s: sizes[s] for s in module.SIZES}, seed)
    params = {k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in params.items()}
    inputs = spec.inputs if isinstance(spec.inputs, int) else sizes[spec.inputs]
    X = rng.normal(size=(n, inputs))
    if spec.loss == "ce":
        y = rng.integers(0, sizes["C"], n)
    elif spec.loss == "bce":
        y = rng.integers(0, 2, n).astype(float)
    else:
        y = rng.normal(size=(n, 2))
    return spec, module, params, X, y


@pytest.mark.parametrize("n", [2, 3, 16])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_generated_code_equals_pytorch_batch_norm(name, n):
    spec, module, params, X, y = _case(name, n, seed=n)
    loss, grads = module.loss_and_grad(params, X, y)
    reference, expected = _torch_loss(spec, params, X, y)
    assert abs(loss - reference.item()) <= 1e-12 * max(1.0, abs(reference.item()))
    assert set(grads) == set(expected)
    for key, value in expected.items():
        scale = max(1.0, float(np.max(np.abs(value))))
        assert np.max(np.abs(np.asarray(grads[key]) - value)) <= 1e-12 * scale, (name, n, key)


def test_forward_uses_the_batch_statistics():
    spec, module, params, X, y = _case("relu-ce", 5, seed=1)
    t = {k: torch.tensor(v) for k, v in params.items()}
    z = torch.tensor(X) @ t["W1"].T + t["b1"]
    a = torch.relu(F.batch_norm(z, None, None, t["gamma1"], t["beta1"], training=True, eps=1e-5))
    expected = torch.softmax(a @ t["W2"].T + t["b2"], dim=1).numpy()
    assert np.max(np.abs(module.forward(params, X) - expected)) < 1e-13


@pytest.mark.latex
def test_sheet_with_batch_norm_compiles_and_shows_the_batch(tmp_path):
    require("pdflatex")
    built = latex_compile.build(sheet([derive.derive(parse_spec(SPECS[name])) for name in sorted(SPECS)]))
    assert_clean(built.log)
    text = pdf_text(built.pdf, tmp_path)
    assert "throughitsbatchnormalisation" in text
    assert "writtenthroughmeansoverthebatch" in text
    assert "batchnorm" in text  # the drawing's caption


def test_one_example_is_refused_naming_x():
    """PyTorch's BatchNorm1d refuses one example in training mode; so does the generated code
    (one example would normalise every unit to beta, a silently useless result)."""
    spec, module, params, X, y = _case("relu-ce", 2, seed=0)
    for call in (lambda: module.forward(params, X[:1]), lambda: module.loss_and_grad(params, X[:1], y[:1])):
        with pytest.raises(ValueError, match=r"^X must hold at least 2 examples .*got 1$"):
            call()
