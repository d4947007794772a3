"""``derive check`` on models with layer normalisation, residual connections and weight decay.

The instances the checker evaluates answers at are first compared with two independent
references: SymPy's ``diff`` of the fully composed loss (``forward.concrete``) for the values and
the gradients of every parameter, and a forward pass written here in PyTorch (float64 autograd)
for the errors of intermediate quantities (``delta``, ``delta_hat``, ``g``). Then course answers
are graded: right ones (in LaTeX and plain text) must be accepted, and each wrong one rejected.

Omitting epsilon: ``sqrt(sigma^2)`` for ``sqrt(sigma^2 + epsilon)`` changes a value by about
``epsilon / (2 sigma^2)``, ~5e-6 relative at the instances' variances, which is far above the
checker's tolerance (``compare.RTOL`` = 1e-7): such an answer is a different function of the
model and is rejected, as any other wrong formula is. The test below pins that decision.
"""

import itertools
import random
import textwrap

import pytest
import sympy as sp
import torch

from derive import forward
from derive.check import Checker
from derive.checking import compare
from derive.checking.instances import ModelInstance, units
from derive.checking.quantities import ModelTable
from derive.naming import element
from derive.naming import names as model_names
from derive.spec import parse_spec

RESIDUAL_NORM = """
name = "residual-layernorm"
inputs = "M"
loss = "ce"
l2 = 0.001
[[layers]]
units = "K"
activation = "tanh"
norm = "layer"
[[layers]]
units = "K"
activation = "relu"
norm = "layer"
skip = 1
[[layers]]
units = "C"
activation = "softmax"
"""

RESIDUAL = """
name = "residual"
inputs = "M"
loss = "ce"
[[layers]]
units = "K"
activation = "sigmoid"
[[layers]]
units = "K"
activation = "tanh"
skip = 1
[[layers]]
units = "C"
activation = "softmax"
"""

SPECS = {"norm": RESIDUAL_NORM, "skip": RESIDUAL}


def spec_of(key):
    return parse_spec(textwrap.dedent(SPECS[key]), f"{key}.toml")


@pytest.fixture(scope="module")
def checkers():
    return {key: Checker(spec_of(key)) for key in SPECS}


# --- the instances against independent references ----------------------------------------------


def _symbols(names):
    """Every quantity's SymPy symbol by its key, as ``forward.concrete`` names its elements."""
    found = {q.name: q for q in (names.x, names.y, names.L)}
    for layer in names.layers:
        found.update({q.name: q for q in (layer.z, layer.a, layer.w, layer.b, layer.mu, layer.var,
                                          layer.ztilde, layer.zhat, layer.gamma, layer.beta)})
    return found


def _key(symbol):
    if isinstance(symbol, sp.Indexed):
        return symbol.base.name, tuple(int(i) for i in symbol.indices)
    return symbol.name, ()


@pytest.mark.parametrize("key", SPECS)
def test_instance_values_match_the_composed_model(key):
    """The loss and every intermediate (z, a, and a norm's mu, var, ztilde, zhat) of an instance
    equal ``forward.concrete``'s fully composed expressions at the instance's inputs. (SymPy's
    ``diff`` of the composed layer-norm loss takes minutes; its gradients are checked against
    PyTorch below.)"""
    table = ModelTable(model_names(spec_of(key)))
    names = table.names
    sizes = {s: 2 + n for n, s in enumerate(table.size_symbols())}
    instance = ModelInstance(table, sizes, random.Random(7))
    composed, explicit = forward.concrete(names, sizes)
    symbols = _symbols(names)
    drawn = {names.x.name, names.y.name, *(q.name for layer in names.layers for q in layer.params)}
    point = {element(symbols[k], *(sp.Integer(i) for i in idx)): sp.Float(v)
             for (k, idx), v in instance.values.items() if k in drawn}
    point.update({layer.eps: sp.Float(layer.eps.value) for layer in names.layers if layer.norm})
    assert float(composed.xreplace(point)) == pytest.approx(instance.value(("L", ())), rel=1e-12)
    assert len(explicit) >= 12
    for symbol, expr in explicit.items():
        assert float(expr.xreplace(point)) == pytest.approx(instance.value(_key(symbol)), rel=1e-10)


