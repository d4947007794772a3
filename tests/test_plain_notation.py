"""Plain text and Unicode, as typed in a terminal, graded like LaTeX index notation (issue 11).

Each answer below comes with its verdict worked out by hand and with the same equation written
independently in LaTeX: the plain answer must get that verdict, and so must its LaTeX twin (so
the verdict is the grader's on the mathematics, not an accident of the rewrite). Wrong answers
are real slips (sign, missing term, missing factor, wrong index, wrong layer).
"""

from __future__ import annotations

import pytest

from derive.check import Checker
from derive.checking.plain import is_plain, to_latex
from derive.spec import resolve

OK, WRONG = "correct", "incorrect"

CORPUS = [
    # (model, plain text, the same in LaTeX, verdict)
    ("a", "dL/dw_j = (a - y)*x_j", r"\frac{\partial L}{\partial w_j} = (a - y) x_j", OK),
    ("a", "dL/dw_j = (y - a)*x_j", r"\frac{\partial L}{\partial w_j} = (y - a) x_j", WRONG),
    ("a", "dL/dw_j = (a - y)*x_k", r"\frac{\partial L}{\partial w_j} = (a - y) x_k", WRONG),
    ("a", "dL/dz = a - y", r"\frac{\partial L}{\partial z} = a - y", OK),
    ("a", "∂L/∂z = a − y", r"\frac{\partial L}{\partial z} = a - y", OK),
    ("a", "∂L/∂z = y − a", r"\frac{\partial L}{\partial z} = y - a", WRONG),
    ("a", "d L / d z = a - y", r"\frac{\partial L}{\partial z} = a - y", OK),
    ("a", "dL/db = a - y", r"\frac{\partial L}{\partial b} = a - y", OK),
    ("a", "dL/db = (a - y) * b", r"\frac{\partial L}{\partial b} = (a - y) b", WRONG),
    ("a", "dL/da = -y/a + (1-y)/(1-a)", r"\frac{\partial L}{\partial a} = -\frac{y}{a} + \frac{1-y}{1-a}", OK),
    ("a", "dL/da = -y/a", r"\frac{\partial L}{\partial a} = -\frac{y}{a}", WRONG),
    ("a", "dL/da = -y/a - (1-y)/(1-a)", r"\frac{\partial L}{\partial a} = -\frac{y}{a} - \frac{1-y}{1-a}", WRONG),
    ("a", "da/dz = sigma(z)(1 - sigma(z))", r"\frac{\partial a}{\partial z} = \sigma(z)(1 - \sigma(z))", OK),
    ("a", "da/dz = σ(z)·(1 − σ(z))", r"\frac{\partial a}{\partial z} = \sigma(z)(1 - \sigma(z))", OK),
    ("a", "da/dz = sigma'(z)", r"\frac{\partial a}{\partial z} = \sigma'(z)", OK),
    ("a", "da/dz = a(1 - a)", r"\frac{\partial a}{\partial z} = a(1 - a)", OK),
    ("a", "da/dz = a(1 + a)", r"\frac{\partial a}{\partial z} = a(1 + a)", WRONG),
    ("a", "da/dz = sigma(z)", r"\frac{\partial a}{\partial z} = \sigma(z)", WRONG),
    ("a", "dz/dw_j = x_j", r"\frac{\partial z}{\partial w_j} = x_j", OK),
    ("a", "L = -y log(a) - (1-y) log(1-a)", r"L = -y \log a - (1-y)\log(1-a)", OK),
    ("a", "L = -y ln(a) - (1-y) ln(1-a)", r"L = -y \ln a - (1-y)\ln(1-a)", OK),
    ("a", "L = -y log(a)", r"L = -y \log a", WRONG),
    ("a", "a = 1/(1 + exp(-z))", r"a = \frac{1}{1 + \exp(-z)}", OK),
    ("a", "a = 1/(1 + exp(z))", r"a = \frac{1}{1 + \exp(z)}", WRONG),
    ("a", "a = 1/(1 + e^-z)", r"a = \frac{1}{1 + e^{-z}}", OK),
    ("a", "a = 1/(1 + e^(-z))", r"a = \frac{1}{1 + e^{-z}}", OK),
    ("a", "a = 1/(1 + e^z)", r"a = \frac{1}{1 + e^{z}}", WRONG),
    ("a", "z = sum_j w_j x_j + b", r"z = \sum_j w_j x_j + b", OK),
    ("a", "z = sum_(j=1)^M w_j x_j + b", r"z = \sum_{j=1}^{M} w_j x_j + b", OK),
    ("a", "z = sum_j w_j x_j", r"z = \sum_j w_j x_j", WRONG),
    ("b", "dL/db^(2) = a^(2) - y", r"\frac{\partial L}{\partial b^{(2)}} = a^{(2)} - y", OK),
    ("b", "dL/db^(2) = a^(1) - y", r"\frac{\partial L}{\partial b^{(2)}} = a^{(1)} - y", WRONG),
    ("b", "dL/db2 = a2 - y", r"\frac{\partial L}{\partial b^{(2)}} = a^{(2)} - y", OK),
    ("b", "dL/dw2_k = (a2 - y) a1_k", r"\frac{\partial L}{\partial w^{(2)}_k} = (a^{(2)} - y) a^{(1)}_k", OK),
    ("b", "dL/dw2_k = (a2 - y) x_k", r"\frac{\partial L}{\partial w^{(2)}_k} = (a^{(2)} - y) x_k", WRONG),
    (
        "b",
        "dL/dw1_kj = (a2 - y) w2_k a1_k (1 - a1_k) x_j",
        r"\frac{\partial L}{\partial w^{(1)}_{kj}} = (a^{(2)} - y) w^{(2)}_k a^{(1)}_k (1 - a^{(1)}_k) x_j",
        OK,
    ),
    (
        "b",
        "dL/dw1_kj = (a2 - y) w2_k (1 - a1_k) x_j",
        r"\frac{\partial L}{\partial w^{(1)}_{kj}} = (a^{(2)} - y) w^{(2)}_k (1 - a^{(1)}_k) x_j",
        WRONG,
    ),
    (
        "b",
        "dL/dw^(1)_kj = (a^(2) - y)·w^(2)_k·a^(1)_k(1 − a^(1)_k)·x_j",
        r"\frac{\partial L}{\partial w^{(1)}_{kj}} = (a^{(2)} - y) w^{(2)}_k a^{(1)}_k (1 - a^{(1)}_k) x_j",
        OK,
    ),
    (
        "b",
        "∂L/∂w⁽¹⁾ₖⱼ = (a⁽²⁾ − y) w⁽²⁾ₖ a⁽¹⁾ₖ (1 − a⁽¹⁾ₖ) xⱼ",
        r"\frac{\partial L}{\partial w^{(1)}_{kj}} = (a^{(2)} - y) w^{(2)}_k a^{(1)}_k (1 - a^{(1)}_k) x_j",
        OK,
    ),
    (
        "b",
        "∂L/∂w⁽¹⁾ₖⱼ = (a⁽²⁾ − y) w⁽²⁾ₖ a⁽¹⁾ₖ (1 − a⁽¹⁾ₖ) xₖ",
        r"\frac{\partial L}{\partial w^{(1)}_{kj}} = (a^{(2)} - y) w^{(2)}_k a^{(1)}_k (1 - a^{(1)}_k) x_k",
        WRONG,
    ),
    (
        "b",
        "dL/dz1_k = delta2 w2_k a1_k (1 - a1_k)",
        r"\frac{\partial L}{\partial z^{(1)}_k} = \delta^{(2)} w^{(2)}_k a^{(1)}_k (1 - a^{(1)}_k)",
        OK,
    ),
    (
        "b",
        "delta1_k = delta2 * w2_k * a1_k * (1 - a1_k)",
        r"\delta^{(1)}_k = \delta^{(2)} w^{(2)}_k a^{(1)}_k (1 - a^{(1)}_k)",
        OK,
    ),
    (
        "b",
        "delta1_k = delta2 * w2_k",
        r"\delta^{(1)}_k = \delta^{(2)} w^{(2)}_k",
        WRONG,
    ),
    ("b", "dL/da2 = -y/a2 + (1-y)/(1-a2)", r"\frac{\partial L}{\partial a^{(2)}} = -\frac{y}{a^{(2)}} + \frac{1-y}{1-a^{(2)}}", OK),
    ("b", "dz2/da1_k = w2_k", r"\frac{\partial z^{(2)}}{\partial a^{(1)}_k} = w^{(2)}_k", OK),
    ("b", "dz2/da1_k = w1_k", r"\frac{\partial z^{(2)}}{\partial a^{(1)}_k} = w^{(1)}_k", WRONG),
    ("b", "dL/db1_k = (a2 - y) w2_k a1_k (1 - a1_k)", r"\frac{\partial L}{\partial b^{(1)}_k} = (a^{(2)} - y) w^{(2)}_k a^{(1)}_k (1 - a^{(1)}_k)", OK),
    ("c", "dL/dz_j = a_j - y_j", r"\frac{\partial L}{\partial z_j} = a_j - y_j", OK),
    ("c", "dL/dz_j = a_j", r"\frac{\partial L}{\partial z_j} = a_j", WRONG),
    ("c", "da_k/dz_j = a_k (delta_kj - a_j)", r"\frac{\partial a_k}{\partial z_j} = a_k (\delta_{kj} - a_j)", OK),
    ("c", "da_k/dz_j = a_k (δ_kj − a_j)", r"\frac{\partial a_k}{\partial z_j} = a_k (\delta_{kj} - a_j)", OK),
    ("c", "da_k/dz_j = a_k (1 - a_j)", r"\frac{\partial a_k}{\partial z_j} = a_k (1 - a_j)", WRONG),
    ("c", "da_k/dz_j = a_j (delta_kj - a_k)", r"\frac{\partial a_k}{\partial z_j} = a_j (\delta_{kj} - a_k)", OK),
    ("c", "a_k = exp(z_k) / sum_c exp(z_c)", r"a_k = \frac{\exp(z_k)}{\sum_c \exp(z_c)}", OK),
    ("c", "a_k = exp(z_k) / sum_c exp(z_k)", r"a_k = \frac{\exp(z_k)}{\sum_c \exp(z_k)}", WRONG),
    ("c", "a_k = e^(z_k)/sum_c e^(z_c)", r"a_k = \frac{e^{z_k}}{\sum_c e^{z_c}}", OK),
    ("b", "delta1_k = sigma'(z1_k) * w2_k * delta2", r"\delta^{(1)}_k = \sigma'(z^{(1)}_k) w^{(2)}_k \delta^{(2)}", OK),
    ("b", "dL/dW1_kj = delta1_k * x_j", r"\frac{\partial L}{\partial W^{(1)}_{kj}} = \delta^{(1)}_k x_j", OK),
    ("b", "dL/dW1_kj = delta2 * x_j", r"\frac{\partial L}{\partial W^{(1)}_{kj}} = \delta^{(2)} x_j", WRONG),
    ("c", "dL/dw_kj = (a_k - y_k) x_j", r"\frac{\partial L}{\partial w_{kj}} = (a_k - y_k) x_j", OK),
    ("c", "dL/dw_kj = (a_k - y_k) x_k", r"\frac{\partial L}{\partial w_{kj}} = (a_k - y_k) x_k", WRONG),
    ("c", "dL/db_k = a_k - y_k", r"\frac{\partial L}{\partial b_k} = a_k - y_k", OK),
    ("c", "L = -sum_k y_k log(a_k)", r"L = -\sum_k y_k \log a_k", OK),
    ("c", "L = -Σ_k y_k log(a_k)", r"L = -\sum_k y_k \log a_k", OK),
    ("c", "L = -sum_k log(a_k)", r"L = -\sum_k \log a_k", WRONG),
    ("c", "dL/da_k = -y_k/a_k", r"\frac{\partial L}{\partial a_k} = -\frac{y_k}{a_k}", OK),
    ("c", "dL/da_k = y_k/a_k", r"\frac{\partial L}{\partial a_k} = \frac{y_k}{a_k}", WRONG),
    (
        "c-mlp",
        "dL/dw1_kj = sum_i (a2_i - y_i) w2_ik a1_k (1 - a1_k) x_j",
        r"\frac{\partial L}{\partial w^{(1)}_{kj}} = \sum_i (a^{(2)}_i - y_i) w^{(2)}_{ik} a^{(1)}_k (1 - a^{(1)}_k) x_j",
        OK,
    ),
    (
        "c-mlp",
        "dL/dw1_kj = sum_i (a2_i - y_i) w2_ki a1_k (1 - a1_k) x_j",
        r"\frac{\partial L}{\partial w^{(1)}_{kj}} = \sum_i (a^{(2)}_i - y_i) w^{(2)}_{ki} a^{(1)}_k (1 - a^{(1)}_k) x_j",
        WRONG,
    ),
    ("c-mlp", "dL/dw2_ik = (a2_i - y_i) a1_k", r"\frac{\partial L}{\partial w^{(2)}_{ik}} = (a^{(2)}_i - y_i) a^{(1)}_k", OK),
    ("c-mlp", "dL/dz2_i = a2_i - y_i", r"\frac{\partial L}{\partial z^{(2)}_i} = a^{(2)}_i - y_i", OK),
]


