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

The module is laid out as ``ruff format`` lays it out both with ruff's default settings (88
columns) and with this project's (110): no line is longer than ``LINE_LENGTH``, and a call or
tuple too long for one line is split one item a line with a trailing comma, the split that
``ruff format`` keeps at any line length. A statement of the mathematics too long for one line
is not split across lines (``ruff format`` would join or re-split it at 110 columns): it
computes named parts first (``decay``, ``hinges``, ``steps``), each a statement of one line.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, replace

import sympy as sp

from .. import forward as forward_equations
from .. import losses
from ..chain import Derivation
from ..lowering import ArraySymbol, ExampleLoss, N, SquaredNorm
from ..naming import ModelNames, batch_name, python_name
from ..vectorise import ArrayStatement, gradient_name, share_log_normaliser, vectorise
from ..version import __version__
from .environment import render
from .numpy_door import ARGUMENT_ERROR, inputs_body, shapes, shapes_source, unpack
from .numpy_printer import NumPyCodePrinter, equation_text, helper_source, with_callees
from .pysource import LINE_LENGTH, call, tuple_code

BODY = " " * 4  # indentation of a function body
DTYPE_DOC = (
    "The arithmetic is in NumPy's promotion of the dtypes of X and the parameters (float32 "
    "stays float32; arrays of integers only give float64); y is converted to it, and the "
    "gradients have it. A shape or target that does not fit is a ValueError naming the "
    "argument; NaN or infinity in X or the parameters propagate into the loss and gradients, "
    "without warnings."
)
ITEM = " " * 8  # indentation of an item of a returned dict display


# Names of the generated functions' own (not the derivation's) variables and arguments.
RESERVED = frozenset({"np", "n", "y", "dtype", "params", "sizes", "seed", "rng", "loss", "missing", "_"})


@dataclass(frozen=True)
class Line:
    """One printed assignment and the comment lines stating the equation it implements."""

    comments: tuple[str, ...]
    target: str
    code: str
    after: str = ""  # ``del`` of the arrays this line reads for the last time


_NAME = re.compile(r"\b[A-Za-z_]\w*\b")


def _free_after_last_use(blocks: list[list[Line]], keep: set[str]) -> list[list[Line]]:
    """``blocks`` with each array the function computed deleted after the line that reads it last.

    Freed as soon as it is dead, an intermediate's memory is reused by the next one, as in
    hand-written code; kept to the end, every array is fresh memory (at n = 2048 the page faults
    cost a residual layer-norm model a fifth of its time). ``keep``: names the function returns.
    """
    flat = [line for block in blocks for line in block]
    defined = {name for line in flat for name in line.target.split(", ")} - keep
    last: dict[str, int] = {}
    for position, line in enumerate(flat):
        for name in set(_NAME.findall(line.code)) & defined:
            last[name] = position
    dead: dict[int, list[str]] = {}
    for name, position in last.items():
        dead.setdefault(position, []).append(name)
    out: list[list[Line]] = []
    position = 0
    for block in blocks:
        out.append([])
        for line in block:
            names = sorted(dead.get(position, []))
            out[-1].append(replace(line, after=f"del {', '.join(names)}" if names else ""))
            position += 1
    return out


@dataclass(frozen=True)
class Parameter:
    name: str
    shape: str  # Python tuple of sizes, e.g. '(sizes["K"], sizes["M"])'
    shape_doc: str  # e.g. "(K, M)"
    fan_in: str | None  # weights: the input width's Python expression; biases: None
    fill: str = "zeros"  # a parameter without fan-in starts as np.zeros, or np.ones (a norm's gamma)

    @property
    def init(self) -> str:
        """The ``init_params`` dict item (one or more lines) drawing this parameter."""
        if self.fan_in is None:
            return call(f'{ITEM}"{self.name}": np.{self.fill}', [self.shape], ",")
        args = ["0.0", f"1.0 / np.sqrt({self.fan_in})", self.shape]
        return call(f'{ITEM}"{self.name}": rng.normal', args, ",")


