"""``derive check`` on a model with batch normalisation: answers about the batch's examples.

A batch norm's statistics couple the examples, so the checker evaluates answers at a whole batch
of ``N`` examples: per-example quantities may carry a leading example index (``\\hat{z}_{ik}``);
written without it, they are the example the equation is about, and every example is checked.
The batch instance is first compared with PyTorch (``F.batch_norm`` in training mode, float64
autograd): values, the errors of every per-example quantity (of the batch's summed loss), and
the gradient of every parameter. Then course answers are graded: right ones accepted (CS231n's
compact form, the per-example and the batch-total forms of dL/dgamma), wrong ones rejected.
"""

import random
import textwrap

import pytest
import torch
import torch.nn.functional as F

from derive.check import Checker
from derive.checking.instances import ModelInstance, units
from derive.checking.quantities import ModelTable
from derive.naming import BATCH_SIZE
from derive.naming import names as model_names
from derive.spec import parse_spec

BN = """
name = "bn"
inputs = "M"
loss = "ce"
[[layers]]
units = "K"
activation = "tanh"
norm = "batch"
eps = 0.1
[[layers]]
units = "C"
activation = "softmax"
"""


@pytest.fixture(scope="module")
def checker():
    return Checker(parse_spec(textwrap.dedent(BN), "bn.toml"))


def _grid(instance, key, example_dims, dims):
    """A quantity of the instance as a tensor: examples first, then its own indices."""
    rows = []
    for ex in example_dims:
        rows.append([instance.value((key, ex + u)) for u in dims])
    return torch.tensor(rows, dtype=torch.float64)


@pytest.mark.parametrize("batch", [2, 3, 5])
def test_the_batch_instance_matches_torch_autograd(batch):
    """Values, dL/dz, dL/dzhat, dL/da of every example, and every parameter's gradient (the batch
    total, and each example's term summing to it), against PyTorch's autograd of the summed loss."""
    table = ModelTable(model_names(parse_spec(textwrap.dedent(BN), "bn.toml")))
    names = table.names
    sizes = {s: v for s, v in zip(table.size_symbols(), (3, 4, 2, batch), strict=True)}  # C, K, M, N
    assert BATCH_SIZE in sizes
    instance = ModelInstance(table, sizes, random.Random(batch))
    examples = instance.examples
    hidden, out = names.layers
    K, M = units(hidden.width, hidden.index, sizes), units(names.input_width, names.input_index, sizes)
    C = units(out.width, out.index, sizes)

    def param(q, *dims):
        grids = [range(1, sizes[d] + 1) for d in dims]
        if len(dims) == 1:
            values = [instance.value((q.name, (i,))) for i in grids[0]]
        else:
            values = [[instance.value((q.name, (i, j))) for j in grids[1]] for i in grids[0]]
        return torch.tensor(values, dtype=torch.float64, requires_grad=True)

    sym = {str(s): s for s in sizes}
    W1, b1 = param(hidden.w, sym["K"], sym["M"]), param(hidden.b, sym["K"])
    gamma, beta = param(hidden.gamma, sym["K"]), param(hidden.beta, sym["K"])
    W2, b2 = param(out.w, sym["C"], sym["K"]), param(out.b, sym["C"])
    X = _grid(instance, names.x.name, examples, M)
    Y = _grid(instance, names.y.name, examples, C)
    z1 = X @ W1.T + b1
    zhat = F.batch_norm(z1, None, None, gamma, beta, training=True, eps=0.1)
    a1 = torch.tanh(zhat)
    a2 = torch.softmax(a1 @ W2.T + b2, dim=1)
    for t in (z1, zhat, a1):
        t.retain_grad()
    loss = -(Y * torch.log(a2)).sum()  # the batch's summed loss
    loss.backward()
    assert instance.value(("L", ())) == pytest.approx(loss.item(), rel=1e-12)
    checked = 0
    for key, tensor in ((hidden.z.name, z1), (hidden.zhat.name, zhat), (hidden.a.name, a1)):
        assert _grid(instance, key, examples, K) == pytest.approx(tensor.detach(), rel=1e-12)
        for n, ex in enumerate(examples):
            for k in K:
                got = instance.derivative(("L", ()), (key, ex + k))
                assert got == pytest.approx(tensor.grad[n, k[0] - 1].item(), rel=1e-8, abs=1e-12)
                checked += 1
    for q, tensor in ((hidden.w, W1), (hidden.b, b1), (hidden.gamma, gamma), (hidden.beta, beta),
                      (out.w, W2)):
        for idx in [(1,), (2,)] if tensor.ndim == 1 else [(1, 1), (2, 1)]:
            expected = tensor.grad[tuple(i - 1 for i in idx)].item()
            total = instance.derivative(("L", ()), (q.name, idx))
            terms = [instance.derivative(("L", ()), (q.name, idx), example=n) for n in range(1, batch + 1)]
            assert total == pytest.approx(expected, rel=1e-8, abs=1e-12)
            assert sum(terms) == pytest.approx(expected, rel=1e-8, abs=1e-12)
            assert len({round(t, 12) for t in terms}) > 1  # each example's own term, not a share
            checked += 1
    assert checked == 3 * batch * len(K) + 5 * 2


