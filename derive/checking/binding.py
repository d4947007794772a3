"""Index and range analysis, decided before any number is computed.

``Binder.bind(equation)`` resolves every name (``quantities``), takes the left side's free
indices and the ranges they run over, and checks every other side against them: an index that
nothing binds, one that runs over two different ranges, or a sum whose range runs past a
quantity it indexes raises ``Wrong`` with the reason. ``refs`` and ``ranges`` (keyed by node id)
are what evaluation reads. ``check_limits`` bounds literal exponents.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from ..naming import STEP_LETTER
from .latex_parse import (
    Add,
    Cases,
    Div,
    Group,
    Kronecker,
    Name,
    Neg,
    Node,
    Num,
    Pow,
    Sum,
    WrittenEquation,
    WrittenPartial,
    letter_of,
    letters_of,
    rebuild,
)
from .problems import Unreadable, Wrong
from .quantities import ERRORS, ModelTable, Ref

MAX_EXPONENT = 100  # |literal exponent|; larger ones only overflow

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
        self.sum_dims: dict[int, tuple[sp.Expr, ...]] = {}  # what each sum's index runs over
        # In a model that couples the examples: whether the answer (a right side) is about one
        # example, written with per-example quantities without their example index. Then a
        # parameter's dL/dtheta is that example's term of the batch's gradient, else the batch's.
        self.one_example = False
        self.uses_example = False  # whether any name stands for "the example the equation is about"

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
        self.uses_example |= ref.implicit
        found: Occurrences = {}
        if ref.quantity is not None:
            for idx, dim in zip(ref.indices, ref.dims, strict=True):
                letters = letters_of(idx)
                # t+r-1 tells neither letter's range; t+1 tells t's, as t does
                span = dim if len(letters) == 1 else None
                for letter in letters:
                    if letter not in self.table.sizes:  # h_{T}: a size is a position
                        found.setdefault(letter, []).append((span, node.show()))
        return found

    def _occ_WrittenPartial(self, node: WrittenPartial) -> Occurrences:
        before = self.uses_example
        found = self._occ_Name(node.num)
        numerator = self.refs[id(node.num)].quantity
        if numerator is not None and numerator.kind == "L":
            self.uses_example = before  # dL/d...: the batch's loss, not one example's
        found = _merge(found, self._occ_Name(node.den))
        for part in (node.num, node.den):
            quantity = self.refs[id(part)].quantity
            if quantity is None or quantity.kind in ERRORS:
                raise Wrong(f"{part.show()} in a partial derivative is not a quantity of the forward pass")
        return found

    def _occ_Kronecker(self, node: Kronecker) -> Occurrences:
        letters = (letter for i in (node.i, node.j) for letter in letters_of(i))
        return {i: [(None, "\\delta")] for i in letters if i not in self.table.sizes}

    def _occ_Cases(self, node: Cases) -> Occurrences:
        found: Occurrences = {}
        for value, cond in node.rows:
            _merge(found, self.occurrences(value))
            for i in (cond.i, cond.j):
                for letter in letters_of(i) if i is not None else ():
                    if letter not in self.table.sizes:
                        found.setdefault(letter, []).append((None, "a condition"))
        return found

    def _occ_Sum(self, node: Sum) -> Occurrences:
        found = self.occurrences(node.body)
        uses = found.pop(node.var, [])
        if node.exclude == node.var:
            raise Wrong(f"the sum over {node.var} excludes {node.var} itself, so it has no terms")
        if isinstance(node.exclude, str):  # \sum_{k \neq j} uses j like a Kronecker delta does
            found.setdefault(node.exclude, []).append((None, f"\\sum_{{{node.var} \\neq {node.exclude}}}"))
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
        self.sum_dims[id(node)] = tuple(dim for dim, _ in dims)
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

    def bind(self, equation: WrittenEquation) -> dict[str, sp.Expr]:
        """The free indices of the left side and their ranges; checks every other side against them."""
        self._require_quantity(equation.sides[0], before=True)
        free: dict[str, sp.Expr] = {}
        left = self.occurrences(equation.sides[0])
        self._require_quantity(equation.sides[0], before=False)
        for letter, uses in left.items():
            dims = {dim for dim, _ in uses if dim is not None}
            if not dims:
                raise Wrong(f"index {letter} on the left side indexes no quantity, so its range is unknown")
            if len(dims) > 1:
                listed = ", ".join(f"{where} ({dim} entries)" for dim, where in uses if dim is not None)
                raise Wrong(f"index {letter} stands for different ranges on the left side: {listed}")
            free[letter] = dims.pop()
        for side in equation.sides[1:]:
            occurrences = self.occurrences(side)  # resolves the side's names
            self.one_example |= self._implicit(side)
            for letter, uses in occurrences.items():
                if letter not in free:
                    raise Wrong(f"index {letter} on the right is not bound by the left side or a sum")
                for dim, where in uses:
                    if dim is not None and dim != free[letter]:
                        raise Wrong(f"index {letter} runs over {free[letter]} values on the left, "
                                    f"but {where} has {dim} entries")
        return free


    def _implicit(self, node: Node) -> bool:
        """Whether ``node`` (resolved) names a per-example quantity without its example index,
        other than the loss being differentiated."""
        if isinstance(node, WrittenPartial):
            return self._implicit(node.den)
        if isinstance(node, Name):
            ref = self.refs.get(id(node))
            return ref is not None and ref.implicit
        return any(self._implicit(child) for child in node.children())

    def _require_quantity(self, node: Node, before: bool) -> None:
        """``Unreadable`` unless the left side names a quantity of the model: a name of the forward
        pass or an error term, or a partial derivative (``before``: its shape, before names are
        resolved; after: that a plain name is a quantity, not a size or e).

        Unusable input (exit 2), not a wrong answer (exit 1): ``1 = 1`` or ``a + 1 = z`` states
        nothing about the model that could be right or wrong, so there is no answer to grade and
        no counterexample to give; like an unparseable equation, the writer has to rewrite it.
        """
        while isinstance(node, Group):
            node = node.inner
        if isinstance(node, WrittenPartial):
            return
        if isinstance(node, Name) and (before or self.refs[id(node)].quantity is not None):
            return
        hint = r"; write a derivative as \frac{\partial L}{\partial z} or \frac{dL}{dz}"
        raise Unreadable(f"the left side must name a quantity of the model, e.g. {self.table.examples()}"
                         + (hint if _has_div(node) else ""))


def _has_div(node: Node) -> bool:
    """Whether a fraction is written somewhere in ``node`` (``dL/dz`` typed as a quotient)."""
    return isinstance(node, Div) or any(_has_div(child) for child in node.children())


def check_limits(node: Node) -> None:
    """``Unreadable`` for a literal exponent beyond ``MAX_EXPONENT`` anywhere in ``node``."""
    if isinstance(node, Pow):
        inner = node.exp.inner if isinstance(node.exp, Group) else node.exp
        if isinstance(inner, Num) and abs(inner.value) > MAX_EXPONENT:
            raise Unreadable(f"exponent {inner.value:g} is too large (the limit is {MAX_EXPONENT})")
    for child in node.children():
        check_limits(child)


def recurrent_errors(equation: WrittenEquation, table: ModelTable) -> WrittenEquation:
    """In a recurrent model, ``\\delta_{tk}`` with the step first (``t``, ``t+1``, ``T``) is the
    recurrent layer's error delta_{tk}, not the Kronecker delta the parser reads ``\\delta`` with
    two indices as (``\\delta_{ij}`` of a softmax stays one)."""
    r = table.recurrent
    if r is None:
        return equation

    def step_first(node: Node) -> Node:
        if isinstance(node, Kronecker) and letter_of(node.i) in (STEP_LETTER, str(r.steps)):
            return Name("delta", (node.i, node.j))
        return node

    return replace(equation, sides=tuple(rebuild(side, step_first) for side in equation.sides))

