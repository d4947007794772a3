"""No wrong answer is accepted because of the draw: across the instances of one check, every
branch of the model occurs whatever the seed (both labels of bce, every one-hot position of ce,
both signs of every relu argument), so answers right on one branch only are rejected.

Each answer below is wrong and agrees with the model on one branch; the expected verdicts were
worked out by hand (bce: dL/da = -y/a + (1-y)/(1-a); ce with softmax: dL/dz_i = a_i - y_i;
relu' = 1 for z > 0 and 0 for z < 0)."""

import random

import pytest

from derive import activations
from derive.check import Checker
from derive.checking import instances as sampling
from derive.checking.quantities import ModelTable
from derive.naming import names as model_names
from derive.spec import parse_spec, resolve

SEEDS = range(200)

RELU_SPEC = """
name = "r"
inputs = "M"
loss = "bce"

[[layers]]
units = "K"
activation = "relu"

[[layers]]
units = 5
activation = "relu"

[[layers]]
units = 1
activation = "sigmoid"
"""

WIDE_CE_SPEC = """
name = "w"
inputs = 2
loss = "ce"

[[layers]]
units = 7
activation = "softmax"
"""


def _spec(model):
    return parse_spec(model, "r.toml") if "\n" in model else resolve(model)


# --- the draw itself: each branch occurs across the instances -----------------------------------


def _instances(model, seed):
    return sampling.draw(ModelTable(model_names(_spec(model))), random.Random(seed))


def _values(instance, name):
    return {idx: v for (key, idx), v in instance.values.items() if key == name}


@pytest.mark.parametrize("model", ["a", "b", RELU_SPEC])
def test_every_binary_label_takes_both_values_for_every_seed(model):
    for seed in SEEDS:
        seen = {}
        for instance in _instances(model, seed):
            for idx, v in _values(instance, "y").items():
                seen.setdefault(idx, set()).add(v)
        assert all(values == {0.0, 1.0} for values in seen.values()), (seed, seen)


@pytest.mark.parametrize("model", ["c", "c-mlp", WIDE_CE_SPEC])
def test_every_one_hot_position_is_the_target_somewhere_for_every_seed(model):
    for seed in SEEDS:
        drawn = _instances(model, seed)
        hot, widest = set(), 0
        for instance in drawn:
            y = _values(instance, "y")
            assert sorted(y.values()) == [0.0] * (len(y) - 1) + [1.0]  # one-hot on every instance
            hot |= {idx for idx, v in y.items() if v == 1.0}
            widest = max(widest, len(y))
        assert hot == {(p,) for p in range(1, widest + 1)}, (seed, hot)


def test_every_relu_argument_takes_both_signs_for_every_seed():
    spec = _spec(RELU_SPEC)
    layers = [layer for layer in model_names(spec).layers if activations.get(layer.activation).kinks]
    assert len(layers) == 2
    for seed in SEEDS:
        drawn = _instances(RELU_SPEC, seed)
        for layer in layers:
            signs = {}
            for instance in drawn:
                for idx, z in _values(instance, layer.z.name).items():
                    assert abs(z) >= sampling.KINK_MARGIN / 2  # well away from the kink
                    signs.setdefault(idx, set()).add(z > 0)
            assert all(s == {True, False} for s in signs.values()), (seed, layer.z.name, signs)


def test_placing_a_pre_activation_keeps_the_instance_a_forward_pass_of_its_drawn_values():
    """The bias shift is a drawn value: recomputing z from the reported inputs gives the same z."""
    for seed in range(20):
        for instance in _instances(RELU_SPEC, seed):
            shown = instance.inputs()
            x, w, b = shown["x"], shown["W1"], shown["b1"]
            for k, (row, bias) in enumerate(zip(w, b, strict=True), start=1):
                z = sum(wi * xi for wi, xi in zip(row, x, strict=True)) + bias
                assert z == pytest.approx(instance.value(("z1", (k,))), abs=1e-12)


# --- answers right on one branch only are rejected, whatever the seed ---------------------------

