"""Lowering: one index-notation expression -> its batch (whole-array) form.

``batch(expr)`` rewrites an expression of a Derivation (index notation, one example) over whole
arrays for a batch of ``n`` examples: elementwise expressions drop their unit index; a sum over an
index of two indexed factors becomes a matrix product (transposed as the index order requires); a
per-example scalar times a per-unit vector becomes an outer product. ``contract`` sums a product
over one index (the batch axis, for a gradient's mean); ``fit`` lays an array out on given axes.

What it promises: a result is built only of ``ArraySymbol`` atoms and the node classes here, which
print themselves (``_latex`` and ``_numpycode``), so SymPy's LaTeX printer and
``derive.render.numpy_printer`` need no other help; an expression with no batch form raises
``VectoriseError``. Nothing here names a model: the rewriting follows the indices of the
expressions, and an activation is known by the registry entry its applied function carries
(``activations.Applied``), never by its formula. An explicit example index (``naming.ExampleIndex``,
batch norm's ``z_{nk}``) is the batch axis, a sum over it a column sum; a per-unit statistic of
the batch (``naming.Statistic``) has no batch axis. Statements are assembled in ``derive.vectorise``.
"""

from __future__ import annotations

import ast
import re
import string
from dataclasses import dataclass

import sympy as sp
from sympy.printing.precedence import PRECEDENCE, precedence

from . import activations, losses
from .errors import DeriveError
from .naming import (
    BATCH,
    BATCH_SIZE,
    BatchNumber,
    Constant,
    ExampleIndex,
    Statistic,
    StepIndex,
    batch_name,
    index,
    latex_name,
    python_name,
    split_name,
)

#: The batch axis label and the batch size ``n`` (one symbol: the sum over examples runs to n).
N = index(BATCH)

#: Per-example quantities get a leading batch axis; parameters (w, W, b) do not.
_PER_EXAMPLE = ("x", "y", "z", "a", "delta", "g", "mu", "var", "ztilde", "zhat", "delta_hat", "h", "e")

Axes = tuple[sp.Symbol, ...]


class VectoriseError(DeriveError):
    """An index-notation expression has no batch form here (e.g. a three-index intermediate)."""


# --- array atoms ------------------------------------------------------------------------------


class ArraySymbol(sp.Symbol):
    """A whole array: a per-example quantity stacked over the batch, or a parameter.

    Its name is the Python name in generated code (``X``, ``z1``, ``delta2``, ``W1``).
    """

    def _latex(self, printer) -> str:
        return latex_name(self.name, matrix=True)

    def _numpycode(self, printer) -> str:
        return python_name(self.name)


class ScalarSymbol(ArraySymbol):
    """A 0-d parameter (the bias of a one-unit layer): typeset as a scalar, not bold."""

    def _latex(self, printer) -> str:
        return latex_name(self.name)


# --- node classes -----------------------------------------------------------------------------


MUL = PRECEDENCE["Mul"]
ATOM = PRECEDENCE["Atom"]
TIGHT = MUL + 1  # an operand of a product: parenthesise sums and other products


def _wrap(printer, arg: sp.Expr, level: int) -> str:
    """``arg`` printed by ``printer``, parenthesised when it binds more loosely than ``level``.

    A node printed as a function call in code (``np.outer(u, v)``) binds tighter there than its
    typeset form (``u v^T``) does: ``code_precedence`` says so to code printers.
    """
    code = getattr(printer, "printmethod", "") == "_numpycode"
    prec = getattr(arg, "code_precedence", None) if code else None
    if prec is None:
        prec = precedence(arg)
    text = printer._print(arg)
    return f"({text})" if prec < level else text


_ACCENT = re.compile(r"\\(hat|tilde|bar)\b")
_HELPER_CALL = re.compile(r"(?<![\w.])(_[a-z][a-z0-9_]*)\(")


def print_template(printer, template: str, **args: sp.Expr | str) -> str:
    """A registry's NumPy template (``"np.tanh({z})"``) filled with the printed ``args``
    (an argument given as a string is code already).

    Helper functions the template calls (``_sigmoid``) are reported to a printer that keeps a
    ``helpers`` set, so the generated module defines exactly those it uses.
    """
    helpers = getattr(printer, "helpers", None)
    if helpers is not None:
        helpers.update(_HELPER_CALL.findall(template))
    printed = {key: value if isinstance(value, str) else printer._print(value) for key, value in args.items()}
    return template.format(**printed)


