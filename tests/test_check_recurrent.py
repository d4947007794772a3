"""``derive check`` on a model with a recurrent (Elman) layer: answers through time.

Answers index the recurrent layer's quantities by the step first (``h_{tk}``, ``x_{tm}``,
``\\delta_{t+1,i}``, ``h_{t-1,j}``, ``h_{T,k}``) or write them as vectors at a step
(``\\mathbf{h}_t``, ``\\boldsymbol{\\delta}_{t+1}``); ``h_0 = 0`` and ``\\delta_{T+1} = 0`` are the
model's. The instances the checker evaluates at are first compared with PyTorch float64
autograd of the same model written here (``torch.nn.RNN`` with our b as its input bias), then
course answers (CS231n / 11-785 backpropagation through time) are graded.
"""

import random

import pytest
import torch

from derive.check import Checker
from derive.checking.instances import ModelInstance
from derive.checking.quantities import table as model_table
from derive.spec import parse_spec

SPEC = """
name = "rnn"
inputs = "M"
loss = "ce"
[[layers]]
kind = "recurrent"
units = "K"
activation = "tanh"
steps = "T"
outputs = "{outputs}"
[[layers]]
units = "C"
activation = "softmax"
"""


def spec(outputs):
    return parse_spec(SPEC.format(outputs=outputs), "rnn.toml")


@pytest.fixture(scope="module")
def checkers():
    return {outputs: Checker(spec(outputs)) for outputs in ("last", "all")}


def _tensor(instance, key, *shape):
    import itertools

    grid = itertools.product(*map(range, shape))
    values = [instance.value((key, tuple(i + 1 for i in idx))) for idx in grid]
    return torch.tensor(values, dtype=torch.float64).reshape(shape)