def _docstring_text(text: str) -> str:
    """User text made safe inside a triple-quoted docstring."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _wrap(text: str, indent: str = "", prefix: str = "") -> list[str]:
    """``text`` in lines of at most ``LINE_LENGTH`` columns, each ``indent + prefix + ...``."""
    width = LINE_LENGTH - len(indent) - len(prefix)
    lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
    return [indent + prefix + line for line in lines]


def _paragraph(text: str, indent: str = "", opening: str = "") -> str:
    """A docstring paragraph wrapped to the line length (the first line without its indent,
    after the ``opening`` quotes that the template writes before it)."""
    lines = textwrap.wrap(
        text,
        LINE_LENGTH,
        initial_indent=indent + opening,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return "\n".join(lines).removeprefix(indent + opening)


def _summary(derivation: Derivation) -> str:
    """The module docstring's first paragraph, wrapped to the line length."""
    title = derivation.spec.title
    text = f"Loss and gradients of model {derivation.spec.name}" + (
        f": {_docstring_text(title)}." if title else "."
    )
    return _paragraph(text, opening='"""')


def _provenance(derivation: Derivation) -> str:
    return _paragraph(
        f"Generated by derive {__version__} (`derive code {derivation.spec.name}`) from its "
        "chain-rule derivation; do not edit by hand. Depends only on NumPy."
    )


def _one_line_docstring(text: str, indent: str = BODY) -> str:
    """``text`` as a docstring: one line if it fits, else wrapped with the quotes on their own line."""
    if len(indent) + len(text) + 6 <= LINE_LENGTH:
        return f'"""{text}"""'
    return '"""' + _paragraph(text, indent, '"""') + "\n" + indent + '"""'


def _comment(text: str) -> tuple[str, ...]:
    return tuple(line.removeprefix(BODY + "# ") for line in _wrap(text, BODY, "# "))


def _code_expr(statement: ArrayStatement, output_error: str) -> sp.Expr:
    """The expression the code computes: the batch mean's 1/n moved onto the output error."""
    if statement.target == output_error:
        return statement.expr / N
    if statement.role == "gradient":
        decay = statement.decay if statement.decay is not None else sp.Integer(0)
        return sp.expand_mul((statement.expr - decay) * N) + decay
    return statement.expr


def _lines(
    statements: tuple[ArrayStatement, ...],
    printer: NumPyCodePrinter,
    output_error: str,
    taken: set[str],
) -> list[Line]:
    """The printed statements; one too long for a line is preceded by the named parts it reads
    (``_split``), after its equation's comments."""
    lines = []
    for st in statements:
        forms = (st.index_form, *st.also)
        comments = tuple(line for form in forms for line in _comment(equation_text(*form)))
        split = _split(st.target, _code_expr(st, output_error), printer, taken)
        for position, (target, expr) in enumerate(split):
            lines.append(Line(comments if position == 0 else (), target, printer.doprint(expr)))
    return lines


# What a part split off a long statement holds, by the class of its expression (``_split``).
PART_NAMES = {
    "BatchMean": "mean_loss",
    "ExampleLoss": "example_losses",
    "PositivePart": "hinges",
    "Heaviside": "steps",
    "Where": "cases",
    "RowSum": "row_sums",
    "ColumnSum": "column_sums",
    "AsColumn": "columns",
    "SquaredNorm": "squared_norm",
    "BatchMatMul": "products",
    "Hadamard": "products",
    "Mul": "products",
    "Add": "sums",
}


REPEATED = 20  # a part that occurs more than once is named first when its code is longer than this


def _fits(target: str, code: str) -> bool:
    return len(f"{BODY}{target} = {code}") <= LINE_LENGTH


def _parts(expr: sp.Expr) -> list[sp.Expr]:
    """The proper subexpressions of ``expr`` that may be named and computed first, in reading
    order: array or scalar values, not conditions or the registry data of a fused loss."""
    if isinstance(expr, ExampleLoss) and expr.fused is not None:
        return []  # printed from the registry's template, not from its arguments
    args = expr.args[:1] if isinstance(expr, ExampleLoss) else expr.args
    found = []
    for arg in args:
        if isinstance(arg, sp.Expr) and not arg.is_Atom and arg.free_symbols:
            found.append(arg)
        if isinstance(arg, sp.Basic):
            found.extend(_parts(arg) if isinstance(arg, sp.Expr) else [])
    return found


