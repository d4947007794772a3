"""``derive check``: the grammar, the model's own derivatives against independent references
(SymPy's diff of the composed loss, autograd), correct course answers, every kind of mistake,
files, exit codes and the limits on pathological input."""

import json
import math
import random
import re
import signal
from pathlib import Path

import autograd.numpy as anp
import numpy as np
import pytest
import sympy as sp
from autograd import grad, jacobian
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive import forward, losses
from derive.check import Checker, check_all, exit_code, run_check
from derive.check import _file_equations as file_equations
from derive.checking.binding import Binder
from derive.checking.instances import SAMPLERS, ModelInstance
from derive.checking.latex_parse import (
    Cases,
    Kronecker,
    LatexError,
    Name,
    Pow,
    Sum,
    WrittenPartial,
    parse_equation,
)
from derive.checking.problems import Wrong
from derive.checking.quantities import ModelTable
from derive.cli import main
from derive.errors import UsageError
from derive.naming import element
from derive.naming import names as model_names
from derive.spec import parse_spec, resolve

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def checkers():
    return {model: Checker(resolve(model)) for model in ("a", "b", "c", "c-mlp")}


def verdict(checkers, model, text):
    return checkers[model].check(text)


# --- the grammar --------------------------------------------------------------------------------


def test_superscript_in_brackets_is_a_layer_label_and_a_number_is_a_power():
    lhs, rhs = parse_equation(r"a_k^{(1)} = (a^{[2]})^2").sides
    assert lhs == Name("a", ("k",), 1, column=1)
    assert isinstance(rhs, Pow) and rhs.base.inner == Name("a", (), 2, column=14)


def test_partials_kronecker_sums_and_cases_parse():
    sides = parse_equation(
        r"\frac{\partial a_k}{\partial z_j} = \sum_{c=1}^{C} \delta_{kj} = "
        r"\begin{cases} 1 & k = j \\ 0 & \text{otherwise} \end{cases}"
    ).sides
    assert isinstance(sides[0], WrittenPartial) and sides[0].den == Name("z", ("j",), column=30)
    assert isinstance(sides[1], Sum) and sides[1].var == "c" and sides[1].body == Kronecker("k", "j")
    assert isinstance(sides[2], Cases) and [c.kind for _, c in sides[2].rows] == ["eq", "otherwise"]


@pytest.mark.parametrize("text, column", [
    (r"\frac{\partial L}{\partial a} = (a - y", 39),
    (r"a = b + } c", 9),
    (r"a = \int{z}", 5),
])
def test_parse_errors_name_the_column(text, column):
    with pytest.raises(LatexError) as err:
        parse_equation(text)
    assert err.value.column == column


# --- the model's own values and derivatives -----------------------------------------------------


def _symbol(names, key, idx):
    quantities = {names.x.name: names.x, names.y.name: names.y, names.L.name: names.L}
    for layer in names.layers:
        quantities.update({q.name: q for q in (layer.z, layer.a, layer.w, layer.b)})
    return element(quantities[key], *idx)


@pytest.mark.parametrize("model", ["a", "b", "c", "c-mlp"])
def test_instance_derivatives_match_sympy_diff_of_the_composed_loss(model):
    """Every dL/d(parameter or input) of an instance equals SymPy's diff of forward.concrete."""
    table = ModelTable(model_names(resolve(model)))
    sizes = {s: 2 + n for n, s in enumerate(table.size_symbols())}
    instance = ModelInstance(table, sizes, random.Random(3))
    composed, explicit = forward.concrete(table.names, sizes)
    point = {_symbol(table.names, *e): sp.Float(v) for e, v in instance.values.items()
             if e[0] in {table.names.x.name, table.names.y.name}
             or any(e[0] in (layer.w.name, layer.b.name) for layer in table.names.layers)}
    assert float(composed.xreplace(point)) == pytest.approx(instance.value(("L", ())), rel=1e-12)
    for symbol, expr in explicit.items():
        key, idx = symbol.base.name if isinstance(symbol, sp.Indexed) else symbol.name, \
            tuple(int(i) for i in getattr(symbol, "indices", ()))
        assert float(expr.xreplace(point)) == pytest.approx(instance.value((key, idx)), rel=1e-12)
    for element_, _ in point.items():
        if "y" in str(element_):
            continue
        key = element_.base.name if isinstance(element_, sp.Indexed) else element_.name
        idx = tuple(int(i) for i in getattr(element_, "indices", ()))
        expected = float(sp.diff(composed, element_).xreplace(point))
        assert instance.derivative(("L", ()), (key, idx)) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_instance_intermediate_derivatives_match_autograd():
    """c-mlp: dL/da1, dz2/da1 and the softmax Jacobian da2/dz2 against autograd."""
    table = ModelTable(model_names(resolve("c-mlp")))
    sizes = dict(zip(table.size_symbols(), (3, 4, 2), strict=True))  # C, K, M
    inst = ModelInstance(table, sizes, random.Random(5))
    C, K = 3, 4
    W2 = anp.array([[inst.value(("W2", (i, k))) for k in range(1, K + 1)] for i in range(1, C + 1)])
    b2 = anp.array([inst.value(("b2", (i,))) for i in range(1, C + 1)])
    y = anp.array([inst.value(("y", (i,))) for i in range(1, C + 1)])
    a1 = anp.array([inst.value(("a1", (k,))) for k in range(1, K + 1)])
    z2 = W2 @ a1 + b2

    def softmax(z):
        e = anp.exp(z - anp.max(z))
        return e / anp.sum(e)

    def loss_of_a1(a):
        return -anp.sum(y * anp.log(softmax(W2 @ a + b2)))

    d_a1 = grad(loss_of_a1)(a1)
    jac = jacobian(softmax)(z2)
    for k in range(K):
        assert inst.derivative(("L", ()), ("a1", (k + 1,))) == pytest.approx(d_a1[k], rel=1e-9)
        for i in range(C):
            assert inst.derivative(("z2", (i + 1,)), ("a1", (k + 1,))) == pytest.approx(W2[i, k], rel=1e-12)
    for i in range(C):
        for j in range(C):
            assert inst.derivative(("a2", (i + 1,)), ("z2", (j + 1,))) == pytest.approx(jac[i, j], abs=1e-12)