def _tensor(instance, q, dims):
    grids = [range(1, instance.size(d) + 1) for d in dims]
    if len(grids) == 1:
        return torch.tensor([instance.value((q.name, (i,))) for i in grids[0]], dtype=torch.float64)
    return torch.tensor([[instance.value((q.name, (i, j))) for j in grids[1]] for i in grids[0]],
                        dtype=torch.float64)


ACT = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid,
       "softmax": lambda z: torch.softmax(z, dim=0)}


@pytest.mark.parametrize("key", SPECS)
def test_instance_errors_match_torch_autograd(key):
    """dL/dz (delta), dL/dzhat (delta_hat), dL/da (g) of every layer and dL/d(every parameter and
    input) against PyTorch's autograd of a forward pass written here from the textbook definitions
    (torch's own layer_norm, with the spec's eps)."""
    table = ModelTable(model_names(spec_of(key)))
    names = table.names
    sizes = dict(zip(table.size_symbols(), (3, 4, 2), strict=True))  # C, K, M
    instance = ModelInstance(table, sizes, random.Random(11))
    params = {}

    def leaf(q, dims):
        params[q.name] = _tensor(instance, q, dims).requires_grad_()
        return params[q.name]

    x = leaf(names.x, (names.input_width,))
    y = _tensor(instance, names.y, (names.output.width,))
    outputs, kept = [x], {}
    for layer in names.layers:
        w = leaf(layer.w, layer.weight_dims)
        b = leaf(layer.b, layer.unit_dims)
        z = w @ outputs[-1] + b
        z.retain_grad()
        kept[layer.z.name] = z
        inner = z
        if layer.norm:
            gamma = leaf(layer.gamma, layer.unit_dims)
            beta = leaf(layer.beta, layer.unit_dims)
            inner = torch.nn.functional.layer_norm(z, z.shape, gamma, beta, eps=layer.eps.value)
            inner.retain_grad()
            kept[layer.zhat.name] = inner
        a = ACT[layer.activation](inner)
        if layer.skip is not None:
            a = a + outputs[layer.skip]
        a.retain_grad()
        kept[layer.a.name] = a
        outputs.append(a)
    loss = -(y * torch.log(outputs[-1])).sum()
    loss.backward()
    assert loss.item() == pytest.approx(instance.value(("L", ())), rel=1e-12)
    checked = 0
    for layer in names.layers:
        for key_ in (layer.z.name, layer.a.name, layer.zhat.name):
            if key_ not in kept:
                continue
            for n, k in enumerate(units(layer.width, layer.index, sizes)):
                expected = kept[key_].grad[n].item()
                got = instance.derivative(("L", ()), (key_, k))
                assert got == pytest.approx(expected, rel=1e-8, abs=1e-12)
                checked += 1
    assert checked >= 3 * 4 + 3
    for name, tensor in params.items():  # every parameter's gradient, and the inputs'
        for position in itertools.product(*(range(n) for n in tensor.shape)):
            at = (name, tuple(p + 1 for p in position))
            expected = tensor.grad[position].item()
            assert instance.derivative(("L", ()), at) == pytest.approx(expected, rel=1e-8, abs=1e-12)
            checked += 1
    assert checked > 60


# --- course answers ---------------------------------------------------------------------------

# CS231n's compact layer-norm backward, through the means of gamma delta_hat and of it times ztilde
COMPACT = (r"\frac{1}{\sqrt{(\sigma^{(2)})^2 + \epsilon}} \left(\gamma^{(2)}_i \hat{\delta}^{(2)}_i"
           r" - \frac{1}{K}\sum_{j=1}^{K} \gamma^{(2)}_j \hat{\delta}^{(2)}_j"
           r" - \tilde{z}^{(2)}_i \frac{1}{K}\sum_{j=1}^{K} \gamma^{(2)}_j \hat{\delta}^{(2)}_j"
           r" \tilde{z}^{(2)}_j\right)")

