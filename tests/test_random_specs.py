"""Property tests on random feed-forward specs (depth 1-4, any elementwise hidden activations, any
output layer and loss the registries accept, widths 1-3 given as integers or as size symbols).

1. The engine's gradients, evaluated at concrete sizes, equal SymPy's ``diff`` of the fully
   composed loss at random points (30 significant digits). The composed loss is built here from
   the registries' forward definitions alone, with every quantity but the differentiated
   parameter a number: the fully symbolic composition grows as width**depth, and SymPy's diff
   of it takes minutes at depth 4.
2. The generated NumPy module's gradients match central finite differences of its own loss
   (runs once ``derive.render.numpy.module_source`` exists).
"""

from __future__ import annotations

import random
import types

import numpy as np
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.activations import ACTIVATIONS
from derive.chain import Derivation, derive_spec
from derive.losses import LOSSES
from derive.naming import element
from derive.render.numpy import module_source
from derive.spec import ModelSpec, spec_from_dict

from .reference import index_ranges, size_symbols

ELEMENTWISE = sorted(name for name, act in ACTIVATIONS.items() if act.elementwise)
SYMBOLS = ("M", "K", "H", "C")


def _outputs(loss: str, widths: tuple) -> list[tuple[object, str]]:
    """Every output (units, activation) the loss accepts, asked of the registries."""
    return [
        (units, act)
        for act in sorted(ACTIVATIONS)
        for units in widths
        if LOSSES[loss].check_output(units, act) is None
    ]


@st.composite
def random_specs(draw) -> tuple[ModelSpec, dict[str, int]]:
    """(a valid spec, a concrete value for each size symbol it uses). Widths are 1-3, and 1-2
    from depth 3 on: the reference's cost grows as width**depth, and width 2 already has every
    case (vector layers, sums, softmax over several classes) that width 3 has."""
    depth = draw(st.integers(1, 4))
    top = 3 if depth <= 2 else 2
    widths = (*range(1, top + 1), *SYMBOLS)
    loss = draw(st.sampled_from(sorted(LOSSES)))
    width = st.sampled_from(widths)
    inputs = draw(width)
    layers: list[dict] = []
    for _ in range(1, depth):
        layer = {"units": draw(width), "activation": draw(st.sampled_from(ELEMENTWISE))}
        # Hidden layers may normalise (not a numeric width of 1) and add an earlier output of the
        # same width (a residual connection), as the spec allows.
        if layer["units"] != 1 and draw(st.booleans()):
            layer["norm"] = "layer"
            layer["eps"] = draw(st.sampled_from((1e-5, 0.1)))
        widths_so_far = [inputs, *(lay["units"] for lay in layers)]
        sources = [n for n, w in enumerate(widths_so_far) if w == layer["units"]]
        if sources and draw(st.booleans()):
            layer["skip"] = draw(st.sampled_from(sources))
        layers.append(layer)
    units, activation = draw(st.sampled_from(_outputs(loss, widths)))
    layers.append({"units": units, "activation": activation})
    data = {"name": "random", "inputs": inputs, "loss": loss, "layers": layers}
    spec = spec_from_dict(data, "<random>")  # the generator only makes specs the parser accepts
    used = sorted({s for s in spec.sizes() if isinstance(s, str)})
    values = {s: draw(st.integers(1, top)) for s in used}
    return spec, values


# --- an independent evaluation at concrete sizes ------------------------------------------------


def _units(width: sp.Expr, sizes: dict) -> list[int | None]:
    """The unit indices of a layer at concrete sizes (None: a width-1 layer has no index)."""
    return [None] if width == 1 else list(range(1, int(width.subs(sizes)) + 1))


def _random_point(d: Derivation, sizes: dict, rng: random.Random) -> dict:
    """30-digit inputs and parameters; targets valid for the loss (one-hot, 0/1 or real)."""
    names = d.names

    def number() -> sp.Float:
        return sp.Float(rng.uniform(-1.5, 1.5), 30)

    point = {element(names.x, j): number() for j in _units(names.input_width, sizes)}
    for layer in names.layers:
        for k in _units(layer.width, sizes):
            point[element(layer.b, k)] = number()
            point.update({element(layer.w, k, j): number() for j in _units(layer.prev_width, sizes)})
            if layer.norm:
                point[element(layer.gamma, k)] = number()
                point[element(layer.beta, k)] = number()
    outputs = _units(names.output.width, sizes)
    hot = rng.randrange(len(outputs))
    for i, k in enumerate(outputs):
        if LOSSES[d.spec.loss].target == "one-hot":
            target = sp.Integer(int(i == hot))
        elif LOSSES[d.spec.loss].target == "binary":
            target = sp.Integer(rng.randrange(2))
        else:
            target = number()
        point[element(names.y, k)] = target
    return point


