"""Losses with kinks in the grader (issues 9 and 11): ``\\max`` and the indicator
``\\mathbb{1}[... > 0]`` are read, and the instances fall on both sides of every loss kink
(``Loss.margins``) for each label, so an answer that drops a branch is rejected whatever the seed.

Verdicts worked out by hand from the loss definitions: hinge ``max(0, 1 - t a)``, t = 2y - 1,
has dL/da = -t [1 - t a > 0]; huber (delta 1) has dL/da = a - y within 1 of the target and
sign(a - y) beyond; svm ``sum_{c != y} max(0, a_c - a_y + 1)`` has
dL/da_j = (1 - y_j)[m_j > 0] - y_j sum_c (1 - y_c)[m_c > 0], m_c = a_c - a_y + 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from derive.check import Checker
from derive.spec import resolve

ROOT = Path(__file__).resolve().parents[1]
HINGE, HUBER, SVM = (str(ROOT / "examples" / f) for f in ("binary-hinge.toml", "robust-regression.toml",
                                                            "svm-weight-decay.toml"))
MARGIN = r"a^{(2)}_c - \sum_i y_i a^{(2)}_i + 1"
CASES = [
    (HINGE, r"L = \max(0, 1 - (2y - 1) a^{(3)})", "correct"),
    (HINGE, r"L = \max(0, 1 + (2y - 1) a^{(3)})", "incorrect"),
    (HINGE, r"\frac{\partial L}{\partial z^{(3)}} = -(2y - 1) \mathbb{1}[1 - (2y - 1) z^{(3)} > 0]",
     "correct"),
    (HINGE, r"\frac{\partial L}{\partial z^{(3)}} = -(2y - 1) \mathbb{1}_{(2y - 1) z^{(3)} < 1}", "correct"),
    (HINGE, r"\frac{\partial L}{\partial z^{(3)}} = -(2y - 1)", "incorrect"),  # the indicator dropped
    (HINGE, "dL/dz3 = -(2y - 1) * max(0, 1)", "incorrect"),
    (HUBER, r"\frac{\partial L}{\partial a^{(3)}_d} = a^{(3)}_d - y_d", "incorrect"),  # the inner branch only
    (SVM, r"\frac{\partial L}{\partial a^{(2)}_j} = (1 - y_j) "
          r"\mathbb{1}[a^{(2)}_j - \sum_c y_c a^{(2)}_c + 1 > 0]"
          rf" - y_j \sum_c (1 - y_c) \mathbb{{1}}[{MARGIN} > 0]", "correct"),
    (SVM, r"\frac{\partial L}{\partial a^{(2)}_j} = (1 - y_j) - y_j \sum_c (1 - y_c)", "incorrect"),
]


IDS = [f"{Path(c[0]).stem}:{c[2]}:{i}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize("spec, text, verdict", CASES, ids=IDS)
def test_a_loss_with_kinks_is_graded_the_same_for_every_seed(spec, text, verdict):
    model = resolve(spec)
    for seed in range(12):
        result = Checker(model, seed=seed).check(text)
        assert result.verdict == verdict, (seed, result.show())


def test_each_label_sees_both_sides_of_the_hinge():
    for seed in range(30):
        instances = Checker(resolve(HINGE), seed=seed).instances()
        seen = set()
        for instance in instances:
            a, y = instance.values[("a3", ())], instance.values[("y", ())]
            seen.add((y, 1 - (2 * y - 1) * a > 0))
        assert seen == {(0.0, False), (0.0, True), (1.0, False), (1.0, True)}, (seed, seen)