CORRECT = {
    "norm": [
        r"\frac{\partial L}{\partial \gamma^{(1)}_k} = \hat{\delta}^{(1)}_k \tilde{z}^{(1)}_k",
        r"\frac{\partial L}{\partial \gamma^{(2)}_i} = \hat\delta^{(2)}_i \tilde z^{(2)}_i",
        r"\frac{\partial L}{\partial \beta^{(1)}_k} = \hat{\delta}^{(1)}_k",
        r"\frac{\partial L}{\partial \beta^{(2)}_i} = \frac{\partial L}{\partial a^{(2)}_i}"
        r"\frac{\partial a^{(2)}_i}{\partial \hat{z}^{(2)}_i}",
        # the compact backward form, through means, and the same written out
        r"\delta^{(2)}_i = " + COMPACT,
        r"\delta^{(2)}_i = \sum_{j=1}^{K} \frac{\hat{\delta}^{(2)}_j \gamma^{(2)}_j}"
        r"{\sqrt{(\sigma^{(2)})^2 + \epsilon}} \left(\delta_{ij} - \frac{1 + \tilde{z}^{(2)}_i"
        r" \tilde{z}^{(2)}_j}{K}\right)",
        r"\delta^{(1)}_k = \frac{K \gamma^{(1)}_k \hat{\delta}^{(1)}_k - \sum_j \gamma^{(1)}_j"
        r" \hat{\delta}^{(1)}_j - \frac{z^{(1)}_k - \mu^{(1)}}{\sqrt{(\sigma^{(1)})^2 + \epsilon}}"
        r" \sum_j \gamma^{(1)}_j \hat{\delta}^{(1)}_j \tilde{z}^{(1)}_j}"
        r"{K \sqrt{(\sigma^{(1)})^2 + \epsilon}}",
        # g through both paths; delta_hat = g times the activation's derivative
        r"g^{(1)}_k = g^{(2)}_k + \sum_{i=1}^{K} \delta^{(2)}_i w^{(2)}_{ik}",
        r"\frac{\partial L}{\partial a^{(1)}_k} = \frac{\partial L}{\partial a^{(2)}_k} + "
        r"\sum_i \frac{\partial L}{\partial z^{(2)}_i} \frac{\partial z^{(2)}_i}{\partial a^{(1)}_k}",
        r"\hat{\delta}^{(2)}_i = g^{(2)}_i \operatorname{relu}'(\hat{z}^{(2)}_i)",
        r"\hat{\delta}^{(1)}_k = g^{(1)}_k (1 - \tanh^2(\hat{z}^{(1)}_k)) = g^{(1)}_k (1 - (a^{(1)}_k)^2)",
        r"g^{(2)}_i = \sum_{l=1}^{C} \delta^{(3)}_l w^{(3)}_{li}",
        # gradients of the dense weights through delta
        r"\frac{\partial L}{\partial w^{(2)}_{ik}} = \delta^{(2)}_i a^{(1)}_k",
        r"\frac{\partial L}{\partial W^{(1)}_{kj}} = \delta^{(1)}_k x_j",
        # the forward quantities
        r"\mu^{(1)} = \frac{1}{K} \sum_{k=1}^{K} z^{(1)}_k",
        r"(\sigma^{(1)})^2 = \frac{1}{K} \sum_{k=1}^{K} (z^{(1)}_k - \mu^{(1)})^2",
        r"\tilde{z}^{(1)}_k = \frac{z^{(1)}_k - \mu^{(1)}}{\sqrt{(\sigma^{(1)})^2 + \varepsilon}}",
        r"\hat{z}^{(2)}_i = \gamma^{(2)}_i \tilde{z}^{(2)}_i + \beta^{(2)}_i",
        r"a^{(2)}_i = \operatorname{relu}(\hat{z}^{(2)}_i) + a^{(1)}_i",
        # weight decay: its term's gradient, with lambda its value here
        r"\frac{\partial \Omega}{\partial w^{(3)}_{li}} = \lambda w^{(3)}_{li} = 0.001 w^{(3)}_{li}",
        # plain text
        "dL/dgamma1_k = delta_hat1_k * ztilde1_k",
        "ztilde1_k = (z1_k - mu1) / sqrt(sigma1^2 + eps)",
        "delta_hat2_i = g2_i * relu'(zhat2_i)",
    ],
    "skip": [
        r"g^{(1)}_k = g^{(2)}_k + \sum_{i=1}^{K} \delta^{(2)}_i w^{(2)}_{ik}",
        r"\frac{\partial L}{\partial a^{(1)}_k} = \frac{\partial L}{\partial a^{(2)}_k} + "
        r"\sum_i \frac{\partial L}{\partial z^{(2)}_i} \frac{\partial z^{(2)}_i}{\partial a^{(1)}_k}",
        r"\delta^{(2)}_i = g^{(2)}_i (1 - (a^{(2)}_i - a^{(1)}_i)^2)",
        r"\delta^{(1)}_k = g^{(1)}_k a^{(1)}_k (1 - a^{(1)}_k)",
        r"\frac{\partial a^{(2)}_i}{\partial a^{(1)}_k} = "
        r"\delta_{ik} + (1 - \tanh^2(z^{(2)}_i)) w^{(2)}_{ik}",
        r"\frac{\partial L}{\partial w^{(2)}_{ik}} = \delta^{(2)}_i a^{(1)}_k",
        r"\frac{\partial L}{\partial W^{(1)}_{kj}} = (g^{(2)}_k + \sum_i \delta^{(2)}_i w^{(2)}_{ik})"
        r" a^{(1)}_k (1 - a^{(1)}_k) x_j",
        "g1_k = g2_k + sum_i delta2_i w2_ik",
    ],
}