def _stem(part: sp.Expr) -> str:
    """``PART_NAMES`` of ``part``'s class (weight-decay terms: ``decay``); a product with one
    named factor is named after it (``(1 - y) * np.maximum(...)`` holds hinges)."""
    if isinstance(part, sp.Add) and all(isinstance(term, SquaredNorm) for term in part.args):
        return "squares"  # of the weights: the sum in the weight decay
    if part.has(SquaredNorm) and not part.has(ExampleLoss):
        return "decay"
    stem = PART_NAMES.get(type(part).__name__, "terms")
    if stem == "products":
        named = {PART_NAMES.get(type(arg).__name__, "") for arg in part.args} - {"", "products", "sums"}
        if len(named) == 1:
            return named.pop()
    return stem


def _part_name(part: sp.Expr, taken: set[str]) -> str:
    """A fresh name for ``part`` saying what it holds: ``hinges``, ``steps``, ``decay``..."""
    stem = _stem(part)
    name, number = stem, 1
    while name in taken:
        number += 1
        name = f"{stem}_{number}"
    taken.add(name)
    return name


def _decay_group(expr: sp.Expr) -> sp.Expr | None:
    """The weight-decay terms of a loss (``Ω``), as one sum, when they are some of its terms."""
    if not isinstance(expr, sp.Add):
        return None
    terms = [term for term in expr.args if term.has(SquaredNorm)]
    # A common strength is factored out: 0.0005 * (np.vdot(W1, W1) + np.vdot(W2, W2)).
    return sp.factor_terms(sp.Add(*terms)) if 1 < len(terms) < len(expr.args) else None


def _split(
    target: str, expr: sp.Expr, printer: NumPyCodePrinter, taken: set[str]
) -> list[tuple[str, sp.Expr]]:
    """``target = expr`` as statements that each fit on a line (``LINE_LENGTH``), so that ``ruff
    format`` keeps them at any line length: while the line is too long, a part of ``expr`` is
    computed first under its own name. The part is one that occurs more than once if any (the
    longest), else the longest that fits on its own line, else the longest (split in turn). The
    weight-decay terms of a loss, together and with their common factor taken out, come first."""
    statements: list[tuple[str, sp.Expr]] = []
    while not _fits(target, printer.doprint(expr)):
        parts = _parts(expr)
        if not parts:
            break
        decay = _decay_group(expr)
        code = {part: printer.doprint(part) for part in parts}
        repeated = [part for part in parts if parts.count(part) > 1 and len(code[part]) > REPEATED]
        fitting = [part for part in parts if _fits(_stem(part), code[part])]
        part = decay if decay is not None else max(repeated or fitting or parts, key=lambda p: len(code[p]))
        name = _part_name(part, taken)
        statements.extend(_split(name, part, printer, taken))
        symbol = ArraySymbol(name, real=True)
        if part is decay:
            expr = sp.Add(*(term for term in expr.args if not term.has(SquaredNorm)), symbol)
        else:
            expr = expr.xreplace({part: symbol})
    return [*statements, (target, expr)]


def _taken(statements: tuple[ArrayStatement, ...], inputs: str) -> set[str]:
    """The Python names a function body already uses, which a named part must not take."""
    names = {inputs, *RESERVED}
    for st in statements:
        names.add(python_name(st.target))
        names.update(python_name(s.name) for s in st.expr.free_symbols if isinstance(s, sp.Symbol))
    return names


def _size_code(width: sp.Expr) -> str:
    return str(int(width)) if width.is_Integer else f'sizes["{width}"]'


def _shape(widths: list[sp.Expr]) -> tuple[str, str]:
    return tuple_code([_size_code(w) for w in widths]), tuple_code([str(w) for w in widths])


