"""Random model-consistent instances and the model's own numeric derivatives.

``ModelInstance(table, sizes, rng)`` draws parameters and inputs at concrete sizes, targets of the
kind the loss registry names (``Loss.target``: one-hot for cross-entropy, so its identity
sum_k y_k = 1 holds), and runs the forward pass, so every intermediate is the model's.
``derivative(num, den)`` is forward-mode differentiation through that pass. Every formula comes
from the registries (``activations``, ``losses``), compiled with ``lambdify``; derivatives of them
are SymPy's ``diff``, never the chain-rule engine's results, so the grader is independent of what
it grades.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from functools import cache
from typing import Any

import sympy as sp

from .. import activations, losses
from ..errors import UsageError
from .quantities import ModelTable

INSTANCES = 4
SIZE_RANGE = (2, 4)
MAX_ELEMENTS = 2000  # model parameters at the sampled sizes (a spec with huge concrete widths)

Element = tuple[str, tuple[int, ...]]  # (quantity key, concrete indices)


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
    kind = losses.get(loss).target
    if kind not in SAMPLERS:
        raise UsageError(f"the checker cannot draw {kind!r} targets (loss {loss!r}); "
                         f"it knows {', '.join(sorted(SAMPLERS))}")
    hot = rng.randrange(count)  # drawn for every kind: a seed always gives the same instances
    return SAMPLERS[kind](rng, count, hot)


class ModelInstance:
    """The model at concrete sizes with random parameters and inputs; values and derivatives.

    ``value(e)`` is the element's value from the model's forward pass; ``derivative(num, den)``
    pushes a unit tangent on ``den`` forward through the model (forward-mode differentiation),
    using at each step SymPy's derivative of the registry's definition (activation, loss). Every
    partial derivative between two model quantities thus comes from the model itself, never from
    the chain-rule engine's results.
    """

    def __init__(self, table: ModelTable, sizes: dict[sp.Symbol, int], rng: random.Random):
        self.table = table
        self.names = table.names
        self.sizes = sizes
        self._units: dict[tuple, list[tuple[int, ...]]] = {}
        self.values = self._sample(rng)
        self._drawn = dict(self.values)  # what was drawn, not computed
        self._run(self.values, None)
        self._tangents: dict[Element, dict[Element, float]] = {}
        self._sizes: dict[sp.Expr, int] = {}

    def size(self, expr: sp.Expr) -> int:
        """A size expression (``K``, ``C - 1``) at this instance's sizes."""
        if expr not in self._sizes:
            self._sizes[expr] = int(expr.subs(self.sizes))
        return self._sizes[expr]

    def _sample(self, rng: random.Random) -> dict[Element, float]:
        names = self.names
        base: dict[Element, float] = {}
        for j in self.units(names.input_width, names.input_index):
            base[(names.x.name, j)] = rng.uniform(-1.5, 1.5)
        for layer in names.layers:
            for k in self.units(layer.width, layer.index):
                if layer.bias:
                    base[(layer.b.name, k)] = rng.uniform(-1.0, 1.0)
                for j in self.units(layer.prev_width, layer.prev_index):
                    base[(layer.w.name, k + j)] = rng.uniform(-1.5, 1.5)
        outputs = self.units(names.output.width, names.output.index)
        for k, value in zip(outputs, _targets(names.spec.loss, len(outputs), rng), strict=True):
            base[(names.y.name, k)] = value
        return base

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
        order = [names.x.name, names.y.name, *(q.name for layer in names.layers for q in layer.params)]
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

    def _run(self, values: dict[Element, float], seed: Element | None) -> dict[Element, float]:
        """The forward pass: fills ``values``; returns tangents of a unit change of ``seed``.

        With ``seed`` given, ``seed`` is treated as an independent variable: its own tangent is 1
        and whatever it is computed from is ignored, as in d num / d seed.
        """
        tan: dict[Element, float] = {seed: 1.0} if seed is not None else {}

        def put(element: Element, value: float, tangent: float) -> None:
            values[element] = value
            if element != seed:
                tan[element] = tangent

        names = self.names
        prev, prev_units = names.x.name, self.units(names.input_width, names.input_index)
        for layer in names.layers:
            layer_units = self.units(layer.width, layer.index)
            w, a_prev, b = layer.w.name, prev, layer.b.name
            for k in layer_units:  # forward.pre_activation: z_k = sum_j w_kj a_j + b_k
                value = math.fsum(values[(w, k + j)] * values[(a_prev, j)] for j in prev_units)
                tangent = sum(tan.get((w, k + j), 0.0) * values[(a_prev, j)]
                              + values[(w, k + j)] * tan.get((a_prev, j), 0.0) for j in prev_units)
                put((layer.z.name, k), value + values.get((b, k), 0.0), tangent + tan.get((b, k), 0.0))
            zs = [values[(layer.z.name, k)] for k in layer_units]
            dz = [tan.get((layer.z.name, k), 0.0) for k in layer_units]
            for k, value, tangent in self._activate(layer, layer_units, zs, dz):
                put((layer.a.name, k), value, tangent)
            prev, prev_units = layer.a.name, layer_units
        a_s = [values[(prev, k)] for k in prev_units]
        y_s = [values[(names.y.name, k)] for k in prev_units]
        width = None if names.output.index is None else len(prev_units)
        loss, d_a, d_y = _loss(names.spec.loss, width)(a_s, y_s)
        tangent = sum(g * tan.get((prev, k), 0.0) + h * tan.get((names.y.name, k), 0.0)
                      for g, h, k in zip(d_a, d_y, prev_units, strict=True))
        put((names.L.name, ()), loss, tangent)
        return tan

    def _activate(self, layer, layer_units, zs: list[float], dz: list[float]):
        if layer.entry.elementwise:
            f, fprime = elementwise(layer.activation, layer.parameters)
            return [(k, f(z), fprime(z) * d) for k, z, d in zip(layer_units, zs, dz, strict=True)]
        values, jacobian = _vector(layer.activation, len(zs))
        rows = jacobian(*zs)
        return [(k, v, sum(j * d for j, d in zip(row, dz, strict=True)))
                for k, v, row in zip(layer_units, values(*zs), rows, strict=True)]

    def value(self, element: Element) -> float:
        return self.values[element]

    def derivative(self, num: Element, den: Element) -> float:
        """d num / d den through the model (0 when num does not depend on den)."""
        if den not in self._tangents:
            self._tangents[den] = self._run(dict(self.values), den)
        return self._tangents[den].get(num, 0.0)


