"""``derive check`` on convolution models: answers over positions and kernel offsets.

The instances the checker evaluates at (a conv forward pass written out in ``instances``, its
derivatives by one reverse sweep over recorded local partials) are compared with PyTorch float64
autograd of ``F.conv1d`` / ``F.conv2d``, flatten and a dense head; then course answers (CS231n
assignment 2, 11-785 HW2) are graded, the input error as the full correlation with the flipped
kernel among them.
"""

import itertools
import random

import pytest
import torch
import torch.nn.functional as F

from derive.check import Checker
from derive.checking.instances import ModelInstance
from derive.checking.quantities import table as model_table
from derive.spec import parse_spec

CONV1D = """
name = "c1"
inputs = ["C", "T"]
loss = "ce"
[[layers]]
kind = "conv"
channels = "K"
kernel = "R"
activation = "tanh"
[[layers]]
kind = "flatten"
[[layers]]
units = 3
activation = "softmax"
"""

CONV2D = """
name = "c2"
inputs = [2, "H", "D"]
loss = "bce"
[[layers]]
kind = "conv"
channels = 2
kernel = 2
activation = "relu"
[[layers]]
kind = "conv"
channels = 2
kernel = [2, 1]
activation = "tanh"
[[layers]]
kind = "flatten"
[[layers]]
units = 1
activation = "sigmoid"
"""


def _spec(text):
    return parse_spec(text, "conv.toml")


@pytest.fixture(scope="module")
def checkers():
    return {"1d": Checker(_spec(CONV1D)), "2d": Checker(_spec(CONV2D))}


def _tensor(instance, key, shape):
    grid = itertools.product(*(range(1, n + 1) for n in shape))
    values = [instance.value((key, idx)) for idx in grid]
    return torch.tensor(values, dtype=torch.float64).reshape(shape)


@pytest.mark.parametrize("text, sizes", [
    (CONV1D, {"C": 2, "K": 3, "R": 2, "T": 4}),
    (CONV1D, {"C": 1, "K": 2, "R": 1, "T": 3}),   # kernel 1
    (CONV1D, {"C": 2, "K": 2, "R": 3, "T": 3}),   # kernel = input length
    (CONV2D, {"H": 3, "D": 4}),
])
def test_the_instance_matches_torch_autograd(text, sizes):
    table = model_table(_spec(text))
    symbols = {str(s): s for s in table.size_symbols()}
    instance = ModelInstance(table, {symbols[k]: v for k, v in sizes.items()}, random.Random(3))
    convs = table.convs
    size = instance.size
    shape = lambda dims: tuple(size(d) for d in dims)  # noqa: E731
    first = convs[0]
    x = _tensor(instance, "x", shape((first.in_channels, *first.in_sizes))).requires_grad_()
    leaves, outputs, h = {}, {}, x[None]
    for layer in convs:
        w = _tensor(instance, layer.w.name, shape((layer.channels, layer.in_channels, *layer.kernel)))
        b = _tensor(instance, layer.b.name, shape((layer.channels,)))
        leaves[layer.w.name], leaves[layer.b.name] = w.requires_grad_(), b.requires_grad_()
        conv = F.conv1d if len(layer.kernel) == 1 else F.conv2d
        z = conv(h, w, b)
        a = torch.tanh(z) if layer.activation == "tanh" else torch.relu(z)
        for t in (z, a):
            t.retain_grad()
        outputs[layer.z.name], outputs[layer.a.name], h = z, a, a
    dense = table.names.layers[0]
    flat_w = _tensor(instance, dense.w.name, shape(table.quantities[("w", dense.number)].dims))
    leaves[dense.w.name] = flat_w.requires_grad_()
    leaves[dense.b.name] = _tensor(instance, dense.b.name, shape(dense.unit_dims)).requires_grad_()
    logits = flat_w.reshape(flat_w.shape[0] if dense.index is not None else 1, -1) @ h.reshape(-1)
    logits = logits + leaves[dense.b.name].reshape(-1)
    y = _tensor(instance, "y", shape(dense.unit_dims)).reshape(-1)
    if table.names.spec.loss == "ce":
        loss = -(y * torch.log_softmax(logits, dim=0)).sum()
    else:
        loss = F.binary_cross_entropy(torch.sigmoid(logits), y, reduction="sum")
    loss.backward()
    assert instance.value(("L", ())) == pytest.approx(loss.item(), rel=1e-12)
    grads = {**{key: t.grad[0] for key, t in outputs.items()}, "x": x.grad,
             **{key: t.grad for key, t in leaves.items()}}
    checked = 0
    for key, grad in grads.items():
        for position in itertools.product(*map(range, grad.shape)):
            got = instance.derivative(("L", ()), (key, tuple(i + 1 for i in position)))
            assert got == pytest.approx(grad[position].item(), rel=1e-8, abs=1e-12), (key, position)
            checked += 1
    assert checked > 20