WRONG = [
    # (model, answer, words in the reason, or "")
    ("norm", r"g^{(1)}_k = \sum_{i=1}^{K} \delta^{(2)}_i w^{(2)}_{ik}", "missing the term g_{k}^{(2)}"),
    ("norm", r"\frac{\partial L}{\partial \gamma^{(1)}_k} = \hat{\delta}^{(1)}_k \hat{z}^{(1)}_k",
     r"\hat{z}_{k}^{(1)} should be \tilde{z}_{k}^{(1)}"),
    ("norm", r"\frac{\partial L}{\partial \gamma^{(1)}_k} = \hat{\delta}^{(1)}_k z^{(1)}_k",
     r"should be \tilde{z}_{k}^{(1)}"),
    ("norm", r"\frac{\partial L}{\partial \gamma^{(1)}_k} = \delta^{(1)}_k \tilde{z}^{(1)}_k", ""),
    ("norm", r"\delta^{(2)}_i = \frac{1}{\sqrt{(\sigma^{(2)})^2 + \epsilon}} \left(\gamma^{(2)}_i "
     r"\hat{\delta}^{(2)}_i - \frac{1}{K}\sum_{j=1}^{K} \gamma^{(2)}_j \hat{\delta}^{(2)}_j\right)", ""),
    ("norm", r"\delta^{(2)}_i = \gamma^{(2)}_i \hat{\delta}^{(2)}_i / "
     r"\sqrt{(\sigma^{(2)})^2 + \epsilon}", ""),
    ("norm", r"\delta^{(2)}_i = \hat{\delta}^{(2)}_i", ""),
    ("norm", r"\hat{\delta}^{(2)}_i = g^{(2)}_i", ""),
    ("norm", r"\frac{\partial L}{\partial w^{(2)}_{ik}} = \hat{\delta}^{(2)}_i a^{(1)}_k", ""),
    ("norm", r"\hat{\delta}^{(1)}_k = g^{(1)}_k (1 - \tanh^2(z^{(1)}_k))", ""),
    ("norm", r"\frac{\partial \Omega}{\partial w^{(3)}_{li}} = 2 \lambda w^{(3)}_{li}", "times 2"),
    # omitting epsilon is a different function (see the module's docstring)
    ("norm", r"\tilde{z}^{(1)}_k = \frac{z^{(1)}_k - \mu^{(1)}}{\sqrt{(\sigma^{(1)})^2}}", ""),
    ("norm", r"\delta^{(2)}_i = " + COMPACT.replace(r" + \epsilon", ""), ""),
    ("skip", r"g^{(1)}_k = \sum_{i=1}^{K} \delta^{(2)}_i w^{(2)}_{ik}", "missing the term g_{k}^{(2)}"),
    ("skip", r"\delta^{(2)}_i = g^{(2)}_i (1 - (a^{(2)}_i)^2)", ""),
    ("skip", r"\frac{\partial a^{(2)}_i}{\partial a^{(1)}_k} = (1 - \tanh^2(z^{(2)}_i)) w^{(2)}_{ik}", ""),
]