@pytest.fixture(scope="module")
def checkers():
    return {model: Checker(resolve(model)) for model in ("a", "b", "c", "c-mlp")}


@pytest.mark.parametrize("model, plain, latex, expected", CORPUS, ids=[c[1] for c in CORPUS])
def test_plain_answer_gets_the_verdict_of_its_latex_twin(checkers, model, plain, latex, expected):
    checker = checkers[model]
    assert is_plain(plain) and not is_plain(latex)
    twin = checker.check(latex)
    assert twin.verdict == expected, twin.show()
    result = checker.check(plain)
    assert result.verdict == expected, f"{plain!r} read as {to_latex(plain)!r}: {result.show()}"


def test_the_corpus_has_both_verdicts_in_every_model():
    for model in ("a", "b", "c"):
        verdicts = {c[3] for c in CORPUS if c[0] == model}
        assert verdicts == {OK, WRONG}, model


@pytest.mark.parametrize(
    "text, latex",
    [
        ("dL/dw_j", r"\frac{\partial L}{\partial w_j}"),
        ("a^(1)_k", "a^{(1)}_k"),
        ("a1_k", "a^{(1)}_k"),
        ("x1", "x1"),  # an input has no layer: x times 1, as typed
        ("w_kj", "w_{kj}"),
        ("sum_(k=1)^K", r"\sum _{k=1}^K"),
        ("sigma'(z)", r"\sigma '(z)"),
    ],
)
def test_plain_rewrites(text, latex):
    assert to_latex(text) == latex


