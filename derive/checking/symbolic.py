"""The model at small concrete sizes as SymPy expressions: values, derivatives, identities.

``SymbolicModel(table, sizes)`` has the interface of ``instances.ModelInstance`` (``value``,
``derivative``, ``size``), but an element's value is its own SymPy symbol (``naming.element``:
``W1[2, 1]``, ``a``), and ``derivative(num, den)`` is the chain rule through the model's local
definitions, each one from ``derive.forward`` (pre-activation, activation, loss) and
differentiated by SymPy. ``canonical(deep)`` substitutes the definitions back (``a = sigma(z)``
and the loss; with ``deep`` also ``z`` down to parameters and inputs) and eliminates a target by
the loss's identities (``sum_k y_k = 1``, from the ``losses`` registry).
"""

from __future__ import annotations

import itertools

import sympy as sp

from .. import forward, losses
from ..naming import element
from .instances import Element, units
from .quantities import ModelTable


class SymbolicModel:
    """The model's quantities at concrete ``sizes``: symbols, local definitions and derivatives."""

    def __init__(self, table: ModelTable, sizes: dict[sp.Symbol, int]):
        self.table = table
        self.names = names = table.names
        self.sizes = sizes
        self.symbols: dict[str, sp.Symbol | sp.IndexedBase] = {q.name: q for q in (names.x, names.y, names.L)}
        self.shallow: dict[sp.Expr, sp.Expr] = {}  # a and L: the activation and loss definitions
        self.deep: dict[sp.Expr, sp.Expr] = {}  # z: the pre-activations
        self.order: list[sp.Expr] = []  # defined elements, inputs before outputs
        for layer in names.layers:
            self.symbols.update({q.name: q for q in (layer.z, layer.a, layer.w, layer.b)})
            if layer.norm:
                self.symbols.update({q.name: q for q in (layer.mu, layer.var, layer.ztilde, layer.zhat,
                                                         layer.gamma, layer.beta, layer.eps)})
            self._define_layer(layer)
        self._define(names.L, forward.loss(names).xreplace(sizes).doit(), self.shallow)
        if names.l2 is not None:  # Omega = (lambda / 2) sum w^2, with lambda a symbol here
            l2 = sp.Symbol(table.l2_key, positive=True)
            self.symbols.update({table.l2_key: l2, names.decay.name: names.decay})
            decay = forward.weight_decay(names).xreplace({names.l2: l2, **sizes}).doit()
            self._define(names.decay, decay, self.shallow)
        self.known = frozenset(self.symbol((key, idx)) for key, idx in self._elements())
        self.definitions = {**self.shallow, **self.deep}
        self._local: dict[sp.Expr, list[tuple[sp.Expr, sp.Expr]]] = {}  # target -> (use, d target/d use)
        self._derivatives: dict[sp.Expr, dict[sp.Expr, sp.Expr]] = {}
        self._sizes: dict[sp.Expr, int] = {}
        self._canonical: dict[bool, dict[sp.Expr, sp.Expr]] = {}
        self._identities: dict[sp.Expr, sp.Expr] | None = None

    def _elements(self):
        for key, q in self.symbols.items():
            if isinstance(q, sp.IndexedBase):
                shape = self.table.quantities[self._kind(key)].dims
                grids = [range(1, int(d.subs(self.sizes)) + 1) for d in shape]
                yield from ((key, idx) for idx in itertools.product(*grids))
            else:
                yield key, ()

    def _kind(self, key: str) -> tuple[str, int | None]:
        return next(k for k, q in self.table.quantities.items() if q.key == key)

    def _define(self, target: sp.Expr, definition: sp.Expr, into: dict) -> None:
        into[target] = definition
        self.order.append(target)

    def _define_layer(self, layer) -> None:
        _, explicit = forward.activation(layer, self.names)
        unit_numbers = [sp.Integer(u[0]) if u else None for u in units(layer.width, layer.index, self.sizes)]
        for k in unit_numbers:
            pre = forward.pre_activation(layer, k)
            self._define(element(layer.z, k), pre.xreplace(self.sizes).doit(), self.deep)
        if layer.norm:  # mu, sigma^2, z-tilde and z-hat, from forward's definitions
            mean, variance = forward.statistics(layer)
            self._define(layer.mu, mean.xreplace(self.sizes).doit(), self.shallow)
            self._define(layer.var, variance.xreplace(self.sizes).doit(), self.shallow)
            for k in unit_numbers:
                self._define(element(layer.ztilde, k), forward.normalised(layer, k), self.shallow)
            for k in unit_numbers:
                self._define(element(layer.zhat, k), forward.scaled(layer, k), self.shallow)
        for k in unit_numbers:
            at = {layer.index: k} if k is not None else {}
            self._define(element(layer.a, k), explicit.xreplace({**at, **self.sizes}).doit(), self.shallow)

    def symbol(self, el: Element) -> sp.Expr:
        key, idx = el
        return element(self.symbols[key], *(sp.Integer(i) for i in idx))

    def size(self, expr: sp.Expr) -> int:
        if expr not in self._sizes:
            self._sizes[expr] = int(expr.subs(self.sizes))
        return self._sizes[expr]

    def value(self, el: Element) -> sp.Expr:
        return self.symbol(el)

    def derivative(self, num: Element, den: Element) -> sp.Expr:
        """d num / d den with ``den`` held independent, by the chain rule over local definitions."""
        seed = self.symbol(den)
        if seed not in self._derivatives:
            self._derivatives[seed] = self._tangents(seed)
        return self._derivatives[seed].get(self.symbol(num), sp.Integer(0))

    def _tangents(self, seed: sp.Expr) -> dict[sp.Expr, sp.Expr]:
        tangents = {seed: sp.Integer(1)}
        for target in self.order:
            if target == seed:
                continue
            parts = [local * tangents[use] for use, local in self.local(target) if use in tangents]
            if parts:
                tangents[target] = sp.Add(*parts)
        return tangents

    def local(self, target: sp.Expr) -> list[tuple[sp.Expr, sp.Expr]]:
        """(element used, SymPy's derivative of the target's definition by it), computed once."""
        if target not in self._local:
            definition = self.definitions[target]
            uses = [e for e in definition.atoms(sp.Indexed, sp.Symbol) if e in self.known]
            self._local[target] = [(use, sp.diff(definition, use)) for use in uses]
        return self._local[target]

    def canonical(self, deep: bool) -> dict[sp.Expr, sp.Expr]:
        """One substitution map that writes an expression through the model's free quantities.

        Shallow: a = f(z) and L, with each pre-activation z = log t for a fresh t > 0 (so e^{z} is
        the rational t); deep: z = W a + b too, down to parameters and inputs. Both eliminate a
        target by the loss's identities. Computed once; inputs first, so one pass composes.
        """
        if deep not in self._canonical:
            composed = dict(self.identities())
            for target in self.order:
                if target in self.shallow or deep:
                    composed[target] = self.definitions[target].xreplace(composed)
                else:
                    composed[target] = sp.log(sp.Dummy("t", positive=True))
            self._canonical[deep] = composed
        return self._canonical[deep]

    def identities(self) -> dict[sp.Expr, sp.Expr]:
        """Each linear identity of the loss solved for the last target element it involves."""
        if self._identities is None:
            self._identities = self._solve_identities()
        return self._identities

    def _solve_identities(self) -> dict[sp.Expr, sp.Expr]:
        out, y = self.names.output, self.names.y
        if out.index is None:
            return {}
        width = int(out.width.subs(self.sizes))
        c = sp.Dummy("c", integer=True, positive=True)
        solved = {}
        for identity in losses.get(self.names.spec.loss).identities:
            equation = identity.lhs(lambda i: element(y, i), c, width).doit() - identity.rhs
            last = element(y, sp.Integer(width))
            slope = sp.diff(equation, last)
            if slope != 0 and sp.diff(slope, last) == 0:
                solved[last] = sp.expand(last - equation / slope)
        return solved