def _forward(d: Derivation, sizes: dict, value_of) -> tuple[sp.Expr, dict]:
    """(loss, {z/a element: value}) composed layer by layer from the registries' forward
    definitions, with each input, parameter and target given by ``value_of``."""
    names = d.names
    values: dict = {}
    prev = {j: value_of(element(names.x, j)) for j in _units(names.input_width, sizes)}
    outputs = {0: prev}
    for layer, spec_layer in zip(names.layers, d.spec.layers, strict=True):
        act = ACTIVATIONS[layer.activation]
        units = _units(layer.width, sizes)
        z = {
            k: sp.Add(*(value_of(element(layer.w, k, j)) * a for j, a in prev.items()))
            + value_of(element(layer.b, k))
            for k in units
        }
        inputs = z
        if spec_layer.norm == "layer":  # written out here, from the definition, not from the engine
            mean = sp.Add(*z.values()) / len(units)
            var = sp.Add(*((v - mean) ** 2 for v in z.values())) / len(units)
            eps = sp.Float(spec_layer.eps, 30)
            tilde = {k: (z[k] - mean) / sp.sqrt(var + eps) for k in units}
            inputs = {k: value_of(element(layer.gamma, k)) * tilde[k] + value_of(element(layer.beta, k))
                      for k in units}
            values.update({layer.mu: mean, layer.var: var, layer.eps: eps})
            values.update({element(layer.ztilde, k): tilde[k] for k in units})
            values.update({element(layer.zhat, k): inputs[k] for k in units})
        if act.elementwise:
            prev = {k: act.forward(inputs[k]) for k in units}
        else:
            zeta, c = sp.IndexedBase("zeta"), sp.Dummy("c", integer=True, positive=True)
            whole = {zeta[k]: z[k] for k in units}
            prev = {k: act.vector_forward(zeta, k, c, len(units)).doit().xreplace(whole) for k in units}
        if spec_layer.skip is not None:
            prev = {k: prev[k] + outputs[spec_layer.skip][k] for k in units}
        outputs[layer.number] = prev
        values.update({element(layer.z, k): z[k] for k in units})
        values.update({element(layer.a, k): prev[k] for k in units})
    out = names.output
    loss = LOSSES[d.spec.loss]
    if out.index is None:
        return loss.expression(lambda i: prev[None], lambda i: value_of(names.y), None, None), values
    alpha, eta = sp.IndexedBase("alpha"), sp.IndexedBase("eta")
    c = sp.Dummy("c", integer=True, positive=True)
    written = loss.expression(lambda i: alpha[i], lambda i: eta[i], c, len(prev)).doit()
    fill = {alpha[k]: prev[k] for k in prev} | {eta[k]: value_of(element(names.y, k)) for k in prev}
    return written.xreplace(fill), values


def _number(expr: sp.Expr, sizes: dict, env: dict) -> sp.Float:
    """An engine expression at concrete indices: sums written out, every quantity a number."""
    value = sp.N(expr.subs(sizes).doit().xreplace(env), 30)
    assert not value.free_symbols, (expr, value.free_symbols)
    return value


def _engine_gradients(d: Derivation, sizes: dict, point: dict):
    """(parameter element, value) for every gradient element, read off the engine's results:
    error terms evaluated output layer first, each from the next layer's numbers."""
    _, values = _forward(d, sizes, point.__getitem__)
    env = dict(point) | {q: sp.N(v, 30) for q, v in values.items()}
    for step in d.errors:
        for at in index_ranges(step.delta, d, sizes):
            env[step.delta.xreplace(at)] = _number(step.value.xreplace(at), sizes, env)
    for step in d.gradients:
        for at in index_ranges(step.element, d, sizes):
            yield step.element.xreplace(at), _number(step.result.xreplace(at), sizes, env)


