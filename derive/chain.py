"""The chain-rule engine: model names -> ``Derivation`` (data: set-up and steps, SymPy throughout).

Backpropagation form: walking from the loss towards the inputs in reverse topological order (a
residual connection only reaches back), each quantity's error is defined once, as the sum over
its consumers of their errors times the local derivatives: a layer's ``delta = dL/dz`` from the
next layer's, ``g = dL/da`` where a skip gives the output a second consumer (both paths shown and
added), ``delta-hat = dL/dzhat`` and a norm's Jacobian where a norm couples the units (or the
batch's examples). Every parameter's gradient is an error times the local derivative of what the
parameter enters. Each factor is SymPy's ``diff`` of the quantity's defining equation (Kronecker
deltas summed out) beside the textbook form the activation, loss or norm registry states for it.
The engine names no activation, loss or norm: it reads the registries.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import sympy as sp
from sympy.concrete.delta import deltasummation

from . import forward, losses, norms
from .errors import DeriveError
from .forward import Equation
from .naming import EXAMPLE, LayerNames, ModelNames, element, index, reindex, scalar
from .naming import names as model_names
from .spec import ModelSpec


class Partial(sp.Function):
    """An unevaluated partial derivative ``d num / d den`` of model quantities (for display)."""

    nargs = 2

    @property
    def num(self) -> sp.Expr:
        return self.args[0]

    @property
    def den(self) -> sp.Expr:
        return self.args[1]


@dataclass(frozen=True)
class Factor:
    """One factor of a chain: ``d of / d wrt = raw = textbook``, with ``cases`` if it branches."""

    of: sp.Expr
    wrt: sp.Expr
    raw: sp.Expr  # SymPy's derivative of the defining equation
    textbook: sp.Expr  # the registry's (or the simplified) form; equal to raw on the model
    cases: tuple[tuple[sp.Expr, sp.Expr], ...] = ()  # (value, condition) when textbook branches

    @property
    def partial(self) -> Partial:
        return Partial(self.of, self.wrt)


@dataclass(frozen=True)
class Chain:
    """A chain-rule factorisation in reading order: ``sum_{index} f1 f2 ...`` (sum optional).

    SymPy's ``Mul`` would reorder the factors; the order is the explanation, so keep it as data.
    """

    factors: tuple[Partial, ...]
    sum: tuple[sp.Symbol, sp.Expr, sp.Expr] | None = None

    def then(self, *more: Partial) -> Chain:
        return Chain(self.factors + more, self.sum)

    @property
    def expr(self) -> sp.Expr:
        """The chain as one SymPy expression, its factors kept in reading order (unevaluated)."""
        product = sp.Mul(*self.factors, evaluate=False) if len(self.factors) > 1 else self.factors[0]
        return sp.Sum(product, self.sum) if self.sum else product


@dataclass(frozen=True)
class UsedIdentity:
    """A loss-registry fact used in a simplification: ``sum_k y_k = 1`` (y is one-hot)."""

    lhs: sp.Expr
    rhs: sp.Expr
    reason: str


@dataclass(frozen=True)
class ErrorStep:
    """``delta = dL/dz`` of one layer: factorisation, factors, and the simplified result."""

    layer: int
    delta: sp.Expr  # the error element, e.g. delta1[k]
    of: sp.Expr  # dL/d(this): the z element the step differentiates with respect to
    chain: Chain  # factorisation
    factors: tuple[Factor, ...]
    product: sp.Expr  # the factors' textbook forms multiplied, before simplification
    collected: sp.Expr  # the product with sums split and Kronecker deltas summed out
    result: sp.Expr  # simplified, indexed by ``of``'s index
    value: sp.Expr  # the same, indexed by the layer's own index: what ``delta`` stands for
    uses: tuple[UsedIdentity, ...] = ()
    output: bool = False  # True for the output layer (no earlier delta involved)
    # What this is the error of: "z" (delta = dL/dz), "a" (g = dL/da, the error of a layer's output,
    # named where a residual connection gives it more than one consumer) or "zhat" (delta-hat,
    # dL/dzhat of a normalised layer).
    quantity: str = "z"
    # Every path the error arrives by, summed (a skip gives two); ``chain`` is the first.
    paths: tuple[Chain, ...] = ()

    @property
    def loss(self) -> sp.Expr:
        """The loss the chain starts from."""
        return self.chain.factors[0].num

    @property
    def definition(self) -> Partial:
        """What ``delta`` stands for: ``dL/dz`` in the layer's own index."""
        return Partial(self.loss, reindex(self.of, self.delta))