SIGMA2 = r"(\sigma^{(1)}_k)^2"
ROOT = rf"\sqrt{{{SIGMA2} + \epsilon}}"

CORRECT = [
    r"\mu^{(1)}_k = \frac{1}{N}\sum_{i=1}^{N} z^{(1)}_{ik}",
    rf"{SIGMA2} = \frac{{1}}{{N}}\sum_{{i}} (z^{{(1)}}_{{ik}} - \mu^{{(1)}}_k)^2",
    rf"\tilde{{z}}^{{(1)}}_{{ik}} = \frac{{z^{{(1)}}_{{ik}} - \mu^{{(1)}}_k}}{{{ROOT}}}",
    r"\hat{z}^{(1)}_{ik} = \gamma^{(1)}_k \tilde{z}^{(1)}_{ik} + \beta^{(1)}_k",
    r"\hat{z}^{(1)}_{k} = \gamma^{(1)}_k \tilde{z}^{(1)}_{k} + \beta^{(1)}_k",
    # CS231n's compact form, for the example the equation is about and with its index written
    rf"\delta^{{(1)}}_k = \frac{{\gamma^{{(1)}}_k}}{{{ROOT}}} \left(\hat\delta^{{(1)}}_k - \frac{{1}}{{N}}"
    r"\sum_{p=1}^{N} \hat\delta^{(1)}_{pk} - \tilde{z}^{(1)}_k \frac{1}{N}\sum_{p=1}^{N}"
    r" \hat\delta^{(1)}_{pk}\tilde{z}^{(1)}_{pk}\right)",
    rf"\delta^{{(1)}}_{{ik}} = \frac{{\gamma^{{(1)}}_k}}{{N {ROOT}}} \left(N\hat\delta^{{(1)}}_{{ik}}"
    r" - \sum_{p} \hat\delta^{(1)}_{pk}"
    r" - \tilde{z}^{(1)}_{ik} \sum_{p} \hat\delta^{(1)}_{pk}\tilde{z}^{(1)}_{pk}\right)",
    # the Jacobian through the batch statistics
    rf"\frac{{\partial \hat z^{{(1)}}_{{pk}}}}{{\partial z^{{(1)}}_{{ik}}}} = "
    rf"\frac{{\gamma^{{(1)}}_k}}{{{ROOT}}}"
    r" \left(\delta_{ip} - \frac{1 + \tilde z^{(1)}_{ik}\tilde z^{(1)}_{pk}}{N}\right)",
    # a parameter's gradient: this example's term, or the batch's total
    r"\frac{\partial L}{\partial \gamma^{(1)}_k} = \hat\delta^{(1)}_k \tilde{z}^{(1)}_k",
    r"\frac{\partial L}{\partial \gamma^{(1)}_k} = \sum_{i=1}^{N} \hat\delta^{(1)}_{ik} \tilde{z}^{(1)}_{ik}",
    r"\frac{\partial L}{\partial \beta^{(1)}_k} = \sum_{i} \hat\delta^{(1)}_{ik}",
    r"\frac{\partial L}{\partial w^{(1)}_{kj}} = \delta^{(1)}_k x_j",
    r"\frac{\partial L}{\partial w^{(1)}_{kj}} = \sum_i \delta^{(1)}_{ik} x_{ij}",
    r"\hat\delta^{(1)}_k = (1 - (a^{(1)}_k)^2) \sum_i \delta^{(2)}_i w^{(2)}_{ik}",
    r"\frac{\partial L}{\partial z^{(2)}_{ni}} = a^{(2)}_{ni} - y_{ni}",
    "mu1_k = 1/N sum_i z1_ik",
    "dL/dgamma1_k = sum_i delta_hat1_ik ztilde1_ik",
]

WRONG = [
    # the unbiased variance (PyTorch uses the biased one in training)
    rf"{SIGMA2} = \frac{{1}}{{N - 1}}\sum_{{i}} (z^{{(1)}}_{{ik}} - \mu^{{(1)}}_k)^2",
    # the layer-norm reading: statistics over the units of one example
    r"\mu^{(1)}_k = \frac{1}{K}\sum_{j=1}^{K} z^{(1)}_{kj}",
    # the batch statistics treated as constants
    rf"\delta^{{(1)}}_k = \frac{{\gamma^{{(1)}}_k}}{{{ROOT}}} \hat\delta^{{(1)}}_k",
    # the term through the variance dropped
    rf"\delta^{{(1)}}_k = \frac{{\gamma^{{(1)}}_k}}{{{ROOT}}} "
    r"\left(\hat\delta^{(1)}_k - \frac{1}{N}\sum_{p=1}^{N} \hat\delta^{(1)}_{pk}\right)",
    # epsilon left out
    r"\delta^{(1)}_k = \frac{\gamma^{(1)}_k}{\sqrt{(\sigma^{(1)}_k)^2}} "
    r"\left(\hat\delta^{(1)}_k - \frac{1}{N}"
    r"\sum_{p=1}^{N} \hat\delta^{(1)}_{pk} - \tilde{z}^{(1)}_k \frac{1}{N}\sum_{p=1}^{N}"
    r" \hat\delta^{(1)}_{pk}\tilde{z}^{(1)}_{pk}\right)",
    # the mean of the batch's terms for one example's, and one example's term for the total
    r"\frac{\partial L}{\partial \gamma^{(1)}_k} = "
    r"\frac{1}{N}\sum_{i=1}^{N} \hat\delta^{(1)}_{ik} \tilde{z}^{(1)}_{ik}",
    r"\frac{\partial L}{\partial w^{(1)}_{kj}} = \hat\delta^{(1)}_k x_j",
    # the Jacobian without the example's own Kronecker delta
    rf"\frac{{\partial \hat z^{{(1)}}_{{pk}}}}{{\partial z^{{(1)}}_{{ik}}}} = "
    rf"\frac{{\gamma^{{(1)}}_k}}{{{ROOT}}}"
    r" \left(1 - \frac{1 + \tilde z^{(1)}_{ik}\tilde z^{(1)}_{pk}}{N}\right)",
]