# --- correct course answers pass ----------------------------------------------------------------

CORRECT = {
    "a": [
        r"\frac{\partial \mathcal{L}}{\partial a} = -\frac{y}{a} + \frac{1-y}{1-a}",
        r"\frac{\partial a}{\partial z} = a(1-a)",
        r"\frac{\partial a}{\partial z} = \frac{e^{-z}}{(1+e^{-z})^2} = \sigma(z)\left(1 - \sigma(z)\right)",
        r"\frac{\partial a}{\partial z} = \sigma'(z) = \frac{\exp(-z)}{\left(1+\exp(-z)\right)^{2}}",
        r"\frac{\partial \mathcal{L}}{\partial z} = a - y",
        r"\frac{\partial L}{\partial w_j} = (a-y)x_j",
        r"\frac{\partial L}{\partial w_\alpha} = (a - y) \cdot x_\alpha",
        r"\frac{\partial L}{\partial w_j} = \frac{\partial L}{\partial a}\frac{\partial a}{\partial z}"
        r"\frac{\partial z}{\partial w_j}",
        r"\frac{\partial L}{\partial b} = a - y",
        r"\frac{\partial z}{\partial w_j} = x_j",
        r"z = \sum_{j=1}^{M} w_j x_j + b",
        r"z = \sum_j w_j \times x_j + b",
        r"a = \sigma(z) = \frac{1}{1 + e^{-z}}",
        r"\mathcal{L} = -y \ln a - (1 - y) \ln(1 - a)",
    ],
    "b": [
        r"\frac{\partial \mathcal{L}}{\partial w_{kj}^{(1)}} = "
        r"(a^{(2)}-y) w_k^{(2)} a_k^{(1)}(1-a_k^{(1)}) x_j",
        r"\frac{\partial \mathcal{L}}{\partial W^{[1]}_{kj}} = "
        r"(a^{[2]}-y) w^{[2]}_k a^{[1]}_k(1-a^{[1]}_k) x_j",
        r"\frac{\partial z^{(2)}}{\partial a_k^{(1)}} = w_k^{(2)}",
        r"\frac{\partial \mathcal{L}}{\partial w_k^{(2)}} = (a^{(2)} - y) a_k^{(1)}",
        r"\frac{\partial L}{\partial b_k^{(1)}} = \frac{\partial L}{\partial z^{(2)}}"
        r"\frac{\partial z^{(2)}}{\partial a^{(1)}_k}\frac{\partial a^{(1)}_k}{\partial z^{(1)}_k}",
        r"\delta^{(1)}_k = \delta^{(2)} w^{(2)}_k a^{(1)}_k (1 - a^{(1)}_k)",
        r"\delta^{(2)} = a^{(2)} - y",
        r"z_k^{(1)} = \sum_{j=1}^{M} w^{(1)}_{kj} x_j + b^{(1)}_k",
        r"z^{(2)} = \sum_{k=1}^{K} w_k^{(2)} a_k^{(1)} + b^{(2)}",
        r"a^{(0)}_j = x_j",
    ],
    "c": [
        r"\frac{\partial a_k}{\partial z_j} = a_k(\delta_{kj} - a_j)",
        r"\frac{\partial a_k}{\partial z_j} = "
        r"\begin{cases} a_k(1-a_k) & k = j \\ -a_k a_j & k \neq j \end{cases}",
        r"\frac{\partial a_k}{\partial z_j} = \begin{cases} a_k(1-a_k) & \text{if } k = j \\"
        r" -a_k a_j & \text{otherwise} \end{cases}",
        r"\frac{\partial L}{\partial z_j} = a_j - y_j",
        r"\frac{\partial L}{\partial z_j} = "
        r"\sum_k \frac{\partial L}{\partial a_k}\frac{\partial a_k}{\partial z_j}",
        r"\frac{\partial L}{\partial z_j} = \sum_{k=1}^{C} -\frac{y_k}{a_k} a_k (\delta_{kj} - a_j)",
        r"\frac{\partial L}{\partial z_j} = a_j \sum_{k=1}^{C} y_k - y_j",
        r"\frac{\partial \mathcal{L}}{\partial W_{kj}} = (a_k - y_k) x_j",
        r"\frac{\partial \mathcal{L}}{\partial b_k} = a_k - y_k",
        r"\mathcal{L} = -\sum_{k=1}^{C} y_k \log a_k",
        r"a_k = \frac{e^{z_k}}{\sum_{c=1}^{C} e^{z_c}}",
    ],
    "c-mlp": [
        r"\frac{\partial L}{\partial z^{(2)}_i} = a^{(2)}_i - y_i",
        r"\frac{\partial L}{\partial W^{(2)}_{ik}} = (a^{(2)}_i - y_i) a^{(1)}_k",
        r"\frac{\partial L}{\partial W^{(1)}_{kj}} = \sum_{i=1}^{C} (a^{(2)}_i - y_i) W^{(2)}_{ik}"
        r" a^{(1)}_k (1-a^{(1)}_k) x_j",
        r"\frac{\partial L}{\partial W^{(1)}_{kj}} = \sum_{i=1}^{C} \frac{\partial L}{\partial z^{(2)}_i}"
        r"\frac{\partial z^{(2)}_i}{\partial a^{(1)}_k}\frac{\partial a^{(1)}_k}{\partial z^{(1)}_k}"
        r"\frac{\partial z^{(1)}_k}{\partial W^{(1)}_{kj}}",
        r"\delta^{(1)}_k = \sum_i \delta^{(2)}_i W^{(2)}_{ik} \, a^{(1)}_k (1 - a^{(1)}_k)",
        r"\frac{\partial a^{(2)}_i}{\partial z^{(2)}_l} = a^{(2)}_i (\delta_{il} - a^{(2)}_l)",
    ],
}