# Helpers the array nodes' code calls (beside the registries' own, ``numpy_helpers``).
NUMPY_HELPERS = {
    "_row_sums": '''def _row_sums(a: Array) -> Array:
    """The sum of each row of the (n, m) array ``a``: one matrix-vector product with a
    vector of ones, about 0.8 µs where a.sum(axis=1) takes 2 µs on a small batch."""
    ones = np.empty(a.shape[1], a.dtype)
    ones.fill(1)
    row_sums: Array = a.dot(ones)
    return row_sums
''',
}


class _ArrayNode(sp.Function):
    """Base of the array operations: never evaluated, never simplified away."""

    is_commutative = True

    @classmethod
    def eval(cls, *args):
        return None


class BatchMatMul(_ArrayNode):
    """Matrix product ``A B`` (``A.dot(B)``); either side may be a vector."""

    nargs = 2
    precedence = PRECEDENCE["Mul"]
    code_precedence = PRECEDENCE["Atom"]

    def _latex(self, printer) -> str:
        left, right = self.args
        return f"{_wrap(printer, left, TIGHT)} {_wrap(printer, right, TIGHT)}"

    def _numpycode(self, printer) -> str:
        left, right = self.args
        # ndarray.dot, not `@`: the same BLAS product with less overhead per call (about
        # 0.5 µs of a 2 µs product at 32 x 20 x 10), which is most of a small batch's time.
        return f"{_wrap(printer, left, ATOM)}.dot({printer._print(right)})"


class BatchTranspose(_ArrayNode):
    """Transpose ``A^T`` (``A.T``: a view, no copy)."""

    nargs = 1
    precedence = PRECEDENCE["Atom"]

    def _latex(self, printer) -> str:
        (arg,) = self.args
        text = _wrap(printer, arg, ATOM)
        if _ACCENT.search(text):  # amsmath's accents read a following ^ as theirs: {\hat{x}^{(1)}}^T fails
            return f"\\left({text}\\right)^\\top"
        return f"{{{text}}}^\\top"

    def _numpycode(self, printer) -> str:
        (arg,) = self.args
        return f"{_wrap(printer, arg, ATOM)}.T"


class Hadamard(_ArrayNode):
    """Elementwise product ``A (.) B (.) ...`` of arrays (NumPy broadcasting along rows)."""

    precedence = PRECEDENCE["Mul"]

    def _latex(self, printer) -> str:
        return r" \odot ".join(_wrap(printer, arg, TIGHT) for arg in self.args)

    def _numpycode(self, printer) -> str:
        return " * ".join(_wrap(printer, arg, TIGHT) for arg in self.args)


class HadamardPower(_ArrayNode):
    """Elementwise power ``A^{(.)p}``."""

    nargs = 2
    precedence = PRECEDENCE["Pow"]

    def _latex(self, printer) -> str:
        base, exponent = self.args
        return f"{{{_wrap(printer, base, ATOM)}}}^{{\\circ {printer._print(exponent)}}}"

    def _numpycode(self, printer) -> str:
        base, exponent = self.args
        if exponent == -1:
            return f"1.0 / {_wrap(printer, base, TIGHT)}"
        return printer._print_Pow(sp.Pow(base, exponent, evaluate=False))


class Outer(_ArrayNode):
    """Outer product ``u v^T`` of a per-example vector ``u`` (n,) and a per-unit vector ``v``."""

    nargs = 2
    precedence = PRECEDENCE["Mul"]

    def _latex(self, printer) -> str:
        u, v = self.args
        return f"{_wrap(printer, u, TIGHT)} {{{_wrap(printer, v, ATOM)}}}^\\top"

    def _numpycode(self, printer) -> str:
        u, v = self.args
        # Broadcasting, not np.outer: the same product without np.outer's Python-level overhead.
        return f"{_wrap(printer, u, ATOM)}[:, None] * {_wrap(printer, v, TIGHT)}"


