"""Derivation -> a standalone NumPy module (``loss_and_grad``, ``forward``, ``init_params``).

Every line of the module's mathematics is a statement of ``derive.vectorise`` printed by
``derive.numpy_printer``; the template ``templates/module.py.j2`` only lays the printed lines out.
Output is deterministic (no dates, no set or dict-order dependence): the same derivation always
gives the same bytes.

One code-level choice is made here, not in the mathematics: the output error is divided by the
batch size ``n`` once, where it is an ``(n, C)`` array. Every later error term is linear in it and
every gradient is linear in its error term, so the gradients come out as batch means without
scaling each (large) gradient array, as a careful hand-written implementation does. And where the
loss's stable form reads the output activation's log-normaliser (cross-entropy after softmax),
``loss_and_grad`` computes both in one call (``derive.vectorise.share_log_normaliser``), while
``forward`` keeps the plain activation.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import sympy as sp

from .. import __version__, losses
from ..chain import Derivation
from ..naming import ModelNames
from ..numpy_printer import HELPERS, NumPyCodePrinter, equation_text
from ..vectorise import ArrayStatement, N, gradient_name, python_name, share_log_normaliser, vectorise
from .environment import render

COMMENT_WIDTH = 100  # within the project's 110 columns at the function body's indentation


@dataclass(frozen=True)
class Line:
    """One printed assignment and the comment lines stating the equation it implements."""

    comments: tuple[str, ...]
    target: str
    code: str


@dataclass(frozen=True)
class Parameter:
    name: str
    shape: str  # Python tuple of sizes, e.g. '(sizes["K"], sizes["M"])'
    shape_doc: str  # e.g. "(K, M)"
    fan_in: str | None  # weights: the input width's Python expression; biases: None


def _docstring_text(text: str) -> str:
    """User text made safe inside a triple-quoted docstring."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _summary(derivation: Derivation) -> str:
    """The module docstring's first paragraph, wrapped to the line length."""
    title = derivation.spec.title or derivation.spec.name
    text = f"Loss and gradients of model {derivation.spec.name}: {_docstring_text(title)}."
    return "\n".join(textwrap.wrap(text, COMMENT_WIDTH, break_long_words=False, break_on_hyphens=False))


def _comment(text: str) -> tuple[str, ...]:
    return tuple(textwrap.wrap(text, COMMENT_WIDTH, break_long_words=False, break_on_hyphens=False))


def _code_expr(statement: ArrayStatement, output_error: str) -> sp.Expr:
    """The expression the code computes: the batch mean's 1/n moved onto the output error."""
    if statement.target == output_error:
        return statement.expr / N
    if statement.role == "gradient":
        return sp.expand_mul(statement.expr * N)
    return statement.expr


def _lines(
    statements: tuple[ArrayStatement, ...], printer: NumPyCodePrinter, output_error: str
) -> list[Line]:
    return [
        Line(
            tuple(line for form in (st.index_form, *st.also) for line in _comment(equation_text(*form))),
            st.target,
            printer.doprint(_code_expr(st, output_error)),
        )
        for st in statements
    ]


def _size_code(width: sp.Expr) -> str:
    return str(int(width)) if width.is_Integer else f'sizes["{width}"]'


def _tuple_code(items: list[str]) -> str:
    """A Python tuple display as ``ruff format`` writes it: ``()``, ``(a,)``, ``(a, b)``."""
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _shape(widths: list[sp.Expr]) -> tuple[str, str]:
    return _tuple_code([_size_code(w) for w in widths]), _tuple_code([str(w) for w in widths])


def _parameters(names: ModelNames) -> list[Parameter]:
    """Parameters in layer order (W1, b1, W2, b2), shaped by their index letters."""
    result = []
    for layer in names.layers:
        rows = [layer.width] if layer.index is not None else []
        cols = [layer.prev_width] if layer.prev_index is not None else []
        w_code, w_doc = _shape(rows + cols)
        b_code, b_doc = _shape(rows)
        result.append(Parameter(layer.w.name, w_code, w_doc, _size_code(layer.prev_width)))
        result.append(Parameter(layer.b.name, b_code, b_doc, None))
    return result


def _sizes(names: ModelNames) -> list[str]:
    widths = [names.input_width, *(layer.width for layer in names.layers)]
    return sorted({str(w) for w in widths if isinstance(w, sp.Symbol)})


def _target_doc(derivation: Derivation) -> str:
    out = derivation.names.output
    if out.index is None:
        kind = "0/1 labels" if derivation.spec.loss == "bce" else "targets"
        return f"y is (n,) of {kind}"
    return f"y is (n, {out.width}) (one-hot rows or targets), or (n,) of integer class labels"


def context(derivation: Derivation) -> dict:
    """Everything the module template lays out, already printed."""
    names = derivation.names
    statements = vectorise(derivation)
    output_error = derivation.errors[0].delta
    output_error_name = output_error.base.name if isinstance(output_error, sp.Indexed) else output_error.name
    printer = NumPyCodePrinter()
    forward = [st for st in statements if st.role == "forward"]
    # Training shares work between the output activation and the stable loss where the
    # registries allow it (softmax's log-sum-exp); ``forward`` needs the activation only.
    training = share_log_normaliser(statements, derivation)
    loss = next(st for st in statements if st.role == "loss")
    backward = [st for st in statements if st.role in ("error", "gradient")]
    out = names.output
    context = dict(
        model=derivation.spec.name,
        summary=_summary(derivation),
        version=__version__,
        parameters=_parameters(names),
        sizes=_sizes(names),
        sizes_tuple=_tuple_code([f'"{name}"' for name in _sizes(names)]),
        sizes_example="{" + ", ".join(f'"{name}": 10' for name in _sizes(names)) + "}",
        target_doc=_target_doc(derivation),
        input_shape=f"(n, {names.input_width})",
        # A one-input model's x is a number per example: the column of X.
        input_line=None if names.input_index is not None else f"{python_name('x', False)} = X[:, 0]",
        labels_width=None if out.index is None else f"{out.b.name}.shape[0]",
        predict=_lines(tuple(forward), printer, output_error_name),
        forward=_lines(tuple(st for st in training if st.role == "forward"), printer, output_error_name),
        loss=_lines((loss,), printer, output_error_name)[0],
        backward=_lines(tuple(backward), printer, output_error_name),
        output=out.a.name,
        output_doc=f"(n,) of {out.activation} outputs"
        if out.index is None
        else (f"(n, {out.width}) of {out.activation} outputs"),
        # A 0-d gradient is a NumPy scalar after the batch sum; return arrays, as params are.
        gradients=[
            (p.name, gradient_name(p.name) if p.shape != "()" else f"np.asarray({gradient_name(p.name)})")
            for p in _parameters(names)
        ],
        loss_title=losses.get(derivation.spec.loss).title,
    )
    used = set(printer.helpers)
    if out.index is not None:
        used.add("_one_hot")
    context["helpers"] = [HELPERS[name] for name in sorted(used)]
    return context


def module_source(derivation: Derivation) -> str:
    """The generated module's source text (deterministic for a given derivation)."""
    return render("module.py.j2", **context(derivation))
