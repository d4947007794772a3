"""Named slips (issue 11, part 3): a wrong answer is told the one edit that makes it right.

Each case is a real slip, its kind and the words a student reads, worked out by hand; the named
edit is then made by hand in the LaTeX and the result must be correct, so a slip is never named
that does not fix the answer.
"""

from __future__ import annotations

import pytest

from derive.check import Checker
from derive.spec import resolve

SLIPS = [
    # (model, answer, kind, message, the answer with the slip fixed by hand)
    ("a", r"\frac{\partial L}{\partial w_j} = (y - a) x_j", "sign", "the sign is wrong",
     r"\frac{\partial L}{\partial w_j} = (a - y) x_j"),
    ("a", r"\frac{\partial L}{\partial w_j} = (a - y) x_j x_j", "extra-factor",
     "your answer is the correct one times x_{j}", r"\frac{\partial L}{\partial w_j} = (a - y) x_j"),
    ("a", r"\frac{\partial L}{\partial w_j} = a - y", "missing-factor", "missing the factor x_{j}",
     r"\frac{\partial L}{\partial w_j} = (a - y) x_j"),
    ("b", r"\frac{\partial L}{\partial w_{kj}^{(1)}} = (a^{(2)}-y) a_k^{(1)}(1-a_k^{(1)}) x_j",
     "missing-factor", "missing the factor w_{k}^{(2)}",
     r"\frac{\partial L}{\partial w_{kj}^{(1)}} = (a^{(2)}-y) w_k^{(2)} a_k^{(1)}(1-a_k^{(1)}) x_j"),
    ("a", r"\frac{\partial L}{\partial w_j} = (a - y) x_k", "wrong-index", "x_{k} should be x_{j}",
     r"\frac{\partial L}{\partial w_j} = (a - y) x_j"),
    ("c", r"\frac{\partial a_k}{\partial z_j} = a_k(\delta_{kj} - a_k)", "wrong-index",
     "a_{k} should be a_{j}", r"\frac{\partial a_k}{\partial z_j} = a_k(\delta_{kj} - a_j)"),
    ("c-mlp", r"\frac{\partial L}{\partial z^{(1)}_k} = \sum_{i=1}^{K} (a^{(2)}_i - y_i) W^{(2)}_{ik} a^{(1)}_k (1-a^{(1)}_k)",
     "sum-range", "the sum over i should run to C",
     r"\frac{\partial L}{\partial z^{(1)}_k} = \sum_{i=1}^{C} (a^{(2)}_i - y_i) W^{(2)}_{ik} a^{(1)}_k (1-a^{(1)}_k)"),
    ("c-mlp", r"\frac{\partial L}{\partial z^{(1)}_k} = \sum_{i} (a^{(2)}_i - y_i) W^{(2)}_{ki} a^{(1)}_k (1-a^{(1)}_k)",
     "transpose", "W_{ki}^{(2)} should be W_{ik}^{(2)} (transposed)",
     r"\frac{\partial L}{\partial z^{(1)}_k} = \sum_{i} (a^{(2)}_i - y_i) W^{(2)}_{ik} a^{(1)}_k (1-a^{(1)}_k)"),
    ("b", r"\frac{\partial L}{\partial z^{(1)}_k} = (a^{(2)}-y) w_k^{(1)} a_k^{(1)}(1-a_k^{(1)})",
     "wrong-layer", "w_{k}^{(1)} should be w_{k}^{(2)}",
     r"\frac{\partial L}{\partial z^{(1)}_k} = (a^{(2)}-y) w_k^{(2)} a_k^{(1)}(1-a_k^{(1)})"),
    ("b", r"\frac{\partial L}{\partial w^{(2)}_k} = (a^{(2)} - y) x_k", "wrong-quantity",
     "x_{k} should be a_{k}^{(1)}", r"\frac{\partial L}{\partial w^{(2)}_k} = (a^{(2)} - y) a^{(1)}_k"),
    ("a", r"\frac{\partial L}{\partial a} = -\frac{y}{a} - \frac{1-y}{1-a}", "term-sign",
     r"the term \frac{1 - y}{1 - a} has the wrong sign",
     r"\frac{\partial L}{\partial a} = -\frac{y}{a} + \frac{1-y}{1-a}"),
    ("a", r"\frac{\partial L}{\partial z} = a - y + x_1", "extra-term", "the term x_{1} should not be there",
     r"\frac{\partial L}{\partial z} = a - y"),
    ("a", r"\frac{\partial L}{\partial a} = -\frac{y}{a}", "missing-term", r"missing the term \frac{1 - y}{1 - a}",
     r"\frac{\partial L}{\partial a} = -\frac{y}{a} + \frac{1 - y}{1 - a}"),
    ("c", r"\frac{\partial L}{\partial z_j} = a_j", "missing-term", "missing the term -y_{j}",
     r"\frac{\partial L}{\partial z_j} = a_j - y_j"),
]


@pytest.fixture(scope="module")
def checkers():
    return {model: Checker(resolve(model)) for model in ("a", "b", "c", "c-mlp")}


@pytest.mark.parametrize("model, answer, kind, message, fixed", SLIPS, ids=[f"{s[2]}-{s[0]}" for s in SLIPS])
def test_the_slip_is_named_and_fixing_it_makes_the_answer_right(checkers, model, answer, kind, message, fixed):
    result = checkers[model].check(answer)
    assert result.verdict == "incorrect"
    assert result.slip is not None, result.reason
    assert (result.slip.kind, result.slip.message) == (kind, message)
    assert result.reason.startswith(message) and message in result.show()
    assert result.to_dict()["slip"] == {"kind": kind, "message": message}
    assert checkers[model].check(fixed).verdict == "correct"


def test_a_difference_no_single_edit_fixes_falls_back_to_the_counterexample(checkers):
    result = checkers["c-mlp"].check(r"\frac{\partial L}{\partial z^{(1)}_k} = a^{(1)}_k")
    assert result.verdict == "incorrect" and result.slip is None
    assert result.counterexample is not None and "left =" in result.show()


@pytest.mark.parametrize("model, answer", [
    ("a", r"\frac{\partial L}{\partial w_j} = (a - y) x_j"),
    ("c", r"\frac{\partial a_k}{\partial z_j} = a_k(\delta_{kj} - a_j)"),
])
def test_a_correct_answer_has_no_slip(checkers, model, answer):
    result = checkers[model].check(answer)
    assert result.verdict == "correct" and result.slip is None