class RowSum(_ArrayNode):
    """Sum over the unit axis of a batch array: ``A 1`` (one value per example)."""

    nargs = 1
    precedence = PRECEDENCE["Mul"]
    code_precedence = PRECEDENCE["Atom"]

    def _latex(self, printer) -> str:
        return f"{_wrap(printer, self.args[0], TIGHT)} \\mathbf{{1}}"

    def _numpycode(self, printer) -> str:
        return print_template(printer, "_row_sums({a})", a=self.args[0])


class ColumnSum(_ArrayNode):
    """Sum over the batch axis: ``1^T A`` (a vector for a matrix, a number for a vector)."""

    nargs = 1
    precedence = PRECEDENCE["Mul"]
    code_precedence = PRECEDENCE["Atom"]

    def _latex(self, printer) -> str:
        return f"\\mathbf{{1}}^\\top {_wrap(printer, self.args[0], TIGHT)}"

    def _numpycode(self, printer) -> str:
        return f"{_wrap(printer, self.args[0], ATOM)}.sum(axis=0)"


class AsColumn(_ArrayNode):
    """A per-example vector (n,) broadcast across units: ``v 1^T`` (``v[:, None]``)."""

    nargs = 1
    precedence = PRECEDENCE["Atom"]

    def _latex(self, printer) -> str:
        return f"{_wrap(printer, self.args[0], TIGHT)} \\mathbf{{1}}^\\top"

    def _numpycode(self, printer) -> str:
        return f"{_wrap(printer, self.args[0], ATOM)}[:, None]"


class BatchMean(_ArrayNode):
    """The mean over the batch of a per-example vector: ``(1/n) 1^T v``."""

    nargs = 1
    precedence = PRECEDENCE["Mul"]

    def _latex(self, printer) -> str:
        return f"\\frac{{1}}{{n}} \\mathbf{{1}}^\\top {_wrap(printer, self.args[0], TIGHT)}"

    def _numpycode(self, printer) -> str:
        return f"{_wrap(printer, self.args[0], ATOM)}.sum() / {printer._print(N)}"


class Where(_ArrayNode):
    """``then`` where ``condition`` holds, else ``otherwise``, elementwise (``np.where``): a
    two-case rule (``Piecewise``) over whole arrays."""

    nargs = 3
    precedence = PRECEDENCE["Func"]
    code_precedence = PRECEDENCE["Atom"]

    def _latex(self, printer) -> str:
        condition, then, otherwise = (printer._print(arg) for arg in self.args)
        return rf"\begin{{cases}} {then} & {condition} \\ {otherwise} & \text{{otherwise}} \end{{cases}}"

    def _numpycode(self, printer) -> str:
        condition, then, otherwise = self.args
        test = f"{printer._print(condition.lhs)} {condition.rel_op} {printer._print(condition.rhs)}"
        return f"np.where({test}, {printer._print(then)}, {printer._print(otherwise)})"


class SquaredNorm(_ArrayNode):
    """The sum of an array's squared elements, ``||W||^2`` (``np.vdot(W, W)``)."""

    nargs = 1
    precedence = PRECEDENCE["Atom"]

    def _latex(self, printer) -> str:
        return rf"\lVert {printer._print(self.args[0])} \rVert^2"

    def _numpycode(self, printer) -> str:
        array = printer._print(self.args[0])
        return f"np.vdot({array}, {array})"  # one BLAS dot product, no squared copy


class ArrayActivation(_ArrayNode):
    """A registry activation applied to a whole array: ``sigma(Z)``; softmax acts row by row.

    Its one argument is the activation applied to the array (``activations.Applied``), which
    carries the registry entry with the layer's parameter values.
    """

    nargs = 1
    precedence = PRECEDENCE["Func"]

    @property
    def activation(self) -> activations.Activation:
        return self.args[0].entry

    @property
    def z(self) -> sp.Expr:
        return self.args[0].args[0]

    def _latex(self, printer) -> str:
        return f"{self.activation.latex}({printer._print(self.z)})"

    def _numpycode(self, printer) -> str:
        return print_template(printer, self.activation.numpy, z=self.z)


class LogNormalisedActivation(ArrayActivation):
    """A normalised activation and its per-example log-normaliser, ``(A, lse)``, computed together.

    Typeset as the activation; printed for NumPy through the registry's ``numpy_log_normalised``
    form, which returns both from one row maximum and one exp (softmax and log-sum-exp).
    """

    def _numpycode(self, printer) -> str:
        template = self.activation.numpy_log_normalised
        if template is None:
            raise VectoriseError(f"activation {self.activation.name!r} has no log-normalised NumPy form")
        return print_template(printer, template, z=self.z)


