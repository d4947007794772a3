"""Random model-consistent instances and the model's own numeric derivatives.

``ModelInstance(table, sizes, rng)`` draws parameters and inputs at concrete sizes, targets of the
kind the loss registry names (``Loss.target``: one-hot for cross-entropy, so its identity
sum_k y_k = 1 holds), and runs the forward pass, so every intermediate is the model's.
``draw`` makes the instances a check uses, together, so that every branch of the model occurs
across them whatever the seed (both labels, every one-hot position, both sides of relu's kink;
see ``Cover``). ``derivative(num, den)`` is forward-mode differentiation through that pass.
A layer norm (mean, biased variance, z-tilde, z-hat) and a residual sum are written out here from
their textbook definitions, and the weight-decay term Omega beside the loss.
Where a norm couples the examples (batch norm), an instance is a batch of ``N`` examples: every
per-example element carries the example first (``('z1', (n, k))``), the statistics run over the
examples, and the loss ``('L', ())`` is the batch's sum, what an error dL/dz differentiates.
``derivative(num, den, example=n)`` moves a parameter in example n's forward pass only: that
example's term of the batch's gradient.
Every formula comes from the registries (``activations``, ``losses``), compiled with
``lambdify``; derivatives of them are SymPy's ``diff``, never the chain-rule engine's results,
so the grader is independent of what it grades.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import sympy as sp

from .. import activations, forward, losses
from ..errors import UsageError
from ..naming import BATCH_SIZE
from .quantities import ModelTable

INSTANCES = 4
SIZE_RANGE = (2, 4)
KINK_MARGIN = 0.05  # how far from a kink (relu's 0) a pre-activation is placed
MAX_ELEMENTS = 2000  # model parameters at the sampled sizes (a spec with huge concrete widths)

Element = tuple[str, tuple[int, ...]]  # (quantity key, concrete indices)
EXAMPLE = "example"  # the index assignment's key for the example an equation is about


def units(width: sp.Expr, idx, sizes: dict) -> list[tuple[int, ...]]:
    """Index tuples of a layer's units at concrete sizes; ``[()]`` for a single unit."""
    if idx is None:
        return [()]
    return [(i,) for i in range(1, int(width.subs(sizes)) + 1)]


def _compile(args: list[sp.Symbol], exprs: list[sp.Expr]) -> Callable:
    """Our own SymPy expressions as a fast float function (``math``, SymPy for the rest).

    Where ``math`` overflows (``exp(1000)`` inside a sigmoid of -1000), the same expressions are
    evaluated in arbitrary precision, so a finite result stays finite.
    """
    function = sp.lambdify(args, exprs, modules=["math", "sympy"])

    def run(*values):
        try:
            return [float(v) for v in function(*values)]
        except OverflowError:
            point = {arg: sp.Float(v) for arg, v in zip(args, values, strict=True)}
            try:
                return [float(e.xreplace(point).evalf()) for e in exprs]
            except TypeError:  # complex or undefined in arbitrary precision too
                raise OverflowError("numerical result out of range") from None

    return run


@cache
def elementwise(name: str, parameters: tuple[tuple[str, float], ...] = ()) -> tuple[Callable, Callable]:
    """f and f' of an elementwise activation (with a layer's ``parameters``); f' is SymPy's
    derivative of the registry's f."""
    z = sp.Symbol("z", real=True)
    forward = activations.get(name).bind(parameters).unit(z)
    both = _compile([z], [forward, sp.diff(forward, z)])
    return (lambda v: both(v)[0]), (lambda v: both(v)[1])


@cache
def _vector(name: str, n: int) -> tuple[Callable, Callable]:
    """A whole-layer activation at width ``n``: values and Jacobian (SymPy's derivatives)."""
    z, c = sp.IndexedBase("z"), sp.Dummy("c", integer=True)
    zs = [sp.Symbol(f"z{i}", real=True) for i in range(1, n + 1)]
    swap = {z[i + 1]: s for i, s in enumerate(zs)}
    layer = activations.get(name).layer
    outputs = [layer(z, k, c, n).doit().xreplace(swap) for k in range(1, n + 1)]
    values = _compile(zs, outputs)
    jacobian = _compile(zs, [sp.diff(out, s) for out in outputs for s in zs])
    return values, lambda *v: [jacobian(*v)[k * n:(k + 1) * n] for k in range(n)]


