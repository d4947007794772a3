"""A ``Derivation`` as JSON-ready data; expressions as SymPy-parsable strings.

Strings use the naming module's Python names (``W1[k, j]``, ``delta2``, ``Partial(L, a)``).
``symbols`` lists every name by kind (indexed arrays, real scalars, integer indices and sizes) so
a reader can rebuild the SymPy objects and ``parse_expr`` the strings with them as local names;
derive itself never parses these strings.
"""

from __future__ import annotations

import sympy as sp

from .chain import Chain, Derivation, Factor
from .naming import Constant
from .version import __version__


def _s(expr) -> str | None:
    return None if expr is None else sp.sstr(expr, order="none")


def _layer(layer) -> dict:
    """A spec layer as JSON: units and activation, and the keys the spec sets beyond them."""
    return {
        "units": layer.units,
        "activation": layer.activation,
        **dict(layer.parameters),
        **({} if layer.bias else {"bias": False}),
        **({"skip": layer.skip} if layer.skip is not None else {}),
        **({"norm": layer.norm, "eps": layer.eps} if layer.norm else {}),
    }


def _chain(chain: Chain) -> str:
    return sp.sstr(chain.expr, order="none")


def _factor(f: Factor) -> dict:
    return {
        "of": _s(f.of),
        "wrt": _s(f.wrt),
        "raw": _s(f.raw),
        "textbook": _s(f.textbook),
        "cases": [{"value": _s(v), "condition": _s(c)} for v, c in f.cases],
    }


def _symbols(d: Derivation) -> dict:
    atoms: set = set()
    for eq in d.setup:
        atoms |= eq.lhs.atoms(sp.Symbol, sp.IndexedBase) | eq.rhs.atoms(sp.Symbol, sp.IndexedBase)
    for step in d.errors:
        atoms |= step.value.atoms(sp.Symbol, sp.IndexedBase) | step.delta.atoms(sp.Symbol, sp.IndexedBase)
    if d.decay is not None:
        atoms |= d.decay.term.lhs.atoms(sp.Symbol) | d.decay.term.rhs.atoms(sp.Symbol, sp.IndexedBase)
    indexed = sorted({a.name for a in atoms if isinstance(a, sp.IndexedBase)})
    labels = set(indexed)
    plain = [a for a in atoms if isinstance(a, sp.Symbol) and a.name not in labels]
    ints = sorted({a.name for a in plain if a.is_integer})
    reals = sorted({a.name for a in plain if not a.is_integer})
    table = {"indexed": indexed, "scalars": reals, "integers": ints}
    constants = {c.name: c.value for c in atoms if isinstance(c, Constant)}
    return {**table, "constants": dict(sorted(constants.items()))} if constants else table


def _decay(d: Derivation) -> dict:
    """Weight decay, when the spec has it: l2, the term Omega, and dOmega/dw per weight element."""
    if d.decay is None:
        return {}
    return {
        "decay": {
            "l2": _s(d.names.l2),
            "term": {"lhs": _s(d.decay.term.lhs), "rhs": _s(d.decay.term.rhs)},
            "factors": [_factor(f) for f in d.decay.factors],
        }
    }


def to_dict(d: Derivation) -> dict:
    names = d.names
    return {
        "derive_version": __version__,
        "model": d.spec.name,
        "title": d.spec.title,
        "spec": {
            "inputs": d.spec.inputs,
            "layers": [_layer(layer) for layer in d.spec.layers],
            "loss": d.spec.loss,
            **({"l2": d.spec.l2} if d.spec.l2 is not None else {}),
        },
        "parameters": {
            q.name: [str(w) for w in (layer.weight_dims if q is layer.w else layer.unit_dims)]
            for layer in reversed(names.layers)
            for q in layer.params
        },
        "symbols": _symbols(d),
        "setup": [{"lhs": _s(e.lhs), "rhs": _s(e.rhs), "explicit": _s(e.explicit)} for e in d.setup],
        "errors": [
            {
                "layer": s.layer,
                "delta": _s(s.delta),
                "of": _s(s.of),
                "chain": _chain(s.chain),
                "factors": [_factor(f) for f in s.factors],
                "result": _s(s.result),
                "value": _s(s.value),
                "uses": [{"lhs": _s(u.lhs), "rhs": _s(u.rhs), "reason": u.reason} for u in s.uses],
                # What the step is the error of, beyond a layer's z; every path, when several.
                **({"quantity": s.quantity} if s.quantity != "z" else {}),
                **({"paths": [_chain(c) for c in s.paths]} if len(s.paths) > 1 else {}),
            }
            for s in d.errors
        ],
        "gradients": [
            {
                "parameter": g.parameter.name,
                "element": _s(g.element),
                "chain": _chain(g.chain),
                "short": _chain(g.short),
                "factor": _factor(g.factor),
                "result": _s(g.result),
                "expanded": _s(g.expanded),
                **({"through": g.quantity} if g.quantity != "z" else {}),
            }
            for g in d.gradients
        ],
        **_decay(d),
    }