class ExampleLoss(_ArrayNode):
    """Per-example losses (n,): typeset in their plain form, computed in the stable fused form.

    ``args = (plain, Z, A, Y, loss name, output activation name)``: ``plain`` is the vectorised
    loss through the outputs; the loss registry's fused form for the output activation
    (log-sigmoid, log-sum-exp, through the logits ``Z`` and the outputs ``A``) is printed for
    NumPy when it has one.
    """

    nargs = 6

    @property
    def precedence(self) -> int:
        return precedence(self.args[0])

    @property
    def code_precedence(self) -> int:
        """How tightly the printed code binds: the plain form's own (a row sum is an atom in code);
        a fused form that is one call is an atom, any other fused form is parenthesised as a sum
        would be."""
        if self.fused is None:
            own = getattr(self.args[0], "code_precedence", None)
            return own if own is not None else precedence(self.args[0])
        code = re.sub(r"\{(\w+)\}", r"\1", self.fused)
        one_call = isinstance(ast.parse(code, mode="eval").body, ast.Call)
        return PRECEDENCE["Atom"] if one_call else PRECEDENCE["Add"]

    @property
    def fused(self) -> str | None:
        *_, loss, act = self.args
        return losses.get(loss.name).fused.get(act.name)

    @property
    def reads_log_normaliser(self) -> bool:
        """Whether the fused form reads the output activation's log-normaliser array."""
        fields = (name for _, name, _, _ in string.Formatter().parse(self.fused or "") if name)
        return "log_normaliser" in fields

    def _latex(self, printer) -> str:
        return printer._print(self.args[0])

    def _numpycode(self, printer) -> str:
        plain, z, a, y, _, _ = self.args
        if self.fused is None:
            return printer._print(plain)
        log_normaliser = ArraySymbol(log_normaliser_name(z.name), real=True)
        return print_template(printer, self.fused, z=z, a=a, y=y, log_normaliser=log_normaliser)


def log_normaliser_name(z_name: str) -> str:
    """``z2 -> lse2``: the array of a layer's per-example log-normaliser (log-sum-exp)."""
    parts = split_name(z_name)
    return "lse" + (parts[1] if parts else "")


# --- index notation -> batch form -------------------------------------------------------------


@dataclass(frozen=True)
class _Arr:
    """A vectorised sub-expression and the index letters of its axes (``N`` = batch axis)."""

    expr: sp.Expr
    axes: Axes


def _is_per_example(name: str) -> bool:
    parts = split_name(name)
    return parts is not None and parts[0] in _PER_EXAMPLE


def atom(name: str, indices: Axes) -> _Arr:
    if indices and isinstance(indices[0], ExampleIndex):
        indices = indices[1:]  # an example of the batch: its row of the per-example array
    if indices and isinstance(indices[0], StepIndex):
        indices = indices[1:]  # a recurrent state at a step: the rows are (example, step) pairs
    if _is_per_example(name):
        return _Arr(ArraySymbol(batch_name(name, bool(indices)), real=True), (N, *indices))
    if not indices:
        return _Arr(ScalarSymbol(name, real=True), ())
    return _Arr(ArraySymbol(name, real=True), indices)


def _union(axes_list: list[Axes]) -> Axes:
    """Target axes of an elementwise combination: the batch axis first, then units in order."""
    seen: list[sp.Symbol] = []
    for axes in axes_list:
        seen.extend(a for a in axes if a not in seen)
    ordered = tuple(sorted(seen, key=lambda a: a != N))
    if len(ordered) > 2:
        raise VectoriseError(f"cannot vectorise an intermediate with indices {ordered} (at most 2)")
    return ordered


def fit(arr: _Arr, target: Axes) -> sp.Expr:
    """``arr`` broadcast to ``target`` axes as NumPy broadcasts (trailing axes align)."""
    if arr.axes == target[len(target) - len(arr.axes) :]:
        return arr.expr
    if arr.axes == (N,) and len(target) == 2 and target[0] == N:
        # A number stays outside: a - v 1^T, not a + (-v) 1^T.
        coeff, rest = arr.expr.as_coeff_Mul()
        return coeff * AsColumn(rest)
    raise VectoriseError(f"cannot broadcast axes {arr.axes} to {target}")