@cache
def _loss(name: str, n: int | None) -> Callable:
    """The loss at output width ``n`` (None: one unit): (value, dL/da list, dL/dy list)."""
    count = n or 1
    a_s = [sp.Symbol(f"a{i}", real=True) for i in range(1, count + 1)]
    y_s = [sp.Symbol(f"y{i}", real=True) for i in range(1, count + 1)]
    entry = losses.get(name)
    if n is None:
        expr = entry.expression(lambda _: a_s[0], lambda _: y_s[0], None, None)
    else:
        a, y, c = sp.IndexedBase("a"), sp.IndexedBase("y"), sp.Dummy("c", integer=True)
        swap = {**{a[i + 1]: s for i, s in enumerate(a_s)}, **{y[i + 1]: s for i, s in enumerate(y_s)}}
        expr = entry.expression(lambda i: a[i], lambda i: y[i], c, n).doit().xreplace(swap)
    function = _compile([*a_s, *y_s], [expr, *(sp.diff(expr, s) for s in [*a_s, *y_s])])

    def evaluate(a_values: list[float], y_values: list[float]):
        out = function(*a_values, *y_values)
        return out[0], out[1:1 + count], out[1 + count:]

    return evaluate


def _one_hot(rng: random.Random, count: int, hot: int) -> list[float]:
    return [float(n == hot) for n in range(count)]  # so sum_k y_k = 1 holds on every instance


def _binary(rng: random.Random, count: int, hot: int) -> list[float]:
    return [float(rng.randrange(2)) for _ in range(count)]


def _real(rng: random.Random, count: int, hot: int) -> list[float]:
    return [rng.uniform(-1.0, 1.0) for _ in range(count)]


# One example's targets for each kind of target of the loss registry (``Loss.target``, a key of
# ``losses.TARGETS``). Drawn with Python's ``random`` rather than ``Loss.sample_targets``, which
# needs NumPy: importing it would add ~0.04 s to every ``derive check``, a sixth of SymPy's import.
SAMPLERS: dict[str, Callable[[random.Random, int, int], list[float]]] = {
    "one-hot": _one_hot, "binary": _binary, "real": _real,
}


def _targets(loss: str, count: int, rng: random.Random) -> list[float]:
    """Targets of the kind the loss expects (its registry entry's ``target``)."""
    kind = _kind(loss)
    hot = rng.randrange(count)  # drawn for every kind: a seed always gives the same instances
    return SAMPLERS[kind](rng, count, hot)


def _kind(loss: str) -> str:
    kind = losses.get(loss).target
    if kind not in SAMPLERS:
        raise UsageError(f"the checker cannot draw {kind!r} targets (loss {loss!r}); "
                         f"it knows {', '.join(sorted(SAMPLERS))}")
    return kind


# --- coverage: every branch of the model occurs across the instances, whatever the seed ----------
#
# A wrong answer can agree with the model on part of its domain: -y/a for bce's dL/da wherever
# y = 1, a_1 - 1 for ce's dL/dz_1 wherever class 1 is the target, 1 for relu'(z) wherever z > 0.
# So the instances are drawn together, as a plan: each unit's target takes every value its kind
# has (``PLANS``, by kind of target: 0 and 1 for binary labels; for one-hot rows, each position is
# the hot one on some instance), and each unit's argument to an activation with kinks (``Activation.kinks``)
# falls on every side of every kink. Where the drawn sizes leave too few instances for that,
# instances are added (copies of the widest sizes, with their own random values).


@dataclass
class Cover:
    """What one instance must show: its targets (None: draw them) and, per layer position, the
    side (0 .. len(kinks)) of each unit's pre-activation relative to its activation's kinks."""

    targets: list[float] | None = None
    sides: dict[int, dict[tuple[int, ...], int]] = field(default_factory=dict)


def _spread(rng: random.Random, cases: int, count: int) -> list[int]:
    """``count`` draws from ``range(cases)`` in which every case occurs (``count >= cases``)."""
    drawn = list(range(cases)) + [rng.randrange(cases) for _ in range(count - cases)]
    rng.shuffle(drawn)
    return drawn


def _per_unit(rng: random.Random, widths: list[int], cases: int) -> list[list[int]]:
    """Per instance, a case for each of its units such that each unit position takes every case
    across the instances that have it."""
    plan: list[list[int]] = [[] for _ in widths]
    for position in range(max(widths)):
        having = [n for n, w in enumerate(widths) if w > position]
        for n, case in zip(having, _spread(rng, cases, len(having)), strict=True):
            plan[n].append(case)
    return plan


def _per_unit_needs(widths: list[int], cases: int) -> bool:
    """Whether ``_per_unit`` can cover: the widest position is on at least ``cases`` instances."""
    return sum(w == max(widths) for w in widths) >= cases


