"""The symbolic proof attempt for an equation already found correct numerically.

Both sides are read into SymPy by ``SymbolicEvaluator`` (our AST walked by our code, never user
text parsed) at small concrete sizes (``symbolic.SymbolicModel``), for every assignment of the
free indices that matters; ``lhs - rhs`` must then be identically 0 as a function of the model's
free quantities, after the loss's identities and the model's definitions (``a = sigma(z)``, the
loss; then ``z = W a + b``) are substituted. Exponentials of a pre-activation become fresh
positive symbols, so the test is whether the numerator of a rational function expands to 0, with
``simplify`` last.

When every sum runs over a whole index set and no concrete index value is written, the equation
and the model are unchanged by permuting the units of a layer, so one assignment per pattern of
equal free indices stands for all of them. The attempt stops at ``PROOF_TIME_LIMIT`` (a SIGALRM
timer, in the main thread only); a proof that fails or times out leaves "checked numerically".
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp
from sympy.functions.elementary.hyperbolic import HyperbolicFunction

from .. import activations, alarm
from .binding import Binder
from .evaluate import ACTIVATION_OF, COMPARE, Deadline, Evaluator, written_parameters
from .latex_parse import Cases, Kronecker, Name, Node, Sum, WrittenEquation, WrittenPartial
from .quantities import ModelTable
from .symbolic import SymbolicModel

PROOF_TIME_LIMIT = 1.0  # seconds per equation
MAX_ASSIGNMENTS = 16  # index assignments proved one by one when there is no symmetry to use
MIN_SIZE = 2


@dataclass(frozen=True)
class Proof:
    """``lhs - rhs`` is identically 0 at these sizes, for every value of the free indices."""

    sizes: dict[str, int]
    assignments: int  # index assignments proved (one per pattern when symmetry applies)
    seconds: float

    def to_dict(self) -> dict:
        return {"sizes": self.sizes, "assignments": self.assignments}  # no timing: output stays stable


class _OutOfTime(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` in SymPy swallows it."""


class SymbolicEvaluator(Evaluator):
    """A side as a SymPy expression of the model's quantities at one index assignment."""

    total = staticmethod(lambda terms: sp.Add(*terms))
    product = staticmethod(lambda factors: sp.Mul(*factors))
    exp = staticmethod(sp.exp)
    euler = sp.E
    maximum = staticmethod(sp.Max)
    indicator = staticmethod(
        lambda relation, left, right: sp.Piecewise((1, COMPARE[relation](left, right)), (0, True))
    )

    def __call__(self, node: Node, env: dict[str, int]):
        self.deadline.check()
        return getattr(self, "_" + type(node).__name__)(node, env)

    def number(self, value: float):
        exact = Fraction(repr(value))  # the literal the writer typed, exactly
        return sp.Rational(exact.numerator, exact.denominator)

    def function(self, name: str, prime: bool) -> Callable:
        if name not in ACTIVATION_OF:
            return {"exp": sp.exp, "log": sp.log}[name]
        z = sp.Dummy("z", real=True)
        activation = ACTIVATION_OF[name]
        parameters = written_parameters(self.model.names, activation)
        f = activations.get(activation).bind(parameters).unit(z)
        f = sp.diff(f, z) if prime else f
        return lambda arg: f.xreplace({z: arg})


# --- which assignments, at which sizes ----------------------------------------------------------


def _symmetric(node: Node, binder: Binder, ranges: dict[str, sp.Expr]) -> bool:
    """True when permuting each index set maps the node to itself (letters only, whole ranges)."""
    if isinstance(node, Name | WrittenPartial):
        names = (node.num, node.den) if isinstance(node, WrittenPartial) else (node,)
        return all(isinstance(i, str) for n in names for i in binder.refs[id(n)].indices)
    if isinstance(node, Kronecker):
        return _same_set(node.i, node.j, ranges)
    if isinstance(node, Cases):
        rows = node.rows
        conditions = all(cond.kind == "otherwise" or _same_set(cond.i, cond.j, ranges) for _, cond in rows)
        return conditions and all(_symmetric(value, binder, ranges) for value, _ in node.rows)
    if isinstance(node, Sum):
        lower, upper = binder.ranges[id(node)]
        dims = binder.sum_dims[id(node)]
        if lower != 1 or not dims or any(dim != upper for dim in dims):
            return False
        inner = {**ranges, node.var: upper}
        if node.exclude is not None and not _same_set(node.var, node.exclude, inner):
            return False
        return _symmetric(node.body, binder, inner)
    return all(_symmetric(child, binder, ranges) for child in node.children())