def draw(table: ModelTable, rng: random.Random, count: int = INSTANCES) -> list[ModelInstance]:
    """``count`` instances at random sizes; ``UsageError`` if the model is too large to evaluate."""
    return [ModelInstance(table, sizes, rng) for sizes in _size_sets(table, rng, count)]


def _size_sets(table: ModelTable, rng: random.Random, count: int) -> list[dict[sp.Symbol, int]]:
    symbols = table.size_symbols()
    low, high = SIZE_RANGE
    values = list(range(low, max(high, low + len(symbols) - 1) + 1))
    sets = []
    for n in range(count):
        # The first two instances give every size a different value, so that an index running
        # over the wrong set cannot pass by coincidence.
        if n < 2:
            chosen = rng.sample(values, len(symbols))
        else:
            chosen = [rng.choice(values) for _ in symbols]
        sets.append(dict(zip(symbols, chosen, strict=True)))
    for sizes in sets:
        _check_size(table, sizes)
    return sets


def _check_size(table: ModelTable, sizes: dict[sp.Symbol, int]) -> None:
    names = table.names
    widths = [int(w.subs(sizes)) for w in names.widths]
    count = sum(a * b + b for a, b in itertools.pairwise(widths))
    if count > MAX_ELEMENTS:
        raise UsageError(f"model {names.spec.name} is too large to check by evaluation "
                         f"({count} parameters at concrete sizes; the limit is {MAX_ELEMENTS})")
