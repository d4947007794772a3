"""LaTeX renderer: ``Derivation`` -> answer-sheet section; several -> a whole sheet (and its PDF).

Every formula is printed here by ``derive.latex_printer`` from the derivation's expressions and
every piece of user text goes through ``derive.latex_escape``; the templates in ``templates/``
(``sheet.tex.j2``, ``part.tex.j2``, ``network.tex.j2``) only lay the printed pieces out. The
output is a pure function of the derivations and the title: no dates, no paths, no randomness.

``fragment(d)`` is one model's body (``derive show MODEL --latex``); ``fragment(d, display=True)``
is a single MathJax-renderable display (``derive.display.ShownDerivation._repr_latex_`` in Jupyter).
``write_sheet`` writes the ``.tex`` and compiles the PDF next to it (``derive sheet``).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

from .. import activations, losses, norms
from ..chain import Chain, Derivation, ErrorStep, Factor, GradientStep, Partial
from ..errors import ToolMissing, UsageError
from ..latex_escape import escape, plain
from ..naming import ModelNames, element, index, reindex, scalar
from .environment import render as render_template
from .latex_printer import chain as print_chain
from .latex_printer import latex, rows
from .network import layout

DEFAULT_TITLE = "Problem 1: gradients by the chain rule"
DEEP = 3  # deeper than this, the hidden layers are shown as one recursion and its instances
GENERIC = r"\ell"


@dataclass(frozen=True)
class Context:
    """What the printing of one part needs besides the expressions: labels and layer names."""

    part: str  # "a" for Part A: prefix of equation labels
    layer_labels: dict[int, str] | None = None

    def tex(self, expr: sp.Basic) -> str:
        return latex(expr, self.layer_labels)

    def inline(self, expr: sp.Basic) -> str:
        """For running text: partial derivatives slashed, not stacked."""
        return latex(expr, self.layer_labels, inline=True)

    def chain(self, c: Chain) -> str:
        return print_chain(c, self.layer_labels)

    def label(self, *what: object) -> str:
        return "eq:" + "-".join([self.part, *(str(w) for w in what)])


# --- set-up -------------------------------------------------------------------------------------


def _range_note(names: ModelNames, expr: sp.Expr) -> str:
    """``k = 1, \\dots, K`` for the free unit index of ``expr`` (empty for a scalar)."""
    widths = names.index_widths()
    free = [i for i in sorted(expr.free_symbols, key=str) if i in widths]
    return ", ".join(rf"{latex(i)} = 1, \dots, {latex(widths[i])}" for i in free)


def setup_rows(d: Derivation) -> list[dict]:
    out = []
    for eq in d.setup:
        members = [latex(eq.rhs)] + ([latex(eq.explicit)] if eq.explicit is not None else [])
        out.append({"rows": rows(latex(eq.lhs), *members), "note": _range_note(d.names, eq.lhs)})
    return out


def variables(d: Derivation) -> list[dict]:
    """The symbols a reader meets first: input, target, sizes (math, words)."""
    names = d.names
    loss = losses.get(d.spec.loss)
    x = element(names.x, names.input_index)
    y = element(names.y, names.output.index)
    out = [{"math": latex(x), "words": "input"}, {"math": latex(y), "words": "target"}]
    out.append({"math": latex(names.L), "words": escape(loss.title) + " loss"})
    return out


def sizes(d: Derivation) -> str:
    """``M`` inputs, ``K`` hidden units, ``C`` outputs, in words with math (already printed)."""
    names = d.names
    parts = [rf"${latex(names.input_width)}$ inputs"]
    for layer in names.layers:
        act = layer.entry
        role = "output" if layer is names.output else f"layer-{layer.number}"
        units = "unit" if layer.width == 1 else "units"
        parts.append(rf"${latex(layer.width)}$ {role} {units} (${act.latex}$)")
    return ", ".join(parts)


# --- gradients ----------------------------------------------------------------------------------


def _factor(ctx: Context, factor: Factor) -> dict:
    members = [ctx.tex(factor.raw)]
    if factor.textbook != factor.raw:
        members.append(ctx.tex(factor.textbook))
    cases = [{"value": ctx.tex(v), "condition": _condition(ctx, c)} for v, c in factor.cases]
    return {"rows": rows(ctx.tex(factor.partial), *members), "cases": cases,
            "differs": factor.textbook != factor.raw}


def _condition(ctx: Context, condition: sp.Expr) -> str:
    relation = "=" if isinstance(condition, sp.Eq) else r"\neq"
    return f"{ctx.tex(condition.lhs)} {relation} {ctx.tex(condition.rhs)}"


def _boxed_delta(ctx: Context, step: ErrorStep) -> dict:
    return {"math": rf"\boxed{{{ctx.tex(step.delta)} = {ctx.tex(step.value)}}}",
            "label": ctx.label(*_label_key(step))}


def _label_key(step: ErrorStep) -> tuple:
    """The equation label of a step's boxed error: ``delta`` and the layer (``g``, ``deltahat``
    for the other quantities of a layer)."""
    kind = {"z": "delta", "a": "g", "zhat": "deltahat"}[step.quantity]
    return (kind, step.layer)


def _paths(ctx: Context, step: ErrorStep) -> str:
    """The chain-rule factorisation: one chain, or the sum over every path the error arrives by."""
    return " + ".join(ctx.chain(c) for c in (step.paths or (step.chain,)))


def _wording(d: Derivation, step: ErrorStep) -> dict:
    """Heading, reason and closing words of a hidden step that is not a plain layer's error."""
    layer = d.names.layer(step.layer)
    closing = {"closing": f"Multiplying, the error of layer {step.layer} is"}
    if step.quantity == "a":
        into = [t.number for t in d.names.layers if t.skip == layer.number]
        routes = ["the next layer" + (f" (every ${latex(step.chain.sum[0])}$)" if step.chain.sum else "")]
        routes += [f"the skip connection into layer {n}'s output" for n in into]
        return {"heading": f"Error of layer {step.layer}'s output.",
                "reason": ("reaches the loss through " + " and through ".join(routes)
                           + (", so by the chain rule the paths add" if len(routes) > 1 else
                              ", so by the chain rule")),
                "closing": f"Adding the paths, the error of layer {step.layer}'s output is"
                if len(routes) > 1 else f"So the error of layer {step.layer}'s output is", "means": ""}
    if step.quantity == "zhat" or (step.quantity == "z" and not step.chain.sum and len(step.factors) == 1):
        what = "normalised pre-activation" if step.quantity == "zhat" else "pre-activation"
        return {"heading": f"Error of hidden layer {step.layer} ({what}).",
                "reason": "reaches the loss only through the layer's output, so by the chain rule",
                "means": "", **closing}
    if layer.norm:
        rule = norms.get(layer.norm)
        position = latex(step.chain.sum[0]) if step.chain.sum else ""
        return {"heading": f"Error of hidden layer {step.layer} (through its {rule.title}).",
                "reason": "reaches the loss through every normalised value "
                f"${latex(step.chain.factors[0].den)}$, since {rule.couples}; "
                f"so the chain rule sums over ${position}$", **closing,
                "means": "the units" if rule.over == "units" else "the batch"}
    return {"heading": "", "reason": "", "means": "", **closing}