CORRECT = {
    "1d": [
        r"z^{(1)}_{kt} = \sum_{c=1}^{C} \sum_{r=1}^{R} w^{(1)}_{kcr} x_{c,t+r-1} + b^{(1)}_k",
        r"a^{(1)}_{kt} = \tanh(z^{(1)}_{kt})",
        r"z^{(2)}_i = \sum_{k=1}^{K} \sum_{t=1}^{T-R+1} w^{(2)}_{ikt} a^{(1)}_{kt} + b^{(2)}_i",
        r"g^{(1)}_{kt} = \sum_i \delta^{(2)}_i w^{(2)}_{ikt}",
        r"\delta^{(1)}_{kt} = (1 - (a^{(1)}_{kt})^2) g^{(1)}_{kt}",
        r"\frac{\partial L}{\partial w^{(1)}_{kcr}} = \sum_{t=1}^{T-R+1} \delta^{(1)}_{kt} x_{c,t+r-1}",
        r"\frac{\partial L}{\partial b^{(1)}_k} = \sum_{t} \delta^{(1)}_{kt}",
        # the input error: the full correlation with the flipped kernel (delta is 0 past its edges)
        r"\frac{\partial L}{\partial x_{cs}} = "
        r"\sum_{k=1}^{K} \sum_{r=1}^{R} \delta^{(1)}_{k,s-r+1} w^{(1)}_{kcr}",
        r"\frac{\partial L}{\partial w^{(2)}_{ikt}} = \delta^{(2)}_i a^{(1)}_{kt}",
    ],
    "2d": [
        r"z^{(1)}_{kuv} = \sum_{c} \sum_{p} \sum_{q} w^{(1)}_{kcpq} x_{c,u+p-1,v+q-1} + b^{(1)}_k",
        r"\frac{\partial L}{\partial w^{(1)}_{kcpq}} = "
        r"\sum_{u} \sum_{v} \delta^{(1)}_{kuv} x_{c,u+p-1,v+q-1}",
        r"g^{(1)}_{cuv} = "
        r"\sum_{m=1}^{2} \sum_{p=1}^{2} \sum_{q=1}^{1} \delta^{(2)}_{m,u-p+1,v-q+1} w^{(2)}_{mcpq}",
    ],
}

WRONG = {
    "1d": [
        # the window not shifted by the kernel offset
        r"z^{(1)}_{kt} = \sum_{c=1}^{C} \sum_{r=1}^{R} w^{(1)}_{kcr} x_{c,t} + b^{(1)}_k",
        # the weight gradient at one position only
        r"\frac{\partial L}{\partial w^{(1)}_{kcr}} = \delta^{(1)}_{k1} x_{c,r}",
        # the bias gradient not summed over positions
        r"\frac{\partial L}{\partial b^{(1)}_k} = \delta^{(1)}_{k1}",
        # the kernel not flipped: a correlation where the full correlation is due
        r"\frac{\partial L}{\partial x_{cs}} = "
        r"\sum_{k=1}^{K} \sum_{r=1}^{R} \delta^{(1)}_{k,s+r-1} w^{(1)}_{kcr}",
    ],
    "2d": [
        r"\frac{\partial L}{\partial w^{(1)}_{kcpq}} = "
        r"\sum_{u} \sum_{v} \delta^{(1)}_{kuv} x_{c,u+q-1,v+p-1}",
    ],
}


@pytest.mark.parametrize("key, text", [(k, t) for k, texts in CORRECT.items() for t in texts])
def test_correct_convolution_answers_are_accepted(checkers, key, text):
    result = checkers[key].check(text)
    assert result.verdict == "correct", result.show()


@pytest.mark.parametrize("key, text", [(k, t) for k, texts in WRONG.items() for t in texts])
def test_wrong_convolution_answers_are_rejected(checkers, key, text):
    result = checkers[key].check(text)
    assert result.verdict == "incorrect", result.show()


def test_sizes_are_drawn_so_that_every_kernel_fits():
    for instance in Checker(_spec(CONV1D)).instances():
        sizes = {str(s): v for s, v in instance.sizes.items()}
        assert sizes["R"] <= sizes["T"]
