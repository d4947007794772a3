"""Naming the slip in a wrong answer: the one small edit of it that makes it right.

``edits(equation, table, free)`` yields ``(Slip, edited equation)`` pairs: the answer (the last
side) changed in one place, in the order students most often err: a flipped sign, two indices
swapped (a transpose), one index letter for another, one layer for another, a sum's upper limit,
a factor too many, a term too many or with the wrong sign, and a factor missing (a model quantity
over the free indices: ``x_j``, ``w^{(2)}_k``, ``a^{(1)}_k``, ``1 - a^{(1)}_k``, ``a(1 - a)``).
The caller keeps the first edit that is correct at every point it checks, so the message says
what to change in words a student can act on, from the student's own writing. Edits are rewrites
of the parse tree; nothing is evaluated as code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import sympy as sp

from ..special import kronecker_latex
from .latex_parse import (
    Add,
    Cases,
    Div,
    Func,
    Group,
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
    WrittenEquation,
    WrittenPartial,
    rebuild,
)
from .problems import Wrong
from .quantities import ERRORS, ModelTable, Quantity

MAX_EDITS = 1200  # edits tried per wrong answer, at most (each stops at its first mismatch)
KINDS = ("sign", "transpose", "wrong-index", "wrong-layer", "wrong-quantity", "sum-range", "extra-factor",
         "extra-term", "term-sign", "missing-factor", "missing-term")


@dataclass(frozen=True)
class Slip:
    """What is wrong, by kind (``sign``, ``transpose``, ``wrong-index``, ``wrong-layer``,
    ``sum-range``, ``extra-factor``, ``extra-term``, ``term-sign``, ``missing-factor``), and the
    sentence a student reads."""

    kind: str
    message: str


def written(node: Node) -> str:
    """A node as LaTeX, for messages: ``w^{(2)}_{k}``, ``(1 - a_{k})``, ``\\sum_{k=1}^{K} ...``."""
    if isinstance(node, Name):
        return node.show()
    if isinstance(node, Num):
        return f"{node.value:g}"
    if isinstance(node, Group):
        return "(" + written(node.inner) + ")"
    if isinstance(node, Neg):
        return "-" + written(node.arg)
    if isinstance(node, Add):
        text = written(node.terms[0])
        for term in node.terms[1:]:
            text += " - " + written(term.arg) if isinstance(term, Neg) else " + " + written(term)
        return text
    if isinstance(node, Mul):
        return " ".join(f"({written(f)})" if isinstance(f, Add) else written(f) for f in node.factors)
    if isinstance(node, Div):
        num, den = (part.inner if isinstance(part, Group) else part for part in (node.num, node.den))
        return f"\\frac{{{written(num)}}}{{{written(den)}}}"
    if isinstance(node, Pow):
        return f"{written(node.base)}^{{{written(node.exp)}}}"
    if isinstance(node, Func):
        return f"\\{node.name}{chr(39) if node.prime else ''}({written(node.arg)})"
    if isinstance(node, WrittenPartial):
        return f"\\frac{{\\partial {written(node.num)}}}{{\\partial {written(node.den)}}}"
    if isinstance(node, Sum):
        limits = f"_{{{node.var}}}"
        if node.upper is not None:
            limits = f"_{{{node.var}=1}}^{{{written(node.upper)}}}"
        return f"\\sum{limits} {written(node.body)}"
    if isinstance(node, Max):
        return f"\\max({', '.join(written(a) for a in node.args)})"
    if isinstance(node, Indicator):
        return f"\\mathbb{{1}}[{written(node.left)} {node.relation} {written(node.right)}]"
    if isinstance(node, Kronecker):
        return kronecker_latex(f"{node.i}", f"{node.j}")
    return "..."


def _swap(tree: Node, target: Node, new: Node) -> Node:
    """``tree`` with the node ``target`` (by identity) replaced by ``new``."""
    return rebuild(tree, lambda node: new if node is target else node)


def _walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Cases):
        return
    for child in node.children():
        yield from _walk(child)


def _letters(equation: WrittenEquation) -> list[str]:
    """Every index letter the equation uses, in order of appearance."""
    seen: list[str] = []
    for side in equation.sides:
        for node in _walk(side):
            candidates: tuple = ()
            if isinstance(node, Name):
                candidates = node.indices
            elif isinstance(node, Sum):
                candidates = (node.var,)
            elif isinstance(node, WrittenPartial):
                candidates = node.num.indices + node.den.indices
            for letter in candidates:
                if isinstance(letter, str) and letter not in seen:
                    seen.append(letter)
    return seen


def _without(items: tuple[Node, ...], i: int, cls: type) -> Node:
    rest = items[:i] + items[i + 1 :]
    return rest[0] if len(rest) == 1 else cls(rest)


# Not put into an answer by an edit: the loss, the error terms (names for derivatives) and the
# constants (a norm's epsilon, the weight-decay strength) and the weight-decay term.
UNNAMED = frozenset(("L", *ERRORS, "epsilon", "l2", "Omega"))


def _named(table: ModelTable, skip: frozenset[str] = UNNAMED) -> list[tuple[Quantity, str, int | None]]:
    """Every quantity an answer may name (not L or delta), with the letter and the layer label
    it is written with (``W`` for a weight matrix; a label only where the model has layers)."""
    layered = len(table.names.layers) > 1
    return [(q, "W" if q.kind == "w" and len(q.dims) == 2 else q.kind, q.layer if layered else None)
            for q in table.quantities.values() if q.kind not in skip]


Named = list[tuple[Quantity, str, int | None]]


def _over_free(table: ModelTable, free: dict[str, sp.Expr],
               named: Named | None = None) -> Iterator[tuple[Quantity, Name]]:
    """Each quantity an answer may name (or those of ``named``), written over the free indices
    (each dimension its own free letter of that range), where it can be."""
    for q, base, label in _named(table) if named is None else named:
        letters: list[str] = []
        for dim in q.dims:
            match = next((k for k, width in free.items() if width == dim and k not in letters), None)
            if match is None:
                break
            letters.append(match)
        if len(letters) == len(q.dims):
            yield q, Name(base, tuple(letters), label)


def _derivative_of(table: ModelTable, node: Node) -> tuple[str, tuple] | None:
    """The quantity element whose dL/d an error term or a partial of L is (``g^{(1)}_k`` and
    ``dL/da^{(1)}_k``: a1 at k); None for anything else."""
    try:
        if isinstance(node, Name):
            ref = table.resolve(node)
            if ref.quantity is None or ref.quantity.kind not in ERRORS:
                return None
            of = table.error_of(ref.quantity)
            return of.key, ref.indices
        loss = table.quantities[("L", None)]
        if isinstance(node, WrittenPartial) and table.resolve(node.num).quantity == loss:
            ref = table.resolve(node.den)
            return (ref.quantity.key, ref.indices) if ref.quantity is not None else None
    except Wrong:
        return None
    return None


def _one_minus(name: Name) -> Node:
    return Group(Add((Num(1.0), Neg(name))), "(")


def _candidates(table: ModelTable, free: dict[str, sp.Expr]) -> Iterator[Node]:
    """Model quantities written over the free indices, and for activations ``1 - a`` and
    ``a(1 - a)``: the factors a chain-rule answer most often drops."""
    for q, name in _over_free(table, free):
        if q.kind == "y":
            continue
        yield name
        if q.kind == "a":
            yield _one_minus(name)
            yield Mul((name, _one_minus(name)))


def _atoms(table: ModelTable, free: dict[str, sp.Expr]) -> list[Node]:
    """The quantities a missing term is made of: every quantity over the free indices (targets
    included), and ``1 - q`` of activations and targets (bce's ``(1 - y) / (1 - a)``)."""
    atoms: list[Node] = []
    for q, name in _over_free(table, free):
        atoms.append(name)
        if q.kind in ("a", "y"):
            atoms.append(_one_minus(name))
    return atoms


def _terms(table: ModelTable, free: dict[str, sp.Expr]) -> Iterator[Node]:
    """Candidate missing terms: an atom, a product or a quotient of two (``\\frac{1 - y}{1 - a}``)."""
    atoms = _atoms(table, free)
    yield from atoms
    # An error term alone: the path a residual connection adds (g^{(2)}_k in g^{(1)}_k).
    errors = [item for item in _named(table, frozenset()) if item[0].kind in ERRORS]
    yield from (name for _, name in _over_free(table, free, errors))
    for first in atoms:
        for second in atoms:
            if first is not second:
                yield Div(first, second)
    for i, first in enumerate(atoms):
        for second in atoms[i + 1 :]:
            yield Mul((first, second))


def edits(equation: WrittenEquation, table: ModelTable,
          free: dict[str, sp.Expr]) -> Iterator[tuple[Slip, WrittenEquation]]:
    """Single edits of the answer (the last side), most likely slips first."""
    *rest, answer = equation.sides
    count = 0

    def edited(new_answer: Node) -> WrittenEquation:
        return WrittenEquation((*rest, new_answer), equation.text)

    def attempt(slip: Slip, new_answer: Node) -> Iterator[tuple[Slip, WrittenEquation]]:
        nonlocal count
        count += 1
        if count <= MAX_EDITS:
            yield slip, edited(new_answer)

    nodes = list(_walk(answer))
    yield from attempt(Slip("sign", "the sign is wrong"), Neg(answer))
    letters = _letters(equation)
    names = [n for n in nodes if isinstance(n, Name)]
    for name in names:
        if len(name.indices) == 2 and name.indices[0] != name.indices[1]:
            swapped = replace(name, indices=name.indices[::-1])
            slip = Slip("transpose", f"{name.show()} should be {swapped.show()} (transposed)")
            yield from attempt(slip, _swap(answer, name, swapped))
    for name in names:
        for position, letter in enumerate(name.indices):
            for other in letters:
                if other == letter or not isinstance(letter, str):
                    continue
                indices = name.indices[:position] + (other,) + name.indices[position + 1 :]
                changed = replace(name, indices=indices)
                slip = Slip("wrong-index", f"{name.show()} should be {changed.show()}")
                yield from attempt(slip, _swap(answer, name, changed))
    layers = range(1, len(table.names.layers) + 1)
    for name in names:
        if isinstance(name.label, int):
            for layer in layers:
                if layer != name.label:
                    changed = replace(name, label=layer)
                    slip = Slip("wrong-layer", f"{name.show()} should be {changed.show()}")
                    yield from attempt(slip, _swap(answer, name, changed))
    for name in names:
        for quantity, base, label in _named(table):
            changed = Name(base, name.indices, label)
            if len(quantity.dims) == len(name.indices) and changed.show() != name.show():
                slip = Slip("wrong-quantity", f"{name.show()} should be {changed.show()}")
                yield from attempt(slip, _swap(answer, name, changed))
    for node in nodes:
        if isinstance(node, Sum):
            for size in table.sizes:
                bound = Name(size)
                if node.upper is not None and written(node.upper) == size:
                    continue
                slip = Slip("sum-range", f"the sum over {node.var} should run to {size}")
                yield from attempt(slip, _swap(answer, node, replace(node, lower=None, upper=bound)))
    for node in nodes:
        if isinstance(node, Mul):
            for i, factor in enumerate(node.factors):
                slip = Slip("extra-factor", f"your answer is the correct one times {written(factor)}")
                yield from attempt(slip, _swap(answer, node, _without(node.factors, i, Mul)))
    for node in nodes:
        if isinstance(node, Add):
            inside = "" if node is answer else f" in ({written(node)})"
            for i, term in enumerate(node.terms):
                shown = written(term.arg if isinstance(term, Neg) else term) + inside
                slip = Slip("extra-term", f"the term {shown} should not be there")
                yield from attempt(slip, _swap(answer, node, _without(node.terms, i, Add)))
                flipped = term.arg if isinstance(term, Neg) else Neg(term)
                slip = Slip("term-sign", f"the term {shown} has the wrong sign")
                terms = node.terms[:i] + (flipped,) + node.terms[i + 1 :]
                yield from attempt(slip, _swap(answer, node, replace(node, terms=terms)))
    for factor in _candidates(table, free):
        slip = Slip("missing-factor", f"missing the factor {written(factor)}")
        yield from attempt(slip, Mul((answer, factor)))
    itself = _derivative_of(table, rest[0]) if rest else None
    for term in _terms(table, free):
        if itself is not None and _derivative_of(table, term) == itself:
            continue  # g^{(1)}_k = 0 is not "missing the term g^{(1)}_k"
        slip = Slip("missing-term", f"missing the term {written(term)}")
        yield from attempt(slip, Add((answer, term)))
        slip = Slip("missing-term", f"missing the term -{written(term)}")
        yield from attempt(slip, Add((answer, Neg(term))))