def error_block(ctx: Context, d: Derivation, step: ErrorStep) -> dict:
    lhs = Partial(step.loss, step.of)
    chain_lhs = ctx.tex(lhs) if step.output else f"{ctx.tex(step.delta)} = {ctx.tex(lhs)}"
    uses = [{"math": f"{ctx.tex(u.lhs)} = {ctx.tex(u.rhs)}", "reason": escape(u.reason)}
            for u in step.uses]
    product = [ctx.tex(step.product)]
    if step.uses or not step.output and step.collected not in (step.product, step.result):
        # The step the identity acts on: the product with its Kronecker deltas summed out.
        product.append(ctx.tex(step.collected))
    later = [_later(ctx, d, c.factors[0]) for c in (step.paths or (step.chain,))] if not step.output else []
    summed_out = not step.output and step.product != step.result
    return {
        "output": step.output,
        "layer": step.layer,
        "delta": ctx.tex(step.delta),
        "definition": ctx.inline(step.definition),
        "of": ctx.tex(step.of),
        "summed": ctx.tex(step.chain.sum[0]) if step.chain.sum else "",
        "activation": activations.get(d.names.layer(step.layer).activation).title,
        "chain": rows(chain_lhs, _paths(ctx, step)),
        "factors": [_factor(ctx, f) for f in step.factors],
        "product": rows(ctx.tex(lhs), *product, ctx.tex(step.result)) if step.output or summed_out else [],
        "renamed": step.result != step.value,
        "uses": uses,
        "later": [entry for entry in later if entry],
        "boxed": _boxed_delta(ctx, step),
        **_wording(d, step),
    }


