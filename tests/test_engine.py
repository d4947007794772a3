"""Every built-in derivation proved two ways at concrete sizes: the chain-rule result equals
SymPy's ``diff`` of the fully composed loss, and matches central finite differences."""

import random

import pytest
import sympy as sp

import derive
from derive.spec import builtin_names

from .reference import Concrete, central_difference, evaluator, random_point, size_symbols, values

SIZES = {"a": [1, 3], "b": [1, 2], "c": [2, 3], "c-mlp": [2]}


def _concrete(model, n):
    d = derive.derive(model)
    sizes = {s: n + i % 2 for i, s in enumerate(size_symbols(d))}
    return Concrete(d, sizes)


@pytest.mark.parametrize("model", builtin_names())
def test_chain_rule_equals_direct_diff(model):
    rng = random.Random(1)
    for n in SIZES[model]:
        concrete = _concrete(model, n)
        points = [random_point(concrete, rng) for _ in range(3)]
        keys = sorted(points[0], key=str)
        for step, at, ours, reference in concrete.gradient_pairs():
            difference = evaluator(ours - reference, keys)
            scale = evaluator(reference, keys)
            for point in points:
                # Targets are drawn as the model assumes them (one-hot for ce), 30 digits.
                assert abs(difference(*values(point))) < 1e-20 * max(1, abs(scale(*values(point)))), (
                    model, n, step.element, at)


@pytest.mark.parametrize("model", ["a", "b"])
def test_chain_rule_symbolically_equal(model):
    concrete = _concrete(model, 1)
    for step, at, ours, reference in concrete.gradient_pairs():
        assert sp.simplify(ours - reference) == 0, (model, step.element, at)


@pytest.mark.parametrize("model", builtin_names())
def test_matches_finite_differences(model):
    rng = random.Random(7)
    concrete = _concrete(model, 2)
    point = random_point(concrete, rng)
    keys = sorted(point, key=str)
    loss = evaluator(concrete.loss, keys)
    for step, at, ours, _ in concrete.gradient_pairs():
        param = step.element.xreplace(at)
        numeric = central_difference(loss, point, param)
        value = evaluator(ours, keys)(*values(point))
        assert abs(value - numeric) < 1e-8 * max(1, abs(numeric)), (model, param, value, numeric)


def test_textbook_results_are_the_course_answers():
    """The simplified results are SymPy's; these are the forms a course states."""
    a, c = derive.derive("a"), derive.derive("c")
    assert a.errors[0].result == a.names.output.a - a.names.y
    out = c.names.output
    j = c.errors[0].of.indices[0]
    assert c.errors[0].result == out.a[j] - c.names.y[j]
    assert c.errors[0].uses, "softmax + ce must state that it uses sum_k y_k = 1"


def test_hidden_error_is_defined_through_the_next_one():
    b = derive.derive("b")
    hidden = b.error(1)
    assert hidden.value.has(b.names.layers[1].delta), "delta1 must be written through delta2"
    assert not hidden.value.has(b.names.y)
