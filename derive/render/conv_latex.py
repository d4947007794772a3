"""LaTeX of a ConvDerivation: the answer-sheet section (``templates/conv_part.tex.j2``) and the
Jupyter display, printed by ``derive.render.latex_printer`` as a dense model's are.

What it promises: the set-up with each equation's index ranges stated beside it; a TikZ drawing of
the convolution (a kernel window over the input giving one output position; 2-D: a window over a
grid); the dense head's errors and gradients as ``derive.render.latex`` writes them; each conv
layer's output error (for the layer below a conv layer: the full correlation with the flipped
kernel, offsets within ``max(1, s - T' + 1) .. min(R, s)``), its delta and its gradients (sums
over positions), each boxed with its free indices' ranges. User text is escaped.
"""

from __future__ import annotations

import sympy as sp

from ..conv import ConvDerivation, ConvLayer, ConvStep
from ..latex_escape import escape, plain
from ..naming import element
from .latex import Context, _condition, error_block, gradient_block
from .latex_printer import latex, rows


def ranges(items: tuple[tuple[sp.Symbol, sp.Expr, sp.Expr], ...]) -> str:
    """``k = 1, \\dots, K,\\ t = 1, \\dots, T - R + 1``."""
    return r",\ ".join(rf"{latex(v)} = {latex(lo)}, \dots, {latex(hi)}" for v, lo, hi in items)


def _factor(ctx: Context, f) -> dict:
    members = [ctx.tex(f.raw)]
    if f.textbook != f.raw and not isinstance(f.textbook, sp.Piecewise):
        members.append(ctx.tex(f.textbook))
    cases = []
    if isinstance(f.textbook, sp.Piecewise):
        for value, condition in f.textbook.args:
            text = r"\text{otherwise}" if condition == sp.true else r"\text{if } " + ", ".join(
                f"{ctx.tex(c.lhs)} {_relation(c)} {ctx.tex(c.rhs)}" for c in sp.And.make_args(condition))
            cases.append({"value": ctx.tex(value), "condition": text})
    return {"rows": rows(ctx.tex(f.partial), *members), "cases": cases}


def _relation(c: sp.Basic) -> str:
    if isinstance(c, sp.Equality):
        return "="
    return {sp.LessThan: r"\le", sp.GreaterThan: r"\ge", sp.StrictLessThan: "<",
            sp.StrictGreaterThan: ">"}.get(type(c), "=")


def _step(ctx: Context, step: ConvStep, layers: dict[int, ConvLayer], label: str) -> dict:
    lhs = ctx.tex(step.partial)
    layer = layers.get(step.layer)
    heading, words = "", ""
    if step.kind == "error" and layer is not None and step.name.base == layer.g:
        above = layers.get(step.layer + 1)
        if above is None:
            heading = f"Error of conv layer {step.layer}'s output (from the dense layer after flatten)."
            words = ("Every output of the dense layer reads every position of the flattened output, "
                     "so the chain rule sums over its units:")
        else:
            heading = f"Error of conv layer {step.layer}'s output (a full correlation)."
            words = (f"Each position of layer {step.layer}'s output is read by layer {above.number} "
                     "at every position whose window covers it, so the chain rule sums over the "
                     "channels and positions of the layer above. The Kronecker delta keeps the offsets "
                     "that exist: the error is a full correlation with the flipped kernel, the error "
                     "of the layer above taken as zero outside its positions.")
    elif step.kind == "error":
        heading = f"Error of conv layer {step.layer}."
        words = "Through the layer's activation, position by position:"
    else:
        words = ("The weight is shared by every position of the output, so its gradient sums "
                 "the error at every position where it is used:" if step.result.has(sp.Sum) else "")
    product = [ctx.tex(step.product)] if step.product != step.result else []
    return {
        "heading": heading,
        "words": words,
        "chain": rows(lhs, ctx.tex(step.chain)),
        "factors": [_factor(ctx, f) for f in step.factors],
        "product": rows(lhs, *product, ctx.tex(step.result)),
        "boxed": rf"\boxed{{{ctx.tex(step.name)} = {ctx.tex(step.value)}}}" if step.kind == "error"
        else rf"\boxed{{{lhs} = {ctx.tex(step.value)}}}",
        "ranges": ranges(step.ranges),
        "label": ctx.label(label),
        "parameter": ctx.tex(step.name),
    }


