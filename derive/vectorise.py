"""Statement assembly: a Derivation -> the whole-array statements of its batch form.

``vectorise(derivation)`` returns one ``ArrayStatement`` per line of the computation, in the order
code runs them: the forward pass, the loss (a batch mean, with weight decay added once per batch),
then each layer's error term followed by its parameters' gradients. A parameter gradient is the
batch mean ``(1/n) sum_n`` of its per-example result, so ``dL/dW1 = delta1^T X / n``.

What it promises: each statement names the array it computes (the Python name of generated code)
and keeps the index-notation equation it implements (``index_form``), so the sheet and the code
say the same thing; the expressions come from ``derive.lowering`` and nothing here re-derives.
``share_log_normaliser`` lets a softmax output and cross-entropy share one log-sum-exp.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp

from . import forward
from .chain import Derivation, Partial
from .lowering import (
    ArrayActivation,
    Axes,
    BatchMean,
    ExampleLoss,
    LogNormalisedActivation,
    N,
    SquaredNorm,
    VectoriseError,
    atom,
    batch,
    contract,
    fit,
    log_normaliser_name,
)

# --- statements -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArrayStatement:
    """``target = expr`` over whole arrays, implementing the index-notation ``index_form``."""

    target: str  # python name of the array computed: "z1", "a1", "loss", "delta2", "dW1", "db1"...
    expr: sp.Expr  # batch/matrix form over ArraySymbol atoms and derive.lowering's nodes
    index_form: tuple[sp.Expr, sp.Expr]  # (lhs, rhs) index-notation equation it implements
    role: str  # "forward" | "loss" | "error" | "gradient"
    # The batch-level term added to a mean over examples (weight decay), not scaled with them.
    decay: sp.Expr | None = None
    # Further equations of a statement that assigns more than one array ("a2, lse2 = ...").
    also: tuple[tuple[sp.Expr, sp.Expr], ...] = ()


def gradient_name(parameter: str) -> str:
    return "d" + parameter


# --- the derivation's statements ---------------------------------------------------------------


def _forward(derivation: Derivation) -> list[ArrayStatement]:
    names = derivation.names
    statements = []
    for layer in names.layers:
        for eq in forward.layer_equations(layer, names):
            target = _name(eq.lhs)
            if target != layer.a.name:
                statements.append(ArrayStatement(target, batch(eq.rhs).expr, (eq.lhs, eq.rhs), "forward"))
                continue
            # The layer's activation applies to its whole input array (softmax row-wise), and a
            # residual connection adds the skipped array.
            a_expr = ArrayActivation(layer.entry.function()(_unit_atom(layer, layer.act_input)))
            if layer.skipped is not None:
                a_expr = a_expr + _unit_atom(layer, layer.skipped)
            statements.append(ArrayStatement(target, a_expr, (eq.lhs, eq.rhs), "forward"))
    return statements


def _name(q: sp.Expr) -> str:
    return q.base.name if isinstance(q, sp.Indexed) else q.name


def _unit_atom(layer, q) -> sp.Expr:
    """The batch array of a per-unit quantity of ``layer`` (z, zhat, or the skipped output)."""
    return atom(q.name, (layer.index,) if layer.index is not None else ()).expr


def z_atom(layer) -> sp.Expr:
    return _unit_atom(layer, layer.z)


def _loss(derivation: Derivation) -> ArrayStatement:
    names = derivation.names
    equation = derivation.setup[-1]
    out = names.output
    plain = batch(equation.rhs)
    y = atom(names.y.name, (out.index,) if out.index is not None else ()).expr
    a = atom(out.a.name, (out.index,) if out.index is not None else ()).expr
    per_example = ExampleLoss(
        plain.expr, z_atom(out), a, y, sp.Symbol(derivation.spec.loss), sp.Symbol(out.activation)
    )
    mean = BatchMean(per_example)
    if derivation.decay is None:
        return ArrayStatement("loss", mean, (equation.lhs, equation.rhs), "loss")
    # Weight decay, once per batch: (l2 / 2) times each weight array's squared norm.
    strength = batch(names.l2).expr
    norms = sp.Add(*(SquaredNorm(atom(layer.w.name, _weight_axes(layer)).expr) for layer in names.layers))
    decay = strength / 2 * norms
    also = ((derivation.decay.term.lhs, derivation.decay.term.rhs),)
    return ArrayStatement("loss", mean + decay, (equation.lhs, equation.rhs), "loss", also=also, decay=decay)


def _weight_axes(layer) -> Axes:
    return tuple(i for i in (layer.index, layer.prev_index) if i is not None)


def _error(step) -> ArrayStatement:
    value = batch(step.value)
    name = _name(step.delta)
    return ArrayStatement(name, value.expr, (step.delta, step.value), "error")


def _gradient(step, derivation: Derivation) -> ArrayStatement:
    """``dL/dtheta = (1/n) sum_n delta dz/dtheta``, shaped like the parameter."""
    factors = [batch(arg) for arg in sp.Mul.make_args(step.result)]
    order = tuple(step.element.indices) if isinstance(step.element, sp.Indexed) else ()
    total = contract(factors, N, order)
    lhs = Partial(derivation.names.L, step.element)
    target = gradient_name(step.parameter.name)
    factor = derivation.decay.factor(step.element) if derivation.decay else None
    if factor is None:
        return ArrayStatement(target, total.expr / N, (lhs, step.result), "gradient")
    # Weight decay enters once per batch: the mean of the examples' gradients, plus dOmega/dW.
    decay = fit(batch(factor.raw), order)
    also = ((factor.partial, factor.raw),)
    expr = total.expr / N + decay
    return ArrayStatement(target, expr, (lhs, step.result), "gradient", also=also, decay=decay)


def share_log_normaliser(
    statements: tuple[ArrayStatement, ...], derivation: Derivation
) -> tuple[ArrayStatement, ...]:
    """``statements`` with the output activation also giving its log-normaliser, when the loss's
    stable form reads it: softmax and cross-entropy then share one row maximum and one exp.
    """
    loss = next(st for st in statements if st.role == "loss")
    per_example = next(iter(loss.expr.atoms(ExampleLoss)))
    if not per_example.reads_log_normaliser:
        return statements
    names = derivation.names
    out = names.output
    act = out.entry
    if act.log_normaliser is None:
        loss_name = derivation.spec.loss
        raise VectoriseError(f"activation {act.name!r} has no log-normaliser for loss {loss_name!r}")
    z = z_atom(out)
    lse = log_normaliser_name(z.name)
    equation = (sp.Symbol(lse), act.log_normaliser(out.z, names.softmax_dummy, out.width))
    return tuple(
        replace(
            st,
            target=f"{st.target}, {lse}",
            expr=LogNormalisedActivation(act.function()(z)),
            also=(equation,),
        )
        if st.role == "forward" and st.target == out.a.name
        else st
        for st in statements
    )


def vectorise(derivation: Derivation) -> tuple[ArrayStatement, ...]:
    """Forward pass, loss, then each layer's error term followed by its parameters' gradients."""
    statements = _forward(derivation)
    statements.append(_loss(derivation))
    for step in derivation.errors:
        statements.append(_error(step))
        statements.extend(
            _gradient(grad, derivation)
            for grad in derivation.gradients
            if grad.layer == step.layer and grad.quantity == step.quantity
        )
    return tuple(statements)


__all__ = ["ArrayStatement", "gradient_name", "share_log_normaliser", "vectorise"]