@pytest.mark.parametrize("model, text", [(m, t) for m, texts in CORRECT.items() for t in texts])
def test_correct_answers_pass(checkers, model, text):
    result = verdict(checkers, model, text)
    assert result.verdict == "correct", result.show()
    assert result.checked >= 4


@pytest.mark.parametrize("model, text", [(m, t) for m, texts in CORRECT.items() for t in texts])
def test_correct_course_answers_are_proved_symbolically(checkers, model, text):
    result = verdict(checkers, model, text)
    assert result.proof is not None and result.method == "proved symbolically", result.show()
    assert set(result.proof.sizes) == {str(s) for s in checkers[model].table.size_symbols()}


# --- every kind of mistake is caught ------------------------------------------------------------

WRONG = [
    # (kind, model, equation, words the reason must contain)
    ("sign", "a", r"\frac{\partial L}{\partial w_j} = (y - a) x_j", "sign is wrong"),
    ("sign", "c", r"\frac{\partial a_k}{\partial z_j} = a_k(a_j - \delta_{kj})", "sign is wrong"),
    ("missing factor", "b",
     r"\frac{\partial L}{\partial w_{kj}^{(1)}} = (a^{(2)}-y) w_k^{(2)} (1-a_k^{(1)}) x_j",
     "missing the factor a_{k}^{(1)}"),
    ("duplicated factor", "b",
     r"\frac{\partial L}{\partial w_{kj}^{(1)}} = "
     r"(a^{(2)}-y) w_k^{(2)} a_k^{(1)}(1-a_k^{(1)})(1-a_k^{(1)}) x_j",
     "your answer is the correct one times (1 - a_{k}^{(1)})"),
    ("constant factor", "a", r"\frac{\partial a}{\partial z} = 2 a (1 - a)", "the correct one times 2"),
    ("wrong index, same range", "c", r"\frac{\partial a_k}{\partial z_j} = a_k(\delta_{kj} - a_k)",
     "a_{k} should be a_{j}"),
    ("wrong index, other range", "c", r"\frac{\partial L}{\partial W_{kj}} = (a_j - y_j) x_k",
     "runs over M values on the left, but a_{j} has C entries"),
    ("unbound index", "a", r"\frac{\partial L}{\partial w_j} = (a - y) x_i",
     "index i on the right is not bound"),
    ("unbound index", "c", r"\frac{\partial L}{\partial z_j} = a_k - y_k",
     "index k on the right is not bound"),
    ("sum over the wrong range", "c-mlp",
     r"\frac{\partial L}{\partial z^{(1)}_k} = "
     r"\sum_{i=1}^{K} (a^{(2)}_i - y_i) W^{(2)}_{ik} a^{(1)}_k (1-a^{(1)}_k)",
     "runs to K, but a_{i}^{(2)} has C entries"),
    ("sum running past a quantity", "c", r"\mathcal{L} = -\sum_{k=1}^{M} y_k \log a_k",
     "runs to M, but y_{k} has C entries"),
    ("sum from 0", "c", r"\mathcal{L} = -\sum_{k=0}^{C} y_k \log a_k", "starts at 0"),
    ("sum short of the range", "c", r"\mathcal{L} = -\sum_{k=1}^{C-1} y_k \log a_k",
     "the sum over k should run to C"),
    ("misplaced sum", "c-mlp",
     r"\frac{\partial L}{\partial W^{(1)}_{kj}} = \left(\sum_{i=1}^{C} (a^{(2)}_i - y_i)\right)"
     r" \sum_{i=1}^{C} W^{(2)}_{ik} a^{(1)}_k (1-a^{(1)}_k) x_j", "right side is 0"),
    ("misplaced sum", "c", r"\frac{\partial L}{\partial z_j} = \sum_{k=1}^{C} y_k a_j - y_k", "not bound"),
    ("sum of inconsistent ranges", "c", r"\mathcal{L} = -\sum_k y_k x_k", "has M entries"),
    ("unknown quantity", "b", r"\frac{\partial L}{\partial h_k} = 0", "not a quantity of model b"),
    ("ambiguous layer", "c-mlp", r"\frac{\partial L}{\partial a_k} = 0", "ambiguous"),
    ("missing index", "a", r"\frac{\partial L}{\partial w} = (a - y) x", "written with 0 indices"),
    ("wrong chain", "b", r"\frac{\partial L}{\partial w^{(1)}_{kj}} = \frac{\partial L}{\partial z^{(2)}}"
     r"\frac{\partial z^{(1)}_k}{\partial w^{(1)}_{kj}}", "differ"),
]


