"""Every registry rule against SymPy's own derivative, and the engine's ignorance of the registries.

- Each elementwise activation's textbook ``derivative(z, a)``, with ``a = forward(z)``, equals
  ``sympy.diff(forward(z), z)``: symbolically for positive and for negative ``z`` (so relu is
  checked away from its kink) and numerically at several points.
- Each non-elementwise activation's ``jacobian`` equals SymPy's diff of ``vector_forward`` written
  out at a concrete size.
- Each loss, on every output layer it accepts, gives through the engine the same gradients as
  SymPy's diff of the fully composed loss.
- The chain-rule engine and the forward pass name no registered activation or loss.
"""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest
import sympy as sp

from derive.activations import ACTIVATIONS
from derive.chain import derive_spec
from derive.losses import LOSSES
from derive.naming import element
from derive.spec import Layer, ModelSpec

from .reference import Concrete, random_point

ELEMENTWISE = sorted(name for name, act in ACTIVATIONS.items() if act.elementwise)
VECTOR = sorted(name for name, act in ACTIVATIONS.items() if not act.elementwise)
POINTS = ("-2.3", "-0.7", "-0.01", "0.05", "0.9", "3.1")


def value(expr: sp.Expr, point: dict) -> sp.Float:
    """``expr`` at ``point`` (30-digit Floats): substituting first is far faster than
    ``evalf(subs=...)``, which raises its precision again and again on a difference that is 0."""
    return sp.N(expr.xreplace(point), 30)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_derivative_is_sympys(name):
    act = ACTIVATIONS[name]
    for assumption in ({"positive": True}, {"negative": True}):
        z = sp.Symbol("z", real=True, **assumption)
        expected = sp.diff(act.forward(z).doit(), z)  # named functions written out first
        ours = act.derivative(z, act.forward(z)).doit()  # a named activation written out
        assert sp.simplify(ours - expected) == 0, (name, assumption, ours, expected)
    z = sp.Symbol("z", real=True)
    expected = sp.diff(act.forward(z).doit(), z)
    ours = act.derivative(z, act.forward(z)).doit()
    for point in (sp.Float(p, 30) for p in POINTS):
        difference = value(ours, {z: point}) - value(expected, {z: point})
        assert abs(difference) < 1e-25, (name, point, difference)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_derivative_is_written_through_a_where_the_course_does(name):
    """The rule must be usable with the symbol ``a`` alone: at most z and a may appear."""
    act = ACTIVATIONS[name]
    z, a = sp.symbols("z a", real=True)
    assert act.derivative(z, a).free_symbols <= {z, a}


@pytest.mark.parametrize("name", VECTOR)
@pytest.mark.parametrize("size", [2, 3])
def test_jacobian_is_sympys(name, size):
    act = ACTIVATIONS[name]
    z, a = sp.IndexedBase("z", real=True), sp.IndexedBase("a", real=True)
    c = sp.Symbol("c", integer=True, positive=True)
    explicit = {a[k]: act.vector_forward(z, sp.Integer(k), c, sp.Integer(size)).doit()
                for k in range(1, size + 1)}
    rng = random.Random(size)
    point = {z[k]: sp.Float(rng.uniform(-2, 2), 30) for k in range(1, size + 1)}
    for k in range(1, size + 1):
        for j in range(1, size + 1):
            expected = sp.diff(explicit[a[k]], z[j])
            ours = act.jacobian(a, sp.Integer(k), sp.Integer(j)).xreplace(explicit)
            assert sp.simplify(ours - expected) == 0, (name, k, j)
            assert abs(value(ours, point) - value(expected, point)) < 1e-25


def _accepted_outputs(loss: str) -> list[Layer]:
    """Every (width, activation) output layer the loss accepts, from the registries themselves."""
    return [
        Layer(units, act)
        for act in sorted(ACTIVATIONS)
        for units in (1, 3)
        if LOSSES[loss].check_output(units, act) is None
    ]


LOSS_CASES = [(loss, layer) for loss in sorted(LOSSES) for layer in _accepted_outputs(loss)]


def test_every_loss_accepts_some_output():
    assert {loss for loss, _ in LOSS_CASES} == set(LOSSES)


@pytest.mark.parametrize(("loss", "output"), LOSS_CASES, ids=lambda v: str(v))
def test_loss_gradients_are_sympys(loss, output):
    spec = ModelSpec(f"{loss}-{output.activation}", 2, (output,), loss)
    concrete = Concrete(derive_spec(spec), {})
    rng = random.Random(3)
    points = [random_point(concrete, rng) for _ in range(3)]
    pairs = list(concrete.gradient_pairs())
    assert len(pairs) == 3 * output.units  # every weight and bias element
    for step, at, ours, reference in pairs:
        for point in points:
            difference = value(ours, point) - value(reference, point)
            assert abs(difference) < 1e-20, (loss, output, step.element, at, difference)


@pytest.mark.parametrize(("loss", "output"), LOSS_CASES, ids=lambda v: str(v))
def test_loss_factor_is_sympys_diff_of_the_loss(loss, output):
    """dL/da as the engine states it, against SymPy's diff of the loss written out element-wise."""
    d = derive_spec(ModelSpec("m", 2, (output,), loss))
    out, y = d.names.output, d.names.y
    factor = d.errors[0].factors[0]
    assert (factor.of, factor.wrt) == (d.names.L, out.el(out.a))
    units = range(1, output.units + 1) if out.index is not None else [None]
    c = sp.Dummy("c", integer=True, positive=True)
    width = sp.Integer(output.units) if out.index is not None else None
    direct = LOSSES[loss].expression(lambda i: element(out.a, i), lambda i: element(y, i), c, width).doit()
    for k in units:
        at = {out.index: k} if k is not None else {}
        ours = factor.textbook.xreplace(at).doit()
        expected = sp.diff(direct, element(out.a, k))
        # SymPy's Max has the derivative Heaviside(x) (1/2 at the kink); the registry takes
        # PyTorch's 0 there, checked against PyTorch in test_catalogue. Compare off the kink.
        kink_at_zero = lambda e: sp.Heaviside(e.args[0], 0)  # noqa: E731
        expected = expected.replace(lambda e: isinstance(e, sp.Heaviside), kink_at_zero)
        assert sp.simplify(ours - expected) == 0, (loss, output, k, ours, expected)


# --- the engine names no registry entry ---------------------------------------------------------

ENGINE = ("derive/chain.py", "derive/forward.py")
REGISTERED = set(ACTIVATIONS) | set(LOSSES)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _named(path: Path) -> list[tuple[int, str]]:
    """(line, registry name) for every identifier or non-docstring string naming a registry entry."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        words: list[str] = []
        if isinstance(node, ast.Name):
            words = [node.id]
        elif isinstance(node, ast.Attribute):
            words = [node.attr]
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            words = [node.name]
        elif isinstance(node, ast.arg):
            words = [node.arg]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            words = sorted(set(node.value.replace("-", " ").replace("_", " ").split()) & REGISTERED)
        found += [(node.lineno, w) for w in words if w in REGISTERED]
    return found


@pytest.mark.parametrize("module", ENGINE)
def test_engine_names_no_activation_or_loss(module):
    root = Path(__file__).resolve().parent.parent
    assert _named(root / module) == []


def test_the_engine_check_can_fail(tmp_path):
    source = tmp_path / "bad_engine.py"
    source.write_text('"""Docstrings may say sigmoid."""\nif act == "softmax":\n    ce = 1\n')
    assert sorted(_named(source)) == [(2, "softmax"), (3, "ce")]