def _hot_positions(rng: random.Random, widths: list[int]) -> list[int]:
    """A hot position per instance such that every position up to the widest is hot somewhere.

    Positions are placed from the widest down, each on a random instance that has it and has none
    yet; the sets of instances having a position are nested, so any such choice succeeds when
    ``_hot_needs`` holds (Hall's condition).
    """
    hot: list[int | None] = [None] * len(widths)
    for position in range(max(widths) - 1, -1, -1):
        free = [n for n, w in enumerate(widths) if w > position and hot[n] is None]
        hot[rng.choice(free)] = position
    return [rng.randrange(w) if h is None else h for h, w in zip(hot, widths, strict=True)]


def _hot_needs(widths: list[int]) -> bool:
    top = max(widths)
    return all(sum(w > p for w in widths) >= top - p for p in range(top))


def _binary_plan(rng: random.Random, widths: list[int]) -> list[list[float]]:
    return [[float(c) for c in cases] for cases in _per_unit(rng, widths, 2)]


def _one_hot_plan(rng: random.Random, widths: list[int]) -> list[list[float]]:
    return [_one_hot(rng, w, hot) for w, hot in zip(widths, _hot_positions(rng, widths), strict=True)]


def _real_plan(rng: random.Random, widths: list[int]) -> list[list[float]]:
    return [_real(rng, w, 0) for w in widths]


# Per kind of target: (whether the output widths of the instances allow covering, the plan).
PLANS: dict[str, tuple[Callable[[list[int]], bool],
                       Callable[[random.Random, list[int]], list[list[float]]]]] = {
    "binary": (lambda widths: _per_unit_needs(widths, 2), _binary_plan),
    "one-hot": (_hot_needs, _one_hot_plan),
    "real": (lambda widths: True, _real_plan),
}


def _coverable(table: ModelTable, sets: list[dict[sp.Symbol, int]]) -> sp.Expr | None:
    """A width that the size sets leave too few instances to cover, or None."""
    names = table.names
    output = names.output.width
    if not PLANS[_kind(names.spec.loss)][0]([int(output.subs(s)) for s in sets]):
        return output
    for layer in names.layers:
        kinks = layer.entry.kinks
        if kinks and not _per_unit_needs([int(layer.width.subs(s)) for s in sets], len(kinks) + 1):
            return layer.width
    return None


def _covers(table: ModelTable, sets: list[dict[sp.Symbol, int]], rng: random.Random) -> list[Cover]:
    names = table.names
    widths = [int(names.output.width.subs(s)) for s in sets]
    covers = [Cover(targets) for targets in PLANS[_kind(names.spec.loss)][1](rng, widths)]
    for position, layer in enumerate(names.layers):
        kinks = layer.entry.kinks
        if not kinks:
            continue
        sizes = [int(layer.width.subs(s)) for s in sets]
        for cover, sides, size in zip(covers, _per_unit(rng, sizes, len(kinks) + 1), sizes, strict=True):
            keys = [(i,) for i in range(1, size + 1)] if layer.index is not None else [()]
            cover.sides[position] = dict(zip(keys, sides, strict=True))
    return covers