@pytest.mark.parametrize("kind, model, text, words", WRONG, ids=[w[0] for w in WRONG])
def test_mistakes_are_incorrect_with_a_reason(checkers, kind, model, text, words):
    result = verdict(checkers, model, text)
    assert result.verdict == "incorrect", result.show()
    assert words in result.reason, result.reason


def test_counterexample_gives_sizes_indices_and_both_values(checkers):
    result = verdict(checkers, "a", r"\frac{\partial L}{\partial w_j} = (y - a) x_j")
    point = result.counterexample
    assert set(point.sizes) == {"M"} and 1 <= point.indices["j"] <= point.sizes["M"]
    assert point.right == pytest.approx(-point.left) and point.left != 0
    shown = result.show()
    assert re.search(r"at M=\d, j=\d: left = -?[\d.]+, right = -?[\d.]+, with x = \[.+\], y = [01], "
                     r"w = \[.+\], b = -?[\d.e-]+; seed 20240601$", shown), shown
    # The small instance shown is the one that gives those values: x_j (a - y) = left.
    x, w, b, y = (point.values[k] for k in ("x", "w", "b", "y"))
    a = 1 / (1 + math.exp(-(sum(wi * xi for wi, xi in zip(w, x, strict=True)) + b)))
    assert point.left == pytest.approx((a - y) * x[point.indices["j"] - 1])


@pytest.mark.parametrize("right, words", [
    (r"\log(-1 - a)", "log of a non-positive number"),
    (r"\log(a - a)", "log of a non-positive number"),
    (r"1 / (a - a)", "division by zero"),
    (r"(a - a)^{-1}", "division by zero"),
    (r"e^{100}^{100}", "overflow"),
    (r"e^{e^{e^{e^{9}}}}", "overflow"),
    (r"10^{99} 10^{99} 10^{99} 10^{99}", "overflow"),
    (r"(-a)^{0.5}", "a negative number to a fractional power"),
])
def test_undefined_side_is_incorrect_and_says_why_in_words(checkers, right, words):
    result = verdict(checkers, "a", rf"\frac{{\partial L}}{{\partial z}} = {right}")
    assert result.verdict == "incorrect", result.show()
    assert f"right = undefined ({words}), with x = [" in result.show()
    assert not re.search(r"math|error|Numerical|\(\d+,", result.show()), result.show()


# --- limits on pathological input ---------------------------------------------------------------


@pytest.mark.parametrize("text, words", [
    ("a = " + "a + " * 600 + "a", "too long"),
    ("a = " + "(" * 40 + "a" + ")" * 40, "nested too deeply"),
    ("a = " + "a/" * 200 + "a", "nested too deeply"),
    (r"a = 2^{100000}", "exponent 100000 is too large"),
    (r"a = \sum_{i=1}^{100000000} 1", "more than 1000 terms"),
])
def test_pathological_input_is_an_error_with_a_reason(checkers, text, words):
    result = verdict(checkers, "a", text)
    assert result.verdict == "error" and words in result.reason, result.show()


def test_time_limit_stops_a_long_evaluation():
    checker = Checker(resolve("c"), time_limit=0.2)
    sums = "".join(rf"\sum_{{{v}=1}}^{{900}}" for v in "pqrs")
    result = checker.check(rf"\mathcal{{L}} = {sums} 1")
    assert result.verdict == "error" and "longer than the limit" in result.reason