@pytest.mark.parametrize("key, text", [(k, t) for k, texts in CORRECT.items() for t in texts])
def test_correct_answers_are_accepted(checkers, key, text):
    result = checkers[key].check(text)
    assert result.verdict == "correct", result.show()
    assert result.checked >= 4


@pytest.mark.parametrize("key, text, words", WRONG)
def test_wrong_answers_are_rejected(checkers, key, text, words):
    result = checkers[key].check(text)
    assert result.verdict == "incorrect", result.show()
    assert words in result.reason, result.show()


def test_omitting_epsilon_differs_by_far_more_than_the_tolerance(checkers):
    """The decision in the module docstring, measured: the relative change is >= 10 x RTOL."""
    result = checkers["norm"].check(
        r"\tilde{z}^{(1)}_k = \frac{z^{(1)}_k - \mu^{(1)}}{\sqrt{(\sigma^{(1)})^2}}")
    point = result.counterexample
    assert point is not None and point.left is not None and point.right is not None
    assert abs(point.left - point.right) >= 10 * compare.RTOL * abs(point.left)


def test_symbolic_weight_decay_strength_is_read_as_lambda():
    checker = Checker(parse_spec(textwrap.dedent("""
        name = "decay"
        inputs = "M"
        loss = "ce"
        l2 = "lambda"
        [[layers]]
        units = "K"
        activation = "tanh"
        [[layers]]
        units = "C"
        activation = "softmax"
    """), "decay.toml"))
    right = checker.check(r"\frac{\partial \Omega}{\partial W^{(1)}_{kj}} = \lambda W^{(1)}_{kj}")
    assert right.verdict == "correct", right.show()
    wrong = checker.check(r"\frac{\partial \Omega}{\partial W^{(1)}_{kj}} = 0.001 W^{(1)}_{kj}")
    assert wrong.verdict == "incorrect", wrong.show()


@pytest.mark.parametrize("key, text, words", [
    ("skip", r"\gamma^{(1)}_k = 1", "no normalised layer"),
    ("norm", r"\gamma^{(3)}_l = 1", "not normalised"),
    ("norm", r"\mu = 1", "ambiguous"),
    ("norm", r"\sigma^{(1)} = 1", r"write a layer's variance"),
    ("skip", r"\epsilon = 1", "no normalised layer"),
])
def test_misnamed_norm_quantities_say_why(checkers, key, text, words):
    result = checkers[key].check(text)
    assert result.verdict in ("incorrect", "error"), result.show()
    assert words in result.reason, result.show()


def test_the_layer_norm_grading_example_grades_as_worked_out_by_hand():
    """examples/grade/layernorm: Ada is right throughout (her g^{(1)}_k answers the question on
    dL/da^{(1)}_k); Ben drops the residual path (partial credit), writes z-hat for z-tilde and
    leaves out the z-tilde mean term of the backward form (partial credit)."""
    from pathlib import Path

    from derive.grading.key import load_key
    from derive.grading.run import grade_all

    root = Path(__file__).parent.parent / "examples" / "grade" / "layernorm"
    key = load_key(root / "key.toml")
    graded = grade_all(key, sorted(str(p) for p in (root / "submissions").iterdir()), jobs=1)
    points = {s.name: tuple(q.points for q in s.questions) for s in graded}
    assert points == {"ada": (2.0, 1.0, 3.0), "ben": (1.0, 0.0, 1.0)}
    ben = {q.name: q for q in graded[1].questions}
    assert r"should be \tilde{z}" in ben["dL/dgamma1"].message


@pytest.mark.parametrize("text", [r"g^{(1)}_k = 0", r"\frac{\partial L}{\partial a^{(1)}_k} = 0"])
def test_the_left_side_itself_is_never_the_missing_term(checkers, text):
    result = checkers["norm"].check(text)
    assert result.verdict == "incorrect", result.show()
    assert "missing the term g" not in result.reason, result.show()


@pytest.mark.parametrize("key, text, words", WRONG)
def test_the_prover_alone_never_proves_a_wrong_equation(checkers, key, text, words):
    """The symbolic model (with a norm's statistics and a skip's sum) is sound on its own."""
    from derive.checking.binding import Binder
    from derive.checking.latex_parse import parse_equation

    checker = checkers[key]
    equation = parse_equation(text)
    binder = Binder(checker.table)
    free = binder.bind(equation)
    assert checker.prover.prove(equation, binder, free, 5.0) is None


