"""Terminal renderer of a ConvDerivation: the same layout as a dense model's (templates/terminal.txt.j2).

What it promises: the set-up (each conv layer, the flattened dense layer, the head), the dense
head's error steps as ``derive.render.terminal`` prints them, then each conv layer's output error
and delta, and every gradient, each stated with the ranges of its free indices (``k = 1..K``) and
the ranges of its sums under the sum signs.
"""

from __future__ import annotations

import sympy as sp

from ..conv import ConvDerivation, ConvStep
from .environment import render as render_template
from .terminal import _error, _factor, _gradient
from .unicode_printer import equation, inline, pretty


def ranges_text(ranges: tuple[tuple[sp.Symbol, sp.Expr, sp.Expr], ...]) -> str:
    """``k = 1..K, t = 1..T - R + 1``: the free indices' ranges, one line."""
    return ", ".join(f"{inline(v)} = {inline(lo)}..{inline(hi)}" for v, lo, hi in ranges)


def conv_step(step: ConvStep) -> dict:
    lhs = step.partial
    blocks = [equation(lhs, pretty(step.chain))]
    blocks += [_factor(f) for f in step.factors]
    if step.product != step.result:
        blocks.append(equation(lhs, step.product, step.result))
    else:
        blocks.append(equation(lhs, step.result))
    note = "  for " + ranges_text(step.ranges)
    if step.kind == "error":
        title = f"{inline(step.name)} = {inline(lhs)}"
        definition = equation(step.name, step.value) + "\n" + note
        return {"title": title, "blocks": blocks, "uses": [], "definition": definition, "output": False}
    result = equation(lhs, step.value) + "\n" + note
    return {"title": inline(lhs), "blocks": blocks, "result": result}


def render(d: ConvDerivation) -> str:
    setup = []
    for eq in d.setup:
        parts = [eq.lhs, eq.rhs] + ([eq.explicit] if eq.explicit is not None else [])
        setup.append(equation(*parts))
    head = d.head
    first_weight = d.first.w
    gradients = [conv_step(d.gradients[0])]
    gradients += [_gradient(step, head.names.L) for step in head.gradients if step.parameter != first_weight]
    gradients += [conv_step(step) for step in d.gradients[1:]]
    return render_template(
        "terminal.txt.j2",
        name=d.spec.name,
        title=d.spec.title,
        setup=setup,
        errors=[_error(step) for step in head.errors] + [conv_step(step) for step in d.errors],
        gradients=gradients,
        decay=None,
        recurrence=None,
    )
