"""LaTeX for a recurrent model: its section of the sheet and the drawing of the unrolled chain.

``part(d, letter, heading)`` gives what ``templates/part.tex.j2`` lays out for a model whose first
layer is recurrent (``derive.recurrent``): the set-up with the ranges of ``t`` and of the units,
the dense head's steps as ``derive.render.latex`` prints them for any model, then
backpropagation through time (the head's error ``e``, the recurrence for ``g`` with
``delta_{T+1} = 0``, ``delta``) and each shared parameter's gradient as a sum over ``t``. The
drawing (``layout``) is the chain unrolled: ``x_1 .. x_T`` feed ``h_1 .. h_T`` from ``h_0 = 0``,
and the loss reads ``h_T`` (many-to-one) or every ``h_t`` (many-to-many). Every formula is printed
by ``derive.render.latex_printer`` from the derivation's expressions; nothing is re-derived.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from .. import losses
from ..chain import Derivation, Partial
from ..forward import Equation
from ..latex_escape import escape
from ..naming import element, latex_name, scalar
from ..recurrent import BackStep, Recurrence
from .latex_printer import chain as print_chain
from .latex_printer import latex, rows
from .network import DX, DY, Edge, Network, Node

MAX_STEPS = 4  # a numeric T up to this is drawn step by step; else 1, 2, ..., T
ROW = 1.8 * DY  # the rows (inputs, states, losses) further apart than a dense net's units


def _ranges(rec: Recurrence, units: bool = True) -> str:
    r = rec.names
    text = rf"{latex(r.t)} = 1, \dots, {latex(r.steps)}"
    return text + (rf",\ {latex(r.k)} = 1, \dots, {latex(r.width)}" if units else "")


def _equation(eq: Equation, note: str) -> dict:
    members = [latex(eq.rhs)] + ([latex(eq.explicit)] if eq.explicit is not None else [])
    return {"rows": rows(latex(eq.lhs), *members), "note": note}


def setup(d: Derivation, rec: Recurrence, dense: Any) -> list[dict]:
    r = rec.names
    first = [_equation(eq, _ranges(rec)) for eq in rec.setup]
    first.append(_equation(rec.boundary[0], rf"{latex(r.k)} = 1, \dots, {latex(r.width)}"))
    head = dense.setup_rows(d)
    if rec.total is not None:  # the dense layers' loss is the step's, L_t; L sums them
        loss = d.setup[-1]
        head[-1] = _equation(Equation(r.losses[r.t], loss.rhs, loss.explicit), _ranges(rec, units=False))
        head.append(_equation(rec.total, ""))
    return first + head


def variables(d: Derivation, rec: Recurrence) -> list[dict]:
    r = rec.names
    out = [{"math": latex(r.x[r.t, r.m]), "words": "input at step"},
           {"math": latex(r.h[r.t, r.k]), "words": "state"},
           {"math": latex(element(d.names.y, d.names.output.index)), "words": "target"}]
    out.append({"math": latex(d.names.L), "words": escape(losses.get(d.spec.loss).title) + " loss"})
    return out


def sizes(d: Derivation, rec: Recurrence) -> str:
    r = rec.names
    parts = [rf"${latex(r.steps)}$ steps of ${latex(r.inputs)}$ inputs",
             rf"${latex(r.width)}$ recurrent units (${r.entry.latex}$)"]
    for layer in d.names.layers:
        role = "output" if layer is d.names.output else f"layer-{layer.number}"
        units = "unit" if layer.width == 1 else "units"
        parts.append(rf"${latex(layer.width)}$ {role} {units} (${layer.entry.latex}$)")
    return ", ".join(parts)


def _step(step: BackStep, L: sp.Expr, words: str, boxed_label: str) -> dict:
    lhs = Partial(L, step.of)
    paths = " + ".join(print_chain(c) for c in step.chains)
    chain_rows = rows(f"{latex(step.lhs)} = {latex(lhs)}", paths)
    factors = []
    for f in step.factors[-1:]:
        members = [latex(f.raw)] + ([latex(f.textbook)] if f.textbook != f.raw else [])
        factors.append(rows(latex(f.partial), *members))
    return {"words": words, "chain": chain_rows, "factors": factors, "note": escape(step.note),
            "boxed": rf"\boxed{{{latex(step.lhs)} = {latex(step.value)}}}", "label": boxed_label}


def bptt(ctx: Any, d: Derivation, rec: Recurrence) -> dict:
    """Backpropagation through time: the errors, the boundary, the shared gradients."""
    r = rec.names
    L = d.names.L
    words = {
        "e": "The dense layers send back the error of the state they read",
        "g": "The state at step $t$ reaches the loss through the dense layers and through the next "
             "step's pre-activation, so the paths add",
        "delta": "Through the activation, in the registry's textbook form (through the output)",
    }
    steps = [_step(s, L, words[s.name], ctx.label("rnn", s.name)) for s in rec.errors]
    gradients = []
    for g in rec.gradients:
        lhs = latex(Partial(L, g.element))
        gradients.append(rows(lhs, print_chain(g.chain), rf"\boxed{{{latex(g.result)}}}"))
    sums = [rows(latex(Partial(L, g.element)), rf"\boxed{{{latex(total)}}}") for g, total in rec.head_sums]
    boundary = rec.boundary[1]
    return {
        "steps": steps,
        "boundary": f"{latex(boundary.lhs)} = {latex(boundary.rhs)}",
        "ranges": _ranges(rec, units=False),
        "gradients": gradients,
        "factors": [rows(latex(g.factor.partial), latex(g.factor.raw)) for g in rec.gradients],
        "head_sums": sums,
        "last": r.outputs == "last",
    }


# --- the drawing ----------------------------------------------------------------------------------


def _steps(steps: sp.Expr) -> list[sp.Expr | None]:
    """The steps drawn: every one of a small numeric T, else 1, 2, ..., T (None: the dots)."""
    if steps.is_Integer and int(steps) <= MAX_STEPS:
        return [sp.Integer(s) for s in range(1, int(steps) + 1)]
    return [sp.Integer(1), sp.Integer(2), None, steps]


def layout(d: Derivation, rec: Recurrence) -> Network:
    r = rec.names
    x, h = latex_name(r.x.name), latex_name(r.h.name)
    nodes = [Node("h0", 0, ROW, f"{h}_{{0}} = 0", "loss")]
    edges: list[Edge] = []
    previous = "h0"
    drawn = _steps(r.steps)
    loss = latex(d.names.L)
    for column, step in enumerate(drawn, start=1):
        if step is None:
            nodes.append(Node(f"d{column}", column * DX, ROW, r"\cdots", "dots"))
            edges.append(Edge(previous, f"d{column}", ""))
            previous = f"d{column}"
            continue
        t = latex(step)
        nodes += [Node(f"x{column}", column * DX, 0, f"{x}_{{{t}}}", "unit"),
                  Node(f"h{column}", column * DX, ROW, f"{h}_{{{t}}}", "unit")]
        first = column == 1
        edges += [Edge(f"x{column}", f"h{column}", latex_name(r.u.name, matrix=True) if first else ""),
                  Edge(previous, f"h{column}", latex_name(r.w.name, matrix=True) if column <= 2 else "")]
        if r.outputs == "all" or step == drawn[-1]:
            label = f"{loss}_{{{t}}}" if r.outputs == "all" else loss
            nodes.append(Node(f"L{column}", column * DX, 2 * ROW, label, "loss"))
            edges.append(Edge(f"h{column}", f"L{column}", ""))
        previous = f"h{column}"
    captions = ((f"({len(drawn) * DX / 2 + DX / 2:g},{-0.9:g})",
                 "the recurrent layer unrolled over the steps; the dense layers sit on the arrows "
                 "to the loss" + ("es" if r.outputs == "all" else "")),)
    return Network(tuple(nodes), tuple(edges), captions)


def display_rows(d: Derivation, rec: Recurrence) -> dict[str, list[str]]:
    """The recurrent layer's rows of the one-display form (Jupyter): set-up, errors, gradients."""
    setup = [f"{latex(eq.lhs)} &= {latex(eq.rhs)}" for eq in rec.setup + rec.boundary]
    errors = [f"{latex(s.lhs)} &= {latex(s.value)}" for s in rec.errors]
    gradients = [rf"{latex(Partial(d.names.L, g.element))} &= \boxed{{{latex(g.result)}}}"
                 for g in rec.gradients]
    return {"setup": setup, "errors": errors, "gradients": gradients}