@dataclass(frozen=True)
class GradientStep:
    """``dL/d(parameter element)``: full chain, short form through delta, result."""

    layer: int
    parameter: sp.Symbol | sp.IndexedBase  # the whole parameter, e.g. W1
    element: sp.Expr  # W1[k, j]
    chain: Chain  # through the model's own quantities (error chain, then dz/dtheta)
    short: Chain  # dL/dz, then dz/dtheta
    factor: Factor  # dz/dtheta
    result: sp.Expr  # delta * factor, e.g. delta1[k]*x[j]
    expanded: sp.Expr  # result with this layer's delta written out
    quantity: str = "z"  # the error it goes through (ErrorStep.quantity): "zhat" for gamma, beta


@dataclass(frozen=True)
class Decay:
    """Weight decay: ``Omega = (l2 / 2) sum of every weight squared``, added once to the batch's
    mean loss, and where it enters each weight's gradient, ``dOmega/dw_kj = l2 w_kj``."""

    term: Equation  # Omega = (l2/2) sum_l sum_kj (w^(l)_kj)^2
    factors: tuple[Factor, ...]  # dOmega/d(weight element), one per weight, in gradient order

    def factor(self, element: sp.Expr) -> Factor | None:
        return next((f for f in self.factors if f.wrt == element), None)


@dataclass(frozen=True)
class Derivation:
    """Everything the renderers need for one model. Built by ``derive``; never re-derived."""

    spec: ModelSpec
    names: ModelNames
    setup: tuple[Equation, ...]
    errors: tuple[ErrorStep, ...]  # output layer first
    gradients: tuple[GradientStep, ...]  # in ``names.parameters()`` order
    decay: Decay | None = None  # weight decay, when the spec asks for it (l2)
    # A recurrent first layer's part (a derive.recurrent.Recurrence, typed loosely: this module cannot
    # import the one that builds on it); then ``names`` and the steps above are its dense head's.
    recurrence: Any = None

    def error(self, layer: int, quantity: str = "z") -> ErrorStep:
        """Layer ``layer``'s error of ``quantity`` (default: ``delta = dL/dz``)."""
        return next(step for step in self.errors if step.layer == layer and step.quantity == quantity)

    def through(self, step: GradientStep) -> ErrorStep:
        """The error step a gradient goes through."""
        return self.error(step.layer, step.quantity)

    def found(self, partial: Partial) -> ErrorStep | None:
        """The step that found ``dL/d(quantity)`` (any index), if one did: what a chain reuses."""
        base = partial.den.base if isinstance(partial.den, sp.Indexed) else partial.den
        return next((s for s in self.errors
                     if (s.of.base if isinstance(s.of, sp.Indexed) else s.of) == base), None)

    def final(self, step: GradientStep) -> sp.Expr:
        """The form a gradient is answered in: written out at the output layer (``(a - y) x_j``);
        through the layer's error at a hidden layer (``delta_k x_j``), whose delta is stated once."""
        return step.expanded if self.through(step).output else step.result


# --- symbolic helpers ---------------------------------------------------------------------------


def _delta_outside(term: sp.Expr) -> sp.Expr:
    """A case analysis whose every case carries the same Kronecker deltas, with them outside:
    ``{d u, d v} = d {u, v}``, so that the deltas can be summed out."""

    def pull(cases: sp.Piecewise) -> sp.Expr:
        values = [sp.factor_terms(value) for value, _ in cases.args]
        common = set.intersection(
            *({f for f in sp.Mul.make_args(v) if isinstance(f, sp.KroneckerDelta)} for v in values)
        )
        if not common:
            return cases
        outside = sp.Mul(*common)
        inside = [(v / outside, cond) for v, (_, cond) in zip(values, cases.args, strict=True)]
        return outside * sp.Piecewise(*inside)

    return term.replace(lambda e: isinstance(e, sp.Piecewise), pull)


def _collapse_sum(s: sp.Sum) -> sp.Expr:
    """Split a one-index sum into terms, pull out constants, sum out Kronecker deltas."""
    (var, lo, hi), *rest = s.limits
    if rest:  # innermost first: sum_k sum_j f = sum_k (sum_j f)
        inner = _collapse_sum(sp.Sum(s.function, (var, lo, hi)))
        return _collapse_sum(sp.Sum(inner, *rest))
    total = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand_mul(_delta_outside(s.function))):
        const, dep = term.as_independent(var, as_Add=False)
        if dep == 1:
            total += const * (hi - lo + 1)
        elif dep.has(sp.KroneckerDelta):
            total += const * deltasummation(dep, (var, lo, hi), no_piecewise=True)
        else:
            total += const * sp.Sum(dep, (var, lo, hi))
    return total