def _parameters(names: ModelNames) -> list[Parameter]:
    """Parameters in layer order (W1, b1, W2, b2), shaped by their index letters; a norm's gamma
    starts at ones and its beta at zeros (the identity transform, as PyTorch's)."""
    result = []
    for layer in names.layers:
        w_code, w_doc = _shape(list(layer.weight_dims))
        b_code, b_doc = _shape(list(layer.unit_dims))
        for q in layer.params:
            if q is layer.w:
                result.append(Parameter(q.name, w_code, w_doc, _size_code(layer.prev_width)))
            else:
                result.append(Parameter(q.name, b_code, b_doc, None, "ones" if q is layer.gamma else "zeros"))
    return result


def _batch_check(names: ModelNames, inputs: str) -> list[str]:
    """A model with batch statistics (batch norm) needs two examples at least, as PyTorch's
    BatchNorm1d in training mode: one example would normalise every unit to beta, silently."""
    if not forward_equations.couples_examples(names):
        return []
    return [
        f"if {inputs}.shape[0] < 2:",
        "    raise ValueError(",
        f'        "{inputs} must hold at least 2 examples (batch norm takes its statistics "',
        f'        f"over the batch), got {{{inputs}.shape[0]}}"',
        "    )",
    ]


def _batch_size_line(statements: tuple[ArrayStatement, ...], inputs: str) -> list[str]:
    """``n = X.shape[0]`` when the statements compute with the batch size."""
    used = any(s == N for st in statements for s in st.expr.free_symbols)
    return [f"n = {inputs}.shape[0]"] if used else []


def _size_lines(statements: tuple[ArrayStatement, ...], names: ModelNames) -> list[str]:
    """``K = W1.shape[0]`` for each size symbol the statements compute with (a mean over units),
    read from the first argument that has it."""
    sizes = {s.name for s in names.size_symbols()}
    used = {s.name for st in statements for s in st.expr.free_symbols} & sizes
    lines = []
    for size in sorted(used):
        name, dims = next((name, dims) for name, dims in shapes(names) if size in dims)
        lines.append(f"{size} = {name}.shape[{dims.index(size)}]")
    return lines


def _sizes(names: ModelNames) -> list[str]:
    return [s.name for s in names.size_symbols()]


def _sizes_line(names: ModelNames) -> str:
    """``SIZES: tuple[str, ...] = ("C", "M")``, split one name a line when too long."""
    quoted = [f'"{name}"' for name in _sizes(names)]
    if len(quoted) == 1:
        return f"SIZES: tuple[str, ...] = ({quoted[0]},)"
    return call("SIZES: tuple[str, ...] = ", quoted)


def _target_doc(derivation: Derivation) -> str:
    """What ``y`` is, from the loss's target kind: ``y is (n, C) of one-hot rows, or ...``."""
    out = derivation.names.output
    target = losses.get(derivation.spec.loss).target_kind
    shape = "(n,)" if out.index is None else f"(n, {out.width})"
    text = f"y is {shape} of {target.holds}"
    if _accepts_labels(derivation):
        text += ", or (n,) of integer class labels"
    return text


def _accepts_labels(derivation: Derivation) -> bool:
    """Whether ``y`` may also be given as integer class labels (one-hot targets of a wide output)."""
    target = losses.get(derivation.spec.loss).target_kind
    return target.labels and derivation.names.output.index is not None


def _targets_line(derivation: Derivation, printer: NumPyCodePrinter) -> str:
    """``y = _accept(y, shape, "(n, C)", X.dtype)``: the loss's target kind checks and converts y."""
    target = losses.get(derivation.spec.loss).target_kind
    printer.helpers.add(target.numpy_accept)
    out = derivation.names.output
    if out.index is None:
        shape, names = "(n,)", "(n,)"
    else:
        shape, names = f"(n, {out.w.name}.shape[0])", f"(n, {out.width})"
    dtype = "dtype"
    return call(f"{BODY}y = {target.numpy_accept}", ["y", shape, f'"{names}"', dtype]).removeprefix(BODY)


