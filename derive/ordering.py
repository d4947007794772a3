"""The order in which a course writes the factors of a product, shared by every printer.

SymPy's ``Mul`` sorts its factors canonically (``(1 - a)*a*w*delta``); a course writes the error
first, then back-propagated sums, weights, activations, biases and inputs: ``delta w a (1 - a) x``.
"""

from __future__ import annotations

import sympy as sp

from .naming import is_coefficient, split_name

# Reading order of factors in a product, by quantity: error terms, back-propagated sums, weights,
# activations, biases, inputs/targets. Anything else (numbers first) keeps SymPy's order.
_RANK = {"delta": 1, "W": 3, "w": 3, "z": 4, "a": 4, "g": 4, "b": 5, "x": 6, "y": 6, "L": 0}
_SUM_RANK = 2
_FUNCTION_RANK = 6.5
_OTHER_RANK = 7


def _base_name(q: sp.Basic) -> str | None:
    """The quantity name (``W1``, ``a``) of a Symbol, IndexedBase or Indexed; else None."""
    if isinstance(q, sp.Indexed):
        return q.base.label.name
    if isinstance(q, sp.IndexedBase):
        return q.label.name
    if isinstance(q, sp.Symbol):
        return q.name
    return None


def _quantities(expr: sp.Basic) -> set[sp.Basic]:
    return {q for q in expr.atoms(sp.Indexed, sp.Symbol) if split_name(_base_name(q) or "")}


def _rank(factor: sp.Expr) -> float:
    if factor.is_Number:
        return 0
    if isinstance(factor, sp.Symbol) and is_coefficient(factor.name):
        return 0.5  # a coefficient named by a Greek letter (lambda) leads, as a number does
    if isinstance(factor, sp.Sum):
        return _SUM_RANK
    if isinstance(factor, sp.Pow):
        return _rank(factor.base)
    if isinstance(factor, sp.Function):
        return _FUNCTION_RANK  # y \log a, (1 - y) \log(1 - a): the function last
    parts = split_name(_base_name(factor) or "")
    if parts:
        return _RANK.get(parts[0], _OTHER_RANK)
    ranks = [_rank(q) for q in _quantities(factor)]
    return min(ranks) - 0.5 if ranks else _OTHER_RANK


def reading_order(factors: list[sp.Expr]) -> list[sp.Expr]:
    """Factors as a course writes them: ``delta w a (1 - a) x``; a compound factor sharing a
    quantity with a plain sibling (``1 - a`` beside ``a``) follows that sibling."""
    plain = {_base_name(f): _rank(f) for f in factors if _base_name(f)}

    def key(item: tuple[int, sp.Expr]) -> tuple[float, int]:
        position, factor = item
        if _base_name(factor) is None and not factor.is_Number and not isinstance(factor, sp.Sum):
            shared = [plain[n] for n in (_base_name(q) for q in _quantities(factor)) if n in plain]
            if shared:
                return max(shared) + 0.5, position
        return _rank(factor), position

    return [f for _, f in sorted(enumerate(factors), key=key)]