def collapse(expr: sp.Expr) -> sp.Expr:
    """Sum out Kronecker deltas everywhere in ``expr`` (free indices are taken to be in range)."""
    return expr.replace(lambda e: isinstance(e, sp.Sum), _collapse_sum)


def undummy(expr: sp.Expr) -> sp.Expr:
    """Give summation dummies back their letters where no free index of that letter is present."""
    free = expr.free_symbols
    swap = {}
    for d in expr.atoms(sp.Dummy):
        letter = index(d.name)
        if letter not in free:
            swap[d] = letter
    return expr.xreplace(swap)


def local_derivative(expression: sp.Expr, wrt: sp.Expr) -> sp.Expr:
    return undummy(collapse(sp.diff(expression, wrt)))


def _cases(textbook: sp.Expr, row: sp.Expr, col: sp.Expr) -> tuple[tuple[sp.Expr, sp.Expr], ...]:
    """Split a textbook form containing ``KroneckerDelta(row, col)`` into its two cases."""
    delta = sp.KroneckerDelta(row, col)
    if not textbook.has(delta):
        return ()
    same = textbook.subs(delta, 1).subs(col, row)
    other = textbook.subs(delta, 0)
    return ((same, sp.Eq(row, col)), (other, sp.Ne(row, col)))


def _simplest(expr: sp.Expr, *more: sp.Expr) -> sp.Expr:
    """The shortest of ``expr``'s forms (and of the equal forms ``more``; ties go to the first)."""
    candidates = [expr, sp.cancel(expr), sp.factor(expr), sp.expand(expr), *more]
    return min(candidates, key=lambda e: (sp.count_ops(e), len(str(e))))


def _apply_identities(
    expr: sp.Expr, identities: tuple[UsedIdentity, ...]
) -> tuple[sp.Expr, tuple[UsedIdentity, ...]]:
    """Replace each identity's left side (any summation letter) by its right side."""
    used = []
    for ident in identities:
        pattern = ident.lhs
        (var, lo, hi), = pattern.limits

        def matches(e, pattern=pattern, var=var):
            if not isinstance(e, sp.Sum) or e.limits[0][1:] != pattern.limits[0][1:]:
                return False
            return e.function.xreplace({e.limits[0][0]: var}) == pattern.function

        if expr.has(pattern) or any(matches(e) for e in expr.atoms(sp.Sum)):
            expr = expr.replace(matches, lambda e, rhs=ident.rhs: rhs)
            used.append(ident)
    return expr, tuple(used)


# --- the walk -----------------------------------------------------------------------------------


def _activation_factor(layer: LayerNames) -> Factor:
    """``da_k/dz_k`` of an elementwise layer (``da_k/dzhat_k`` under a norm)."""
    act = layer.entry
    z, a = layer.el(layer.act_input), layer.el(layer.a)
    # A textbook form through the output (a(1 - a)) holds only if the output is the activation's
    # value: under a residual connection a = sigma(z) + a^(N), so write it through sigma(z).
    value = act.function()(z) if layer.skipped is not None else a
    return Factor(a, z, sp.diff(act.unit(z), z), act.unit_derivative(z, value))


def _output_error(names: ModelNames, identities: tuple[UsedIdentity, ...]) -> ErrorStep:
    out = names.output
    act = out.entry
    k = out.index
    a_k = out.el(out.a)
    loss_expr = forward.loss(names, dummy=True)
    dl_da = local_derivative(loss_expr, a_k)
    textbook = forward.loss_derivative(names)
    loss_factor = Factor(names.L, a_k, dl_da, dl_da if textbook is None else textbook)
    delta = out.el(out.delta)
    if act.elementwise:
        act_factor = _activation_factor(out)
        z_k = out.el(out.z)
        chain = Chain((loss_factor.partial, act_factor.partial))
        product = loss_factor.textbook * act_factor.textbook
        of, rename = z_k, {}
    else:
        j = names.jacobian_letter(out)
        z_j = out.el(out.z, j)
        _, explicit = forward.activation(out, names, dummy=True)
        raw = local_derivative(explicit, z_j)
        textbook = act.layer_jacobian(out.a, k, j)
        act_factor = Factor(a_k, z_j, raw, textbook, _cases(textbook, k, j))
        chain = Chain((loss_factor.partial, act_factor.partial), (k, 1, out.width))
        product = sp.Sum(loss_factor.textbook * act_factor.textbook, (k, 1, out.width))
        of, rename = z_j, {j: k}
    collected = collapse(product)
    simplified, used = _apply_identities(collected, identities)
    # The textbook product itself may be the shortest form (a rule already in its simplest terms).
    plain = (product,) if not used and not product.has(sp.KroneckerDelta) else ()
    result = _simplest(simplified, *plain)
    value = result.xreplace(rename)
    return ErrorStep(out.number, delta, of, chain, (loss_factor, act_factor), product, collected, result,
                     value, used, True)