def _later(ctx: Context, d: Derivation, first: Partial) -> dict | None:
    """An earlier-found error a hidden step reuses: ``dL/dz^{(l+1)}_i = delta^{(l+1)}_i``."""
    found = d.found(first)
    if found is None:
        return None
    delta = reindex(found.delta, first.den)
    return {"math": f"{ctx.inline(first)} = {ctx.tex(delta)}", "ref": ctx.label(*_label_key(found))}


def gradient_block(ctx: Context, d: Derivation, step: GradientStep) -> dict:
    lhs = ctx.tex(Partial(d.names.L, step.element))
    error = d.through(step)
    final = d.final(step)
    members = [ctx.chain(step.chain), ctx.chain(step.short), ctx.tex(step.result)]
    members = [m for m in members if m != ctx.tex(final)] + [rf"\boxed{{{ctx.tex(final)}}}"]
    return {
        "parameter": ctx.tex(step.element),
        "rows": rows(lhs, *members),
        "hidden": not error.output,
        "delta": ctx.tex(error.delta),
        "ref": ctx.label(*_label_key(error)),
    }


def decay_block(ctx: Context, d: Derivation) -> dict | None:
    """Weight decay: its term, and where ``l2 w`` enters each weight's gradient (None without l2)."""
    if d.decay is None:
        return None
    return {
        "term": rows(ctx.tex(d.decay.term.lhs), ctx.tex(d.decay.term.rhs)),
        "factors": [rows(ctx.tex(f.partial), ctx.tex(f.raw)) for f in d.decay.factors],
    }


# --- deep networks: the recursion once, then its instances --------------------------------------


def _representative(d: Derivation) -> ErrorStep:
    """A hidden step whose neighbours are hidden too where possible: the most general shape."""
    hidden = [s for s in d.errors if not s.output]
    inner = [s for s in hidden if s.layer > 1 and s.layer + 1 < d.spec.depth]
    return (inner or hidden)[-1]


def _generic_context(part: str, step: ErrorStep, d: Derivation) -> tuple[Context, dict, sp.Symbol]:
    """Printing context naming layers l-1, l, l+1 generically; the index renaming; the generic
    width n_{l+1} of the next layer (its sums run to it)."""
    number = step.layer
    labels = {number - 1: rf"{GENERIC}-1", number: GENERIC, number + 1: rf"{GENERIC}+1"}
    layer, nxt = d.names.layer(number), d.names.layer(number + 1)
    swap = {}
    for old, new in ((layer.prev_index, "j"), (layer.index, "k"), (nxt.index, "i")):
        if old is not None:
            swap[old] = index(new)
    return Context(part, labels), swap, sp.Symbol(rf"n_{{{GENERIC}+1}}")


def _generic_sum(limits: tuple | None, swap: dict, width: sp.Symbol) -> tuple | None:
    return (limits[0].xreplace(swap), sp.Integer(1), width) if limits else None


def recursion_block(part: str, d: Derivation) -> dict:
    """A hidden layer's error and gradients for a generic layer, from a representative step."""
    step = _representative(d)
    ctx, swap, width = _generic_context(part, step, d)
    link, act_factor = step.factors
    first = step.chain.factors[0]
    delta_next = reindex(d.error(step.layer + 1).delta, first.den)
    limits = _generic_sum(step.chain.sum, swap, width)
    back = (delta_next * link.textbook).xreplace(swap)
    generic = (sp.Sum(back, limits) if limits else back) * act_factor.partial.xreplace(swap)
    chain = Chain(tuple(f.xreplace(swap) for f in step.chain.factors), limits)
    lhs = f"{ctx.tex(step.delta.xreplace(swap))} = {ctx.tex(step.definition.xreplace(swap))}"
    grads = [g for g in d.gradients if g.layer == step.layer]
    return {
        "delta": rows(lhs, ctx.chain(chain), ctx.tex(generic)),
        "gradients": [rows(ctx.tex(Partial(d.names.L, g.element).xreplace(swap)),
                           ctx.tex(g.result.xreplace(swap))) for g in grads],
        "input": ctx.tex(d.names.x),
        "generic": GENERIC,
    }