def _product(factors: list[_Arr]) -> _Arr:
    """Elementwise product; a per-example scalar times a per-unit vector is an outer product."""
    constants = [f.expr for f in factors if not f.axes]
    arrays = [f for f in factors if f.axes]
    target = _union([f.axes for f in arrays])
    if len(target) == 2 and target[0] == N:
        rows = [f for f in arrays if f.axes == (N,)]
        cols = [f for f in arrays if f.axes == target[1:]]
        if rows and cols:
            outer = Outer(sp.Mul(*(f.expr for f in rows)), sp.Mul(*(f.expr for f in cols)))
            arrays = [_Arr(outer, target)] + [f for f in arrays if f not in rows and f not in cols]
    if not arrays:
        return _Arr(sp.Mul(*constants), ())
    # Scalars go onto a per-example vector about to be broadcast over the units (one pass over n
    # values), not onto the (n, K) product (a pass over every element).
    column = next((f for f in arrays if f.axes == (N,) and len(target) == 2), None)
    if column is not None and any(c != -1 for c in constants):  # a lone sign stays outside
        arrays = [_Arr(sp.Mul(*constants, f.expr), f.axes) if f is column else f for f in arrays]
        constants = []
    fitted = sorted((fit(f, target) for f in arrays), key=_factor_order)
    body = fitted[0] if len(fitted) == 1 else Hadamard(*fitted)
    return _Arr(sp.Mul(*constants, body), target)


def _factor_order(expr: sp.Expr) -> tuple[int, str]:
    """Matrix products first, then plain arrays, then the rest (``(d W) . A . (1 - A)``)."""
    rank = 0 if expr.has(BatchMatMul, Outer) else 1 if expr.is_Atom else 2
    return (rank, sp.srepr(expr))


def _sum(terms: list[_Arr]) -> _Arr:
    target = _union([t.axes for t in terms])
    return _Arr(sp.Add(*(fit(t, target) for t in terms)), target)


def _others(arr: _Arr, i: sp.Symbol) -> Axes:
    return tuple(a for a in arr.axes if a != i)


def _orient(arr: _Arr, i: sp.Symbol, last: bool) -> sp.Expr:
    """``arr`` with axis ``i`` last (left operand) or first (right operand) of a product.

    A vector is a column, so a vector on the left is transposed (``d^T x``); NumPy's ``.T`` of a
    vector is the vector itself, so the code stays the same.
    """
    if len(arr.axes) == 1 and last or len(arr.axes) == 2 and arr.axes[-1 if last else 0] != i:
        return BatchTranspose(arr.expr)
    return arr.expr


def _matmul(left: _Arr, right: _Arr, i: sp.Symbol) -> _Arr:
    expr = BatchMatMul(_orient(left, i, last=True), _orient(right, i, last=False))
    return _Arr(expr, _others(left, i) + _others(right, i))


def _reduce(arr: _Arr, i: sp.Symbol) -> _Arr:
    position = arr.axes.index(i)
    node = ColumnSum if position == 0 else RowSum
    return _Arr(node(arr.expr), _others(arr, i))


def contract(factors: list[_Arr], i: sp.Symbol, order: Axes | None = None) -> _Arr:
    """``sum_i`` of a product of vectorised factors: a matrix product, or a row/column sum.

    ``order`` fixes the result's axis order (a gradient must be shaped like its parameter);
    otherwise a batch operand goes on the left so results keep the batch axis first.
    """
    inside = [f for f in factors if i in f.axes]
    outside = [f for f in factors if i not in f.axes]
    vectors = [f for f in inside if f.axes == (i,)]
    if len(inside) > 2 and len(vectors) == 1 and order is None:
        # sum_j u_nj v_nj w_j: the elementwise product of the arrays, then one matrix-vector product.
        rest = _product([f for f in inside if f is not vectors[0]])
        inside = [rest, vectors[0]]
    if len(inside) == 2 and not set(_others(inside[0], i)) & set(_others(inside[1], i)):
        first = order[0] if order else N
        left, right = sorted(inside, key=lambda f: first not in f.axes)
        result = _matmul(left, right, i)
    else:
        result = _reduce(_product(inside), i)
    if order and result.axes != order:
        result = _Arr(BatchTranspose(result.expr), order)
    return _product([result, *outside]) if outside else result


