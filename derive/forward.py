"""Forward pass as equations: spec -> set-up equations (z, a, L per layer), in index notation.

``setup(names)`` gives what a course writes under "Model set-up", with symbolic sizes: per layer
``z``, a norm's statistics (``mu``, ``sigma^2``), ``ztilde`` and ``zhat``, then ``a`` (plus the
skipped output under a residual connection). A batch norm's statistics run over the examples:
``at``/``this`` write an element with its example index where examples couple.
``definitions(names)`` gives each quantity's defining expression with *dummy* summation indices,
ready to differentiate with respect to an element carrying a free index of the same letter.
``concrete(names, sizes)`` expands everything at concrete sizes into explicit expressions of the
parameters and inputs: the fully composed loss that tests differentiate directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import losses, norms
from .errors import DeriveError
from .naming import BATCH_SIZE, EXAMPLE, LayerNames, ModelNames, element


@dataclass(frozen=True)
class Equation:
    """``lhs = rhs`` (how a course names it) ``= explicit`` (written out; may equal rhs)."""

    lhs: sp.Expr
    rhs: sp.Expr
    explicit: sp.Expr | None = None


def _bound(letter: sp.Symbol | None, dummy: bool) -> sp.Symbol | None:
    if letter is None or not dummy:
        return letter
    return sp.Dummy(letter.name, integer=True, positive=True)


def pre_activation(layer: LayerNames, unit: sp.Expr | None = None, dummy: bool = False) -> sp.Expr:
    """``sum_j w_kj a_j + b_k`` for unit ``unit`` (default: the layer's own index)."""
    unit = unit if unit is not None else layer.index
    j = _bound(layer.prev_index, dummy)
    term = element(layer.w, unit, j) * element(layer.prev, j)
    if j is not None:
        term = sp.Sum(term, (j, 1, layer.prev_width))
    return term + element(layer.b, unit) if layer.bias else term


def activation(layer: LayerNames, names: ModelNames, dummy: bool = False) -> tuple[sp.Expr, sp.Expr]:
    """(named form ``sigma(z_k)``, explicit form) of the layer's output unit, with the skipped
    quantity added for a residual connection (``sigma(z_k) + a^(N)_k``)."""
    act = layer.entry
    added = layer.el(layer.skipped) if layer.skipped is not None else sp.Integer(0)
    if act.elementwise:
        z = layer.el(layer.act_input)
        explicit = act.unit(z)
        if isinstance(explicit, sp.Function) and type(explicit).__name__ == act.name:
            return explicit + added, explicit + added  # SymPy knows it by name (tanh)
        return act.function()(z) + added, explicit + added
    c = _bound(names.softmax_dummy, dummy)
    explicit = act.layer(layer.act_input, layer.index, c, layer.width)
    return explicit + added, explicit + added


# --- a norm's positions: over the units of one example, or over the examples of a batch ----------


def over_examples(layer: LayerNames) -> bool:
    """Whether the layer's norm takes its statistics over the batch's examples (batch norm)."""
    return layer.norm is not None and norms.get(layer.norm).over == "examples"


def couples_examples(names: ModelNames) -> bool:
    """Whether any layer's statistics couple the examples of a batch: no loss of one example."""
    return any(over_examples(layer) for layer in names.layers)


def norm_width(layer: LayerNames) -> sp.Expr:
    """How many values a norm's statistics average: the layer's units, or the batch's N examples."""
    return BATCH_SIZE if over_examples(layer) else layer.width


def at(layer: LayerNames, q: sp.Symbol | sp.IndexedBase, position: sp.Expr) -> sp.Expr:
    """A per-example quantity of ``layer`` at a position of its norm's sums: unit ``position`` of
    this example (layer norm), or this unit of example ``position`` (batch norm: ``z_{pk}``)."""
    if not over_examples(layer):
        return layer.el(q, position)
    if isinstance(q, sp.Symbol):  # a one-unit layer's number per example, indexed by example
        q = sp.IndexedBase(q.name, real=True)
    return element(q, position, layer.index)


def this(layer: LayerNames, q: sp.Symbol | sp.IndexedBase) -> sp.Expr:
    """The element a norm's error is taken of: ``z_k``, or ``z_{nk}`` (example n) over a batch."""
    return at(layer, q, EXAMPLE) if over_examples(layer) else layer.el(q)


def gamma_at(layer: LayerNames, position: sp.Expr | None) -> sp.Expr:
    """The scale applied at a position: ``gamma_j`` over units, the unit's own ``gamma_k`` over a batch."""
    return layer.el(layer.gamma) if over_examples(layer) else layer.el(layer.gamma, position)


def beta_at(layer: LayerNames, position: sp.Expr | None) -> sp.Expr:
    return layer.el(layer.beta) if over_examples(layer) else layer.el(layer.beta, position)


def stat(layer: LayerNames, q: sp.Symbol | sp.IndexedBase) -> sp.Expr:
    """A statistic as it enters: per example (a number) over units, per unit (``mu_k``) over a batch."""
    return element(q, layer.index) if isinstance(q, sp.IndexedBase) else q


def statistics(layer: LayerNames, dummy: bool = False) -> tuple[sp.Expr, sp.Expr]:
    """A normalised layer's (mean, variance) of its pre-activation, over its norm's positions."""
    rule = norms.get(layer.norm or "")
    letter = EXAMPLE if over_examples(layer) else layer.index
    c = _bound(letter, dummy)
    z = lambda i: at(layer, layer.z, i)  # noqa: E731
    width = norm_width(layer)
    return rule.mean(z, c, width), rule.variance(z, stat(layer, layer.mu), c, width)


def normalised(layer: LayerNames, unit: sp.Expr | None = None) -> sp.Expr:
    """``(z_k - mu) / sqrt(sigma^2 + eps)`` of a normalised layer, in its named statistics."""
    rule = norms.get(layer.norm or "")
    return rule.normalised(layer.el(layer.z, unit), stat(layer, layer.mu), stat(layer, layer.var), layer.eps)


def scaled(layer: LayerNames, unit: sp.Expr | None = None) -> sp.Expr:
    """``gamma_k ztilde_k + beta_k``: the normalised value scaled and shifted."""
    return _affine(layer, unit, layer.el(layer.ztilde, unit))


def _affine(layer: LayerNames, position: sp.Expr | None, value: sp.Expr) -> sp.Expr:
    """``gamma value + beta`` with the scale and shift of ``position`` (``gamma_at``)."""
    return gamma_at(layer, position) * value + beta_at(layer, position)


def written_out(layer: LayerNames, position: sp.Expr) -> sp.Expr:
    """``zhat`` of a normalised layer at a position of its norm (a unit, or an example) with its
    statistics written out as sums (dummy summation letters): the definition SymPy differentiates
    by ``this(layer, z)``."""
    rule = norms.get(layer.norm or "")
    mean, variance = statistics(layer, dummy=True)
    variance = variance.xreplace({stat(layer, layer.mu): mean})
    return _affine(layer, position, rule.normalised(at(layer, layer.z, position), mean, variance, layer.eps))


def layer_equations(layer: LayerNames, names: ModelNames) -> tuple[Equation, ...]:
    """One layer's set-up: ``z``, a norm's statistics and normalised values, then ``a``."""
    equations = [Equation(layer.el(layer.z), pre_activation(layer))]
    if layer.norm:
        mean, variance = statistics(layer)
        equations += [
            Equation(stat(layer, layer.mu), mean),
            Equation(stat(layer, layer.var), variance),
            Equation(layer.el(layer.ztilde), normalised(layer)),
            Equation(layer.el(layer.zhat), scaled(layer)),
        ]
    named, explicit = activation(layer, names)
    equations.append(Equation(layer.el(layer.a), named, None if named == explicit else explicit))
    return tuple(equations)


def loss(names: ModelNames, dummy: bool = False) -> sp.Expr:
    out = names.output
    entry = losses.get(names.spec.loss)
    c = _bound(names.softmax_dummy if out.index is not None else None, dummy)
    width = out.width if out.index is not None else None
    return entry.expression(
        lambda i: element(out.a, i), lambda i: element(names.y, i), c, width
    )


def loss_derivative(names: ModelNames) -> sp.Expr | None:
    """The loss registry's textbook ``dL/da_k``, where it states one (None: SymPy's is the form)."""
    out = names.output
    entry = losses.get(names.spec.loss)
    if entry.derivative is None:
        return None
    wide = out.index is not None
    return entry.derivative(
        lambda i: element(out.a, i),
        lambda i: element(names.y, i),
        out.index,
        names.softmax_dummy if wide else None,
        out.width if wide else None,
    )


def weight_decay(names: ModelNames, dummy: bool = False) -> sp.Expr:
    """``(l2 / 2) sum_l sum_kj (w^(l)_kj)^2``: every weight squared (biases excluded), once per batch."""
    if names.l2 is None:
        return sp.Integer(0)
    total = sp.Integer(0)
    for layer in names.layers:
        k, j = _bound(layer.index, dummy), _bound(layer.prev_index, dummy)
        term = layer.weight(k, j) ** 2
        for letter, width in ((j, layer.prev_width), (k, layer.width)):
            if letter is not None:
                term = sp.Sum(term, (letter, 1, width))
        total += term
    return names.l2 / 2 * total


def constants(names: ModelNames) -> list[sp.Symbol]:
    """The model's named numbers (a norm's epsilon), each once, in layer order."""
    found: list[sp.Symbol] = []
    for layer in names.layers:
        if layer.norm and layer.eps not in found:
            found.append(layer.eps)
    return found


def setup(names: ModelNames) -> tuple[Equation, ...]:
    """The model set-up, layer by layer, then the loss."""
    equations = [Equation(eps, sp.Float(repr(eps.value))) for eps in constants(names)]
    equations += [eq for layer in names.layers for eq in layer_equations(layer, names)]
    equations.append(Equation(names.L, loss(names)))
    return tuple(equations)


# --- concrete sizes ------------------------------------------------------------------------------


def _range(width: sp.Expr, sizes: dict[sp.Symbol, int]) -> list[int | None]:
    value = int(width.subs(sizes))
    return [None] if width == 1 else list(range(1, value + 1))


def concrete(names: ModelNames, sizes: dict[sp.Symbol, int]) -> tuple[sp.Expr, dict[sp.Expr, sp.Expr]]:
    """(fully composed loss, {z/a element: explicit expression}) at concrete ``sizes``.

    Elements keep their symbolic names (``W1[2, 1]``, ``x[3]``); sums are written out.
    """
    if couples_examples(names):
        raise DeriveError("a batch norm couples the examples of a batch: there is no loss of one example")
    explicit: dict[sp.Expr, sp.Expr] = {}
    prev_values = {j: element(names.x, j) for j in _range(names.input_width, sizes)}
    outputs = {0: prev_values}
    for layer in names.layers:
        units = _range(layer.width, sizes)
        zs = {
            k: sp.Add(*(element(layer.w, k, j) * v for j, v in prev_values.items()))
            + (element(layer.b, k) if layer.bias else 0)
            for k in units
        }
        inputs = _normalise(layer, zs, explicit) if layer.norm else zs
        act = layer.entry
        if act.elementwise:
            values = {k: act.unit(inputs[k]) for k in units}
        else:
            c = sp.Dummy("c", integer=True, positive=True)
            width = layer.width.subs(sizes)
            values = {
                k: act.layer(layer.z, k, c, width).doit().xreplace(
                    {element(layer.z, u): zs[u] for u in units}
                )
                for k in units
            }
        if layer.skip is not None:
            values = {k: values[k] + outputs[layer.skip][k] for k in units}
        for k in units:
            explicit[element(layer.z, k)] = zs[k]
            explicit[element(layer.a, k)] = values[k]
        prev_values = outputs[layer.number] = values
    out = names.output
    units = _range(out.width, sizes)
    written_out = loss(names, dummy=True).subs(sizes).doit()
    composed = written_out.xreplace({element(out.a, k): prev_values[k] for k in units})
    return composed, explicit


def _normalise(layer: LayerNames, zs: dict, explicit: dict) -> dict:
    """A normalised layer's ``zhat`` at concrete units, from the written-out ``z`` values ``zs``
    (its statistics, ``ztilde`` and ``zhat`` recorded in ``explicit``). The statistics are written
    out directly here, not read from the rule: this is the composed reference tests differentiate."""
    rule = norms.get(layer.norm or "")
    width = sp.Integer(len(zs))
    mean = sp.Add(*zs.values()) / width
    variance = sp.Add(*((v - mean) ** 2 for v in zs.values())) / width
    explicit[layer.mu], explicit[layer.var] = mean, variance
    eps = explicit[layer.eps] = sp.Float(layer.eps.value)
    out = {}
    for k in zs:
        zt = rule.normalised(zs[k], mean, variance, eps)
        explicit[element(layer.ztilde, k)] = zt
        out[k] = explicit[element(layer.zhat, k)] = element(layer.gamma, k) * zt + element(layer.beta, k)
    return out