def test_a_model_too_large_to_evaluate_is_a_one_line_usage_error(tmp_path, capsys):
    spec = tmp_path / "big2.toml"
    spec.write_text('name = "big2"\ninputs = 3\nloss = "mse"\n\n[[layers]]\nunits = 100000\n'
                    'activation = "identity"\n')
    code, out, err = run(["check", str(spec), r"\mathcal{L} = 0"], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "model big2 is too large to check" in err and "internal error" not in err


def test_the_run_has_a_time_budget_and_reports_what_it_did_not_check(capsys):
    slow = r"\mathcal{L} = " + "".join(rf"\sum_{{{v}=1}}^{{900}}" for v in "pqrs") + " 1"
    fast = r"\frac{\partial L}{\partial b_k} = a_k - y_k"
    code, out, _ = run(["check", "c", "--timeout", "0.3", slow, fast], capsys)
    lines = out.strip().splitlines()
    assert code == 2
    assert lines[0] == "equation 1: error: the time budget of the run ran out while checking it"
    assert lines[1] == "equation 2: error: not checked: time budget exhausted (0.3 s for the run)"


def test_equations_after_the_budget_are_not_checked():
    items = [(f"x:{n}", n, r"\delta^{(2)} = a^{(2)} - y", "") for n in range(1, 4)]
    results = check_all("b", items, timeout=1e-9)
    assert [r.reason for r in results] == ["not checked: time budget exhausted (1e-09 s for the run)"] * 3
    assert exit_code(results) == 2


@pytest.mark.parametrize("model, text", [
    ("a", "1 = 1"),
    ("a", "a + 1 = z"),
    ("a", "2 a = 2 a"),
    ("a", "M = M"),
    ("a", "e = e"),
    ("c", r"\delta_{kj} = \delta_{jk}"),
    ("c", r"\sum_k a_k = 1"),
])
def test_the_left_side_must_name_a_quantity(capsys, model, text):
    code, out, _ = run(["check", model, text], capsys)
    assert code == 2, out
    assert "error: the left side must name a quantity of the model, e.g. z" in out
    assert r"\frac{\partial \mathcal{L}}{\partial w" in out


def test_a_chain_is_named_by_its_first_side(checkers):
    result = verdict(checkers, "a", r"\frac{\partial a}{\partial z} = a(1-a) = \sigma(z)(1 - \sigma(z))")
    assert result.verdict == "correct"
    result = verdict(checkers, "a", r"(a) = \sigma(z)")
    assert result.verdict == "correct"


def test_user_text_is_never_evaluated_as_code():
    root = Path(__file__).parent.parent / "derive"
    modules = [root / name for name in ("check.py", "equations.py")]
    modules += sorted((root / "checking").glob("*.py")) + sorted((root / "grading").glob("*.py"))
    assert (root / "checking" / "latex_parse.py") in modules and len(modules) > 10
    for path in modules:
        source = path.read_text()
        assert not re.search(r"\b(eval|exec|sympify|parse_expr|parse_latex)\(", source), path.name


# --- files, exit codes, the command -------------------------------------------------------------


def run(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def test_tex_file_all_correct(capsys):
    code, out, _ = run(["check", "a", "--file", str(DATA / "check_a.tex")], capsys)
    lines = out.strip().splitlines()
    assert code == 0, out
    numbers = [int(re.search(r"\.tex:(\d+):", line).group(1)) for line in lines[:-1]]
    assert numbers == [8, 10, 13, 17, 21, 23, 24, 25]
    assert lines[-1] == "8 equations: 8 correct"


def test_tex_file_with_a_wrong_and_an_unparseable_equation(capsys):
    code, out, _ = run(["check", "a", "--file", str(DATA / "check_mixed.tex")], capsys)
    lines = out.strip().splitlines()
    assert code == 2
    assert lines[0].endswith(": correct: \\frac{\\partial \\mathcal{L}}{\\partial z} = a - y")
    assert ":4: incorrect: the sign is wrong" in lines[1]
    assert ":7: error: cannot parse: the equation ends too early at column" in lines[2]
    assert lines[3] == "3 equations: 1 correct, 1 incorrect, 1 unreadable"


def test_markdown_file_and_json(capsys):
    code, out, _ = run(["check", "c", "--file", str(DATA / "check_c.md"), "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["exit_code"] == 0
    assert [r["line"] for r in data["results"]] == [6, 18, 21]
    assert data["summary"] == {"equations": 3, "correct": 3, "incorrect": 0, "error": 0}


def test_json_counterexample_values_reproduce_both_sides(capsys):
    """The instance's inputs, targets and parameters in the JSON give both sides again (autograd)."""
    wrong = r"\frac{\partial L}{\partial z_j} = y_j - a_j"
    code, out, _ = run(["check", "c", wrong, "--json", "--seed", "5"], capsys)
    data = json.loads(out)
    result = data["results"][0]
    assert code == 1 and result["verdict"] == "incorrect" and data["seed"] == 5
    example = result["counterexample"]
    assert example["seed"] == 5 and set(example["values"]) == {"x", "y", "W", "b"}
    v = {key: anp.array(value) for key, value in example["values"].items()}
    C, M = example["sizes"]["C"], example["sizes"]["M"]
    assert v["W"].shape == (C, M) and v["x"].shape == (M,) and sorted(v["y"]) == [0.0] * (C - 1) + [1.0]

    def loss(z):
        return -anp.sum(v["y"] * (z - anp.log(anp.sum(anp.exp(z)))))

    j = example["indices"]["j"] - 1
    z = v["W"] @ v["x"] + v["b"]
    assert example["left"] == pytest.approx(grad(loss)(z)[j], rel=1e-9)
    softmax = anp.exp(z) / anp.sum(anp.exp(z))
    assert example["right"] == pytest.approx(v["y"][j] - softmax[j], rel=1e-9)


def test_the_seed_makes_runs_reproducible(capsys):
    wrong = r"\frac{\partial L}{\partial w_j} = (y - a) x_j"
    first, again, other = (json.loads(run(["check", "a", wrong, "--json", *extra], capsys)[1])
                           for extra in ([], [], ["--seed", "7"]))
    assert first == again and first["seed"] == 20240601
    assert first["results"][0]["counterexample"]["values"] != other["results"][0]["counterexample"]["values"]


@pytest.mark.parametrize("argv, code", [
    (["check", "a", r"\frac{\partial \mathcal{L}}{\partial a} = -\frac{y}{a} + \frac{1-y}{1-a}"], 0),
    (["check", "a", r"\frac{\partial \mathcal{L}}{\partial a} = \frac{y}{a} + \frac{1-y}{1-a}"], 1),
    (["check", "a", r"\frac{\partial \mathcal{L}}{\partial a} = \frac{y}{a} +"], 2),
    (["check", "a", "a = a", "a = -a"], 1),
    (["check", "a", "a = a", "a = ("], 2),
])
def test_exit_codes(capsys, argv, code):
    assert run(argv, capsys)[0] == code


@pytest.mark.parametrize("argv, words", [
    (["check", "a"], "nothing to check"),
    (["check", "a", "a = a", "--file", str(DATA / "check_a.tex")], "not both"),
    (["check", "nope", "a = a"], "unknown model"),
    (["check", "a", "--file", "missing.tex"], "cannot read"),
])
def test_usage_errors_are_one_line_and_exit_2(capsys, argv, words):
    code, _, err = run(argv, capsys)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_file_without_equations_is_a_usage_error(tmp_path):
    empty = tmp_path / "prose.md"
    empty.write_text("Just words, and $inline = maths$.\n")
    with pytest.raises(UsageError, match="no display equations"):
        run_check("a", (), str(empty), False, echo=print)


def test_results_and_exit_code_from_the_library():
    items = [("x", None, r"\delta^{(2)} = a^{(2)} - y", ""), ("y", None, r"z^{(2)} = 0", "")]
    results = check_all("b", items)
    assert [r.verdict for r in results] == ["correct", "incorrect"] and exit_code(results) == 1


# --- fuzzing: any text gets a verdict, never an exception --------------------------------------

TOKENS = [r"\frac", r"\partial", r"\sum", "_", "^", "{", "}", "(", ")", "=", "+", "-", "a", "z", "w", "x",
          "y", "k", "j", "K", "1", "2", r"\sigma", r"\log", r"\delta", r"\cdot", "&", r"\\",
          r"\begin{cases}", r"\end{cases}", r"\text{otherwise}", r"\mathcal{L}", "(1)", "'", "/", r"\neq"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(TOKENS), max_size=30))
def test_any_token_soup_gets_a_verdict(checkers, tokens):
    result = checkers["c"].check(" ".join(tokens))
    assert result.verdict in ("correct", "incorrect", "error")
    assert "internal error" not in result.reason, result.reason


def test_unclosed_display_is_reported_and_long_files_stay_linear(tmp_path):
    answers = tmp_path / "answers.tex"
    answers.write_text("$$ a = \\sigma(z) $$\n" + "\\[" * 200_000 + "\n")
    results = check_all("a", file_equations(str(answers)))
    assert [r.verdict for r in results] == ["correct", "error"]
    assert results[1].line == 2 and "never closed" in results[1].reason


# --- the symbolic proof attempt -----------------------------------------------------------------


def _bound(checker, text):
    equation = parse_equation(text)
    binder = Binder(checker.table)
    return equation, binder, binder.bind(equation)


@pytest.mark.parametrize("kind, model, text, words", WRONG, ids=[w[0] for w in WRONG])
def test_the_prover_alone_never_proves_a_wrong_equation(checkers, kind, model, text, words):
    """Soundness without the numeric verdict in front: every wrong equation that binds is unproved."""
    checker = checkers[model]
    try:
        equation, binder, free = _bound(checker, text)
    except Wrong as rejected:
        # Rejected while binding, before any evaluation: then that rejection is the verdict.
        result = checker.check(text)
        assert result.verdict == "incorrect" and str(rejected) in result.show(), result.show()
    else:
        assert checker.prover.prove(equation, binder, free) is None


def test_a_concrete_index_is_proved_for_every_assignment(checkers):
    """a_1 breaks the symmetry between classes: each value of j is proved, not one per pattern."""
    result = verdict(checkers, "c", r"\frac{\partial a_1}{\partial z_j} = a_1(\delta_{1j} - a_j)")
    assert result.verdict == "correct", result.show()
    assert result.proof is not None and result.proof.assignments == result.proof.sizes["C"]


def test_an_identity_beyond_sum_y_is_checked_numerically_only(checkers):
    """y_k^2 = y_k holds for one-hot y but is not an identity the proof knows: numeric only."""
    result = verdict(checkers, "c", r"\mathcal{L} = -\sum_{k=1}^{C} y_k^2 \log a_k")
    assert result.verdict == "correct" and result.proof is None
    assert result.method == "checked numerically at 4 instances"
    assert "checked numerically at 4 instances: correct:" in result.show()


def test_log_sum_exp_form_of_the_loss_is_proved_through_sum_y_equal_one(checkers):
    text = r"\mathcal{L} = -\sum_k y_k z_k + \log\left(\sum_{c=1}^{C} e^{z_c}\right)"
    result = verdict(checkers, "c", text)
    assert result.verdict == "correct" and result.proof is not None, result.show()


def test_proof_time_limit_gives_a_numeric_verdict_and_restores_the_alarm():
    checker = Checker(resolve("c-mlp"), proof_time_limit=1e-4)
    handler = signal.getsignal(signal.SIGALRM)
    result = checker.check(CORRECT["c-mlp"][2])
    assert result.verdict == "correct" and result.proof is None
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_json_reports_how_each_equation_was_established(capsys):
    argv = ["check", "c", CORRECT["c"][0], r"\mathcal{L} = -\sum_{k=1}^{C} y_k^2 \log a_k", "--json"]
    code, out, _ = run(argv, capsys)
    data = json.loads(out)
    first, second = data["results"]
    assert code == 0 and first["method"] == "proved symbolically"
    assert first["proof"]["sizes"] == {"C": 2, "M": 2}
    assert second["method"] == "checked numerically at 4 instances" and second["proof"] is None
    assert data["methods"] == {"proved symbolically": 1, "checked numerically": 1}


# --- notation: sums with an exception, powers of functions, bold names --------------------------

TANH_SPEC = """
name = "t"
inputs = "M"
loss = "mse"

[[layers]]
units = "K"
activation = "tanh"

[[layers]]
units = 1
activation = "identity"
"""

NOTATION = [
    # (model, equation, correct?)
    ("c", r"\frac{\partial L}{\partial z_j} = -y_j (1 - a_j) + \sum_{k \neq j} y_k a_j", True),
    ("c", r"\frac{\partial L}{\partial z_j} = -y_j (1 - a_j) + \sum_{k=1, k \neq j}^{C} y_k a_j", True),
    ("c", r"\frac{\partial a_k}{\partial z_j} = \delta_{kj} a_k - a_k a_j", True),
    ("c", r"\frac{\partial L}{\partial z_j} = -y_j (1 - a_j) + \sum_{k \neq j} y_k a_k", False),
    ("c", r"\frac{\partial L}{\partial z_j} = -y_j (1 - a_j) + \sum_{k=1}^{C} y_k a_j", False),
    ("a", r"\frac{\partial a}{\partial z} = \sigma(z) - \sigma^2(z)", True),
    ("a", r"\frac{\partial a}{\partial z} = \sigma(z) - \sigma^{2} z", True),
    ("a", r"\frac{\partial a}{\partial z} = \sigma(z) + \sigma^2(z)", False),
    ("t", r"\frac{\partial a^{(1)}_k}{\partial z^{(1)}_k} = 1 - \tanh^2 z^{(1)}_k", True),
    ("t", r"\frac{\partial a^{(1)}_k}{\partial z^{(1)}_k} = \tanh'(z^{(1)}_k) = 1 - \tanh^{2}(z^{(1)}_k)",
     True),
    ("t", r"\delta^{(1)}_k = \delta^{(2)} w^{(2)}_k (1 - \tanh^2 z^{(1)}_k)", True),
    ("t", r"\frac{\partial a^{(1)}_k}{\partial z^{(1)}_k} = 1 - \tanh z^{(1)}_k", False),
    ("t", r"\delta^{(1)}_k = \delta^{(2)} w^{(2)}_k \tanh^2 z^{(1)}_k", False),
    ("a", r"\frac{\partial L}{\partial \mathbf{w}_j} = (a - y) \mathbf{x}_j", True),
    ("c-mlp", r"\boldsymbol{\delta}^{(1)}_k = \sum_i \boldsymbol\delta^{(2)}_i \mathbf{W}^{(2)}_{ik}"
              r" \, a^{(1)}_k (1 - a^{(1)}_k)", True),
    ("c", r"\frac{\partial L}{\partial \bm{W}_{kj}} = (a_k - y_k) \bm{x}_j", True),
    ("a", r"\frac{\partial L}{\partial \mathbf{w}_j} = (y - a) \mathbf{x}_j", False),
    ("c", r"\frac{\partial L}{\partial \bm{W}_{kj}} = (a_j - y_j) \bm{x}_k", False),
]


@pytest.fixture(scope="module")
def notation_checkers(checkers):
    return {**checkers, "t": Checker(parse_spec(TANH_SPEC, "t.toml"))}


@pytest.mark.parametrize("model, text, correct", NOTATION)
def test_new_notation_is_checked(notation_checkers, model, text, correct):
    result = notation_checkers[model].check(text)
    assert result.verdict == ("correct" if correct else "incorrect"), result.show()
    if correct:
        assert result.proof is not None, result.show()


def test_new_notation_parses_to_the_plain_tree():
    bold = parse_equation(r"\mathbf{w}_j = \boldsymbol{\delta}_{k} \bm W").sides
    assert bold[0] == Name("w", ("j",), column=1, bold=True) and bold[1].factors[0].base == "delta"
    assert bold[1].factors[1].base == "W"
    power = parse_equation(r"a = \tanh^2 z").sides[1]
    assert isinstance(power, Pow) and power.exp.value == 2 and power.base.name == "tanh"
    total = parse_equation(r"a = \sum_{k \ne j} a_k").sides[1]
    assert isinstance(total, Sum) and (total.var, total.exclude, total.upper) == ("k", "j", None)


@pytest.mark.parametrize("model, text, words", [
    ("a", r"\frac{\partial a}{\partial z} = \sigma^{-1}(z)", "only a power such as ^2"),
    ("c", r"\frac{\partial L}{\partial z_j} = \sum_{k \neq k} y_k a_j", "excludes k itself"),
    ("c", r"\frac{\partial L}{\partial z_j} = \sum_{k \neq i} y_k a_j", "index i on the right is not bound"),
    ("c", r"L = \sum_{k=1, i \neq j}^{C} y_k", r"write \sum_{k=..., k \neq j}"),
    ("a", r"\frac{\partial L}{\partial \mathbf{w}} = a - y",  # a bold name is the whole vector
     "shapes differ: the gradient with respect to \\mathbf{w} is a column vector of length M"),
])
def test_new_notation_mistakes_have_a_reason(checkers, model, text, words):
    result = verdict(checkers, model, text)
    assert result.verdict in ("incorrect", "error") and words in result.reason, result.show()


# --- targets by the loss registry's kind; activations by the registry's LaTeX --------------------

RELU_SPEC = """
name = "r"
inputs = "M"
loss = "mse"

[[layers]]
units = "K"
activation = "relu"

[[layers]]
units = "C"
activation = "softplus"
"""


@pytest.mark.parametrize("model", ["a", "c", RELU_SPEC])
def test_instance_targets_are_of_the_kind_the_loss_registry_names(model):
    spec = parse_spec(model, "r.toml") if "\n" in model else resolve(model)
    table = ModelTable(model_names(spec))
    kind = losses.get(spec.loss).target
    for seed in range(5):
        instance = ModelInstance(table, {s: 3 for s in table.size_symbols()}, random.Random(seed))
        y = [v for (key, _), v in instance.values.items() if key == table.names.y.name]
        reference = losses.get(spec.loss).sample_targets(np.random.default_rng(seed), 1, len(y)).ravel()
        if kind == "real":  # real numbers, not labels, like the registry's own draw
            assert len({*y, *reference}) == 2 * len(y)
        else:
            assert set(y) <= {0.0, 1.0} and set(reference) <= {0.0, 1.0}
        if kind == "one-hot":
            assert sum(y) == 1.0 == sum(reference)


def test_every_target_kind_of_the_registry_can_be_drawn():
    assert set(SAMPLERS) == set(losses.TARGETS)


def test_relu_and_softplus_instances_match_sympy_diff_of_the_composed_loss():
    spec = parse_spec(RELU_SPEC, "r.toml")
    table = ModelTable(model_names(spec))
    sizes = {s: 2 + n for n, s in enumerate(table.size_symbols())}
    instance = ModelInstance(table, sizes, random.Random(3))
    composed, _ = forward.concrete(table.names, sizes)
    parameters = {q.name for layer in table.names.layers for q in (layer.w, layer.b)}
    drawn = {e: v for e, v in instance.values.items() if e[0] in {"x", "y", *parameters}}
    point = {_symbol(table.names, *e): sp.Float(v) for e, v in drawn.items()}
    assert float(composed.xreplace(point)) == pytest.approx(instance.value(("L", ())), rel=1e-12)
    for (key, idx), _ in drawn.items():
        if key in ("x", "y"):
            continue
        expected = float(sp.diff(composed, _symbol(table.names, key, idx)).xreplace(point))
        assert instance.derivative(("L", ()), (key, idx)) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("text, correct", [
    (r"a^{(1)}_k = \operatorname{relu}(z^{(1)}_k)", True),
    (r"a^{(1)}_k = \operatorname{relu}\left(\sum_j w^{(1)}_{kj} x_j + b^{(1)}_k\right)", True),
    (r"\frac{\partial a^{(1)}_k}{\partial z^{(1)}_k} = \operatorname{relu}'(z^{(1)}_k)", True),
    (r"\frac{\partial a^{(2)}_i}{\partial z^{(2)}_i} = \sigma(z^{(2)}_i)", True),
    (r"\frac{\partial a^{(2)}_i}{\partial z^{(2)}_i} = \operatorname{softplus}'(z^{(2)}_i)", True),
    (r"a^{(2)}_i = \operatorname { softplus } (z^{(2)}_i) = \log(1 + e^{z^{(2)}_i})", True),
    (r"\frac{\partial L}{\partial a^{(2)}_i} = a^{(2)}_i - y_i", True),
    (r"\delta^{(1)}_k = \sum_i \delta^{(2)}_i w^{(2)}_{ik} \operatorname{relu}'(z^{(1)}_k)", True),
    (r"\frac{\partial a^{(2)}_i}{\partial z^{(2)}_i} = \operatorname{softplus}(z^{(2)}_i)", False),
    (r"a^{(1)}_k = \operatorname{relu}(-z^{(1)}_k)", False),
    (r"\delta^{(1)}_k = \sum_i \delta^{(2)}_i w^{(2)}_{ik} \operatorname{relu}(z^{(1)}_k)", False),
])
def test_relu_and_softplus_models_are_checked(text, correct):
    result = Checker(parse_spec(RELU_SPEC, "r.toml")).check(text)
    assert result.verdict == ("correct" if correct else "incorrect"), result.show()


def test_a_function_outside_the_registry_is_named():
    # (softmax and gelu are in the registry; mish is not)
    with pytest.raises(LatexError, match=r"unknown function \\operatorname\{mish\}"):
        parse_equation(r"a = \operatorname{mish}(z)")
    with pytest.raises(LatexError, match=r"derivative mark ' is only understood on an activation"):
        parse_equation(r"a = \exp'(z)")


