"""The value of one side of an equation at one model instance and one assignment of its indices.

``Evaluator(binder, model, deadline)(node, env)`` walks the AST: names are the instance's values,
partial derivatives its derivatives, ``\\delta`` error terms dL/dz of their layer, sums run over
the ranges the binder fixed. Arithmetic and functions are hooks (``total``, ``product``,
``function``...), so that ``proof.SymbolicEvaluator`` reads the same tree into SymPy. Functions
named after an activation (``\\sigma``, ``\\tanh``) are that registry entry, its derivative SymPy's.
Work is bounded by a ``Deadline`` and by ``MAX_SUM_TERMS``.
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Callable
from typing import Any

from .. import activations
from .binding import Binder
from .instances import EXAMPLE, Element, elementwise
from .latex_parse import (
    Add,
    Cases,
    Div,
    Func,
    Group,
    Index,
    Indicator,
    Kronecker,
    Max,
    Mul,
    Name,
    Neg,
    Node,
    Num,
    Pow,
    Sum,
    WrittenPartial,
    function_key,
    position,
)
from .problems import Undefined, Unreadable, Wrong
from .quantities import ERRORS, E, Ref

MAX_SUM_TERMS = 1000

# A written function's key (``latex_parse.function_key``) -> activation, read off the registry's
# ``latex`` (\sigma -> sigmoid, \operatorname{relu} -> relu); the parser reads the same names.
ACTIVATION_OF = {function_key(entry.latex): name for name, entry in activations.ACTIVATIONS.items()
                 if entry.elementwise}


def _log(value: float) -> float:
    if value <= 0:
        raise Undefined("log of a non-positive number")
    return math.log(value)


_MATH: dict[str, Callable[[float], float]] = {"exp": math.exp, "log": _log}


def _undefined(value) -> Undefined | None:
    """Why a computed value is not a real number, in words (None when it is one)."""
    if isinstance(value, complex):
        return Undefined("a negative number to a fractional power")
    if not math.isfinite(value):  # inf, or nan from inf - inf: finite floats only get there by overflow
        return Undefined("overflow")
    return None


COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le,
}


class Deadline:
    """Wall-clock limit of one equation, checked every 256 evaluation steps; ``message`` says
    which limit it is when not the equation's own."""

    def __init__(self, seconds: float, message: str | None = None):
        self.end = time.monotonic() + seconds
        self.seconds = seconds
        self.message = message or f"checking took longer than the limit of {seconds:g} s"
        self.ticks = 0

    def left(self) -> float:
        return max(self.end - time.monotonic(), 0.0)

    def check(self) -> None:
        self.ticks += 1
        if self.ticks % 256 == 0 and time.monotonic() > self.end:
            self.expired()

    def expired(self) -> None:
        raise Unreadable(self.message)


def written_parameters(names, activation: str) -> tuple[tuple[str, float], ...]:
    """The parameters a written activation (``lrelu``) stands with in this model: those of its
    first layer with that activation (the registry's defaults when none has it)."""
    return next((layer.parameters for layer in names.layers if layer.activation == activation), ())


def float_function(name: str, prime: bool, names=None) -> Callable[[float], float]:
    """A written function (or its derivative, ``prime``) as a float function, an activation with
    its parameters in the model of ``names``."""
    if name in ACTIVATION_OF:
        activation = ACTIVATION_OF[name]
        parameters = written_parameters(names, activation) if names is not None else ()
        return elementwise(activation, parameters)[prime]
    return _MATH[name]