def _dense_path(layer: LayerNames, nxt: LayerNames, names: ModelNames) -> tuple[Chain, Factor, sp.Expr]:
    """How ``a^(l)_k`` reaches the loss through the next layer's ``z``: (chain, link, value)."""
    i = nxt.index
    z_next = nxt.el(nxt.z)
    a_k = layer.el(layer.a)
    raw = local_derivative(forward.pre_activation(nxt, dummy=True), a_k)
    link = Factor(z_next, a_k, raw, raw)
    bounds = (i, 1, nxt.width) if i is not None else None
    back = nxt.el(nxt.delta) * link.textbook
    value = sp.Sum(back, bounds) if bounds else back
    return Chain((Partial(names.L, z_next), link.partial), bounds), link, value


def _skip_path(layer: LayerNames, target: LayerNames, names: ModelNames) -> tuple[Chain, Factor, sp.Expr]:
    """How ``a^(l)_k`` reaches the loss through a residual connection into ``target``'s output."""
    k = layer.index
    a_k, out_k = layer.el(layer.a), target.el(target.a, k)
    _, explicit = forward.activation(target, names)
    raw = local_derivative(explicit.xreplace({target.index: k}) if k is not None else explicit, a_k)
    link = Factor(out_k, a_k, raw, raw)
    return Chain((Partial(names.L, out_k), link.partial)), link, target.el(target.g, k) * raw


def _output_error_of(layer: LayerNames, names: ModelNames, targets: list[LayerNames]) -> ErrorStep:
    """``g = dL/da`` of a layer whose output has more than one consumer: every path, summed."""
    paths = [_dense_path(layer, names.layer(layer.number + 1), names)]
    paths += [_skip_path(layer, target, names) for target in targets]
    value = sp.Add(*(p[2] for p in paths))
    chains = tuple(p[0] for p in paths)
    a_k = layer.el(layer.a)
    return ErrorStep(layer.number, layer.el(layer.g), a_k, chains[0], tuple(p[1] for p in paths), value,
                     value, value, value, quantity="a", paths=chains)


def _activation_error(layer: LayerNames, names: ModelNames, named_output: bool) -> ErrorStep:
    """The error of the activation's input (``delta``, or ``delta-hat`` under a norm)."""
    act_factor = _activation_factor(layer)
    quantity = "zhat" if layer.norm else "z"
    of, delta = layer.el(layer.act_input), layer.el(layer.act_error)
    if named_output:
        a_k = layer.el(layer.a)
        chain = Chain((Partial(names.L, a_k), act_factor.partial))
        product = layer.el(layer.g) * act_factor.textbook
        factors: tuple[Factor, ...] = (act_factor,)
    else:
        dense, link, back = _dense_path(layer, names.layer(layer.number + 1), names)
        chain = dense.then(act_factor.partial)
        product = back * act_factor.textbook
        factors = (link, act_factor)
    return ErrorStep(layer.number, delta, of, chain, factors, product, product, product, product,
                     quantity=quantity)