def part(d: Derivation, letter: str, heading: str | None, dense: Any) -> dict:
    """A recurrent model's section of the sheet (the keys ``derive.render.latex.part`` gives).

    ``dense`` holds what this module reuses of ``derive.render.latex`` (which imports this one):
    ``Context``, ``setup_rows``, ``error_block`` and ``gradient_block``, for the dense layers.
    """
    rec = d.recurrence
    assert rec is not None
    ctx = dense.Context(letter.lower())
    return {
        "letter": letter,
        "heading": heading if heading is not None else f"Problem 1, Part {letter}",
        "title": escape(d.spec.title or d.spec.name),
        "name": escape(d.spec.name),
        "variables": variables(d, rec),
        "sizes": sizes(d, rec),
        "setup": setup(d, rec, dense),
        "network": layout(d, rec),
        "errors": [dense.error_block(ctx, d, s) for s in d.errors],
        "gradients": [dense.gradient_block(ctx, d, g) for g in d.gradients],
        "notation": f"{ctx.tex(scalar('delta'))} = {ctx.inline(Partial(d.names.L, scalar('z')))}",
        "deep": False,
        "recursion": None,
        "instances": [],
        "vectorised": [],  # the time loops are in the generated code (derive code)
        "decay": None,
        "loss_symbol": ctx.tex(d.names.L),
        "recurrence": bptt(ctx, d, rec),
    }