class ModelInstance:
    """The model at concrete sizes with random parameters and inputs; values and derivatives.

    ``value(e)`` is the element's value from the model's forward pass; ``derivative(num, den)``
    pushes a unit tangent on ``den`` forward through the model (forward-mode differentiation),
    using at each step SymPy's derivative of the registry's definition (activation, loss). Every
    partial derivative between two model quantities thus comes from the model itself, never from
    the chain-rule engine's results.
    """

    def __init__(self, table: ModelTable, sizes: dict[sp.Symbol, int], rng: random.Random,
                 cover: Cover | None = None, loss_side: int = 0):
        self.table = table
        self.names = table.names
        self.sizes = sizes
        self._units: dict[tuple, list[tuple[int, ...]]] = {}
        self._sizes: dict[sp.Expr, int] = {}
        self._tape: dict[Element, list[tuple[Element, float]]] = {}
        self._adjoint: dict[Element, float] | None = None
        # Each example's leading index: none for a model of one example, (n,) over a batch; for
        # the head of a recurrent model over every step, (t,) (the head runs once per step).
        self.recurrent = table.recurrent
        self.convs = table.convs
        self.steps = int(self.recurrent.steps.subs(sizes)) if self.recurrent is not None else 0
        self.examples: list[tuple[int, ...]] = [()]
        if table.batch:
            self.examples = [(n,) for n in range(1, sizes[BATCH_SIZE] + 1)]
        elif self.recurrent is not None and self.recurrent.outputs == "all":
            self.examples = [(t,) for t in range(1, self.steps + 1)]
        cover = cover or Cover()
        self.values = self._sample(rng, cover.targets)
        drawn = set(self.values)
        for layer in self.names.layers:  # a norm's epsilon: the model's number, not drawn
            if layer.norm:
                self.values[(layer.eps.name, ())] = layer.eps.value
        self._place(cover.sides, rng)
        self._place_loss(loss_side, rng)
        self._drawn = {e: v for e, v in self.values.items() if e in drawn}  # drawn, not computed
        self._run(self.values, None)
        self._tangents: dict[tuple[Element, int | None], dict[Element, float]] = {}

    def size(self, expr: sp.Expr) -> int:
        """A size expression (``K``, ``C - 1``) at this instance's sizes."""
        if expr not in self._sizes:
            self._sizes[expr] = int(expr.subs(self.sizes))
        return self._sizes[expr]

    def _place(self, sides: dict[int, dict[tuple[int, ...], int]], rng: random.Random) -> None:
        """Shift biases so that each unit's pre-activation lies on the side of its activation's
        kinks that ``sides`` asks for (layer by layer: a shift changes the layers after it).
        Under a norm the activation reads z-hat, and its shift beta moves that unit alone."""
        for position, layer in enumerate(self.names.layers):
            if position not in sides or not (layer.bias or layer.norm):
                continue
            kinks = layer.entry.kinks
            shift = layer.beta if layer.norm else layer.b
            self._run(self.values, None)
            for k, side in sides[position].items():  # the first example of a batch
                z = self.values[(layer.act_input.name, self.examples[0] + k)]
                low = kinks[side - 1] if side > 0 else -math.inf
                high = kinks[side] if side < len(kinks) else math.inf
                if low + KINK_MARGIN <= z <= high - KINK_MARGIN:
                    continue
                if side == 0:
                    target = high - rng.uniform(2, 10) * KINK_MARGIN
                elif side == len(kinks):
                    target = low + rng.uniform(2, 10) * KINK_MARGIN
                else:
                    target = rng.uniform(low + KINK_MARGIN, high - KINK_MARGIN)
                self.values[(shift.name, k)] += target - z

    def _place_loss(self, side: int, rng: random.Random) -> None:
        """Shift the output biases so that every output's loss margin (``Loss.margins``) is
        negative (``side`` 0) or positive (1), at least ``KINK_MARGIN`` away from its kink."""
        margins = losses.get(self.names.spec.loss).margins
        out = self.names.output
        if margins is None or not out.bias:
            return
        self._run(self.values, None)
        outputs = self.units(out.width, out.index)
        first = self.examples[0]  # the first example of a batch
        for position, k in enumerate(outputs):
            a = [self.values[(out.a.name, first + u)] for u in outputs]
            y = [self.values[(self.names.y.name, first + u)] for u in outputs]
            margin = margins(a, y)[position]
            if margin is None:
                continue
            step = list(a)
            step[position] += 1e-3
            moved = margins(step, y)[position]
            assert moved is not None  # a unit's margin exists whatever its value
            slope = (moved - margin) / 1e-3  # the margins are linear in a, away from their kink
            want = (1 if side else -1) * rng.uniform(2, 10) * KINK_MARGIN
            if slope:
                self.values[(out.b.name, k)] += (want - margin) / slope  # identity output: a = z
                self._run(self.values, None)

    def _sample(self, rng: random.Random, targets: list[float] | None = None) -> dict[Element, float]:
        names = self.names
        base: dict[Element, float] = {}
        if self.recurrent is not None:
            self._sample_recurrent(rng, base)
        elif self.convs:
            self._sample_conv(rng, base)
        else:
            for ex in self.examples:
                for j in self.units(names.input_width, names.input_index):
                    base[(names.x.name, ex + j)] = rng.uniform(-1.5, 1.5)
        for layer in names.layers:
            for k in self.units(layer.width, layer.index):
                if layer.bias:
                    base[(layer.b.name, k)] = rng.uniform(-1.0, 1.0)
                fan_in = self._head_inputs() if layer is names.layers[0] else self.units(layer.prev_width,
                                                                                         layer.prev_index)
                for j in fan_in:
                    base[(layer.w.name, k + j)] = rng.uniform(-1.5, 1.5)
                if layer.norm:  # gamma away from 0, so that no unit's normalised value is lost
                    base[(layer.gamma.name, k)] = rng.uniform(0.5, 1.5)
                    base[(layer.beta.name, k)] = rng.uniform(-1.0, 1.0)
        outputs = self.units(names.output.width, names.output.index)
        for number, ex in enumerate(self.examples):  # the cover's targets for the first example
            drawn = targets if targets is not None and number == 0 else None
            drawn = drawn if drawn is not None else _targets(names.spec.loss, len(outputs), rng)
            for k, value in zip(outputs, drawn, strict=True):
                base[(names.y.name, ex + k)] = value
        if names.l2 is not None:  # the weight-decay strength: its value, or drawn for a symbol
            l2 = rng.uniform(0.1, 1.0) if isinstance(names.l2, sp.Symbol) else float(names.l2)
            base[(self.table.l2_key, ())] = l2
        return base

    def _sample_recurrent(self, rng: random.Random, base: dict[Element, float]) -> None:
        """The input sequence x_{tm} and the recurrent layer's W, U and b."""
        r = self.recurrent
        assert r is not None
        states, features = self.units(r.width, r.k), self.units(r.inputs, r.m)
        for t in range(1, self.steps + 1):
            for m in features:
                base[(r.x.name, (t, *m))] = rng.uniform(-1.5, 1.5)
        for k in states:
            if r.bias:
                base[(r.b.name, k)] = rng.uniform(-1.0, 1.0)
            for j in states:
                base[(r.w.name, k + j)] = rng.uniform(-1.0, 1.0)
            for m in features:
                base[(r.u.name, k + m)] = rng.uniform(-1.0, 1.0)

    def _recur(self, values, put) -> None:
        """The recurrent layer's forward pass, written out here from its definition:
        z_{tk} = sum_j w_kj h_{t-1,j} + sum_m u_km x_tm + b_k, h_tk = f(z_tk), h_0 = 0."""
        r = self.recurrent
        assert r is not None
        states, features = self.units(r.width, r.k), self.units(r.inputs, r.m)
        f, fprime = elementwise(r.activation, r.parameters)
        w, u, b, x, h, z = r.w.name, r.u.name, r.b.name, r.x.name, r.h.name, r.z.name
        for t in range(1, self.steps + 1):
            before = [j for j in states if t > 1]  # h_0 = 0
            for k in states:
                pairs = [*(((w, k + j), (h, (t - 1, *j))) for j in before),
                         *(((u, k + m), (x, (t, *m))) for m in features)]
                put((z, (t, *k)), *_affine(values, pairs, (b, k) if r.bias else None))
            for k in states:
                zv = values[(z, (t, *k))]
                put((h, (t, *k)), f(zv), [((z, (t, *k)), fprime(zv))])

    def _input(self, ex: tuple[int, ...], j: tuple[int, ...]) -> Element:
        """What the first dense layer reads at unit j: x (of example ``ex``), a recurrent layer's
        state at the head's step (every step t = ``ex``, or the last), or the last conv layer's
        output a_{kt} (j = (k, t), flattened)."""
        if self.convs:
            return self.convs[-1].a.name, ex + j
        if self.recurrent is None:
            return self.names.x.name, ex + j
        step = ex if ex else (self.steps,)
        return self.recurrent.h.name, step + j

    def _head_inputs(self) -> list[tuple[int, ...]]:
        """The first dense layer's inputs j: units, or a conv output's (channel, positions)."""
        if not self.convs:
            return self.units(self.names.input_width, self.names.input_index)
        last = self.convs[-1]
        return self._grid((last.channels, *last.out_sizes))

    def _grid(self, dims: tuple[sp.Expr, ...]) -> list[tuple[int, ...]]:
        """Every index tuple over ``dims`` at this instance's sizes (from 1)."""
        key = ("grid", dims)
        if key not in self._units:
            self._units[key] = list(itertools.product(*(range(1, self.size(d) + 1) for d in dims)))
        return self._units[key]

    def _sample_conv(self, rng: random.Random, base: dict[Element, float]) -> None:
        """The input x_{c,t...} and each conv layer's W and b (weights within 3/sqrt(fan-in))."""
        first = self.convs[0]
        for ex in self.examples:
            for j in self._grid((first.in_channels, *first.in_sizes)):
                base[(first.prev.name, ex + j)] = rng.uniform(-1.5, 1.5)
        for layer in self.convs:
            weights = self._grid((layer.channels, layer.in_channels, *layer.kernel))
            bound = 3.0 / math.sqrt(max(1, len(weights) // self.size(layer.channels)))  # by fan-in
            for w in weights:
                base[(layer.w.name, w)] = rng.uniform(-bound, bound)
            if layer.bias:
                for k in self._grid((layer.channels,)):
                    base[(layer.b.name, k)] = rng.uniform(-1.0, 1.0)

    def _convolve(self, values, put) -> None:
        """Each conv layer's forward pass, written out here from its definition:
        z_{k,t} = sum_c sum_r w_{k,c,r} a_{c,t+r-1} + b_k (every spatial axis alike), a = f(z)."""
        for layer in self.convs:
            f, fprime = elementwise(layer.activation, layer.parameters)
            w, b, prev, z, a = layer.w.name, layer.b.name, layer.prev.name, layer.z.name, layer.a.name
            taps = self._grid((layer.in_channels, *layer.kernel))  # (c, r...) of one output
            for ex in self.examples:
                for out in self._grid((layer.channels, *layer.out_sizes)):
                    k, at = out[:1], out[1:]
                    pairs = [((w, k + tap), (prev, ex + tap[:1] + tuple(t + r - 1 for t, r in
                                                                          zip(at, tap[1:], strict=True))))
                             for tap in taps]
                    put((z, ex + out), *_affine(values, pairs, (b, k) if layer.bias else None), ex)
                    zv = values[(z, ex + out)]
                    put((a, ex + out), f(zv), [((z, ex + out), fprime(zv))], ex)

    def units(self, width: sp.Expr, idx) -> list[tuple[int, ...]]:
        """``units`` at this instance's sizes, worked out once (SymPy's ``subs`` is slow)."""
        key = (width, idx)
        if key not in self._units:
            self._units[key] = units(width, idx, self.sizes)
        return self._units[key]

    def inputs(self) -> dict[str, Any]:
        """Inputs, targets and parameters by the model's Python names, as nested lists (row-major,
        from index 1): what a reader needs to recompute a counterexample."""
        names = self.names
        order = [self.table.quantities[("x", None)].key, names.y.name,
                 *(q.name for q in (self.recurrent.params if self.recurrent is not None else ())),
                 *(q.name for layer in self.convs for q in layer.params),
                 *(q.name for layer in names.layers for q in layer.params), self.table.l2_key]
        shaped: dict[str, Any] = {}
        for (key, idx), value in sorted(self._drawn.items(), key=lambda item: order.index(item[0][0])):
            if not idx:
                shaped[key] = value
                continue
            row: list[Any] = shaped.setdefault(key, [])
            for i in idx[:-1]:  # row-major: a weight's row k, then its entries j in order
                while len(row) < i:
                    row.append([])
                row = row[i - 1]
            row.append(value)
        return shaped

    def _run(self, values: dict[Element, float], seed: Element | None,
             example: int | None = None) -> dict[Element, float]:
        """The forward pass: fills ``values``; returns tangents of a unit change of ``seed``.

        Every computed element is ``put`` with its local partial derivatives (by each element it
        is computed from). With ``seed`` given, they push a tangent forward: ``seed`` is treated
        as an independent variable, its own tangent 1 and whatever it is computed from ignored,
        as in d num / d seed; with ``example`` too, the seed (a parameter) moves in that example's
        forward pass only. Without a seed they are kept (``_tape``) for ``_adjoints``.
        """
        tan: dict[Element, float] = {seed: 1.0} if seed is not None and example is None else {}
        tape: dict[Element, list[tuple[Element, float]]] = {}

        def put(element: Element, value: float, partials: list[tuple[Element, float]],
                ex: tuple[int, ...] = ()) -> None:
            values[element] = value
            if seed is None:
                tape[element] = partials
            elif element != seed or example is not None:
                tan[element] = sum(d * param(source, ex) for source, d in partials)

        def param(element: Element, ex: tuple[int, ...]) -> float:
            """An element's tangent in the forward pass of example ``ex``."""
            if example is not None and element == seed:
                return 1.0 if ex == (example,) else 0.0
            return tan.get(element, 0.0)

        names = self.names
        if self.recurrent is not None:
            self._recur(values, put)
        if self.convs:
            self._convolve(values, put)
        prev, prev_units = None, self._head_inputs()
        for layer in names.layers:
            layer_units = self.units(layer.width, layer.index)
            w, b = layer.w.name, layer.b.name
            for ex in self.examples:
                reads = {j: self._input(ex, j) if prev is None else (prev, ex + j) for j in prev_units}
                for k in layer_units:  # forward.pre_activation: z_k = sum_j w_kj a_j + b_k
                    pairs = [((w, k + j), reads[j]) for j in prev_units]
                    put((layer.z.name, ex + k), *_affine(values, pairs, (b, k) if layer.bias else None), ex)
            if layer.norm:
                self._normalise(layer, layer_units, values, put)
            source = layer.act_input.name  # z, or zhat under a norm
            for ex in self.examples:
                sources = [(source, ex + k) for k in layer_units]
                for k, value, partials in self._activate(layer, layer_units, sources, values):
                    if layer.skipped is not None:  # a residual connection: + a^(N)_k (or x_k)
                        value += values[(layer.skipped.name, ex + k)]
                        partials = [*partials, ((layer.skipped.name, ex + k), 1.0)]
                    put((layer.a.name, ex + k), value, partials, ex)
            prev, prev_units = layer.a.name, layer_units
        assert prev is not None  # the output layer's activation
        width = None if names.output.index is None else len(prev_units)
        for ex in self.examples:
            outputs = [(prev, ex + k) for k in prev_units]
            targets = [(names.y.name, ex + k) for k in prev_units]
            loss, d_a, d_y = _loss(names.spec.loss, width)([values[a] for a in outputs],
                                                           [values[y] for y in targets])
            partials = [*zip(outputs, d_a, strict=True), *zip(targets, d_y, strict=True)]
            put((names.L.name, ex), loss, partials, ex)
        if self.examples != [()]:  # the batch's loss, or the steps': what the errors differentiate
            losses_ = [(names.L.name, ex) for ex in self.examples]
            put((names.L.name, ()), math.fsum(values[e] for e in losses_), [(e, 1.0) for e in losses_])
        if names.l2 is not None:
            self._decay(values, put)
        if seed is None:
            self._tape, self._adjoint = tape, None
        return tan

    def _normalise(self, layer, layer_units, values, put) -> None:
        """A norm's forward pass, written out here from its definition: mu, sigma^2 (biased),
        z-tilde = (z - mu) / sqrt(sigma^2 + eps), z-hat = gamma z-tilde + beta; the statistics
        over each example's units (layer norm), or over the examples for each unit (batch norm).
        Each value is read back after ``put`` (a seed keeps its own)."""
        if forward.over_examples(layer):  # per unit k: the batch's z_{nk}
            groups = [(k, [ex + k for ex in self.examples]) for k in layer_units]
        else:  # per example: its units
            groups = [(ex, [ex + k for k in layer_units]) for ex in self.examples]
        eps = (layer.eps.name, ())
        skip = len(self.examples[0])  # where a position's unit index starts
        for where, positions in groups:
            n = len(positions)
            zs = [(layer.z.name, p) for p in positions]
            mu_e, var_e = (layer.mu.name, where), (layer.var.name, where)
            put(mu_e, math.fsum(values[z] for z in zs) / n, [(z, 1 / n) for z in zs])
            mu = values[mu_e]
            centred = [values[z] - mu for z in zs]
            by_z = [(z, 2 * c / n) for z, c in zip(zs, centred, strict=True)]
            put(var_e, math.fsum(c ** 2 for c in centred) / n, [*by_z, (mu_e, -2 * math.fsum(centred) / n)])
            root = math.sqrt(values[var_e] + values[eps])
            for p, z in zip(positions, zs, strict=True):
                zt_e, centre = (layer.ztilde.name, p), values[z] - mu
                dvar = -centre / (2 * root ** 3)
                put(zt_e, centre / root, [(z, 1 / root), (mu_e, -1 / root), (var_e, dvar), (eps, dvar)])
                ex, k = p[:skip], p[skip:]
                gamma, beta = (layer.gamma.name, k), (layer.beta.name, k)
                put((layer.zhat.name, p), values[gamma] * values[zt_e] + values[beta],
                    [(gamma, values[zt_e]), (zt_e, values[gamma]), (beta, 1.0)], ex)

    def _decay(self, values, put) -> None:
        """The weight-decay term Omega = (lambda / 2) sum of every weight squared (not in L: it is
        added once per batch)."""
        weights = [(key, value) for key, value in values.items()
                   if any(key[0] == layer.w.name for layer in self.names.layers)]
        l2 = (self.table.l2_key, ())
        squares = math.fsum(value ** 2 for _, value in weights)
        put((self.names.decay.name, ()), values[l2] / 2 * squares,
            [*((key, values[l2] * value) for key, value in weights), (l2, squares / 2)])

    def _activate(self, layer, layer_units, sources: list[Element], values):
        """Each unit's (index, value, partials by ``sources``) of the layer's activation."""
        zs = [values[e] for e in sources]
        if layer.entry.elementwise:
            f, fprime = elementwise(layer.activation, layer.parameters)
            return [(k, f(z), [(e, fprime(z))]) for k, z, e in zip(layer_units, zs, sources, strict=True)]
        outputs, jacobian = _vector(layer.activation, len(zs))
        rows = jacobian(*zs)
        return [(k, v, list(zip(sources, row, strict=True)))
                for k, v, row in zip(layer_units, outputs(*zs), rows, strict=True)]

    def _adjoints(self) -> dict[Element, float]:
        """dL/d(every element) by one reverse sweep over the value pass's partials (each element
        an independent variable, as in ``derivative``)."""
        if self._adjoint is None:
            adjoint: dict[Element, float] = {(self.names.L.name, ()): 1.0}
            for element in reversed(self._tape):
                weight = adjoint.get(element)
                if weight:
                    for source, d in self._tape[element]:
                        adjoint[source] = adjoint.get(source, 0.0) + weight * d
            self._adjoint = adjoint
        return self._adjoint

    def value(self, element: Element) -> float:
        return self.values[element]

    def derivative(self, num: Element, den: Element, example: int | None = None) -> float:
        """d num / d den through the model (0 when num does not depend on den); with ``example``,
        den (a parameter) moves in that example's forward pass only."""
        if num == (self.names.L.name, ()) and example is None:
            return self._adjoints().get(den, 0.0)
        key = (den, example)
        if key not in self._tangents:
            self._tangents[key] = self._run(dict(self.values), den, example)
        return self._tangents[key].get(num, 0.0)


def _affine(values: dict[Element, float], pairs: list[tuple[Element, Element]],
            bias: Element | None) -> tuple[float, list[tuple[Element, float]]]:
    """``sum w a (+ b)`` over (weight, input) element pairs: its value and local partials."""
    value = math.fsum(values[w] * values[a] for w, a in pairs) + (values[bias] if bias else 0.0)
    partials = [*((w, values[a]) for w, a in pairs), *((a, values[w]) for w, a in pairs)]
    return value, partials + ([(bias, 1.0)] if bias else [])


def draw(table: ModelTable, rng: random.Random, count: int = INSTANCES) -> list[ModelInstance]:
    """At least ``count`` instances at random sizes that together cover every branch of the model
    (see ``Cover``); ``UsageError`` if the model is too large to evaluate."""
    sets = _size_sets(table, rng, count)
    while (width := _coverable(table, sets)) is not None:  # too few instances at the widest size
        sets.append(dict(max(sets, key=lambda s: int(width.subs(s)))))
    covers = _covers(table, sets, rng)
    # Instances with the same labels fall on alternate sides of a loss's kinks (Loss.margins), so
    # that each label sees both branches: the branch is not told by the label alone.
    # A label seen once gets a second instance (same sizes and targets) for the other side.
    labelled = _kind(table.names.spec.loss) != "real"
    kinked = losses.get(table.names.spec.loss).margins is not None
    plan = list(zip(sets, covers, strict=True))
    if kinked and labelled:
        keys = [tuple(cover.targets or ()) for _, cover in plan]
        plan += [plan[i] for i, key in enumerate(keys) if keys.count(key) == 1]
    seen: dict[object, int] = {}
    instances = []
    for sizes, cover in plan:
        key = tuple(cover.targets) if labelled and cover.targets is not None else None
        seen[key] = seen.get(key, -1) + 1
        instances.append(ModelInstance(table, sizes, rng, cover, loss_side=seen[key] % 2))
    return instances


def _size_sets(table: ModelTable, rng: random.Random, count: int) -> list[dict[sp.Symbol, int]]:
    symbols = table.size_symbols()
    low, high = SIZE_RANGE
    values = list(range(low, max(high, low + len(symbols) - 1) + 1))
    sets = []
    for n in range(count):
        # The first two instances give every size a different value, so that an index running
        # over the wrong set cannot pass by coincidence. A convolution's output must have a
        # position (kernel <= input): sizes that leave none are drawn again.
        for _ in range(100):
            if n < 2:
                chosen = rng.sample(values, len(symbols))
            else:
                chosen = [rng.choice(values) for _ in symbols]
            sizes = dict(zip(symbols, chosen, strict=True))
            if all(int(out.subs(sizes)) >= 1 for layer in table.convs for out in layer.out_sizes):
                break
        else:
            raise UsageError(f"model {table.names.spec.name}: no sizes from {low} to {values[-1]} "
                             "fit its kernels to its inputs")
        sets.append(sizes)
    for sizes in sets:
        _check_size(table, sizes)
    return sets


def _check_size(table: ModelTable, sizes: dict[sp.Symbol, int]) -> None:
    names = table.names
    if table.convs:  # the head reads the conv output, whose width follows from the conv sizes
        last = table.convs[-1]
        flat = sp.Mul(last.channels, *last.out_sizes)
        widths = [int(w.subs(sizes)) for w in (flat, *names.widths[1:])]
        widths[0] = max(widths[0], 1)
    else:
        widths = [int(w.subs(sizes)) for w in names.widths]
    count = sum(a * b + b for a, b in itertools.pairwise(widths))
    for layer in table.convs:
        count += int(sp.Mul(layer.channels, layer.in_channels, *layer.kernel).subs(sizes))
    if count > MAX_ELEMENTS:
        raise UsageError(f"model {names.spec.name} is too large to check by evaluation "
                         f"({count} parameters at concrete sizes; the limit is {MAX_ELEMENTS})")
