"""Vector and matrix notation, lowered to index notation before binding (issue 11).

``lower(equation, table)`` returns None for an equation in index notation, which therefore reads
exactly as before. An equation with a whole vector or matrix in it (a bold name ``\\mathbf{w}``,
``\\boldsymbol{\\delta}``, ``\\vec{x}`` or a capital ``W`` without indices), a transpose, ``\\odot``,
``\\oslash``, ``\\operatorname{diag}``, ``\\mathbf{1}`` or ``\\nabla`` is read in vector notation: each
side gets a shape (rows, columns; vectors are columns), shapes are checked, and each side is
rewritten as the index-notation tree of one element, with the model's index letters for the free
dimensions and a ``Sum`` for every contraction. Evaluation, proof and slips then read that tree.

Conventions: the gradient of a scalar with respect to a quantity has that quantity's shape
(``\\nabla_{\\mathbf{w}} L`` and ``\\frac{\\partial L}{\\partial W^{(1)}}``); a Jacobian
``\\frac{\\partial \\mathbf{a}}{\\partial \\mathbf{z}}`` has rows indexed by ``a``. A capital ``W`` of a
layer with one unit is the 1-row matrix, the bold ``\\mathbf{w}`` the column. Functions, ``\\odot``,
``\\oslash`` and a quotient of equal shapes act elementwise; a number broadcasts (in a sum, only a
constant); ``\\cdot`` between two vectors is their dot product, ``\\otimes`` their outer product;
a whole-layer activation (``\\operatorname{softmax}``) is lowered through its registry formula.
``\\odot`` next to products is grouped as the shapes allow. A side whose shape differs from the
left side's is ``Wrong`` with both shapes named; an answer with the left side's shape transposed
is lowered transposed, so the caller can tell whether it is exactly the transpose.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TypeAlias

import sympy as sp

from .. import activations
from ..naming import INDEX_LETTERS, STEP_LETTER, latex_name
from .latex_parse import (
    VECTOR_NODES,
    Add,
    Cases,
    Diag,
    Div,
    Elementwise,
    Func,
    Group,
    Index,
    Kronecker,
    Mul,
    Name,
    Neg,
    Node,
    Num,
    Ones,
    Pow,
    Sum,
    Transpose,
    WrittenEquation,
    WrittenPartial,
    function_key,
    letter_of,
    letters_of,
)
from .problems import Unreadable, Wrong
from .quantities import LAYER_KINDS, ModelTable, Quantity

Dim: TypeAlias = sp.Expr | None  # None: the length of a \mathbf{1}, fixed by what it meets
ONE = sp.Integer(1)
LETTERS = (*INDEX_LETTERS, "n", "o", "g", "h", "f", "d", "w")  # for sums and free dimensions
VECTOR_KINDS = ("x", "y", "z", "a", "w", "b", "delta", "zhat", "ztilde", "gamma", "beta", "delta_hat", "g",
                "h", "u")
MATRICES = {"W": "w", "U": "u"}  # capital letters that are whole matrices: weights
MAX_READINGS = 64  # other groupings of \odot and products tried per equation
# Whole-layer activations (softmax), by the key their LaTeX is read as; their registry formula
# (``vector_forward``) gives each element.
VECTOR_ACTIVATIONS = {function_key(entry.latex): entry for entry in activations.ACTIVATIONS.values()
                      if not entry.elementwise}


@dataclass(frozen=True)
class Shape:
    rows: Dim
    cols: Dim

    @property
    def t(self) -> Shape:
        return Shape(self.cols, self.rows)

    @property
    def scalar(self) -> bool:
        return self.rows == ONE and self.cols == ONE

    def describe(self) -> str:
        rows, cols = ("?" if d is None else str(d) for d in (self.rows, self.cols))
        if self.scalar:
            return "a number"
        if self.cols == ONE:
            return f"a column vector of length {rows}"
        if self.rows == ONE:
            return f"a row vector of length {cols}"
        return f"a {rows}×{cols} matrix"


Letter: TypeAlias = str | None  # the index letter of a dimension; None for a dimension of length 1
Build: TypeAlias = Callable[[Letter, Letter], Node]


@dataclass(frozen=True)
class Array:
    """A lowered expression: its shape, and its element at given row and column letters."""

    shape: Shape
    build: Build


def _unify(a: Dim, b: Dim) -> tuple[bool, Dim]:
    if a is None or b is None:
        return True, b if a is None else a
    return a == b, a


def _same(a: Shape, b: Shape) -> Shape | None:
    """The common shape of two shapes that agree (a \\mathbf{1} takes the other's length)."""
    ok_rows, rows = _unify(a.rows, b.rows)
    ok_cols, cols = _unify(a.cols, b.cols)
    return Shape(rows, cols) if ok_rows and ok_cols else None


def _readings(node: Elementwise) -> Iterator[Node]:
    """Other groupings of ``A B \\odot C D``: the operator taking fewer of the factors next to it
    (``((A B) \\odot C) D``, ``A (B \\odot C D)``, ...), the fewest moved out first."""
    left = node.left.factors if isinstance(node.left, Mul) else (node.left,)
    right = node.right.factors if isinstance(node.right, Mul) else (node.right,)
    splits = [(q, p) for q in range(len(left)) for p in range(1, len(right) + 1) if (q, p) != (0, len(right))]
    for q, p in sorted(splits, key=lambda split: split[0] + len(right) - split[1]):
        inner = Elementwise(node.op, _mul(*left[q:]), _mul(*right[:p]))
        yield _mul(*left[:q], inner, *right[p:])


def _is_euler(node: Node, table: ModelTable) -> bool:
    while isinstance(node, Group):
        node = node.inner
    return (isinstance(node, Name) and node.base == "e" and not node.indices and node.label is None
            and "e" not in table.sizes)


def _vector(shape: Shape) -> bool:
    """A column or row vector (not a number, not a matrix)."""
    return not shape.scalar and (shape.cols == ONE or shape.rows == ONE)


def _mul(*nodes: Node) -> Node:
    factors: list[Node] = []
    for node in nodes:
        factors.extend(node.factors if isinstance(node, Mul) else (node,))
    return factors[0] if len(factors) == 1 else Mul(tuple(factors))


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children():
        yield from _walk(child)


def _whole(name: Name) -> bool:
    """A bold or capital name without indices: a whole vector or matrix; or a bold name with one
    index, a recurrent layer's vector at a step (``\\mathbf{h}_t``)."""
    whole = not name.indices and (name.bold or name.base in MATRICES)
    return (whole or (name.bold and _step(name))) and name.base in (*VECTOR_KINDS, *MATRICES)


def _step(name: Name) -> bool:
    """Whether a name's one index reads as a time step: ``t``, ``t+1``, or a size such as ``T``
    (``\\mathbf{w}_j`` stays the element w_j)."""
    if len(name.indices) != 1:
        return False
    letter = letter_of(name.indices[0])
    return letter is not None and (letter == STEP_LETTER or letter.isupper())


def uses_vector_notation(equation: WrittenEquation) -> bool:
    for side in equation.sides:
        for node in _walk(side):
            if isinstance(node, VECTOR_NODES) or (isinstance(node, WrittenPartial) and node.nabla):
                return True
            if isinstance(node, Func) and node.name in VECTOR_ACTIVATIONS:
                return True
            if isinstance(node, Name) and _whole(node):
                return True
    return False


@dataclass(frozen=True)
class Lowered:
    """An equation in vector notation, read as index notation.

    ``transposed_answer``: only the answer's transpose has the left side's shape, so
    ``equation`` reads the answer transposed and ``shape_error`` is the reason to give when that
    is not right either. (A square left side is a Jacobian of one layer, diagonal or softmax's,
    hence symmetric: an answer of that shape is never right up to a transpose only.)
    """

    equation: WrittenEquation
    shape: Shape
    what: str  # the left side in words: "the gradient with respect to W^{(1)}"
    transposed_answer: bool = False
    shape_error: str = ""
    letters: tuple[Letter, Letter] = (None, None)  # of the left side's rows and columns


class Lowerer:
    """Shapes and index-notation elements of the sides of one equation."""

    def __init__(self, table: ModelTable, equation: WrittenEquation):
        self.table = table
        self.layered = table.layer_count > 1
        self.taken: set[str] = set()
        self.readings = 0  # other groupings of \odot tried, bounded by MAX_READINGS
        for side in equation.sides:
            for node in _walk(side):
                if isinstance(node, Name):
                    self.taken.update(letter for i in node.indices for letter in letters_of(i))
                elif isinstance(node, Sum):
                    self.taken.update(i for i in (node.var, node.exclude) if isinstance(i, str))
                elif isinstance(node, Kronecker):
                    self.taken.update(i for i in (node.i, node.j) if isinstance(i, str))
        self.model_letters = {width: str(symbol) for symbol, width in table.names.index_widths().items()}

    def fresh(self, dim: Dim) -> str:
        """An index letter not used yet in the equation: the model's own for ``dim`` if free."""
        preferred = self.model_letters.get(dim) if dim is not None else None
        for letter in (preferred, *LETTERS):
            if letter is not None and letter not in self.taken:
                self.taken.add(letter)
                return letter
        raise Unreadable("too many vectors and sums in one equation to name their indices")

    def letters(self, shape: Shape) -> tuple[Letter, Letter]:
        return tuple(None if d == ONE else self.fresh(d) for d in (shape.rows, shape.cols))  # type: ignore[return-value]

    def bound(self, dim: Dim) -> Node:
        if dim is None:
            raise Unreadable(r"cannot tell the length of \mathbf{1}: write \mathbf{1}_K")
        if isinstance(dim, sp.Integer):
            return Num(float(dim))
        return Name(str(dim))

    def lower(self, node: Node) -> Array:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise Unreadable(f"{type(node).__name__.lower()} cannot be mixed with vector notation: "
                             "write the equation in index notation")
        return method(node)

    # --- names and derivatives ---

    def quantity(self, name: Name) -> Quantity | None:
        """The quantity a name without indices stands for (None: a size or e)."""
        base = MATRICES.get(name.base, name.base)
        if name.label is None and (base in self.table.sizes or base == "e"):
            return None
        label = name.label
        if base == "a" and label == 0:
            base, label = "x", None
        if base in ("x", "y", "L"):
            if label is not None:
                raise Wrong(f"{name.show()}: {base} has no layer superscript")
            return self.table.quantities[(base, None)]
        if base not in LAYER_KINDS:
            self.table.resolve(name)  # raises Wrong, naming the model's quantities
            raise Wrong(f"{name.show()} is not a quantity of the model")
        layers = range(1, self.table.layer_count + 1)
        if label is not None:
            if not isinstance(label, int) or (base, label) not in self.table.quantities:
                raise Wrong(f"{name.show()}: the layer superscript must be a number from 1 to {len(layers)}")
            return self.table.quantities[(base, label)]
        if self.table.recurrent is not None and (base, 1) in self.table.quantities:
            return self.table.quantities[(base, 1)]  # unlabelled: the recurrent layer's
        options = [self.table.quantities[(base, n)] for n in layers if (base, n) in self.table.quantities]
        if len(options) > 1:  # a bold name is the layer's vector, a plain one its number
            options = [q for q in options if bool(q.dims) == (name.bold or name.base in MATRICES)]
        if len(options) != 1:
            which = " or ".join(f"{latex_name(name.base)}^{{({n})}}" for n in layers)
            raise Wrong(f"{name.show()} is ambiguous in model {self.table.names.spec.name}: write {which}")
        return options[0]

    def element(self, q: Quantity, name: Name, letters: tuple[Letter | Index, ...]) -> Name:
        base = "W" if q.kind == "w" and len(q.dims) == 2 else q.kind
        label = q.layer if self.layered and q.layer is not None else None
        indices = tuple(letter for letter in letters if letter is not None)
        return Name(base, indices, label, name.column)

    def _Name(self, node: Name) -> Array:
        if node.indices:
            stepped = self._at_step(node)
            if stepped is not None:
                return stepped
            return Array(Shape(ONE, ONE), lambda i, j: replace(node, bold=False))
        q = self.quantity(node)
        if q is None:
            return Array(Shape(ONE, ONE), lambda i, j: node)
        dims = q.dims
        if not dims:
            return Array(Shape(ONE, ONE), lambda i, j: self.element(q, node, ()))
        if len(dims) == 1 and node.base == "W":  # the 1-row weight matrix of a one-unit layer
            return Array(Shape(ONE, dims[0]), lambda i, j: self.element(q, node, (j,)))
        if len(dims) == 1:
            return Array(Shape(dims[0], ONE), lambda i, j: self.element(q, node, (i,)))
        return Array(Shape(dims[0], dims[1]), lambda i, j: self.element(q, node, (i, j)))

    def _at_step(self, node: Name) -> Array | None:
        """``\\mathbf{h}_t``: a recurrent model's vector (over its units) at the written step."""
        r = self.table.recurrent
        if r is None or not node.bold or len(node.indices) != 1:
            return None
        q = self.quantity(replace(node, indices=()))
        if q is None or len(q.dims) != 2 or q.dims[0] != r.steps:
            return None
        step = node.indices[0]
        return Array(Shape(q.dims[1], ONE), lambda i, j: self.element(q, node, (step, i)))

    def _WrittenPartial(self, node: WrittenPartial) -> Array:
        num, den = self._Name(node.num), self._Name(node.den)
        for part in (node.num, node.den):
            if not part.indices and self.quantity(part) is None:
                raise Wrong(f"{part.show()} in a derivative is not a quantity of the forward pass")

        def name(array: Array, i: Letter, j: Letter) -> Name:
            built = array.build(i, j)
            assert isinstance(built, Name)
            return built

        if num.shape.scalar:
            return Array(den.shape,
                         lambda i, j: WrittenPartial(name(num, None, None), name(den, i, j), node.nabla))
        if node.nabla:
            raise Unreadable(r"\nabla of a vector is ambiguous: write the Jacobian as "
                             r"\frac{\partial \mathbf{a}}{\partial \mathbf{z}} (rows indexed by a)")
        if den.shape.scalar:
            return Array(num.shape, lambda i, j: WrittenPartial(name(num, i, j), name(den, None, None)))
        if num.shape.cols == ONE and den.shape.cols == ONE:
            return Array(Shape(num.shape.rows, den.shape.rows),
                         lambda i, j: WrittenPartial(name(num, i, None), name(den, j, None)))
        raise Unreadable(f"the derivative of {node.num.show()} by {node.den.show()} has more than two "
                         "indices: write it in index notation")

    # --- arithmetic ---

    def _Num(self, node: Num) -> Array:
        return Array(Shape(ONE, ONE), lambda i, j: node)

    def _Kronecker(self, node: Kronecker) -> Array:
        return Array(Shape(ONE, ONE), lambda i, j: node)

    def _Ones(self, node: Ones) -> Array:
        size: Dim = None
        if isinstance(node.size, int):
            size = sp.Integer(node.size)
        elif node.size is not None:
            if node.size not in self.table.sizes:
                raise Wrong(f"\\mathbf{{1}}_{node.size}: {node.size} is not a size of the model "
                            f"({', '.join(self.table.sizes)})")
            size = self.table.sizes[node.size]
        return Array(Shape(size, ONE), lambda i, j: Num(1.0))

    def _Group(self, node: Group) -> Array:
        inner = self.lower(node.inner)
        return Array(inner.shape, lambda i, j: Group(inner.build(i, j), node.bracket))

    def _Neg(self, node: Neg) -> Array:
        inner = self.lower(node.arg)
        return Array(inner.shape, lambda i, j: Neg(inner.build(i, j)))

    def _Transpose(self, node: Transpose) -> Array:
        inner = self.lower(node.arg)
        if node.mark == "'" and inner.shape.scalar:
            raise Unreadable("' after a number: write \\sigma'(z) for a derivative, ^\\top for a transpose")
        return Array(inner.shape.t, lambda i, j: inner.build(j, i))

    def _Func(self, node: Func) -> Array:
        arg = self.lower(node.arg)
        entry = VECTOR_ACTIVATIONS.get(node.name)
        if entry is None:  # elementwise
            return Array(arg.shape, lambda i, j: replace(node, arg=arg.build(i, j)))
        if arg.shape.cols != ONE or arg.shape.scalar:
            raise Wrong(f"{entry.latex} takes a column vector, not {arg.shape.describe()}")
        length = arg.shape.rows
        if length is None:
            raise Unreadable(rf"cannot tell the length of \mathbf{{1}} in {entry.name}: write \mathbf{{1}}_K")
        z, k, c = sp.IndexedBase("z"), sp.Symbol("k"), sp.Symbol("c")
        forward = activations.get(entry.name).vector_forward
        assert forward is not None  # VECTOR_ACTIVATIONS holds the non-elementwise entries

        def build(i: Letter, j: Letter) -> Node:
            assert i is not None
            return self.from_sympy(forward(z, k, c, sp.Symbol("n")), z, arg, {k: i}, length)

        return Array(arg.shape, build)

    def from_sympy(self, expr: sp.Expr, z: sp.IndexedBase, arg: Array, letters: dict, length: Dim) -> Node:
        """A registry formula of one element (``e^{z_k} / \\sum_c e^{z_c}``) as our tree, with
        ``z`` the lowered argument and each sum over the argument's length."""

        def tree(e: sp.Expr) -> Node:
            if isinstance(e, sp.Indexed) and e.base == z:
                return arg.build(letters[e.indices[0]], None)
            if isinstance(e, sp.exp):
                return Func("exp", tree(e.args[0]))
            if isinstance(e, sp.log):
                return Func("log", tree(e.args[0]))
            if isinstance(e, sp.Sum):
                var = e.limits[0][0]
                letters[var] = self.fresh(length)
                return Sum(letters[var], None, self.bound(length), tree(e.function))
            if isinstance(e, sp.Number):
                value = Num(float(abs(e)))
                return Neg(value) if e < 0 else value
            if isinstance(e, sp.Mul):
                num, den = sp.fraction(e)
                if den != 1:
                    return Div(tree(num), tree(den))
                return _mul(*(tree(f) for f in e.args))
            if isinstance(e, sp.Add):
                return Add(tuple(tree(t) for t in e.args))
            if isinstance(e, sp.Pow) and e.exp.is_Integer:
                return Pow(Group(tree(e.base), "("), Num(float(e.exp)))
            raise Unreadable(f"cannot read {e} in vector notation: write it in index notation")

        return tree(expr)

    def _Sum(self, node: Sum) -> Array:
        body = self.lower(node.body)
        return Array(body.shape, lambda i, j: replace(node, body=body.build(i, j)))

    def _Cases(self, node: Cases) -> Array:
        for value, _ in node.rows:
            if not self.lower(value).shape.scalar:
                raise Unreadable("cases with vectors in them: write the equation in index notation")
        return Array(Shape(ONE, ONE), lambda i, j: node)

    def elementwise(self, parts: list[Array], what: str, constants: list[bool] | None = None) -> Shape:
        """The shape of an elementwise combination; numbers broadcast (in a sum only constants,
        ``1 - \\mathbf{a}``: a model quantity added to a vector is a shape slip)."""
        shapes = [part.shape for n, part in enumerate(parts)
                  if not (part.shape.scalar and (constants is None or constants[n]))]
        if not shapes:
            return Shape(ONE, ONE)
        shape = shapes[0]
        for other in shapes[1:]:
            common = _same(shape, other)
            if common is None:
                raise Wrong(f"cannot {what} {shape.describe()} and {other.describe()}")
            shape = common
        return shape

    @staticmethod
    def at(part: Array, i: Letter, j: Letter) -> Node:
        return part.build(None, None) if part.shape.scalar else part.build(i, j)

    def _Add(self, node: Add) -> Array:
        terms = [self.lower(term) for term in node.terms]
        constants = [all(isinstance(leaf, Num) for leaf in _walk(term) if not leaf.children())
                     for term in node.terms]
        shape = self.elementwise(terms, "add", constants)
        return Array(shape, lambda i, j: Add(tuple(self.at(t, i, j) for t in terms)))

    def _Elementwise(self, node: Elementwise) -> Array:
        """``A B \\odot C D`` is read as ``(A B) \\odot (C D)``; when the shapes forbid that, as the
        first of ``((A B) \\odot C) D``, ``A (B \\odot C D)``, ``A (B \\odot C) D`` they allow (the
        notation does not fix how \\odot and a product group)."""
        try:
            return self.hadamard(node)
        except Wrong:
            for reading in _readings(node):
                self.readings += 1
                if self.readings > MAX_READINGS:
                    break
                try:
                    return self.lower(reading)
                except Wrong:
                    continue
            raise

    def hadamard(self, node: Elementwise) -> Array:
        left, right = self.lower(node.left), self.lower(node.right)
        if node.op == "outer":
            return self.outer(left, right)
        what = "multiply elementwise" if node.op == "*" else "divide elementwise"
        shape = self.elementwise([left, right], what)
        if node.op == "*":
            return Array(shape, lambda i, j: _mul(self.at(left, i, j), self.at(right, i, j)))
        return Array(shape, lambda i, j: Div(self.at(left, i, j), self.at(right, i, j)))

    def outer(self, a: Array, b: Array) -> Array:
        """``\\mathbf{u} \\otimes \\mathbf{v}`` of two column vectors: ``\\mathbf{u} \\mathbf{v}^\\top``."""
        if a.shape.cols != ONE or b.shape.cols != ONE or a.shape.scalar or b.shape.scalar:
            shapes = f"{a.shape.describe()} and {b.shape.describe()}"
            raise Wrong(f"\\otimes takes two column vectors, not {shapes}")
        return self.product(a, Array(b.shape.t, lambda i, j: b.build(j, i)))

    def _Div(self, node: Div) -> Array:
        num, den = self.lower(node.num), self.lower(node.den)
        shape = self.elementwise([num, den], "divide")
        return Array(shape, lambda i, j: Div(self.at(num, i, j), self.at(den, i, j)))

    def _Pow(self, node: Pow) -> Array:
        base, exp = self.lower(node.base), self.lower(node.exp)
        if _is_euler(node.base, self.table) and not exp.shape.scalar:  # e^{\mathbf{z}}: elementwise
            return Array(exp.shape, lambda i, j: Pow(node.base, exp.build(i, j)))
        if not exp.shape.scalar:
            raise Wrong(f"an exponent must be a number, not {exp.shape.describe()}")
        return Array(base.shape, lambda i, j: Pow(base.build(i, j), exp.build(None, None)))

    def _Diag(self, node: Diag) -> Array:
        arg = self.lower(node.arg)
        shape = arg.shape
        if shape.cols != ONE and shape.rows != ONE:
            raise Wrong(f"\\operatorname{{diag}} takes a vector, not {shape.describe()}")
        n = shape.rows if shape.cols == ONE else shape.cols
        if n is None:
            raise Unreadable(r"cannot tell the length of \mathbf{1} in diag: write \mathbf{1}_K")
        if n == ONE:
            return arg

        def build(i: Letter, j: Letter) -> Node:
            assert i is not None and j is not None
            entry = arg.build(i, None) if shape.cols == ONE else arg.build(None, i)
            return _mul(entry, Kronecker(i, j))

        return Array(Shape(n, n), build)

    def _Mul(self, node: Mul) -> Array:
        result = self.lower(node.factors[0])
        for n, factor in enumerate(node.factors[1:], start=1):
            right = self.lower(factor)
            if n in node.dots and _vector(result.shape) and _same(result.shape, right.shape):
                result = self.dot(result, right)
            else:
                result = self.product(result, right)
        return result

    def dot(self, a: Array, b: Array) -> Array:
        """``\\mathbf{u} \\cdot \\mathbf{v}`` of two vectors of one shape: the dot product."""
        column = a.shape.cols == ONE
        length = a.shape.rows if column else a.shape.cols
        if length is None:
            length = b.shape.rows if column else b.shape.cols

        def build(i: Letter, j: Letter) -> Node:
            k = self.fresh(length)
            at = (k, None) if column else (None, k)
            return Sum(k, None, self.bound(length), _mul(a.build(*at), b.build(*at)))

        return Array(Shape(ONE, ONE), build)

    def product(self, a: Array, b: Array) -> Array:
        """``a b``: a number times anything, else the matrix product (outer when inner length 1)."""
        if a.shape.scalar or b.shape.scalar:
            shape = b.shape if a.shape.scalar else a.shape
            return Array(shape, lambda i, j: _mul(self.at(a, i, j), self.at(b, i, j)))
        ok, inner = _unify(a.shape.cols, b.shape.rows)
        if not ok:
            hint = ""
            if a.shape == b.shape and a.shape.cols == ONE:
                hint = (r": for the dot product write \mathbf{u}^\top \mathbf{v} or "
                        r"\mathbf{u} \cdot \mathbf{v}, elementwise \mathbf{u} \odot \mathbf{v}")
            raise Wrong(f"cannot multiply {a.shape.describe()} by {b.shape.describe()}{hint}")
        shape = Shape(a.shape.rows, b.shape.cols)
        if inner == ONE:
            return Array(shape, lambda i, j: _mul(a.build(i, None), b.build(None, j)))

        def build(i: Letter, j: Letter) -> Node:
            k = self.fresh(inner)
            return Sum(k, None, self.bound(inner), _mul(a.build(i, k), b.build(k, j)))

        return Array(shape, build)


def _what(left: Node, lowerer: Lowerer) -> str:
    """The left side in words, for shape messages."""
    while isinstance(left, Group):
        left = left.inner
    if isinstance(left, Transpose) and isinstance(left.arg, WrittenPartial) and left.arg.num.base == "L":
        return f"the gradient with respect to {left.arg.den.show()}^\\top"
    if isinstance(left, WrittenPartial) and left.num.base == "L":
        return f"the gradient with respect to {left.den.show()}"
    if isinstance(left, WrittenPartial) and lowerer.lower(left.num).shape.scalar:
        return f"the gradient of {left.num.show()} with respect to {left.den.show()}"
    if isinstance(left, WrittenPartial):
        return f"the Jacobian of {left.num.show()} with respect to {left.den.show()}"
    return "the left side"


def lower(equation: WrittenEquation, table: ModelTable) -> Lowered | None:
    """``equation`` read as index notation, or None when it is in index notation already."""
    if not uses_vector_notation(equation):
        return None
    lowerer = Lowerer(table, equation)
    arrays = [lowerer.lower(side) for side in equation.sides]
    shape = arrays[0].shape
    if shape.rows is None or shape.cols is None:
        raise Unreadable(r"cannot tell the length of \mathbf{1} on the left side: write \mathbf{1}_K")
    i, j = lowerer.letters(shape)
    sides = [arrays[0].build(i, j)]
    transposed_answer, shape_error = False, ""
    what = _what(equation.sides[0], lowerer)
    for number, array in enumerate(arrays[1:], start=2):
        side = "the right side" if len(arrays) == 2 else f"side {number}"
        if _same(shape, array.shape) is not None:
            sides.append(array.build(i, j))
            continue
        error = f"shapes differ: {what} is {shape.describe()}, {side} is {array.shape.describe()}"
        if number == len(arrays) and _same(shape.t, array.shape) is not None:
            sides.append(array.build(j, i))
            transposed_answer, shape_error = True, error
            continue
        raise Wrong(error)
    return Lowered(WrittenEquation(tuple(sides), equation.text), shape, what, transposed_answer, shape_error,
                   (i, j))


def transpose_message(lowered: Lowered) -> str:
    """The reason for an answer that is the transpose of the right one."""
    what = lowered.what
    rule = ("a gradient has the shape of its quantity" if what.startswith("the gradient")
            else "a Jacobian da/dz has rows indexed by a")
    shape = lowered.shape.describe()
    return f"your answer is the transpose of {what}, which is {shape} ({rule}): transpose it"


def has_indices(node: Node) -> bool:
    return any(isinstance(n, Name) and n.indices for n in _walk(node))


def in_vector_words(node: Node, lowered: Lowered) -> str | None:
    """A lowered factor of a column-vector answer (over its row letter) back in vector notation:
    ``a^{(1)}_k (1 - a^{(1)}_k)`` -> ``\\mathbf{a}^{(1)} \\odot (\\mathbf{1} - \\mathbf{a}^{(1)})``; None
    when it is not one (a matrix answer, another index)."""
    row, col = lowered.letters
    if row is None or col is not None:
        return None

    def words(node: Node) -> str | None:
        if isinstance(node, Name) and node.indices == (row,):
            head = replace(node, indices=(), label=None).show()
            bold = f"\\boldsymbol{{{head}}}" if head.startswith("\\") else f"\\mathbf{{{head}}}"
            return bold + (f"^{{({node.label})}}" if node.label is not None else "")
        if isinstance(node, Num) and node.value == 1:
            return "\\mathbf{1}"
        if isinstance(node, Group):
            inner = words(node.inner)
            return None if inner is None else f"({inner})"
        if isinstance(node, Neg):
            inner = words(node.arg)
            return None if inner is None else f"-{inner}"
        found = [words(part) for part in node.children()]
        parts = [part for part in found if part is not None]
        if not parts or len(parts) != len(found):
            return None
        if isinstance(node, Mul):
            return " \\odot ".join(parts)
        if isinstance(node, Add):
            text = parts[0]
            for part in parts[1:]:
                text += f" - {part[1:]}" if part.startswith("-") else f" + {part}"
            return text
        return None

    return words(node)