def setup_rows(d: ConvDerivation) -> list[dict]:
    out = []
    notes = {}
    for layer in d.layers:
        notes[layer.z] = notes[layer.a] = ranges(layer.ranges())
    head_widths = d.head.names.index_widths()
    for eq in d.setup:
        members = [latex(eq.rhs)] + ([latex(eq.explicit)] if eq.explicit is not None else [])
        base = eq.lhs.base if isinstance(eq.lhs, sp.Indexed) else None
        if base in notes:
            note = notes[base]
        else:
            free = [i for i in sorted(eq.lhs.free_symbols, key=str) if i in head_widths]
            note = ranges(tuple((i, sp.Integer(1), head_widths[i]) for i in free))
        out.append({"rows": rows(latex(eq.lhs), *members), "note": note})
    return out


def drawing(d: ConvDerivation) -> dict:
    """A schematic window: an input of 7 positions (2-D: 6 x 6), a kernel of 3 (3 x 3) at the
    second position, the output position it gives; labelled with the first layer's names."""
    layer = d.layers[0]
    dims = len(layer.positions)
    at_in = tuple(p + o - 1 for p, o in zip(layer.positions, layer.offsets, strict=True))
    return {
        "dims": dims,
        "input": latex(element(layer.prev, layer.in_channel, *at_in)),
        "output": latex(layer.el(layer.z)),
        "weight": latex(layer.weight()),
        "channels": latex(layer.in_channels),
        "out_channels": latex(layer.channels),
        "length": ", ".join(latex(s) for s in layer.in_sizes),
        "out_length": ", ".join(latex(s) for s in layer.out_sizes),
    }


def conv_part(d: ConvDerivation, letter: str, heading: str | None = None) -> dict:
    ctx = Context(letter.lower())
    head = d.head
    layers = {layer.number: layer for layer in d.layers}
    first_weight = d.first.w
    head_gradients = [g for g in head.gradients if g.parameter != first_weight]
    first = d.layers[0]
    times = r" \times "
    positions = times.join(latex(s) for s in first.in_sizes)
    x = latex(element(first.prev, first.in_channel, *first.positions))
    sizes = [rf"input ${x}$ with ${latex(first.in_channels)}$ channels of ${positions}$ positions"]
    for layer in d.layers:
        kernel = times.join(latex(r) for r in layer.kernel)
        out = times.join(latex(s) for s in layer.out_sizes)
        sizes.append(rf"conv layer {layer.number}: ${latex(layer.channels)}$ channels, kernel ${kernel}$, "
                     rf"output ${out}$ (${layer.entry.latex}$)")
    return {
        "template": "conv_part.tex.j2",
        "heading": heading if heading is not None else f"Problem 1, Part {letter}",
        "title": escape(d.spec.title or d.spec.name),
        "sizes": sizes,
        "setup": setup_rows(d),
        "flatten": latex(d.first.w),
        "drawing": drawing(d),
        "head_errors": [error_block(ctx, head, s) for s in head.errors],
        "conv_errors": [_step(ctx, s, layers, f"conv-{s.layer}-{n}") for n, s in enumerate(d.errors)],
        "gradients": [_step(ctx, s, layers, f"grad-{n}") for n, s in enumerate(d.gradients)],
        "head_gradients": [gradient_block(ctx, head, g) for g in head_gradients],
        "loss_symbol": ctx.tex(head.names.L),
    }


def conv_display(d: ConvDerivation) -> dict:
    """One ``aligned`` display for Jupyter: set-up, errors, gradients."""
    ctx = Context("a")
    setup = [r for eq in setup_rows(d) for r in eq["rows"]]
    errors = [rf"{ctx.tex(s.delta)} &= {ctx.tex(s.value)}" for s in d.head.errors]
    errors += [rf"{ctx.tex(s.name)} &= {ctx.tex(s.value)}" for s in d.errors]
    gradients = [rf"{ctx.tex(s.partial)} &= {ctx.tex(s.value)}" for s in d.gradients]
    return {"title": plain(d.spec.title or d.spec.name), "setup": setup, "errors": errors,
            "gradients": gradients}


__all__ = ["_condition", "conv_display", "conv_part"]