def instance_block(ctx: Context, d: Derivation, step: ErrorStep) -> dict:
    """One layer's instance of the recursion: its error (numbered) and its gradients in one row."""
    grads = [g for g in d.gradients if g.layer == step.layer]
    cells = [rf"{ctx.tex(Partial(d.names.L, g.element))} = \boxed{{{ctx.tex(g.result)}}}" for g in grads]
    return {"layer": step.layer, "boxed": _boxed_delta(ctx, step), "gradients": ", \\qquad ".join(cells)}


# --- vectorised form ----------------------------------------------------------------------------


def vectorised(d: Derivation) -> list[dict]:
    """The batch form from ``derive.vectorise`` (expressions lowered by ``derive.lowering``): each
    statement's target and right-hand side."""
    from ..lowering import batch
    from ..vectorise import vectorise

    def target(lhs: sp.Expr) -> str:
        if isinstance(lhs, Partial):  # dL/dW: the derivative with respect to the whole array
            return latex(Partial(lhs.num, batch(lhs.den).expr))
        return latex(batch(lhs).expr)

    return [{"rows": _long_product(target(s.index_form[0]), s.expr), "role": s.role} for s in vectorise(d)]


def _long_product(lhs: str, expr: sp.Expr) -> list[str]:
    """``lhs &= expr``; an elementwise product too wide for one row continues on the next,
    one factor a row (a layer norm's error: the bracket, then the scaling)."""
    from ..lowering import Hadamard
    from .latex_printer import ROW_WIDTH, visual_width

    one = rows(lhs, latex(expr))
    if visual_width(one[0]) <= ROW_WIDTH or not isinstance(expr, Hadamard):
        return one

    def factor(arg: sp.Expr) -> str:
        return f"({latex(arg)})" if isinstance(arg, sp.Add) else latex(arg)

    first, *rest = expr.args
    return [f"{lhs} &= {factor(first)}", *(rf"&\qquad \odot {factor(arg)}" for arg in rest)]


# --- parts, fragments, sheets ------------------------------------------------------------------


def part(d: Derivation, letter: str, heading: str | None = None) -> dict:
    """Everything one section of the sheet shows, already printed."""
    if d.recurrence is not None:  # backpropagation through time, and the unrolled chain
        from types import SimpleNamespace

        from . import latex_recurrent

        dense = SimpleNamespace(Context=Context, setup_rows=setup_rows, error_block=error_block,
                                gradient_block=gradient_block)
        return latex_recurrent.part(d, letter, heading, dense)
    ctx = Context(letter.lower())
    # The recursion of a deep network assumes every hidden layer has one shape: plain dense layers.
    plain_layers = all(layer.skip is None and layer.norm is None for layer in d.spec.layers)
    deep = d.spec.depth > DEEP and plain_layers
    hidden = [s for s in d.errors if not s.output]
    output_layer = d.spec.depth
    shown_gradients = [g for g in d.gradients if not deep or g.layer == output_layer]
    return {
        "letter": letter,
        "heading": heading if heading is not None else f"Problem 1, Part {letter}",
        "title": escape(d.spec.title or d.spec.name),
        "name": escape(d.spec.name),
        "variables": variables(d),
        "sizes": sizes(d),
        "setup": setup_rows(d),
        "network": layout(d.names),
        "errors": [error_block(ctx, d, s) for s in d.errors if s.output or not deep],
        "gradients": [gradient_block(ctx, d, g) for g in shown_gradients],
        # The generic error notation of the introduction, printed like every other equation.
        "notation": f"{ctx.tex(scalar('delta'))} = {ctx.inline(Partial(d.names.L, scalar('z')))}",
        "deep": deep,
        "recursion": recursion_block(ctx.part, d) if deep and hidden else None,
        "instances": [instance_block(ctx, d, s) for s in hidden] if deep else [],
        "vectorised": vectorised(d),
        "decay": decay_block(ctx, d),
        "loss_symbol": ctx.tex(d.names.L),
        "recurrence": None,
    }


def fragment(derivation: Derivation, display: bool = False) -> str:
    """The LaTeX body of one model; with ``display``, one MathJax-renderable display instead."""
    if display:
        return render_template("display.tex.j2", part=_display(derivation)).strip()
    return render_template("fragment.tex.j2", part=part(derivation, "A", heading=""))