ONE_BRANCH = [
    ("a", r"\frac{\partial L}{\partial a} = -\frac{y}{a}"),  # right where y = 1 only
    ("a", r"\frac{\partial L}{\partial a} = \frac{1}{1-a}"),  # right where y = 0 only
    ("a", r"\frac{\partial L}{\partial z} = a - 1"),  # right where y = 1 only
    ("b", r"\frac{\partial L}{\partial z^{(2)}} = a^{(2)}"),  # right where y = 0 only
    ("c", r"\frac{\partial L}{\partial z_1} = a_1 - 1"),  # right where class 1 is the target only
    ("c", r"\frac{\partial L}{\partial z_2} = a_2"),  # right where class 2 is not the target only
    ("c", r"L = -\log a_1"),  # right where class 1 is the target only
    (RELU_SPEC, r"\frac{\partial a^{(1)}_k}{\partial z^{(1)}_k} = 1"),  # right where z > 0 only
    (RELU_SPEC, r"\frac{\partial a^{(2)}_i}{\partial z^{(2)}_i} = 1"),
    (RELU_SPEC, r"a^{(1)}_k = z^{(1)}_k"),
    (RELU_SPEC, r"\frac{\partial a^{(2)}_1}{\partial z^{(2)}_1} = 1"),  # one unit: one draw each
    (RELU_SPEC, r"\frac{\partial a^{(1)}_2}{\partial z^{(1)}_2} = 0"),
    (RELU_SPEC, r"\frac{\partial a^{(2)}_i}{\partial z^{(2)}_i} = 0"),  # right where z < 0 only
]


@pytest.mark.parametrize("model", sorted({model for model, _ in ONE_BRANCH}))
def test_an_answer_right_on_one_branch_is_rejected_for_every_seed(model):
    spec, texts = _spec(model), [text for m, text in ONE_BRANCH if m == model]
    accepted = []
    for seed in SEEDS:
        checker = Checker(spec, seed=seed)  # one draw of instances per seed, shared by the answers
        accepted += [(seed, text) for text in texts if checker.check(text).verdict != "incorrect"]
    assert accepted == []


@pytest.mark.parametrize("model, text", [
    ("a", r"\frac{\partial L}{\partial a} = -\frac{y}{a} + \frac{1-y}{1-a}"),
    ("c", r"\frac{\partial L}{\partial z_1} = a_1 - y_1"),
    (RELU_SPEC, r"\frac{\partial a^{(1)}_k}{\partial z^{(1)}_k} = \operatorname{relu}'(z^{(1)}_k)"),
    (RELU_SPEC, r"\frac{\partial L}{\partial z^{(3)}} = a^{(3)} - y"),
])
def test_the_right_answer_is_still_accepted_on_every_branch(model, text):
    spec = _spec(model)
    for seed in range(0, 200, 10):
        result = Checker(spec, seed=seed).check(text)
        assert result.verdict == "correct", (seed, result.show())


@pytest.mark.parametrize("name", sorted(n for n, a in activations.ACTIVATIONS.items() if a.elementwise))
def test_an_activation_lists_exactly_the_kinks_of_its_derivative(name):
    """SymPy's derivative of the registry's forward rule jumps at each listed kink and nowhere
    else we probe, so no branch of a future activation goes unlisted."""
    import sympy as sp

    z = sp.Symbol("z", real=True)
    derivative = sp.diff(activations.get(name).unit(z), z)
    kinks = activations.get(name).kinks

    def jumps(at):
        return abs(float(derivative.subs(z, at - 1e-6)) - float(derivative.subs(z, at + 1e-6))) > 1e-3

    assert all(jumps(k) for k in kinks)
    assert not any(jumps(p / 4) for p in range(-20, 21) if p / 4 not in kinks)


def test_the_issues_seed_17_example_is_rejected_on_the_command_line(capsys):
    from derive.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["check", "a", r"\frac{\partial L}{\partial a} = -\frac{y}{a}", "--seed", "17"])
    assert exit_.value.code == 1 and "incorrect" in capsys.readouterr().out


def test_every_target_kind_of_the_registry_has_a_covering_plan():
    from derive import losses

    assert set(sampling.PLANS) == set(losses.TARGETS)
