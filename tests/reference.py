"""Independent references for the tests: the fully composed loss at concrete sizes, SymPy's own
``diff`` of it, and central finite differences. Nothing here reads the engine's chain-rule logic;
it only *evaluates* the engine's results at concrete sizes so they can be compared.
"""

from __future__ import annotations

import itertools
import random

import sympy as sp

from derive import forward
from derive.chain import Derivation
from derive.losses import LOSSES
from derive.naming import element


def size_symbols(derivation: Derivation) -> list[sp.Symbol]:
    return derivation.names.size_symbols()


def index_ranges(elem: sp.Expr, derivation: Derivation, sizes: dict) -> list[dict]:
    """Every assignment of concrete values to the free indices of ``elem``."""
    if not isinstance(elem, sp.Indexed):
        return [{}]
    widths = derivation.names.index_widths()
    idx = list(elem.indices)
    ranges = [range(1, int(widths[i].subs(sizes)) + 1) for i in idx]
    return [dict(zip(idx, values, strict=True)) for values in itertools.product(*ranges)]


class Concrete:
    """A derivation evaluated at concrete sizes."""

    def __init__(self, derivation: Derivation, sizes: dict):
        self.d = derivation
        self.sizes = sizes
        self.loss, self.explicit = forward.concrete(derivation.names, sizes)
        self.delta_cache: dict = {}

    def expand(self, expr: sp.Expr, at: dict) -> sp.Expr:
        """``expr`` (indices ``at``) with sums written out and every intermediate made explicit."""
        e = expr.xreplace(at).subs(self.sizes).doit()
        deltas = {q for q in e.atoms(sp.Indexed, sp.Symbol) if self._is_delta(q)}
        e = e.xreplace({q: self.delta_value(q) for q in deltas})
        return e.xreplace(self.explicit).xreplace(self.explicit)

    def _is_delta(self, q) -> bool:
        """Whether ``q`` is an error the derivation defines (delta, delta-hat, g): expanded too."""
        name = q.base.name if isinstance(q, sp.Indexed) else getattr(q, "name", "")
        return name in {_base_name(step.delta) for step in self.d.errors}

    def delta_value(self, q: sp.Expr) -> sp.Expr:
        if q in self.delta_cache:
            return self.delta_cache[q]
        name = q.base.name if isinstance(q, sp.Indexed) else q.name
        step = next(s for s in self.d.errors if _base_name(s.delta) == name)
        at = dict(zip(step.delta.indices, q.indices, strict=True)) if isinstance(q, sp.Indexed) else {}
        value = self.expand(step.value, at)
        self.delta_cache[q] = value
        return value

    def gradient_pairs(self):
        """(step, indices, engine's expanded result, SymPy's diff of the composed loss)."""
        for step in self.d.gradients:
            for at in index_ranges(step.element, self.d, self.sizes):
                ours = self.expand(step.result, at)
                param = step.element.xreplace(at)
                yield step, at, ours, sp.diff(self.loss, param)


def _is_label(expr, s) -> bool:
    return any(i.base.label == s for i in expr.atoms(sp.Indexed))


def _base_name(q) -> str:
    return q.base.name if isinstance(q, sp.Indexed) else q.name


def random_point(concrete: Concrete, rng: random.Random) -> dict:
    """Random parameters and inputs; one-hot (or 0/1) targets."""
    names = concrete.d.names
    point = {}
    ys = []
    atoms = concrete.loss.atoms(sp.Indexed) | {
        s for s in concrete.loss.atoms(sp.Symbol) if not _is_label(concrete.loss, s)
    }
    for s in atoms:
        base = _base_name(s)
        if base == "y":
            ys.append(s)
        else:
            point[s] = sp.Float(rng.uniform(-1.5, 1.5), 30)
    target = LOSSES[concrete.d.spec.loss].target
    if target == "one-hot":
        ys.sort(key=str)
        all_y = [element(names.y, c) for c in range(1, len(ys) + 1)] if ys else []
        hot = rng.randrange(len(all_y))
        point.update({y: sp.Integer(int(i == hot)) for i, y in enumerate(all_y)})
    elif target == "binary":
        point.update({y: sp.Integer(rng.randrange(2)) for y in ys})
    else:
        point.update({y: sp.Float(rng.uniform(-1, 1), 30) for y in ys})
    return point


def evaluator(expr: sp.Expr, symbols: list):
    """``expr`` as a fast 30-digit mpmath function of ``symbols`` (values in the same order)."""
    import mpmath

    mpmath.mp.dps = 30
    return sp.lambdify(symbols, expr, modules="mpmath")


def central_difference(f, point: dict, symbol, h: float = 1e-10):
    """Central difference of ``f`` (an ``evaluator`` over ``sorted(point, key=str)``) at ``point``."""
    import mpmath

    keys = sorted(point, key=str)
    values = [mpmath.mpf(str(point[k])) for k in keys]
    at = keys.index(symbol)
    plus, minus = list(values), list(values)
    plus[at] += h
    minus[at] -= h
    return (f(*plus) - f(*minus)) / (2 * h)


def values(point: dict) -> list:
    import mpmath

    return [mpmath.mpf(str(point[k])) for k in sorted(point, key=str)]