def test_course_answers_through_the_norm_are_proved_symbolically():
    """The prover defines mu, sigma^2, z-tilde and z-hat from forward's definitions: the compact
    backward form and dL/dgamma are proved, not only checked numerically."""
    checker = Checker(spec_of("norm"), time_limit=60.0, proof_time_limit=30.0)  # no flake under load
    for text in (r"\delta^{(2)}_i = " + COMPACT, CORRECT["norm"][0], CORRECT["norm"][7]):
        result = checker.check(text)
        assert result.verdict == "correct" and result.proof is not None, result.show()


@pytest.mark.parametrize("text, correct", [
    (r"\frac{\partial L}{\partial \boldsymbol{\gamma}^{(1)}} = "
     r"\hat{\boldsymbol{\delta}}^{(1)} \odot \tilde{\mathbf{z}}^{(1)}", True),
    (r"\frac{\partial L}{\partial \boldsymbol{\gamma}^{(1)}} = "
     r"\hat{\boldsymbol{\delta}}^{(1)} \odot \hat{\mathbf{z}}^{(1)}", False),
    (r"\mathbf{g}^{(1)} = \mathbf{g}^{(2)} + W^{(2)\top} \boldsymbol{\delta}^{(2)}", True),
    (r"\mathbf{g}^{(1)} = W^{(2)\top} \boldsymbol{\delta}^{(2)}", False),
    (r"\hat{\mathbf{z}}^{(1)} = \boldsymbol{\gamma}^{(1)} \odot \tilde{\mathbf{z}}^{(1)}"
     r" + \boldsymbol\beta^{(1)}", True),
])
def test_vector_notation_reads_the_norm_quantities(checkers, text, correct):
    result = checkers["norm"].check(text)
    assert result.verdict == ("correct" if correct else "incorrect"), result.show()


def test_every_relu_argument_behind_a_norm_takes_both_signs_for_every_seed():
    """Under a norm the activation reads z-hat: the draw places z-hat (by shifting beta, which moves
    that unit alone) on both sides of relu's kink across the instances, whatever the seed."""
    from derive.checking import instances as sampling

    table = ModelTable(model_names(spec_of("norm")))
    relu = table.names.layers[1]
    for seed in range(60):
        signs: dict = {}
        for instance in sampling.draw(table, random.Random(seed)):
            for (key, idx), value in instance.values.items():
                if key == relu.zhat.name:
                    assert abs(value) >= sampling.KINK_MARGIN / 2
                    signs.setdefault(idx, set()).add(value > 0)
        assert signs and all(s == {True, False} for s in signs.values()), (seed, signs)


@pytest.mark.parametrize("seed", range(8))
def test_an_answer_right_where_zhat_is_positive_only_is_rejected(seed):
    checker = Checker(spec_of("norm"), seed=seed)
    result = checker.check(r"\hat{\delta}^{(2)}_i = g^{(2)}_i")
    assert result.verdict == "incorrect", result.show()


SKIP_TO_INPUTS = """
name = "skip0"
inputs = "M"
loss = "mse"
[[layers]]
units = "M"
activation = "relu"
norm = "layer"
skip = 0
[[layers]]
units = 1
activation = "identity"
"""


@pytest.mark.parametrize("text, correct", [
    (r"a^{(1)}_j = \operatorname{relu}(\hat z^{(1)}_j) + x_j", True),
    (r"\frac{\partial L}{\partial x_j} = g^{(1)}_j + \sum_k \delta^{(1)}_k w^{(1)}_{kj}", True),
    (r"\frac{\partial L}{\partial x_j} = \sum_k \delta^{(1)}_k w^{(1)}_{kj}", False),
    (r"a^{(1)}_j = \operatorname{relu}(\hat z^{(1)}_j)", False),
])
def test_a_skip_from_the_inputs(text, correct):
    """skip = 0: the inputs x are added to the layer's output, and dL/dx gets both paths."""
    checker = Checker(parse_spec(textwrap.dedent(SKIP_TO_INPUTS), "skip0.toml"))
    result = checker.check(text)
    assert result.verdict == ("correct" if correct else "incorrect"), result.show()