def _training_lines(training, loss, backward, printer, output_error, taken) -> dict[str, list[Line]]:
    """``loss_and_grad``'s forward, loss and backward lines, each array freed after its last use
    (the gradients it returns are kept)."""
    blocks = [
        _lines(tuple(st for st in training if st.role == "forward"), printer, output_error, taken),
        _lines((loss,), printer, output_error, taken),
        _lines(tuple(backward), printer, output_error, taken),
    ]
    returned = {"loss"} | {st.target for st in backward if st.role == "gradient"}
    forward, loss_lines, backward_lines = _free_after_last_use(blocks, returned)
    return {"forward": forward, "loss": loss_lines, "backward": backward_lines}


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
    inputs = batch_name(names.x.name, True)
    taken = _taken((*statements, *training), inputs)
    loss = next(st for st in statements if st.role == "loss")
    backward = [st for st in statements if st.role in ("error", "gradient")]
    out = names.output
    input_shape = f"(n, {names.input_width})"
    output_shape = "(n,)" if out.index is None else f"(n, {out.width})"
    inputs_doc = f"{inputs} is {input_shape}; {_target_doc(derivation)}."
    loss_title = losses.get(derivation.spec.loss).title
    parameter_names = [p.name for p in _parameters(names)]
    door = f"_inputs(params, {inputs})"
    sizes_example = "{" + ", ".join(f'"{name}": 10' for name in _sizes(names)) + "}"
    context = dict(
        summary=_summary(derivation),
        provenance=_provenance(derivation),
        parameters=_parameters(names),
        sizes_line=_sizes_line(names),
        inputs=inputs,
        module_inputs_doc=_paragraph(f"Inputs: {inputs_doc}"),
        module_loss_doc=_paragraph(
            f"The loss is the mean over the n examples of the per-example {loss_title} loss L."
        ),
        inputs_doc=_paragraph(inputs_doc, BODY),
        forward_doc=_one_line_docstring(
            f"Predictions for a batch: {inputs} is {input_shape}; "
            f"returns {output_shape} of {out.activation} outputs."
        ),
        sizes_doc=_paragraph(f"``sizes`` gives each size symbol a value, e.g. ``{sizes_example}``.", BODY),
        # A one-input model's x is a number per example: the column of X.
        input_line=None
        if names.input_index is not None
        else f"{batch_name(names.x.name, False)} = {inputs}[:, 0]",
        targets_line=_targets_line(derivation, printer),
        shapes=shapes_source(names),
        argument_error=ARGUMENT_ERROR,
        inputs_body=inputs_body(names),
        unpack_inputs=unpack(BODY, [inputs, *parameter_names], door, "dtype").removeprefix(BODY),
        unpack_forward=unpack(BODY, [inputs, *parameter_names], door, "_").removeprefix(BODY),
        dtype_doc=_paragraph(DTYPE_DOC, BODY),
        predict=_lines(tuple(forward), printer, output_error_name, _taken(statements, inputs)),
        **_training_lines(training, loss, backward, printer, output_error_name, taken),
        output=out.a.name,
        # loss_and_grad always has n; forward needs it only for a mean over the batch (batch norm).
        forward_sizes=_size_lines(tuple(forward), names) + _batch_size_line(tuple(forward), inputs),
        batch_check=_batch_check(names, inputs),
        sizes_used=_size_lines(statements, names),
        # A 0-d gradient is a NumPy scalar after the batch sum; return arrays, as params are.
        gradients=[
            (p.name, gradient_name(p.name) if p.shape != "()" else f"np.asarray({gradient_name(p.name)})")
            for p in _parameters(names)
        ],
    )
    # A symbolic weight-decay strength is a keyword argument of loss_and_grad.
    symbolic = names.l2 if isinstance(names.l2, sp.Symbol) else None
    keywords = [python_name(symbolic.name)] if symbolic is not None else []
    context["hyperparameters"] = keywords
    context["hyperparameters_doc"] = "".join(
        _paragraph(f"``{keyword}`` is the weight-decay strength.", BODY) for keyword in keywords
    )
    context["helpers"] = [helper_source(name) for name in with_callees(printer.helpers)]
    return context


def module_source(derivation: Derivation) -> str:
    """The generated module's source text (deterministic for a given derivation)."""
    return render("module.py.j2", **context(derivation))
