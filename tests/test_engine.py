"""Every built-in derivation proved two ways at concrete sizes: the chain-rule result equals
SymPy's ``diff`` of the fully composed loss, and matches central finite differences."""

import random

import pytest
import sympy as sp

import derive
from derive.spec import builtin_names

from .reference import Concrete, central_difference, random_point, size_symbols

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
        point_sets = [random_point(concrete, rng) for _ in range(3)]
        for step, at, ours, reference in concrete.gradient_pairs():
            for point in point_sets:
                # ce is only defined for one-hot y; compare on consistent points, 30 digits.
                diff = (ours - reference).evalf(30, subs=point)
                assert abs(diff) < 1e-20, (model, step.element, at, diff)


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
    for step, at, ours, _ in concrete.gradient_pairs():
        param = step.element.xreplace(at)
        numeric = central_difference(concrete.loss, point, param)
        value = ours.evalf(30, subs=point)
        assert abs(value - numeric) < 1e-6 * max(1, abs(numeric)), (model, param)


def test_textbook_results_are_the_course_answers():
    a, c = derive.derive("a"), derive.derive("c")
    names = a.names
    assert a.errors[0].result == names.output.a - names.y
    out = c.names.output
    j = c.errors[0].of.indices[0]
    assert c.errors[0].result == out.a[j] - c.names.y[j]
    assert c.errors[0].uses, "softmax + ce must state that it uses sum_k y_k = 1"