@pytest.mark.parametrize("text", CORRECT)
def test_correct_batch_norm_answers_are_accepted(checker, text):
    result = checker.check(text)
    assert result.verdict == "correct", result.show()
    assert result.checked >= 2 * len(checker.instances())


@pytest.mark.parametrize("text", WRONG)
def test_wrong_batch_norm_answers_are_rejected(checker, text):
    result = checker.check(text)
    assert result.verdict == "incorrect", result.show()


def test_every_example_of_the_batch_is_checked(checker):
    """An answer right for the first example of each batch only is found out: the statistics'
    example index runs over the whole batch, not just the one the sampling places."""
    result = checker.check(r"\hat{z}^{(1)}_{k} = \gamma^{(1)}_k \tilde{z}^{(1)}_{1k} + \beta^{(1)}_k")
    assert result.verdict == "incorrect", result.show()
    assert "example=" in result.show()


@pytest.mark.parametrize("text, words", [
    (r"\mu^{(1)} = 0", "has 1 over K"),
    (r"\hat{z}^{(1)}_{ijk} = 0", "one more before them for the example"),
])
def test_misindexed_batch_quantities_say_why(checker, text, words):
    result = checker.check(text)
    assert result.verdict == "incorrect" and words in result.reason, result.show()


def test_the_cli_grades_a_batch_norm_model(tmp_path, capsys):
    from derive.cli import main

    path = tmp_path / "bn.toml"
    path.write_text(textwrap.dedent(BN))
    with pytest.raises(SystemExit) as done:
        main(["check", str(path), r"\frac{\partial L}{\partial \beta^{(1)}_k} = \hat{\delta}^{(1)}_k"])
    out = capsys.readouterr().out
    assert done.value.code == 0, out
    assert "correct" in out


@pytest.mark.parametrize("path", ["examples/batch-norm.toml", "examples/residual-layernorm.toml"])
def test_the_derivations_results_are_graded_correct(path):
    """The engine and the grader are independent (the grader's instances never read the chain
    rule's results): every error and gradient the derivation states, as the sheet prints it
    (relu's derivative as ``\\mathbf{1}_{z > 0}``), is graded correct."""
    from pathlib import Path

    from derive.chain import Partial, derive_spec
    from derive.render.latex_printer import latex
    from derive.spec import load_spec_file

    spec = load_spec_file(Path(__file__).parent.parent / path)
    derivation = derive_spec(spec)
    checker = Checker(spec)
    stated = [f"{latex(step.delta)} = {latex(step.value)}" for step in derivation.errors]
    stated += [f"{latex(Partial(derivation.names.L, g.element))} = {latex(form)}"
               for g in derivation.gradients for form in (g.result, g.expanded)]
    assert any(r"\mathbf{1}_{" in text for text in stated)
    for text in stated:
        result = checker.check(text)
        assert result.verdict == "correct", result.show()


def test_the_batch_norm_grading_example_grades_as_worked_out_by_hand():
    """examples/grade/batchnorm: Ada is right throughout (dL/dgamma as the batch's total, as
    CS231n's dgamma); Ben divides by N - 1 (0 points, named) and drops the variance's path
    (partial credit) but gives one example's term of dL/dgamma (right); Cleo averages dL/dgamma
    (wrong by the factor 1/N, named) and treats the statistics as constants (partial credit)."""
    from pathlib import Path

    from derive.grading.key import load_key
    from derive.grading.run import grade_all

    root = Path(__file__).parent.parent / "examples" / "grade" / "batchnorm"
    key = load_key(root / "key.toml")
    graded = grade_all(key, sorted(str(p) for p in (root / "submissions").iterdir()), jobs=1)
    points = {s.name: tuple(q.points for q in s.questions) for s in graded}
    assert points == {"ada": (1.0, 1.0, 3.0), "ben": (0.0, 1.0, 2.0), "cleo": (1.0, 0.0, 1.0)}
    cleo = {q.name: q for q in graded[2].questions}
    assert r"times \frac{1}{N}" in cleo["dL/dgamma1"].message
    assert "example=" not in cleo["dL/dgamma1"].message  # no example to name: all are summed