class Evaluator:
    """A side's value at one model instance and one assignment of its indices (floats)."""

    total: Callable[[list], Any] = staticmethod(math.fsum)
    product: Callable[[list], Any] = staticmethod(math.prod)
    exp: Callable[[Any], Any] = staticmethod(math.exp)
    euler: Any = math.e
    maximum: Callable[..., Any] = staticmethod(max)
    indicator: Callable[[str, Any, Any], Any] = staticmethod(
        lambda relation, left, right: 1.0 if COMPARE[relation](left, right) else 0.0
    )

    def __init__(self, binder: Binder, model, deadline: Deadline):
        self.refs = binder.refs
        self.ranges = binder.ranges
        self.one_example = binder.one_example and binder.table.batch
        # A size written as an index is its value (h_{T}: the last step); letters shadow it.
        self.size_values = {str(s): v for s, v in model.sizes.items()}
        self.model = model  # a ModelInstance, or proof.SymbolicModel for the symbolic reading
        self.deadline = deadline

    def __call__(self, node: Node, env: dict[str, int]):
        self.deadline.check()
        # Python's own wording ("math range error") is not for the reader: say what happened.
        try:
            value = getattr(self, "_" + type(node).__name__)(node, env)
        except ZeroDivisionError:  # also 0.0 ** -1
            raise Undefined("division by zero") from None
        except OverflowError:
            raise Undefined("overflow") from None
        except ValueError:  # a math function outside its domain (log is checked before)
            raise Undefined("outside the domain of a function") from None
        problem = _undefined(value)
        if problem is not None:
            raise problem
        return value

    def number(self, value: float):
        return value

    def function(self, name: str, prime: bool) -> Callable:
        return float_function(name, prime, self.model.names)

    def _Num(self, node: Num, env):
        return self.number(node.value)

    def _Group(self, node: Group, env):
        return self(node.inner, env)

    def _Add(self, node: Add, env):
        return self.total([self(term, env) for term in node.terms])

    def _Mul(self, node: Mul, env):
        return self.product([self(factor, env) for factor in node.factors])

    def _Div(self, node: Div, env):
        return self(node.num, env) / self(node.den, env)

    def _Neg(self, node: Neg, env):
        return -self(node.arg, env)

    def _Pow(self, node: Pow, env):
        base = node.base.inner if isinstance(node.base, Group) else node.base
        if isinstance(base, Name) and self.refs[id(base)] == E:  # e^{...}
            return self.exp(self(node.exp, env))
        return self(node.base, env) ** self(node.exp, env)

    def _Func(self, node: Func, env):
        return self.function(node.name, node.prime)(self(node.arg, env))

    def _Max(self, node: Max, env):
        return self.maximum(*(self(arg, env) for arg in node.args))

    def _Indicator(self, node: Indicator, env):
        return self.indicator(node.relation, self(node.left, env), self(node.right, env))

    def element(self, ref: Ref, env) -> Element | None:
        """The element ``ref`` names under ``env``; None for one outside a quantity that is 0
        there (``Quantity.zero_outside``: h_0 = 0 before the first step)."""
        q = ref.quantity
        assert q is not None  # the binder resolved this name to a quantity
        values = tuple(self.at(i, env) for i in ref.indices)
        for value, dim, written in zip(values, ref.dims, ref.indices, strict=True):
            size = self.model.size(dim)
            if not 1 <= value <= size:
                if q.zero_outside:  # h_0, delta_{T+1}; a convolution's error past its edges
                    return None
                raise Wrong(f"{q.latex} has no entry {written} = {value} (it has {size} when {dim} = {size})")
        if ref.implicit:  # the example the equation is about
            values = (env[EXAMPLE],) + values
        return q.key, values

    def at(self, i: Index, env: dict[str, int]) -> int:
        """The position of index ``i``: its letter's value, or a size's (``T``, ``T+1``)."""
        try:
            return position(i, env)
        except KeyError:
            return position(i, self.size_values)

    def loss(self) -> Element:
        """What dL/d(...) differentiates: the loss (of the whole batch, where examples couple)."""
        return self.model.names.L.name, ()

    def _Name(self, node: Name, env):
        ref = self.refs[id(node)]
        if ref.size is not None:
            return self.number(float(self.model.sizes[ref.size]))
        if ref.quantity is None:
            return self.euler
        element = self.element(ref, env)
        if element is None:
            return self.number(0.0)
        if ref.quantity.kind in ERRORS:  # an error term: delta = dL/dz, delta_hat = dL/dzhat, g = dL/da
            of = self.model.table.error_of(ref.quantity)
            return self.model.derivative(self.loss(), (of.key, element[1]))
        return self.model.value(element)

    def _WrittenPartial(self, node: WrittenPartial, env):
        num_ref, den_ref = self.refs[id(node.num)], self.refs[id(node.den)]
        num = self.loss() if num_ref.quantity and num_ref.quantity.kind == "L" else self.element(num_ref, env)
        den = self.element(den_ref, env)
        assert den_ref.quantity is not None
        if num is None or den is None:  # outside the steps: a constant 0
            return self.number(0.0)
        if self.one_example and not den_ref.quantity.per_example:  # that example's term (a parameter)
            return self.model.derivative(num, den, example=env[EXAMPLE])
        return self.model.derivative(num, den)

    def _Kronecker(self, node: Kronecker, env):
        i, j = (self.at(x, env) for x in (node.i, node.j))
        return self.number(1.0 if i == j else 0.0)

    def _Cases(self, node: Cases, env):
        for value, cond in node.rows:
            i, j = (0, 0)
            if cond.i is not None and cond.j is not None:
                i, j = self.at(cond.i, env), self.at(cond.j, env)
            if cond.kind == "otherwise" or (cond.kind == "eq") == (i == j):
                return self(value, env)
        raise Undefined("no case applies")

    def _Sum(self, node: Sum, env):
        lower, upper = (self.model.size(b) for b in self.ranges[id(node)])
        if upper - lower + 1 > MAX_SUM_TERMS:
            raise Unreadable(f"the sum over {node.var} has more than {MAX_SUM_TERMS} terms")
        inner = dict(env)
        terms = []
        skip = self.at(node.exclude, env) if node.exclude is not None else None
        for value in range(lower, upper + 1):
            if value == skip:
                continue
            inner[node.var] = value
            terms.append(self(node.body, inner))
        return self.total(terms)