def batch(expr: sp.Expr) -> _Arr:
    """Vectorise one index-notation expression over a batch."""
    if isinstance(expr, sp.Indexed):
        if isinstance(expr.base, Statistic):  # one value per unit for the batch: no batch axis
            return _Arr(ArraySymbol(expr.base.name, real=True), tuple(expr.indices))
        return atom(expr.base.name, tuple(expr.indices))
    if isinstance(expr, Constant):  # a named number: its value in code
        return _Arr(expr, ())
    if expr == BATCH_SIZE:
        return _Arr(N, ())
    if isinstance(expr, BatchNumber):  # one number for the batch: no batch axis
        return _Arr(ScalarSymbol(expr.name, real=True), ())
    if isinstance(expr, sp.Symbol):
        return atom(expr.name, ())
    if expr.is_number:  # numbers and constants (pi, sqrt(2))
        return _Arr(expr, ())
    if isinstance(expr, sp.Add):
        return _sum([batch(arg) for arg in expr.args])
    if isinstance(expr, sp.Mul):
        return _product([batch(arg) for arg in expr.args])
    if isinstance(expr, sp.Pow):
        return _power(batch(expr.base), expr.exp)
    if isinstance(expr, sp.Sum):
        return _sum_over(expr)
    if isinstance(expr, sp.Piecewise):
        return _where(expr)
    if isinstance(expr, sp.Function):
        return _function(expr)
    raise VectoriseError(f"no batch form for {type(expr).__name__} in {expr}")


def _power(base: _Arr, exponent: sp.Expr) -> _Arr:
    if not exponent.is_Number:
        raise VectoriseError(f"cannot vectorise the power {exponent}")
    if base.axes:
        return _Arr(HadamardPower(base.expr, exponent), base.axes)
    return _Arr(sp.Pow(base.expr, exponent), base.axes)


def _sum_over(expr: sp.Sum) -> _Arr:
    (i, _, _), *rest = expr.limits
    if rest:
        return _sum_over(sp.Sum(sp.Sum(expr.function, *rest), (i, 1, 1)))
    factors = [batch(arg) for arg in sp.Mul.make_args(expr.function)]
    # A sum over the batch's examples runs along the batch axis.
    return contract(factors, N if isinstance(i, ExampleIndex) else i)


def _where(expr: sp.Piecewise) -> _Arr:
    """A two-case rule, ``(then, condition), (otherwise, True)``, as ``np.where``."""
    if len(expr.args) != 2 or expr.args[1].cond != sp.true or not isinstance(expr.args[0].cond, sp.Rel):
        raise VectoriseError(f"no batch form for the case analysis {expr}")
    (then, condition), (otherwise, _) = expr.args
    lhs, rhs, then_, otherwise_ = (batch(e) for e in (condition.lhs, condition.rhs, then, otherwise))
    axes = _union([lhs.axes, rhs.axes, then_.axes, otherwise_.axes])
    test = condition.func(fit(lhs, axes), fit(rhs, axes), evaluate=False)
    return _Arr(Where(test, fit(then_, axes), fit(otherwise_, axes)), axes)


def _function(expr: sp.Function) -> _Arr:
    if isinstance(expr, activations.Applied):
        (arg,) = expr.args
        inner = batch(arg)
        return _Arr(ArrayActivation(expr.func(inner.expr)), inner.axes)
    args = [batch(arg) for arg in expr.args]
    axes = _union([a.axes for a in args])
    return _Arr(expr.func(*(a.expr if not a.axes else fit(a, axes) for a in args)), axes)


__all__ = [
    "ArrayActivation",
    "ArraySymbol",
    "AsColumn",
    "Axes",
    "BatchMatMul",
    "BatchMean",
    "BatchTranspose",
    "ColumnSum",
    "ExampleLoss",
    "Hadamard",
    "HadamardPower",
    "LogNormalisedActivation",
    "N",
    "Outer",
    "RowSum",
    "ScalarSymbol",
    "SquaredNorm",
    "VectoriseError",
    "Where",
    "atom",
    "batch",
    "contract",
    "fit",
    "log_normaliser_name",
    "print_template",
]
