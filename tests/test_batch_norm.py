"""Batch normalisation (issue 10): the generated code against PyTorch float64 autograd of
``F.batch_norm`` in training mode (biased batch variance), through the one PyTorch reference
(``tests/torch_model.py``, written from the spec, never from the derivation); and the sheet
compiled by a real LaTeX engine.

The batch couples the examples, so every case is run on several batch sizes, down to 2.
"""

from __future__ import annotations

import numpy as np
import pytest

import derive
from derive import compile as latex_compile
from derive.render.latex import sheet
from derive.render.numpy import module_source
from derive.spec import parse_spec
from derive.verify import load_module

from . import torch_model
from .test_sheet import assert_clean, pdf_text, require

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


SIZES = {"M": 4, "K": 3, "C": 3}


def _case(name: str, n: int, seed: int):
    spec = parse_spec(SPECS[name])
    module = load_module(module_source(derive.derive(spec)), f"bn_{name.replace('-', '_')}")
    rng = np.random.default_rng(seed)
    sizes = SIZES
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
    reference, expected = torch_model.loss_and_grad(spec, SIZES, params, X, y)
    assert abs(loss - reference) <= 1e-12 * max(1.0, abs(reference))
    assert set(grads) == set(expected)
    for key, value in expected.items():
        scale = max(1.0, float(np.max(np.abs(value))))
        assert np.max(np.abs(np.asarray(grads[key]) - value)) <= 1e-12 * scale, (name, n, key)


def test_forward_uses_the_batch_statistics():
    spec, module, params, X, y = _case("relu-ce", 5, seed=1)
    expected = torch_model.forward(spec, SIZES, params, X)
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
