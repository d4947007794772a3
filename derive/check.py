"""Grade hand-written LaTeX equations against a model: ``derive check``.

An equation is read by ``latex_parse`` (a grammar; user text is never evaluated as code), its
names are mapped onto the model's quantities through ``naming``, and its indices are bound: the
left side's free indices range over the quantities they index, every index on the right must be
bound by the left side or by a sum, and a sum may not run past the quantities it indexes. Both
sides are then evaluated at random *model-consistent* instances (``ModelInstance``: random sizes,
parameters and inputs, every intermediate computed by the model, one-hot targets), for every value
of the free indices. Partial derivatives mean the model's own, from SymPy's ``diff`` of the
model's forward pass at those concrete sizes. A wrong equation gets a counterexample.

Verdicts: ``correct``, ``incorrect`` (with the reason) and ``error`` (unreadable or over a limit).
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sympy as sp

from . import activations, losses
from .errors import UsageError
from .latex_parse import (
    Add,
    Cases,
    Div,
    Equation,
    Func,
    Group,
    Kronecker,
    LatexError,
    Mul,
    Name,
    Neg,
    Node,
    Num,
    Partial,
    Pow,
    Sum,
    clean,
    parse_equation,
)
from .naming import ModelNames, latex_name
from .naming import names as model_names
from .spec import ModelSpec, resolve

TIME_LIMIT = 5.0  # seconds per equation
MAX_FILE_BYTES = 1_000_000
MAX_EQUATIONS = 500
MAX_EXPONENT = 100  # |literal exponent|; larger ones only overflow
MAX_SUM_TERMS = 1000
MAX_ELEMENTS = 2000  # model elements at the sampled sizes (a spec with huge concrete widths)
MAX_POINTS = 32  # free-index assignments per instance
INSTANCES = 4
SIZE_RANGE = (2, 4)
RTOL, ATOL = 1e-7, 1e-10


class Wrong(Exception):
    """The equation is readable but incorrect; the message says why."""


class Unreadable(Exception):
    """The equation cannot be checked (parse error, limit exceeded); the message says why."""


class Undefined(Exception):
    """A side has no real value at this point (log of a negative number, overflow)."""


# --- the model's quantities ---------------------------------------------------------------------


@dataclass(frozen=True)
class Quantity:
    """A model quantity: its Python name (``W1``), dimensions (sizes) and typeset name."""

    key: str
    kind: str  # x, y, L, z, a, w, b, delta
    layer: int | None
    dims: tuple[sp.Expr, ...]

    @property
    def latex(self) -> str:
        return latex_name(self.key)


@dataclass(frozen=True)
class Ref:
    """A resolved name: a quantity element (indices: letters or numbers), a size, or e."""

    quantity: Quantity | None
    indices: tuple = ()
    size: sp.Symbol | None = None


def _dims(*pairs) -> tuple[sp.Expr, ...]:
    return tuple(width for width, idx in pairs if idx is not None)


class ModelTable:
    """Every quantity of a model, looked up by what a writer calls it."""

    def __init__(self, names: ModelNames):
        self.names = names
        out = names.output
        self.quantities: dict[tuple[str, int | None], Quantity] = {}
        x_dims = _dims((names.input_width, names.input_index))
        y_dims = _dims((out.width, out.index))
        for kind, dims in (("x", x_dims), ("y", y_dims), ("L", ())):
            self._add(Quantity(kind if kind != "L" else names.L.name, kind, None, dims))
        for layer in names.layers:
            unit = _dims((layer.width, layer.index))
            weight = _dims((layer.width, layer.index), (layer.prev_width, layer.prev_index))
            for kind, q, dims in (("z", layer.z, unit), ("a", layer.a, unit), ("w", layer.w, weight),
                                  ("b", layer.b, unit), ("delta", layer.delta, unit)):
                self._add(Quantity(q.name, kind, layer.number, dims))
        self.sizes = {str(w): w for w in self.size_symbols()}

    def _add(self, q: Quantity) -> None:
        self.quantities[(q.kind, q.layer)] = q

    def size_symbols(self) -> list[sp.Symbol]:
        widths = [self.names.input_width, *(layer.width for layer in self.names.layers)]
        return sorted({w for w in widths if isinstance(w, sp.Symbol)}, key=str)

    def known(self) -> str:
        return ", ".join(q.latex for q in self.quantities.values() if q.kind != "delta")

    def resolve(self, name: Name) -> Ref:
        """The model quantity (or size, or e) a written name stands for; ``Wrong`` if none."""
        base = "w" if name.base == "W" else name.base
        if base in self.sizes and not name.indices and name.label is None:
            return Ref(None, size=self.sizes[base])
        if base == "e" and not name.indices and name.label is None:
            return Ref(None)
        if base == "a" and name.label == 0:
            base, label = "x", None
        else:
            label = name.label
        if base in ("x", "y", "L"):
            if label is not None:
                raise Wrong(f"{name.show()}: {base} has no layer superscript")
            return self._element(self.quantities[(base, None)], name)
        if base not in ("z", "a", "w", "b", "delta"):
            raise Wrong(f"{name.show()} is not a quantity of model {self.names.spec.name} "
                        f"(its quantities: {self.known()})")
        return self._element(self._layer_quantity(base, label, name), name)

    def _layer_quantity(self, kind: str, label, name: Name) -> Quantity:
        layers = self.names.layers
        if isinstance(label, str):
            raise Wrong(f"{name.show()}: the layer superscript must be a number such as (1)")
        if label is not None:
            if (kind, label) not in self.quantities:
                raise Wrong(f"{name.show()}: model {self.names.spec.name} has layers 1 to {len(layers)}")
            return self.quantities[(kind, label)]
        if len(layers) == 1:
            return self.quantities[(kind, 1)]
        # Without a superscript, the number of indices often tells the layer (model b: a_k, a).
        fits = [self.quantities[(kind, n)] for n in range(1, len(layers) + 1)
                if len(self.quantities[(kind, n)].dims) == len(name.indices)]
        if len(fits) != 1:
            options = " or ".join(f"{kind}^{{({n})}}" for n in range(1, len(layers) + 1))
            raise Wrong(f"{name.show()} is ambiguous in model {self.names.spec.name}: write {options}")
        return fits[0]

    def _element(self, q: Quantity, name: Name) -> Ref:
        if len(name.indices) != len(q.dims):
            over = " over " + ", ".join(str(d) for d in q.dims) if q.dims else ""
            raise Wrong(f"{name.show()} is written with {len(name.indices)} "
                        f"{'index' if len(name.indices) == 1 else 'indices'}, "
                        f"but {q.latex} has {len(q.dims)}{over}")
        return Ref(q, name.indices)


# --- one random instance of the model -----------------------------------------------------------

Element = tuple[str, tuple[int, ...]]  # (quantity key, concrete indices)


def _units(width: sp.Expr, idx, sizes: dict) -> list[tuple[int, ...]]:
    if idx is None:
        return [()]
    return [(i,) for i in range(1, int(width.subs(sizes)) + 1)]


def _compile(args: list[sp.Symbol], exprs: list[sp.Expr]) -> Callable:
    """Our own SymPy expressions as a fast float function (``math``, SymPy for the rest)."""
    function = sp.lambdify(args, exprs, modules=["math", "sympy"])
    return lambda *values: [float(v) for v in function(*values)]


@cache
def _elementwise(name: str) -> tuple[Callable, Callable]:
    """f and f' of an elementwise activation; f' is SymPy's derivative of the registry's f."""
    z = sp.Symbol("z", real=True)
    forward = activations.get(name).forward(z)
    both = _compile([z], [forward, sp.diff(forward, z)])
    return (lambda v: both(v)[0]), (lambda v: both(v)[1])


@cache
def _vector(name: str, n: int) -> tuple[Callable, Callable]:
    """A whole-layer activation at width ``n``: values and Jacobian (SymPy's derivatives)."""
    z, c = sp.IndexedBase("z"), sp.Dummy("c", integer=True)
    zs = [sp.Symbol(f"z{i}", real=True) for i in range(1, n + 1)]
    swap = {z[i + 1]: s for i, s in enumerate(zs)}
    forward = activations.get(name).vector_forward
    outputs = [forward(z, k, c, n).doit().xreplace(swap) for k in range(1, n + 1)]
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
        self.values = self._sample(rng)
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
        for j in _units(names.input_width, names.input_index, self.sizes):
            base[(names.x.name, j)] = rng.uniform(-1.5, 1.5)
        for layer in names.layers:
            for k in _units(layer.width, layer.index, self.sizes):
                base[(layer.b.name, k)] = rng.uniform(-1.0, 1.0)
                for j in _units(layer.prev_width, layer.prev_index, self.sizes):
                    base[(layer.w.name, k + j)] = rng.uniform(-1.5, 1.5)
        outputs = _units(names.output.width, names.output.index, self.sizes)
        loss = names.spec.loss
        hot = rng.randrange(len(outputs))
        for n, k in enumerate(outputs):
            if loss == "ce":  # one-hot, so sum_k y_k = 1 holds on every instance
                value = float(n == hot)
            elif loss == "bce":
                value = float(rng.randrange(2))
            else:
                value = rng.uniform(-1.0, 1.0)
            base[(names.y.name, k)] = value
        return base

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
        prev, prev_units = names.x.name, _units(names.input_width, names.input_index, self.sizes)
        for layer in names.layers:
            units = _units(layer.width, layer.index, self.sizes)
            w, a_prev, b = layer.w.name, prev, layer.b.name
            for k in units:
                value = math.fsum(values[(w, k + j)] * values[(a_prev, j)] for j in prev_units)
                tangent = sum(tan.get((w, k + j), 0.0) * values[(a_prev, j)]
                              + values[(w, k + j)] * tan.get((a_prev, j), 0.0) for j in prev_units)
                put((layer.z.name, k), value + values[(b, k)], tangent + tan.get((b, k), 0.0))
            zs = [values[(layer.z.name, k)] for k in units]
            dz = [tan.get((layer.z.name, k), 0.0) for k in units]
            for k, value, tangent in self._activate(layer, units, zs, dz):
                put((layer.a.name, k), value, tangent)
            prev, prev_units = layer.a.name, units
        a_s = [values[(prev, k)] for k in prev_units]
        y_s = [values[(names.y.name, k)] for k in prev_units]
        width = None if names.output.index is None else len(prev_units)
        loss, d_a, d_y = _loss(names.spec.loss, width)(a_s, y_s)
        tangent = sum(g * tan.get((prev, k), 0.0) + h * tan.get((names.y.name, k), 0.0)
                      for g, h, k in zip(d_a, d_y, prev_units, strict=True))
        put((names.L.name, ()), loss, tangent)
        return tan

    def _activate(self, layer, units, zs: list[float], dz: list[float]):
        act = activations.get(layer.activation)
        if act.elementwise:
            f, fprime = _elementwise(layer.activation)
            return [(k, f(z), fprime(z) * d) for k, z, d in zip(units, zs, dz, strict=True)]
        values, jacobian = _vector(layer.activation, len(zs))
        rows = jacobian(*zs)
        return [(k, v, sum(j * d for j, d in zip(row, dz, strict=True)))
                for k, v, row in zip(units, values(*zs), rows, strict=True)]

    def value(self, element: Element) -> float:
        return self.values[element]

    def derivative(self, num: Element, den: Element) -> float:
        """d num / d den through the model (0 when num does not depend on den)."""
        if den not in self._tangents:
            self._tangents[den] = self._run(dict(self.values), den)
        return self._tangents[den].get(num, 0.0)


# --- binding indices ----------------------------------------------------------------------------


Occurrences = dict[str, list[tuple[sp.Expr | None, str]]]  # letter -> (dimension or None, where)


def _merge(into: Occurrences, more: Occurrences) -> Occurrences:
    for letter, items in more.items():
        into.setdefault(letter, []).extend(items)
    return into


class Binder:
    """Resolves names and binds indices statically; raises ``Wrong`` with the reason."""

    def __init__(self, table: ModelTable):
        self.table = table
        self.refs: dict[int, Ref] = {}
        self.ranges: dict[int, tuple[sp.Expr, sp.Expr]] = {}

    def occurrences(self, node: Node) -> Occurrences:
        """Index letters used in ``node`` and not bound inside it, with what they index."""
        method = getattr(self, "_occ_" + type(node).__name__, None)
        if method:
            return method(node)
        found: Occurrences = {}
        for child in node.children():
            _merge(found, self.occurrences(child))
        return found

    def _occ_Name(self, node: Name) -> Occurrences:
        ref = self.table.resolve(node)
        self.refs[id(node)] = ref
        found: Occurrences = {}
        if ref.quantity is not None:
            for idx, dim in zip(ref.indices, ref.quantity.dims, strict=True):
                if isinstance(idx, str):
                    found.setdefault(idx, []).append((dim, node.show()))
        return found

    def _occ_Partial(self, node: Partial) -> Occurrences:
        found = _merge(self._occ_Name(node.num), self._occ_Name(node.den))
        for part in (node.num, node.den):
            quantity = self.refs[id(part)].quantity
            if quantity is None or quantity.kind == "delta":
                raise Wrong(f"{part.show()} in a partial derivative is not a quantity of the forward pass")
        return found

    def _occ_Kronecker(self, node: Kronecker) -> Occurrences:
        return {i: [(None, "\\delta")] for i in (node.i, node.j) if isinstance(i, str)}

    def _occ_Cases(self, node: Cases) -> Occurrences:
        found: Occurrences = {}
        for value, cond in node.rows:
            _merge(found, self.occurrences(value))
            for i in (cond.i, cond.j):
                if isinstance(i, str):
                    found.setdefault(i, []).append((None, "a condition"))
        return found

    def _occ_Sum(self, node: Sum) -> Occurrences:
        found = self.occurrences(node.body)
        uses = found.pop(node.var, [])
        dims = [(dim, where) for dim, where in uses if dim is not None]
        if node.upper is None:
            if not dims:
                raise Wrong(f"the sum over {node.var} indexes no quantity, so its range is unknown")
            lower, upper = sp.Integer(1), dims[0][0]
            if node.lower is not None:
                lower = self.bound(node.lower, node.var)
        else:
            lower = self.bound(node.lower, node.var) if node.lower is not None else sp.Integer(1)
            upper = self.bound(node.upper, node.var)
        for dim, where in dims:
            if (lower - 1).is_nonnegative is not True:
                raise Wrong(f"the sum over {node.var} starts at {lower}, but {where} is indexed from 1")
            if (dim - upper).is_nonnegative is not True:
                raise Wrong(f"the sum over {node.var} runs to {upper}, but {where} has {dim} entries")
        self.ranges[id(node)] = (lower, upper)
        return found

    def bound(self, node: Node, var: str) -> sp.Expr:
        """A sum's bound: numbers and the model's size symbols with + and -."""
        if isinstance(node, Num) and float(node.value).is_integer():
            return sp.Integer(int(node.value))
        if isinstance(node, Group):
            return self.bound(node.inner, var)
        if isinstance(node, Name) and node.base in self.table.sizes and not node.indices:
            return self.table.sizes[node.base]
        if isinstance(node, Add):
            return sp.Add(*(self.bound(term, var) for term in node.terms))
        if isinstance(node, Neg):
            return -self.bound(node.arg, var)
        sizes = ", ".join(self.table.sizes) or "none"
        raise Wrong(f"the bound of the sum over {var} must be a number or a size of the model ({sizes})")

    def bind(self, equation: Equation) -> dict[str, sp.Expr]:
        """The free indices of the left side and their ranges; checks every other side against them."""
        free: dict[str, sp.Expr] = {}
        for letter, uses in self.occurrences(equation.sides[0]).items():
            dims = {dim for dim, _ in uses if dim is not None}
            if not dims:
                raise Wrong(f"index {letter} on the left side indexes no quantity, so its range is unknown")
            if len(dims) > 1:
                listed = ", ".join(f"{where} ({dim} entries)" for dim, where in uses if dim is not None)
                raise Wrong(f"index {letter} stands for different ranges on the left side: {listed}")
            free[letter] = dims.pop()
        for side in equation.sides[1:]:
            for letter, uses in self.occurrences(side).items():
                if letter not in free:
                    raise Wrong(f"index {letter} on the right is not bound by the left side or a sum")
                for dim, where in uses:
                    if dim is not None and dim != free[letter]:
                        raise Wrong(f"index {letter} runs over {free[letter]} values on the left, "
                                    f"but {where} has {dim} entries")
        return free


def _check_limits(node: Node) -> None:
    if isinstance(node, Pow) and isinstance(node.exp, Num) and abs(node.exp.value) > MAX_EXPONENT:
        raise Unreadable(f"exponent {node.exp.value:g} is too large (the limit is {MAX_EXPONENT})")
    if isinstance(node, Pow):
        inner = node.exp.inner if isinstance(node.exp, Group) else node.exp
        if isinstance(inner, Num) and abs(inner.value) > MAX_EXPONENT:
            raise Unreadable(f"exponent {inner.value:g} is too large (the limit is {MAX_EXPONENT})")
    for child in node.children():
        _check_limits(child)


# --- evaluation ---------------------------------------------------------------------------------


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds
        self.seconds = seconds
        self.ticks = 0

    def check(self) -> None:
        self.ticks += 1
        if self.ticks % 256 == 0 and time.monotonic() > self.end:
            self.expired()

    def expired(self) -> None:
        raise Unreadable(f"checking took longer than the limit of {self.seconds:g} s")


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


_FUNCS: dict[tuple[str, bool], Callable[[float], float]] = {
    ("sigma", False): _sigmoid,
    ("sigma", True): lambda v: _sigmoid(v) * (1.0 - _sigmoid(v)),
    ("exp", False): math.exp,
    ("tanh", False): math.tanh,
    ("log", False): math.log,
}


class Evaluator:
    """A side's value at one model instance and one assignment of its indices."""

    def __init__(self, binder: Binder, instance: ModelInstance, deadline: Deadline):
        self.refs = binder.refs
        self.ranges = binder.ranges
        self.instance = instance
        self.deadline = deadline

    def __call__(self, node: Node, env: dict[str, int]) -> float:
        self.deadline.check()
        try:
            value = getattr(self, "_" + type(node).__name__)(node, env)
        except (ZeroDivisionError, OverflowError, ValueError) as exc:
            raise Undefined(str(exc)) from None
        if isinstance(value, complex) or not math.isfinite(value):
            raise Undefined("not a finite real number")
        return value

    def _Num(self, node: Num, env) -> float:
        return node.value

    def _Group(self, node: Group, env) -> float:
        return self(node.inner, env)

    def _Add(self, node: Add, env) -> float:
        return math.fsum(self(term, env) for term in node.terms)

    def _Mul(self, node: Mul, env) -> float:
        return math.prod(self(factor, env) for factor in node.factors)

    def _Div(self, node: Div, env) -> float:
        return self(node.num, env) / self(node.den, env)

    def _Neg(self, node: Neg, env) -> float:
        return -self(node.arg, env)

    def _Pow(self, node: Pow, env) -> float:
        base = node.base.inner if isinstance(node.base, Group) else node.base
        if isinstance(base, Name) and self.refs[id(base)] == Ref(None):  # e^{...}
            return math.exp(self(node.exp, env))
        return self(node.base, env) ** self(node.exp, env)

    def _Func(self, node: Func, env) -> float:
        return _FUNCS[(node.name, node.prime)](self(node.arg, env))

    def _element(self, ref: Ref, env) -> Element:
        q = ref.quantity
        assert q is not None  # the binder resolved this name to a quantity
        values = tuple(env[i] if isinstance(i, str) else i for i in ref.indices)
        for value, dim, written in zip(values, q.dims, ref.indices, strict=True):
            size = self.instance.size(dim)
            if not 1 <= value <= size:
                raise Wrong(f"{q.latex} has no entry {written} = {value} (it has {size} when {dim} = {size})")
        return q.key, values

    def _Name(self, node: Name, env) -> float:
        ref = self.refs[id(node)]
        if ref.size is not None:
            return float(self.instance.sizes[ref.size])
        if ref.quantity is None:
            return math.e
        element = self._element(ref, env)
        if ref.quantity.kind == "delta":  # the error term delta = dL/dz of its layer
            z = self.instance.table.quantities[("z", ref.quantity.layer)]
            return self.instance.derivative((self.instance.names.L.name, ()), (z.key, element[1]))
        return self.instance.value(element)

    def _Partial(self, node: Partial, env) -> float:
        num = self._element(self.refs[id(node.num)], env)
        den = self._element(self.refs[id(node.den)], env)
        return self.instance.derivative(num, den)

    def _Kronecker(self, node: Kronecker, env) -> float:
        i, j = (env[x] if isinstance(x, str) else x for x in (node.i, node.j))
        return 1.0 if i == j else 0.0

    def _Cases(self, node: Cases, env) -> float:
        for value, cond in node.rows:
            i, j = (env[x] if isinstance(x, str) else x for x in (cond.i, cond.j)) if cond.i else (0, 0)
            if cond.kind == "otherwise" or (cond.kind == "eq") == (i == j):
                return self(value, env)
        raise Undefined("no case applies")

    def _Sum(self, node: Sum, env) -> float:
        lower, upper = (self.instance.size(b) for b in self.ranges[id(node)])
        if upper - lower + 1 > MAX_SUM_TERMS:
            raise Unreadable(f"the sum over {node.var} has more than {MAX_SUM_TERMS} terms")
        inner = dict(env)
        terms = []
        for value in range(lower, upper + 1):
            inner[node.var] = value
            terms.append(self(node.body, inner))
        return math.fsum(terms)


# --- comparing the two sides --------------------------------------------------------------------


@dataclass
class Point:
    sizes: dict[str, int]
    indices: dict[str, int]
    left: float | None
    right: float | None
    problem: str = ""

    def show(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in {**self.sizes, **self.indices}.items())
        left = "undefined" if self.left is None else f"{self.left + 0.0:.6g}"  # + 0.0: no "-0"
        right = "undefined" if self.right is None else f"{self.right + 0.0:.6g}"
        return f"at {where}: left = {left}, right = {right}" + (f" ({self.problem})" if self.problem else "")

    def to_dict(self) -> dict:
        return {"sizes": self.sizes, "indices": self.indices, "left": self.left, "right": self.right}


def _close(left: float, right: float) -> bool:
    return abs(left - right) <= ATOL + RTOL * max(abs(left), abs(right))


def _diagnose(pairs: list[tuple[float, float]]) -> str:
    """Name the kind of difference when it is simple: a sign, a constant factor or offset."""
    scale = max(max(abs(left), abs(right)) for left, right in pairs)
    if all(_close(right, 0.0) for _, right in pairs):
        return "the right side is 0 at every point checked"
    if all(_close(left, 0.0) for left, _ in pairs):
        return "the left side is 0 at every point checked, the right side is not"
    if all(_close(-left, right) for left, right in pairs):
        return "the sign is wrong"
    nonzero = [(left, right) for left, right in pairs if abs(left) > ATOL + RTOL * scale]
    if nonzero and len(nonzero) == len(pairs):
        ratio = nonzero[0][1] / nonzero[0][0]
        if all(_close(right, ratio * left) for left, right in pairs):
            return f"off by a factor of {ratio:.6g}"
    offset = pairs[0][1] - pairs[0][0]
    if all(_close(right, left + offset) for left, right in pairs):
        return f"off by a constant {offset:.6g}"
    return "the two sides differ"


@dataclass
class Result:
    where: str
    line: int | None
    text: str
    verdict: str  # correct, incorrect, error
    reason: str = ""
    counterexample: Point | None = None
    checked: int = 0

    def show(self) -> str:
        if self.verdict == "correct":
            detail = _short(clean(self.text))
        elif self.counterexample is not None:
            detail = f"{self.reason}; {self.counterexample.show()}"
        else:
            detail = self.reason
        return f"{self.where}: {self.verdict}: {detail}"

    def to_dict(self) -> dict:
        return {
            "where": self.where, "line": self.line, "equation": self.text, "verdict": self.verdict,
            "reason": self.reason or None, "points_checked": self.checked,
            "counterexample": self.counterexample.to_dict() if self.counterexample else None,
        }


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Checker:
    """Checks equations against one model; random instances are shared between equations."""

    def __init__(self, spec: ModelSpec, seed: int = 20240601, time_limit: float = TIME_LIMIT):
        self.spec = spec
        self.time_limit = time_limit
        self.table = ModelTable(model_names(spec))
        self.rng = random.Random(seed)
        self._instances: list[ModelInstance] | None = None

    def instances(self) -> list[ModelInstance]:
        if self._instances is None:
            self._instances = [ModelInstance(self.table, sizes, self.rng) for sizes in self._size_sets()]
        return self._instances

    def _size_sets(self) -> list[dict[sp.Symbol, int]]:
        symbols = self.table.size_symbols()
        low, high = SIZE_RANGE
        values = list(range(low, max(high, low + len(symbols) - 1) + 1))
        sets = []
        for n in range(INSTANCES):
            # The first two instances give every size a different value, so that an index running
            # over the wrong set cannot pass by coincidence.
            if n < 2:
                chosen = self.rng.sample(values, len(symbols))
            else:
                chosen = [self.rng.choice(values) for _ in symbols]
            sets.append(dict(zip(symbols, chosen, strict=True)))
        self._check_size(sets)
        return sets

    def _check_size(self, sets) -> None:
        names = self.table.names
        for sizes in sets:
            widths = [names.input_width, *(layer.width for layer in names.layers)]
            widths = [int(w.subs(sizes)) for w in widths]
            count = sum(a * b + b for a, b in itertools.pairwise(widths))
            if count > MAX_ELEMENTS:
                raise UsageError(f"model {self.spec.name} is too large to check by evaluation "
                                 f"({count} parameters at concrete sizes; the limit is {MAX_ELEMENTS})")

    def check(self, text: str, where: str = "equation", line: int | None = None) -> Result:
        result = Result(where, line, text, "correct")
        deadline = Deadline(self.time_limit)
        try:
            equation = parse_equation(text)
            for side in equation.sides:
                _check_limits(side)
            binder = Binder(self.table)
            free = binder.bind(equation)
            self._compare(equation, binder, free, deadline, result)
        except LatexError as exc:
            result.verdict, result.reason = "error", f"cannot parse: {exc}"
        except Unreadable as exc:
            result.verdict, result.reason = "error", str(exc)
        except Wrong as exc:
            result.verdict, result.reason = "incorrect", str(exc)
        except RecursionError:
            result.verdict, result.reason = "error", "expression nested too deeply"
        except Exception as exc:  # a grader run over many files must not die on one equation
            result.verdict = "error"
            result.reason = f"internal error ({type(exc).__name__}: {exc}); please report"
        return result

    def _assignments(self, free: dict[str, sp.Expr], instance: ModelInstance,
                     rng: random.Random) -> list[dict[str, int]]:
        letters = sorted(free)
        ranges = [range(1, instance.size(free[k]) + 1) for k in letters]
        combos = list(itertools.product(*ranges))
        if len(combos) > MAX_POINTS:
            combos = rng.sample(combos, MAX_POINTS)
        return [dict(zip(letters, combo, strict=True)) for combo in combos]

    def _compare(self, equation: Equation, binder: Binder, free, deadline: Deadline, result: Result) -> None:
        rng = random.Random(equation.text)  # the same points for the same equation, whatever came before
        for number, side in enumerate(equation.sides[1:], start=2):
            pairs, bad = [], None
            for instance in self.instances():
                evaluate = Evaluator(binder, instance, deadline)
                sizes = {str(s): v for s, v in instance.sizes.items()}
                for env in self._assignments(free, instance, rng):
                    point = self._point(evaluate, equation.sides[0], side, env, sizes)
                    result.checked += 1
                    if point.left is None or point.right is None:
                        bad = bad or point
                        continue
                    pairs.append((point.left, point.right))
                    if not _close(point.left, point.right):
                        bad = bad or point
            if not pairs and bad is None:
                raise Unreadable("neither side has a value at any point checked")
            if bad is not None:
                which = "" if len(equation.sides) == 2 else f"side {number} differs from the left side: "
                reason = bad.problem and "one side is undefined" or _diagnose(pairs)
                result.verdict, result.reason, result.counterexample = "incorrect", which + reason, bad
                return

    def _point(self, evaluate, left_node, right_node, env, sizes) -> Point:
        values, problems = [], []
        for node in (left_node, right_node):
            try:
                values.append(evaluate(node, env))
            except Undefined as exc:
                values.append(None)
                problems.append(str(exc))
        left, right = values
        if left is None and right is None:
            return Point(sizes, dict(env), 0.0, 0.0)  # neither side defined here: nothing to compare
        return Point(sizes, dict(env), left, right, "; ".join(problems))


# --- the command --------------------------------------------------------------------------------


def _read(path: str) -> str:
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UsageError(f"{path} is too large ({size} bytes; the limit is {MAX_FILE_BYTES})")
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None


Item = tuple[str, int | None, str, str]  # where, line, equation text, problem found before parsing


def _file_equations(path: str) -> list[Item]:
    from .equations import extract

    found = extract(_read(path), markdown=path.lower().endswith((".md", ".markdown")))
    if not found:
        raise UsageError(f"no display equations found in {path}")
    if len(found) > MAX_EQUATIONS:
        raise UsageError(f"{path} has {len(found)} equations; the limit is {MAX_EQUATIONS}")
    return [(f"{path}:{f.line}", f.line, f.text, f.problem) for f in found]


def check_all(model: str | ModelSpec, items: list[Item]) -> list[Result]:
    """Check (where, line, text, problem) items against ``model``."""
    spec = model if isinstance(model, ModelSpec) else resolve(model)
    checker = Checker(spec)
    return [Result(where, line, text, "error", problem) if problem else checker.check(text, where, line)
            for where, line, text, problem in items]


def exit_code(results: list[Result]) -> int:
    verdicts = {r.verdict for r in results}
    return 2 if "error" in verdicts else 1 if "incorrect" in verdicts else 0


def summary(results: list[Result]) -> dict[str, int]:
    counts = {"equations": len(results)}
    for verdict in ("correct", "incorrect", "error"):
        counts[verdict] = sum(r.verdict == verdict for r in results)
    return counts


def run_check(model: str, equations: tuple[str, ...], path: str | None, as_json: bool,
              echo: Callable[[str], None]) -> int:
    """``derive check``: print one line per equation and a summary (or JSON); return the exit code."""
    if path and equations:
        raise UsageError("give equations on the command line or --file, not both")
    if not path and not equations:
        raise UsageError("nothing to check: give an equation or --file answers.tex")
    if path:
        items = _file_equations(path)
    else:
        if len(equations) > MAX_EQUATIONS:
            raise UsageError(f"too many equations ({len(equations)}); the limit is {MAX_EQUATIONS}")
        items = [(f"equation {n}", None, text, "") for n, text in enumerate(equations, start=1)]
    results = check_all(model, items)
    code = exit_code(results)
    counts = summary(results)
    if as_json:
        echo(json.dumps({"model": model, "results": [r.to_dict() for r in results], "summary": counts,
                         "exit_code": code}, indent=2))
        return code
    for result in results:
        echo(result.show())
    parts = [f"{counts[v]} {v if v != 'error' else 'unreadable'}" for v in ("correct", "incorrect", "error")
             if counts[v]]
    echo(f"{counts['equations']} equation{'s' if counts['equations'] != 1 else ''}: {', '.join(parts)}")
    return code