def _norm_error(layer: LayerNames, names: ModelNames) -> ErrorStep:
    """``delta_k = sum_j delta-hat_j dzhat_j/dz_k`` over the norm's positions (the units, or the
    batch's examples ``p`` with ``z_{nk}`` this example's): the rule's Jacobian beside SymPy's
    derivative of the written-out definition, then the sum collapsed."""
    rule = norms.get(layer.norm or "")
    over_examples = forward.over_examples(layer)
    j = names.other_example() if over_examples else names.jacobian_letter(layer)
    this_index = EXAMPLE if over_examples else layer.index
    width = forward.norm_width(layer)
    z_this = forward.this(layer, layer.z)
    zhat_j = forward.at(layer, layer.zhat, j)
    var = forward.stat(layer, layer.var)
    raw = _raw_jacobian(layer, j)
    textbook = rule.jacobian(forward.gamma_at(layer, j), forward.at(layer, layer.ztilde, j),
                             forward.this(layer, layer.ztilde), var, layer.eps, j, this_index, width)
    jacobian = Factor(zhat_j, z_this, raw, textbook, _cases(textbook, j, this_index))
    bounds = (j, 1, width)
    chain = Chain((Partial(names.L, zhat_j), jacobian.partial), bounds)
    product = sp.Sum(forward.at(layer, layer.delta_hat, j) * textbook, bounds)
    collected = collapse(product)
    # The rule's compact form (through means) where it equals the collected sum.
    compact = rule.backward(lambda u: forward.gamma_at(layer, u),
                            lambda u: forward.at(layer, layer.delta_hat, u),
                            lambda u: forward.at(layer, layer.ztilde, u),
                            this_index, j, var, layer.eps, width)
    result = compact if sp.expand(collected - collapse(compact)) == 0 else _simplest(collected)
    # This example's own quantities drop the example index, as everywhere else in the derivation.
    value = _this_example(result) if over_examples else result
    return ErrorStep(layer.number, layer.el(layer.delta), z_this, chain, (jacobian,), product, collected,
                     result, value)