def test_latex_keeps_its_meaning_and_only_loses_its_unicode():
    assert to_latex(r"\frac{\partial L}{\partial w_kj} = a − y") == r"\frac{\partial L}{\partial w_kj} = a - y"


LATEX_FORMS = [
    # (model, LaTeX as students write it, the same in the grammar's own terms, verdict)
    ("a", r"\frac{\partial L}{\partial z} = \hat{y} - y", r"\frac{\partial L}{\partial z} = a - y", OK),
    ("a", r"\frac{\partial L}{\partial z} = y - \hat y", r"\frac{\partial L}{\partial z} = y - a", WRONG),
    ("b", r"\frac{\partial L}{\partial z^{(2)}} = \hat{y} - y", r"\frac{\partial L}{\partial z^{(2)}} = a^{(2)} - y", OK),
    ("c", r"\frac{\partial L}{\partial z_j} = \hat{y}_j - y_j", r"\frac{\partial L}{\partial z_j} = a_j - y_j", OK),
    ("c", r"\frac{\partial a_k}{\partial z_j} = a_k(\mathbb{1}[k=j] - a_j)", r"\frac{\partial a_k}{\partial z_j} = a_k(\delta_{kj} - a_j)", OK),
    ("c", r"\frac{\partial a_k}{\partial z_j} = a_k(\mathbb{1}_{k = j} - a_j)", r"\frac{\partial a_k}{\partial z_j} = a_k(\delta_{kj} - a_j)", OK),
    ("c", r"\frac{\partial a_k}{\partial z_j} = a_j(\mathbb{1}\{k=j\} - a_k)", r"\frac{\partial a_k}{\partial z_j} = a_j(\delta_{kj} - a_k)", OK),
    ("c", r"\frac{\partial a_k}{\partial z_j} = a_k(1 - \mathbb{1}[k=j])", r"\frac{\partial a_k}{\partial z_j} = a_k(1 - \delta_{kj})", WRONG),
    ("a", r"\frac{\partial L}{\partial z} = \frac{\partial L}{\partial a}\frac{\partial a}{\partial z} = \dots = a - y",
     r"\frac{\partial L}{\partial z} = \frac{\partial L}{\partial a}\frac{\partial a}{\partial z} = a - y", OK),
    ("a", r"\frac{\partial L}{\partial z} = \cdots = y - a", r"\frac{\partial L}{\partial z} = y - a", WRONG),
]


@pytest.mark.parametrize("model, written, twin, expected", LATEX_FORMS, ids=[c[1] for c in LATEX_FORMS])
def test_latex_forms_get_the_verdict_of_their_twin(checkers, model, written, twin, expected):
    assert checkers[model].check(twin).verdict == expected
    result = checkers[model].check(written)
    assert result.verdict == expected, result.show()
