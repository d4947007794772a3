"""Terminal renderer: a ``Derivation`` -> step-by-step Unicode text through templates/terminal.txt.j2.

All mathematics is printed here by ``derive.unicode_printer`` from the derivation's expressions;
the template only lays the printed blocks out.
"""

from __future__ import annotations

import sympy as sp

from ..chain import Derivation, ErrorStep, Factor, GradientStep, Partial
from .environment import render as render_template
from .unicode_printer import chain, chains, equation, inline


def _factor(factor: Factor) -> str:
    parts = [factor.partial, factor.raw, factor.textbook]
    if factor.cases:
        parts.append(sp.Piecewise(*factor.cases, evaluate=False))
    return equation(*parts)


def _error(step: ErrorStep) -> dict:
    lhs = Partial(step.loss, step.of)
    blocks = [equation(lhs, chains(step.paths or (step.chain,)))]
    blocks += [_factor(f) for f in step.factors]
    if step.output or step.product != step.result:
        blocks.append(equation(lhs, step.product, step.result))
    notes = [{"equation": equation(u.lhs, u.rhs), "reason": u.reason} for u in step.uses]
    definition = equation(step.delta, step.value)
    title = f"{inline(step.delta)} = {inline(step.definition)}"
    return {"title": title, "blocks": blocks, "uses": notes,
            "definition": definition, "output": step.output}


def _gradient(step: GradientStep, loss) -> dict:
    lhs = Partial(loss, step.element)
    blocks = [equation(lhs, chain(step.chain))]
    if step.short.factors != step.chain.factors:
        blocks.append(equation(lhs, chain(step.short)))
    blocks.append(_factor(step.factor))
    parts = [lhs, step.result]
    if step.expanded != step.result:
        parts.append(step.expanded)
    return {"title": inline(lhs), "blocks": blocks, "result": equation(*parts)}


def _decay(derivation: Derivation) -> dict | None:
    """Weight decay's term and where it enters each weight's gradient (None without l2)."""
    decay = derivation.decay
    if decay is None:
        return None
    return {"term": equation(decay.term.lhs, decay.term.rhs),
            "factors": [equation(f.partial, f.raw) for f in decay.factors]}


def render(derivation: Derivation) -> str:
    spec = derivation.spec
    names = derivation.names
    setup = []
    for eq in derivation.setup:
        parts = [eq.lhs, eq.rhs] + ([eq.explicit] if eq.explicit is not None else [])
        setup.append(equation(*parts))
    return render_template(
        "terminal.txt.j2",
        name=spec.name,
        title=spec.title,
        setup=setup,
        errors=[_error(step) for step in derivation.errors],
        gradients=[_gradient(step, names.L) for step in derivation.gradients],
        decay=_decay(derivation),
    )