@pytest.mark.parametrize("outputs", ["last", "all"])
@pytest.mark.parametrize("steps", [1, 2, 4])
def test_the_instance_matches_torch_autograd(outputs, steps):
    """Values and dL/dh_{tk}, dL/dz_{tk} at every step, and every parameter's gradient, against
    autograd of nn.RNN (tanh, batch_first) and a softmax head at the last step or every step."""
    table = model_table(spec(outputs))
    names = {str(s): s for s in table.size_symbols()}
    sizes = {names["C"]: 3, names["K"]: 4, names["M"]: 2, names["T"]: steps}
    instance = ModelInstance(table, sizes, random.Random(steps))
    K, M, C, T = 4, 2, 3, steps
    rnn = torch.nn.RNN(M, K, nonlinearity="tanh", batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(_tensor(instance, "W", K, K))
        rnn.weight_ih_l0.copy_(_tensor(instance, "U", K, M))
        rnn.bias_ih_l0.copy_(_tensor(instance, "b", K))
        rnn.bias_hh_l0.zero_()
    W2 = _tensor(instance, "W2", C, K).requires_grad_()
    b2 = _tensor(instance, "b2", C).requires_grad_()
    x = _tensor(instance, "x", T, M).requires_grad_()
    states, _ = rnn(x[None])
    states.retain_grad()
    if outputs == "last":
        y = _tensor(instance, "y", C)
        loss = -(y * torch.log_softmax(W2 @ states[0, -1] + b2, dim=0)).sum()
    else:
        y = _tensor(instance, "y", T, C)
        loss = -(y * torch.log_softmax(states[0] @ W2.T + b2, dim=1)).sum()
    loss.backward()
    assert instance.value(("L", ())) == pytest.approx(loss.item(), rel=1e-12)
    assert _tensor(instance, "h", T, K) == pytest.approx(states[0].detach(), rel=1e-12)
    # nn.RNN keeps its states inside; the total dL/dh_t and dL/dz_t through the recurrence need
    # them as tensors: the same model unrolled step by step, by autograd too.
    W, U, b = (p.detach().requires_grad_() for p in (rnn.weight_hh_l0, rnn.weight_ih_l0, rnn.bias_ih_l0))
    h, zs, hs = torch.zeros(K, dtype=torch.float64), [], []
    for t in range(T):
        z = W @ h + U @ x.detach()[t] + b
        h = torch.tanh(z)
        z.retain_grad()
        h.retain_grad()
        zs.append(z)
        hs.append(h)
    if outputs == "last":
        unrolled = -(y * torch.log_softmax(W2.detach() @ hs[-1] + b2.detach(), dim=0)).sum()
    else:
        logits = torch.stack(hs) @ W2.detach().T + b2.detach()
        unrolled = -(y * torch.log_softmax(logits, dim=1)).sum()
    unrolled.backward()
    checked = 0
    for t in range(1, T + 1):
        for k in range(1, K + 1):
            dh = instance.derivative(("L", ()), ("h", (t, k)))
            assert dh == pytest.approx(hs[t - 1].grad[k - 1].item(), rel=1e-9, abs=1e-13)
            dz = instance.derivative(("L", ()), ("z", (t, k)))
            assert dz == pytest.approx(zs[t - 1].grad[k - 1].item(), rel=1e-9, abs=1e-13)
            checked += 2
    for key, grad in (("W", rnn.weight_hh_l0.grad), ("U", rnn.weight_ih_l0.grad), ("b", rnn.bias_ih_l0.grad),
                      ("W2", W2.grad), ("b2", b2.grad), ("x", x.grad)):
        for idx, expected in ((i, grad[tuple(v - 1 for v in i)].item()) for i in
                              [(1,) * grad.ndim, (grad.shape[0],) + (1,) * (grad.ndim - 1)]):
            assert instance.derivative(("L", ()), (key, idx)) == pytest.approx(expected, rel=1e-9, abs=1e-13)
            checked += 1
    assert checked == 2 * T * K + 12


CORRECT = {
    "last": [
        r"z_{t,k} = \sum_{j=1}^{K} W_{kj} h_{t-1,j} + \sum_{m=1}^{M} U_{km} x_{t,m} + b_k",
        r"h_{tk} = \tanh(z_{tk})",
        r"h_{0,k} = 0",
        r"z^{(2)}_i = \sum_k w^{(2)}_{ik} h_{Tk} + b^{(2)}_i",
        r"\delta_{tk} = (1 - h_{tk}^2) g_{tk}",
        r"\frac{\partial L}{\partial h_{tk}} = g_{tk}",
        r"g_{Tk} = \sum_i \delta^{(2)}_i w^{(2)}_{ik}",
        r"g_{tk} = \sum_i \delta_{t+1,i} W_{ik} + \begin{cases} \sum_i \delta^{(2)}_i w^{(2)}_{ik} & t = T \\"
        r" 0 & \text{otherwise} \end{cases}",
        r"\delta_{T+1,k} = 0",
        r"\frac{\partial L}{\partial W_{kj}} = \sum_{t=1}^{T} \delta_{tk} h_{t-1,j}",
        r"\frac{\partial L}{\partial U_{km}} = \sum_{t} \delta_{tk} x_{tm}",
        r"\frac{\partial L}{\partial b_k} = \sum_{t=1}^{T} \delta_{tk}",
        r"\mathbf{h}_t = \tanh(W \mathbf{h}_{t-1} + U \mathbf{x}_t + \mathbf{b})",
        r"\boldsymbol{\delta}_t = (1 - \mathbf{h}_t \odot \mathbf{h}_t) \odot \mathbf{g}_t",
        r"\frac{\partial L}{\partial W} = \sum_t \boldsymbol{\delta}_t \mathbf{h}_{t-1}^\top",
        r"\frac{\partial L}{\partial U} = \sum_{t=1}^{T} \boldsymbol{\delta}_t \mathbf{x}_t^\top",
        r"\mathbf{g}_T = (W^{(2)})^\top \boldsymbol{\delta}^{(2)}",
    ],
    "all": [
        r"z^{(2)}_{ti} = \sum_k w^{(2)}_{ik} h_{tk} + b^{(2)}_i",
        r"\delta^{(2)}_{ti} = a^{(2)}_{ti} - y_{ti}",
        r"g_{tk} = \sum_i \delta_{t+1,i} W_{ik} + \sum_i \delta^{(2)}_{ti} w^{(2)}_{ik}",
        r"\frac{\partial L}{\partial w^{(2)}_{ik}} = \sum_t \delta^{(2)}_{ti} h_{tk}",
        r"\frac{\partial L}{\partial W_{kj}} = \sum_{t=1}^{T} \delta_{tk} h_{t-1,j}",
        r"\mathbf{g}_t = W^\top \boldsymbol{\delta}_{t+1} + (W^{(2)})^\top \boldsymbol{\delta}^{(2)}_t",
    ],
}

WRONG = {
    "last": [
        # the state at the same step in the weight gradient
        r"\frac{\partial L}{\partial W_{kj}} = \sum_{t=1}^{T} \delta_{tk} h_{t,j}",
        # the last step's loss left out of g_T
        r"g_{tk} = \sum_i \delta_{t+1,i} W_{ik}",
        # the recurrence through the earlier step, not the later one
        r"g_{tk} = \sum_i \delta_{t-1,i} W_{ik} + \begin{cases} \sum_i \delta^{(2)}_i w^{(2)}_{ik} & t = T \\"
        r" 0 & \text{otherwise} \end{cases}",
        # W not transposed in the recurrence
        r"g_{tk} = \sum_i \delta_{t+1,i} W_{ki} + \begin{cases} \sum_i \delta^{(2)}_i w^{(2)}_{ik} & t = T \\"
        r" 0 & \text{otherwise} \end{cases}",
        # the gradient at the last step only (not summed over time)
        r"\frac{\partial L}{\partial U_{km}} = \delta_{Tk} x_{Tm}",
        r"\delta_{tk} = (1 - h_{tk}) g_{tk}",
        r"\mathbf{g}_t = W \boldsymbol{\delta}_{t+1}",
    ],
    "all": [
        # the head's error at every step but the last dropped
        r"g_{tk} = \sum_i \delta_{t+1,i} W_{ik}",
        r"\frac{\partial L}{\partial w^{(2)}_{ik}} = \delta^{(2)}_{Ti} h_{Tk}",
    ],
}


@pytest.mark.parametrize("outputs, text", [(o, t) for o, texts in CORRECT.items() for t in texts])
def test_correct_answers_through_time_are_accepted(checkers, outputs, text):
    result = checkers[outputs].check(text)
    assert result.verdict == "correct", result.show()


@pytest.mark.parametrize("outputs, text", [(o, t) for o, texts in WRONG.items() for t in texts])
def test_wrong_answers_through_time_are_rejected(checkers, outputs, text):
    result = checkers[outputs].check(text)
    assert result.verdict == "incorrect", result.show()


def test_the_instances_include_one_step_and_several():
    """T runs over 2 to 4 across the instances, so the recurrence's both ends are reached."""
    steps = {instance.steps for instance in Checker(spec("last")).instances()}
    assert min(steps) >= 2 and len(steps) > 1


def test_a_softmax_kronecker_delta_stays_one(checkers):
    r"""\delta_{ij} with no step first is still the Kronecker delta (the head's softmax Jacobian)."""
    text = r"\frac{\partial a^{(2)}_i}{\partial z^{(2)}_j} = a^{(2)}_i (\delta_{ij} - a^{(2)}_j)"
    result = checkers["last"].check(text)
    assert result.verdict == "correct", result.show()