def _sympy_gradient(d: Derivation, sizes: dict, point: dict, theta: sp.Expr) -> sp.Float:
    """SymPy's diff of the composed loss with respect to ``theta``, at ``point``: every other
    quantity is a number before differentiating, which keeps the expression small."""
    along, _ = _forward(d, sizes, lambda q: q if q == theta else point[q])
    return sp.N(sp.diff(along, theta).xreplace({theta: point[theta]}), 30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_specs(), st.integers(0, 2**32 - 1))
def test_derivation_matches_sympy_diff_of_composed_loss(case, seed):
    spec, values = case
    d = derive_spec(spec)
    sizes = {s: values[s.name] for s in size_symbols(d)}
    checked = agrees_with_sympy(d, sizes, random.Random(seed), points=2, label=spec)
    assert checked == 2 * _parameter_count(spec, values)


def _count(size: object, values: dict[str, int]) -> int:
    return size if isinstance(size, int) else values[size]


def agrees_with_sympy(d: Derivation, sizes: dict, rng: random.Random, points: int, label: object) -> int:
    """Asserts that every parameter element's gradient from the derivation equals SymPy's diff of
    the composed loss (within 1e-20 relative, 30 digits) at ``points`` random points; returns how
    many it compared. ``label`` names the case in a failure."""
    checked = 0
    for point in (_random_point(d, sizes, rng) for _ in range(points)):
        for theta, ours in _engine_gradients(d, sizes, point):
            reference = _sympy_gradient(d, sizes, point, theta)
            assert abs(ours - reference) <= 1e-20 * max(1, abs(reference)), (label, theta, ours, reference)
            checked += 1
    return checked


def _parameter_count(spec: ModelSpec, values: dict[str, int]) -> int:
    """Weights and biases of every layer (and a norm's gamma and beta): each gradient element
    must have been compared."""
    sizes = [_count(s, values) for s in spec.sizes()]
    dense = sum(n_out * n_in + n_out for n_in, n_out in zip(sizes, sizes[1:], strict=False))
    return dense + sum(2 * n_out for n_out, layer in zip(sizes[1:], spec.layers, strict=True) if layer.norm)


# --- generated code against finite differences ------------------------------------------------------


def _load(source: str) -> types.ModuleType:
    module = types.ModuleType("generated_model")
    exec(compile(source, "<generated>", "exec"), module.__dict__)  # our own generated code
    return module


def _data(spec: ModelSpec, values: dict[str, int], rng: np.random.Generator, n: int):
    sizes = [_count(s, values) for s in spec.sizes()]
    X = rng.normal(size=(n, sizes[0]))
    out = sizes[-1]
    if LOSSES[spec.loss].target == "one-hot":
        y = np.eye(out)[rng.integers(0, out, size=n)]
    elif LOSSES[spec.loss].target == "binary":
        y = rng.integers(0, 2, size=n).astype(float)
    else:
        y = rng.normal(size=(n, out))
    if not isinstance(spec.layers[-1].units, str) and out == 1:
        y = y.reshape(n)  # a single (integer 1) output unit is a scalar per example
    return X, y


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_specs(), st.integers(0, 2**32 - 1))
def test_generated_code_matches_finite_differences(case, seed):
    spec, values = case
    module = _load(module_source(derive_spec(spec)))
    rng = np.random.default_rng(seed)
    shapes = module.init_params(dict(values), seed % 1000)
    # Generic values for every parameter: initial biases of 0 put relu units exactly on the kink.
    params = {name: rng.normal(size=np.shape(array)) for name, array in shapes.items()}
    X, y = _data(spec, values, rng, n=4)
    loss, grads = module.loss_and_grad(params, X, y)
    assert set(grads) == set(params)
    h = 1e-6
    for name, array in params.items():
        assert np.shape(grads[name]) == np.shape(array), name
        for idx in np.ndindex(np.shape(array)):
            plus = {k: np.array(v, dtype=float, copy=True) for k, v in params.items()}
            minus = {k: np.array(v, dtype=float, copy=True) for k, v in params.items()}
            plus[name][idx] += h
            minus[name][idx] -= h
            numeric = (module.loss_and_grad(plus, X, y)[0] - module.loss_and_grad(minus, X, y)[0]) / (2 * h)
            got = np.asarray(grads[name])[idx]
            assert abs(got - numeric) <= 1e-5 * max(1.0, abs(numeric)), (spec, name, idx, got, numeric)
