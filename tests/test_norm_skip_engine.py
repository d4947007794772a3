"""Residual connections and layer normalisation in the engine (issue 9), against references that
do not read the chain-rule logic:

- SymPy's ``diff`` of the fully composed loss (``tests.reference``: the norm's statistics written
  out directly there), at concrete sizes and random 30-digit points;
- SymPy's own derivative of the norm's written-out definition, which the registry's textbook
  Jacobian must equal symbolically (any width K);
- a real LaTeX engine for the sheet (a failure in CI when LaTeX is missing).
"""

from __future__ import annotations

import random

import pytest
import sympy as sp

import derive
from derive import compile as latex_compile
from derive import norms
from derive.chain import local_derivative
from derive.forward import written_out
from derive.render.latex import sheet
from derive.spec import parse_spec

from .reference import size_symbols
from .test_random_specs import _count, _parameter_count, agrees_with_sympy
from .test_sheet import assert_clean, pdf_text, require

HEADER = 'name = "{name}"\ninputs = {inputs}\nloss = "{loss}"\n'


def _spec(name: str, inputs: object, loss: str, *layers: str) -> str:
    text = HEADER.format(name=name, inputs=f'"{inputs}"' if isinstance(inputs, str) else inputs, loss=loss)
    return text + "".join(f"\n[[layers]]\n{layer}\n" for layer in layers)


SPECS = {
    # layer norm and a skip on the same hidden layer, softmax and cross-entropy on top
    "norm-skip": _spec("ns", "K", "ce", 'units = "K"\nactivation = "tanh"\nnorm = "layer"\nskip = 0',
                       'units = "C"\nactivation = "softmax"'),
    # a skip from layer 1 into layer 3 (two consumers of a1), sigmoid output
    "long-skip": _spec("ls", 2, "bce", 'units = 2\nactivation = "relu"', 'units = 2\nactivation = "sigmoid"',
                       'units = 2\nactivation = "softplus"\nskip = 1', 'units = 1\nactivation = "sigmoid"'),
    # two skips out of the same layer, a norm with its own epsilon and no bias, mse
    "two-skips": _spec("ts", "M", "mse",
                       'units = "K"\nactivation = "elu"\nnorm = "layer"\neps = 0.1\nbias = false',
                       'units = "K"\nactivation = "sigmoid"\nskip = 1',
                       'units = "K"\nactivation = "tanh"\nskip = 1\nnorm = "layer"',
                       'units = 1\nactivation = "identity"'),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_gradients_equal_sympy_diff_of_the_composed_loss(name):
    """At every parameter element, with every other quantity a 30-digit number before SymPy
    differentiates (the composed loss of test_random_specs, written from the definitions)."""
    spec = parse_spec(SPECS[name])
    d = derive.derive(spec)
    sizes = {s: 2 for s in size_symbols(d)}  # every case (sums, a coupled pair) at width 2
    checked = agrees_with_sympy(d, sizes, random.Random(3), points=1, label=name)
    values_ = {s.name: v for s, v in sizes.items()}
    assert checked == _parameter_count(spec, values_) - _bias_count(spec, values_)


def _bias_count(spec, values_) -> int:
    """Biases a spec leaves out (bias = false): not parameters, so not compared."""
    return sum(_count(layer.units, values_) for layer in spec.layers if not layer.bias)


def test_layer_norm_jacobian_is_sympys_derivative_for_any_width():
    """The registry's textbook Jacobian equals SymPy's diff of the written-out definition (sums over
    a symbolic K), once z is written through the normalised value, z = mu + sqrt(var + eps) ztilde."""
    d = derive.derive(parse_spec(SPECS["norm-skip"]))
    layer = d.names.layers[0]
    rule = norms.get("layer")
    j = sp.Symbol("j", integer=True, positive=True)
    k = layer.index
    raw = local_derivative(written_out(layer, j), layer.el(layer.z))
    s = sp.sqrt(layer.var + layer.eps)
    textbook = rule.jacobian(layer.el(layer.gamma, j), layer.el(layer.ztilde, j), layer.el(layer.ztilde, k),
                             layer.var, layer.eps, j, k, layer.width)
    engine = next(s_ for s_ in d.errors if s_.layer == 1 and s_.quantity == "z").factors[0]
    assert engine.textbook == textbook
    through = {layer.el(layer.z, j): layer.mu + s * layer.el(layer.ztilde, j),
               layer.el(layer.z, k): layer.mu + s * layer.el(layer.ztilde, k)}
    for case in ({j: k}, {}):  # the diagonal (j = k) and off it
        engine_raw = engine.raw.xreplace(case).xreplace(through)
        assert sp.simplify(engine_raw - textbook.xreplace(case).doit()) == 0, case
    # The engine's raw form is SymPy's derivative with the statistics named: equal at numbers.
    assert raw.has(sp.Sum) and not engine.raw.has(sp.Sum)


def test_skip_source_error_sums_both_paths():
    d = derive.derive(parse_spec(SPECS["long-skip"]))
    g1 = d.error(1, "a")
    assert len(g1.paths) == 2
    first, second, third = d.names.layers[:3]
    assert [c.factors[0].den for c in g1.paths] == [second.el(second.z, g1.chain.sum[0]),
                                                      third.el(third.a, first.index)]
    # Each path's product appears in the value: removing either changes it.
    assert len(sp.Add.make_args(g1.value)) == 2


def test_gamma_and_beta_go_through_delta_hat():
    d = derive.derive(parse_spec(SPECS["norm-skip"]))
    layer = d.names.layers[0]
    by_name = {g.parameter.name: g for g in d.gradients}
    assert by_name["gamma1"].quantity == by_name["beta1"].quantity == "zhat"
    assert by_name["gamma1"].result == layer.el(layer.delta_hat) * layer.el(layer.ztilde)
    assert by_name["beta1"].result == layer.el(layer.delta_hat)


@pytest.mark.latex
def test_sheet_with_skips_and_norms_compiles_and_shows_them(tmp_path):
    require("pdflatex")
    derivations = [derive.derive(parse_spec(SPECS[name])) for name in sorted(SPECS)]
    built = latex_compile.build(sheet(derivations))
    assert_clean(built.log)
    text = pdf_text(built.pdf, tmp_path)
    assert "throughthenextlayer" in text and "andthroughtheskipconnectionintolayer3" in text
    assert "throughitslayernormalisation" in text
    assert "layernorm" in text  # the drawing's caption