def _same_set(i, j, ranges: dict[str, sp.Expr]) -> bool:
    return isinstance(i, str) and isinstance(j, str) and i in ranges and ranges.get(i) == ranges.get(j)


def _partitions(letters: list[str]) -> Iterator[list[int]]:
    """Every pattern of equal letters, as class numbers 1, 2, ... in order of first use."""
    if not letters:
        yield []
        return
    for rest in _partitions(letters[:-1]):
        for cls in range(1, max(rest, default=0) + 2):
            yield [*rest, cls]


def plan(table: ModelTable, free: dict[str, sp.Expr], symmetric: bool):
    """(sizes, assignments) for the proof, or None when there would be too many assignments."""
    sizes = {s: MIN_SIZE for s in table.size_symbols()}
    if not symmetric:
        letters = sorted(free)
        grids = [range(1, int(free[k].subs(sizes)) + 1) for k in letters]
        combos = list(itertools.product(*grids))
        if len(combos) > MAX_ASSIGNMENTS:
            return None
        return sizes, [dict(zip(letters, combo, strict=True)) for combo in combos]
    groups: dict[sp.Expr, list[str]] = {}
    for letter in sorted(free):
        groups.setdefault(free[letter], []).append(letter)
    for dim, letters in groups.items():  # room for every letter of a group to differ
        if isinstance(dim, sp.Symbol):
            sizes[dim] = max(sizes[dim], len(letters))
    per_group = []
    for dim, letters in groups.items():
        width = int(dim.subs(sizes))
        patterns = [p for p in _partitions(letters) if max(p) <= width]
        per_group.append([dict(zip(letters, p, strict=True)) for p in patterns])
    assignments = [{k: v for part in combo for k, v in part.items()}
                   for combo in itertools.product(*per_group)]
    return sizes, assignments


# --- deciding lhs - rhs == 0 --------------------------------------------------------------------


def is_zero(difference: sp.Expr, model: SymbolicModel) -> bool:
    """Whether ``difference`` is identically 0, written through the model's free quantities."""
    for deep in (False, True):
        expr = difference.xreplace(model.canonical(deep))
        if expr.has(HyperbolicFunction):
            expr = expr.rewrite(sp.exp)  # tanh and the like through e^{z}
        if deep:
            expr = sp.expand(expr, power_exp=True, mul=False)  # e^{u + v} = e^{u} e^{v}
        if expr.has(sp.log):  # only where SymPy knows the arguments positive (e^{z} = t > 0)
            expr = sp.expand_log(expr)
        if expr == 0 or sp.expand(sp.fraction(sp.together(expr))[0]) == 0:
            return True
    return False


class Prover:
    """Proof attempts against one model; the symbolic model at each size set is built once."""

    def __init__(self, table: ModelTable, time_limit: float = PROOF_TIME_LIMIT):
        self.table = table
        self.time_limit = time_limit
        self._models: dict[tuple, SymbolicModel] = {}

    def model(self, sizes: dict[sp.Symbol, int]) -> SymbolicModel:
        key = tuple(sorted((str(s), v) for s, v in sizes.items()))
        if key not in self._models:
            self._models[key] = SymbolicModel(self.table, sizes)
        return self._models[key]

    def prove(self, equation: WrittenEquation, binder: Binder, free: dict[str, sp.Expr],
              time_left: float | None = None) -> Proof | None:
        """A proof that every side equals the left one, or None (no proof found in time).

        ``time_left``: what remains of the equation's own time, when less than the proof's limit.
        """
        limit = self.time_limit if time_left is None else min(self.time_limit, time_left)
        if self.table.batch or self.table.recurrent is not None or self.table.convs:
            return None  # a batch, steps through time, windows: checked numerically
        if limit <= 0 or not alarm.available():
            return None
        started = time.monotonic()
        try:
            with alarm.alarm(limit, _OutOfTime):
                return self._attempt(equation, binder, free, started)
        except _OutOfTime:
            return None
        except Exception:  # SymPy could not decide; the numeric verdict stands
            return None

    def _attempt(self, equation: WrittenEquation, binder: Binder, free, started: float) -> Proof | None:
        symmetric = all(_symmetric(side, binder, dict(free)) for side in equation.sides)
        planned = plan(self.table, free, symmetric)
        if planned is None:
            return None
        sizes, assignments = planned
        model = self.model(sizes)
        evaluate = SymbolicEvaluator(binder, model, Deadline(self.time_limit))
        for env in assignments:
            left = evaluate(equation.sides[0], env)
            for side in equation.sides[1:]:
                if not is_zero(left - evaluate(side, env), model):
                    return None
        shown = {str(s): v for s, v in sizes.items()}
        return Proof(shown, len(assignments), time.monotonic() - started)