def _this_example(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every element of example ``n`` written without it (``z_{nk}`` -> ``z_k``)."""
    def own(e: sp.Indexed) -> sp.Expr:
        rest = e.indices[1:]
        return element(e.base, *rest) if rest else scalar(e.base.name)

    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.indices[0] == EXAMPLE, own)


def _raw_jacobian(layer: LayerNames, j: sp.Symbol) -> sp.Expr:
    """SymPy's ``d zhat_j / d z_k`` of the written-out definition, statistics named back.

    Every normalised layer of one width has the same Jacobian up to its names, so it is
    differentiated once (for a stand-in layer) and renamed for the others: deep networks stay
    linear in depth at a fraction of the cost.
    """
    if layer.index is None:  # a one-unit layer: differentiated as it is (no names to share)
        return _stand_in_jacobian(layer, j)
    # Only the norm, the width, the unit index and epsilon remain the layer's own.
    base = lambda name: sp.IndexedBase(name, real=True)  # noqa: E731
    statistic = lambda q, name: type(q)(name, real=True)  # noqa: E731  (a number, or one per unit)
    stand_in = replace(layer, number=0, z=base("_z"), a=base("_a"), w=base("_w"),
                       b=base("_b"), delta=base("_delta"), prev=base("_prev"), prev_index=None,
                       prev_width=sp.Integer(1), parameters=(), bias=True, skip=None, skipped=None,
                       mu=statistic(layer.mu, "_mu"), var=statistic(layer.var, "_var"),
                       ztilde=base("_ztilde"), zhat=base("_zhat"), gamma=base("_gamma"), beta=base("_beta"),
                       delta_hat=base("_delta_hat"), g=base("_g"), index=index("_k"))
    stand_in_j = type(j)("_j", integer=True, positive=True)  # an example letter stays one
    generic = _stand_in_jacobian(stand_in, stand_in_j)
    return generic.xreplace({stand_in.z: layer.z, stand_in.gamma: layer.gamma, stand_in.beta: layer.beta,
                             stand_in.ztilde: layer.ztilde, stand_in.mu: layer.mu, stand_in.var: layer.var,
                             index("_k"): layer.index, stand_in_j: j})


@lru_cache(maxsize=64)
def _stand_in_jacobian(layer: LayerNames, j: sp.Symbol) -> sp.Expr:
    raw = local_derivative(forward.written_out(layer, j), forward.this(layer, layer.z))
    return _named_statistics(raw, layer)


def _named_statistics(expr: sp.Expr, layer: LayerNames) -> sp.Expr:
    """``expr`` with the written-out mean and variance of ``z`` (any summation letter) named."""
    width = forward.norm_width(layer)
    mu, var = forward.stat(layer, layer.mu), forward.stat(layer, layer.var)

    def summed(e: sp.Expr, term) -> bool:
        if not isinstance(e, sp.Sum) or len(e.limits) != 1 or e.limits[0][1:] != (1, width):
            return False
        return e.function == term(forward.at(layer, layer.z, e.limits[0][0]))

    named = expr.replace(lambda e: summed(e, lambda z: z), lambda e: width * mu)
    return named.replace(lambda e: summed(e, lambda z: (z - mu) ** 2), lambda e: width * var)


def _hidden_errors(layer: LayerNames, names: ModelNames) -> list[ErrorStep]:
    """A hidden layer's steps, from its output back to its ``z``: ``g`` where the output has
    more than one consumer (or is a residual's sum), the activation's error, a norm's."""
    targets = [t for t in names.layers if t.skip == layer.number]
    named_output = bool(targets) or layer.skip is not None
    steps = [_output_error_of(layer, names, targets)] if named_output else []
    steps.append(_activation_error(layer, names, named_output))
    if layer.norm:
        steps.append(_norm_error(layer, names))
    return steps


def _gradients(layer: LayerNames, names: ModelNames, errors: list[ErrorStep]) -> tuple[GradientStep, ...]:
    steps = []
    elements = {layer.w: layer.weight(), layer.b: layer.el(layer.b), layer.gamma: layer.el(layer.gamma),
                layer.beta: layer.el(layer.beta)}
    for quantity, of, definition in _definitions(layer):
        error = next(s for s in errors if s.layer == layer.number and s.quantity == quantity)
        for parameter in (q for q in layer.params if definition.has(q)):
            elem = elements[parameter]
            raw = local_derivative(definition, elem)
            factor = Factor(of, elem, raw, raw)
            short = Chain((Partial(names.L, of), factor.partial))
            # The full chain reads naturally only when the error step differentiates by ``of`` itself;
            # a Jacobian step (softmax) is stated in another letter, so cite it through dL/d(of).
            chain = error.chain.then(factor.partial) if error.of == of and not error.paths[1:] else short
            steps.append(GradientStep(layer.number, parameter, elem, chain, short, factor,
                                      error.delta * raw, error.value * raw, quantity))
    return tuple(steps)


def _definitions(layer: LayerNames) -> list[tuple[str, sp.Expr, sp.Expr]]:
    """(error quantity, the element a parameter enters, its definition): ``z`` for the weight and
    bias, then ``zhat`` for a norm's gamma and beta."""
    out = [("z", layer.el(layer.z), forward.pre_activation(layer, dummy=True))]
    if layer.norm:
        out.append(("zhat", layer.el(layer.zhat), forward.scaled(layer)))
    return out


def derive_spec(spec: ModelSpec, names: ModelNames | None = None) -> Derivation:
    """The derivation of a spec of dense layers (any spec: ``derive.engine.derive_spec``);
    ``names``: its symbols when they are not ``naming.names(spec)``'s (the dense head of a conv
    model, ``derive.conv``)."""
    if spec.recurrent is not None and names is None:
        raise DeriveError(f"model {spec.name} has a recurrent layer: derive.engine.derive_spec derives it")
    return derive_names(spec, names if names is not None else model_names(spec))


def derive_names(spec: ModelSpec, names: ModelNames) -> Derivation:
    """The derivation of dense layers named ``names`` (the whole model, or the dense head of a
    recurrent or conv model)."""
    out = names.output
    entry = losses.get(spec.loss)
    y_of = lambda c: element(names.y, c)  # noqa: E731
    identities = tuple(
        UsedIdentity(ident.lhs(y_of, out.index, out.width), ident.rhs, ident.reason)
        for ident in entry.identities
        if out.index is not None
    )
    # Reverse topological order: the output, then each layer below it (a skip only reaches back).
    errors = [_output_error(names, identities)]
    for layer in reversed(names.layers[:-1]):
        errors.extend(_hidden_errors(layer, names))
    gradients = tuple(
        step
        for layer in reversed(names.layers)
        for step in _gradients(layer, names, errors)
    )
    return Derivation(spec, names, forward.setup(names), tuple(errors), gradients, _decay(names, gradients))


def _decay(names: ModelNames, gradients: tuple[GradientStep, ...]) -> Decay | None:
    """Weight decay's term and its derivative by each weight element (SymPy's diff)."""
    if names.l2 is None:
        return None
    definition = forward.weight_decay(names, dummy=True)
    weights = {layer.w for layer in names.layers}
    factors = tuple(
        Factor(names.decay, g.element, raw, raw)
        for g in gradients
        if g.parameter in weights
        for raw in [local_derivative(definition, g.element)]
    )
    return Decay(Equation(names.decay, forward.weight_decay(names)), factors)