def _display(d: Derivation) -> dict:
    """One ``aligned`` display: set-up, errors, gradients (no TikZ, no labels, no sections)."""
    ctx = Context("a")
    setup = [r for eq in setup_rows(d) for r in eq["rows"]]
    errors = [rf"{ctx.tex(s.delta)} &= {ctx.tex(s.value)}" for s in d.errors]
    gradients = [rf"{ctx.tex(Partial(d.names.L, g.element))} &= {ctx.chain(g.short)} = "
                 rf"\boxed{{{ctx.tex(d.final(g))}}}"
                 for g in d.gradients]
    if d.recurrence is not None:  # the recurrent layer's set-up, its recurrence, its shared gradients
        from .latex_recurrent import display_rows

        more = display_rows(d, d.recurrence)
        setup, errors = more["setup"] + setup, errors + more["errors"]
        gradients += more["gradients"]
    return {"title": plain(d.spec.title or d.spec.name), "setup": setup, "errors": errors,
            "gradients": gradients}


def sheet(derivations: Sequence[Derivation], title: str | None = None,
          part_of: Callable[[Derivation, str], dict] = part) -> str:
    """The whole answer sheet as LaTeX source; ``part_of`` prints one model's section (a conv
    model's: ``derive.render.dispatch``)."""
    letters = _letters(len(derivations))
    parts = [part_of(d, letter) for d, letter in zip(derivations, letters, strict=True)]
    return render_template("sheet.tex.j2", title=escape(title if title is not None else DEFAULT_TITLE),
                           parts=parts)


def _letters(count: int) -> list[str]:
    """A, B, ..., Z, AA, AB, ...: one per part."""
    letters = list(string.ascii_uppercase)
    while len(letters) < count:
        letters += [a + b for a in string.ascii_uppercase for b in string.ascii_uppercase]
    return letters[:count]


def _derived(derivation: object) -> Derivation:
    """A derivation this module lays out (dense, or recurrent); others go through
    ``derive.render.dispatch``."""
    if not isinstance(derivation, Derivation):
        raise UsageError("this model's sheet is laid out by derive.render.dispatch.write_sheet")
    return derivation


def write_sheet(models: Sequence[str | Derivation], output: str, pdf: bool | None = None,
                title: str | None = None, echo: Callable[[str], None] = print,
                derived: Callable[[str], Derivation] | None = None,
                part_of: Callable[[Derivation, str], dict] = part) -> Path:
    """Write the sheet for ``models`` (names, spec paths or derivations; default: the built-ins) to
    ``output``; compile the PDF when asked (``pdf=True``), or by default when an engine is
    installed. Returns the ``.tex`` path. ``derived`` derives a model named by a string and
    ``part_of`` prints a section (defaults: the dense engine's; ``derive.render.dispatch`` passes
    ones that know conv models)."""
    from .. import compile as latex_compile
    from ..engine import derive_spec
    from ..files import write_atomic
    from ..spec import builtin_names, resolve

    target = Path(output)
    if target.suffix != ".tex":
        raise UsageError(f"the sheet's output must be a .tex file (its PDF goes beside it), got {output!r}")
    derive_one = derived or (lambda model: _derived(derive_spec(resolve(model))))
    derivations = [m if not isinstance(m, str) else derive_one(m) for m in (models or builtin_names())]
    tex = sheet(derivations, title, part_of)
    pdf_path = target.with_suffix(".pdf")
    if pdf is not False and latex_compile.available():
        # Compile first: a failed compile leaves both existing outputs untouched.
        built = latex_compile.build(tex)
        write_atomic(target, tex)
        write_atomic(pdf_path, built.pdf)
        echo(f"wrote {target} and {pdf_path}")
        return target
    write_atomic(target, tex)
    echo(f"wrote {target}")
    if pdf:
        raise ToolMissing(f"cannot compile {pdf_path}: no LaTeX engine; "
                                        f"{latex_compile.INSTALL_HINT}")
    if pdf is None:
        echo(f"no PDF: {latex_compile.INSTALL_HINT}")
        if pdf_path.exists():
            echo(f"note: {pdf_path} was not rebuilt and may not match {target}")
    return target
