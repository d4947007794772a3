"""LaTeX math -> a small AST of our own, through a lark LALR grammar. Never evaluates user text.

``parse_equation(text)`` returns a ``WrittenEquation`` (its sides, left to right) or raises
``LatexError`` with the column of the problem. The AST knows notation, not models: ``Name`` is a
letter with its subscripts (indices) and an optional layer label from ``^{(1)}`` / ``^{[1]}``;
``WrittenPartial`` is ``\\frac{\\partial A}{\\partial B}``; ``\\delta_{kj}`` becomes ``Kronecker``. What
the names mean is decided by ``derive.checking``. Bold names (``\\mathbf{w}``) are the plain
name marked ``bold``; ``\\sum_{k \\neq j}`` is a ``Sum`` with ``exclude``; ``\\tanh^2 z`` is a power.
Functions are exp, log and the activations under their registry LaTeX (``\\operatorname{relu}``);
``\\sqrt{x}`` is ``x^{0.5}``. Accented names get bases of their own (``\\hat{z}`` -> ``zhat``,
``\\tilde{z}``, ``\\hat{\\delta}``; ``ACCENTED``), and a norm's variance ``\\sigma^2`` /
``(\\sigma^{(1)})^2`` is the name ``var`` (``\\sigma`` before an argument stays the sigmoid).
Vector and matrix notation gets nodes of its own (``Transpose``, ``Elementwise`` for ``\\odot`` and
``\\oslash``, ``Diag``, ``Ones``; ``WrittenPartial.nabla``; ``Mul.dots`` where ``\\cdot`` was typed), which
``checking.vector`` lowers to index notation.
Work is bounded: the text length, the nesting depth and the tree depth are limited, and the parser
is not recursive (the transformer runs inline).

Lark builds the LALR tables from ``GRAMMAR`` once per process (about 0.05 s). A generated
standalone parser would save that, at the price of a second code path and a large generated file
under another licence; a cached pickle would be loaded from a writable place. Neither is worth it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import cache
from types import ModuleType
from typing import Any

from .. import activations
from .plain import to_latex

MAX_LENGTH = 2000  # characters of one equation
MAX_NESTING = 30  # brackets and braces inside each other
MAX_DEPTH = 120  # depth of the resulting tree

HAT_Y = "yhat"  # the base of \hat{y}, the prediction (the output activation)
SIGMA = "sigma"  # \sigma^{(1)} with a layer label: a norm's standard deviation, read only squared
VARIANCE = "var"  # \sigma^2 and (\sigma^{(1)})^2: a normalised layer's variance
# Accented letters: the written accent and letter -> the quantity's base (``naming``'s names).
ACCENTED = {("hat", "y"): HAT_Y, ("hat", "z"): "zhat", ("hat", "delta"): "delta_hat",
            ("tilde", "z"): "ztilde"}
# How a base that is not a letter or a Greek command is written back, for messages.
SHOWN = {HAT_Y: r"\hat{y}", "zhat": r"\hat{z}", "ztilde": r"\tilde{z}", "delta_hat": r"\hat{\delta}"}


@dataclass(frozen=True)
class Shifted:
    """Index arithmetic: letters added or subtracted and a whole number, ``t+1``, ``t-1``
    (``h_{t-1}``), ``t+r-1`` (``x_{c,t+r-1}``, a convolution's window), ``s-r+1``."""

    terms: tuple[tuple[str, int], ...]  # (letter, +1 or -1), in the order written
    shift: int = 0

    def __str__(self) -> str:
        text = "".join(f"{'+' if sign > 0 else '-'}{letter}" for letter, sign in self.terms).lstrip("+")
        return text + (f"{self.shift:+d}" if self.shift else "")

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(letter for letter, _ in self.terms)


Index = str | int | Shifted  # an index letter (``k``, ``\\alpha``), a position (``1``), or ``t+1``


def letters_of(i: Index) -> tuple[str, ...]:
    """The index letters ``i`` runs with (``t`` and ``r`` of ``t+r-1``; none for a position)."""
    return i.letters if isinstance(i, Shifted) else (i,) if isinstance(i, str) else ()


def letter_of(i: Index) -> str | None:
    """The one letter of a plain or once-shifted index (``t`` of ``t+1``), else None."""
    letters = letters_of(i)
    return letters[0] if len(letters) == 1 else None


def position(i: Index, env: dict[str, int]) -> int:
    """The concrete position of index ``i`` under the assignment ``env``."""
    if isinstance(i, Shifted):
        return sum(sign * env[letter] for letter, sign in i.terms) + i.shift
    return env[i] if isinstance(i, str) else i


class LatexError(Exception):
    """The text is not an equation we can read; ``column`` is 1-based when known; ``hint`` says
    what to write instead, when we can tell."""

    def __init__(self, message: str, column: int | None = None, hint: str = ""):
        self.message = message
        self.column = column
        self.hint = hint
        text = f"{message} at column {column}" if column else message
        super().__init__(f"{text}: {hint}" if hint else text)


# --- the tree -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    depth: int = field(init=False, compare=False, repr=False, default=1)

    def children(self) -> tuple[Node, ...]:
        return ()

    def __post_init__(self) -> None:
        depth = 1 + max((child.depth for child in self.children()), default=0)
        if depth > MAX_DEPTH:
            raise LatexError(f"expression nested too deeply (more than {MAX_DEPTH} levels)")
        object.__setattr__(self, "depth", depth)


@dataclass(frozen=True)
class Num(Node):
    value: float


@dataclass(frozen=True)
class Name(Node):
    """A letter with subscripts (indices) and an optional layer label: ``w_{kj}^{(1)}``."""

    base: str  # "a", "W", "L" (also from \\mathcal{L}), "delta", "alpha", ...
    indices: tuple[Index, ...] = ()
    label: int | str | None = None
    column: int = 0
    bold: bool = False  # typed as \\mathbf{w} / \\boldsymbol{\\delta}: the same quantity as plain w

    def show(self) -> str:
        text = ("\\" + self.base) if len(self.base) > 1 else self.base
        text = SHOWN.get(self.base, text)
        if self.base == VARIANCE:
            label = f"^{{({self.label})}}" if self.label is not None else ""
            return rf"(\sigma{label})^2" if label else r"\sigma^2"
        text = f"\\mathbf{{{text}}}" if self.bold else text
        if self.indices:
            sep = "," if any(isinstance(i, Shifted) for i in self.indices) else ""
            text += "_{" + sep.join(str(i) for i in self.indices) + "}"
        if self.label is not None:
            text += f"^{{({self.label})}}"
        return text


@dataclass(frozen=True)
class WrittenPartial(Node):
    """A derivative as the writer typed it (``\\frac{\\partial A}{\\partial B}``), not the engine's
    symbolic ``chain.Partial``."""

    num: Name
    den: Name
    nabla: bool = False  # typed as \\nabla_{den} num

    def children(self):
        return (self.num, self.den)


@dataclass(frozen=True)
class Add(Node):
    terms: tuple[Node, ...]

    def children(self):
        return self.terms


@dataclass(frozen=True)
class Mul(Node):
    factors: tuple[Node, ...]
    # Positions of factors typed right after \\cdot: between two vectors, a dot product (vector
    # notation only; index notation reads \\cdot as any product).
    dots: tuple[int, ...] = field(default=(), compare=False)

    def children(self):
        return self.factors


@dataclass(frozen=True)
class Div(Node):
    num: Node
    den: Node

    def children(self):
        return (self.num, self.den)


@dataclass(frozen=True)
class Pow(Node):
    base: Node
    exp: Node

    def children(self):
        return (self.base, self.exp)


@dataclass(frozen=True)
class Neg(Node):
    arg: Node

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Func(Node):
    """A function applied to ``arg``; ``prime``: f'. ``name`` is ``function_key`` of what was typed:
    ``exp``, ``log`` (``\\ln`` too), or an activation's LaTeX (``sigma``, ``operatorname{relu}``)."""

    name: str
    arg: Node
    prime: bool = False

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Max(Node):
    """``\\max(a, b)``: the larger of its arguments (a hinge's ``\\max(0, 1 - t z)``)."""

    args: tuple[Node, ...]

    def children(self):
        return self.args


@dataclass(frozen=True)
class Indicator(Node):
    """``\\mathbb{1}[a > b]``: 1 where the comparison holds, else 0 (a hinge's derivative)."""

    left: Node
    relation: str  # ">", "<", ">=" or "<="
    right: Node

    def children(self):
        return (self.left, self.right)


@dataclass(frozen=True)
class Sum(Node):
    var: str
    lower: Node | None
    upper: Node | None
    body: Node
    column: int = 0
    exclude: Index | None = None  # \\sum_{k \\neq j}: every k but j

    def children(self):
        return tuple(n for n in (self.lower, self.upper, self.body) if n is not None)


@dataclass(frozen=True)
class Kronecker(Node):
    i: Index
    j: Index


@dataclass(frozen=True)
class Cond(Node):
    kind: str  # "eq", "ne" or "otherwise"
    i: Index | None = None
    j: Index | None = None


@dataclass(frozen=True)
class Cases(Node):
    rows: tuple[tuple[Node, Cond], ...]

    def children(self):
        return tuple(part for row in self.rows for part in row)


@dataclass(frozen=True)
class Group(Node):
    """Brackets the writer typed; kept because ``^{(1)}`` is a layer label, not a power."""

    inner: Node
    bracket: str

    def children(self):
        return (self.inner,)


@dataclass(frozen=True)
class Transpose(Node):
    """``A^\\top`` (also ``^T``, ``^{\\mathsf{T}}``, ``^{\\intercal}``, ``A'``): vector notation."""

    arg: Node
    mark: str = "top"  # "'" when typed as a prime

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Elementwise(Node):
    """``A \\odot B`` / ``A \\circ B`` (op ``*``), ``A \\oslash B`` (op ``/``) or the outer product
    ``u \\otimes v`` (op ``outer``): vector notation."""

    op: str
    left: Node
    right: Node

    def children(self):
        return (self.left, self.right)


@dataclass(frozen=True)
class Diag(Node):
    """``\\operatorname{diag}(v)``: the square matrix with v on its diagonal."""

    arg: Node

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Ones(Node):
    """``\\mathbf{1}``: a vector of ones, its length from the context (or ``\\mathbf{1}_K``)."""

    size: Index | None = None


VECTOR_NODES = (Transpose, Elementwise, Diag, Ones)


@dataclass(frozen=True)
class WrittenEquation:
    """An equation as the writer typed it: its parsed sides and its source text (the engine's
    equations are ``forward.Equation``)."""

    sides: tuple[Node, ...]
    text: str


# --- the grammar --------------------------------------------------------------------------------

MATH_FUNCTIONS = (r"\exp", r"\log", r"\ln")


def rebuild(node: Any, change: Callable[[Node], Node]) -> Any:
    """``node`` with ``change`` applied to every node below it and to itself, children first
    (fields holding nodes, tuples of them and tuples of tuples, as a ``Cases``'s rows); a node
    nothing changed in is returned as it is."""
    if isinstance(node, tuple):
        items = tuple(rebuild(item, change) for item in node)
        return items if any(a is not b for a, b in zip(items, node, strict=True)) else node
    if not isinstance(node, Node):
        return node
    changes = {}
    for f in fields(node):
        if f.init:
            value = getattr(node, f.name)
            rebuilt = rebuild(value, change)
            if rebuilt is not value:
                changes[f.name] = rebuilt
    return change(replace(node, **changes) if changes else node)


def function_key(latex: str) -> str:
    """How a function is known once read: its LaTeX without the backslash and spaces
    (``\\operatorname { relu }`` -> ``operatorname{relu}``); ``\\ln`` is ``log``."""
    key = re.sub(r"\s+", "", latex).lstrip("\\")
    return "log" if key == "ln" else key


def _command_pattern(latex: str) -> str:
    """A regex for a function's LaTeX as people type it: ``\\operatorname{relu}`` with any spaces."""
    pattern = "".join(r"\s*\{\s*" if ch == "{" else r"\s*\}" if ch == "}" else re.escape(ch) for ch in latex)
    return pattern + ("(?![a-zA-Z])" if latex[-1].isalpha() else "")


# Functions the grammar reads: every elementwise activation under its registry ``latex`` (\sigma,
# \tanh, \operatorname{relu}, ...), whose derivative f' is understood too, and exp and log.
ACTIVATION_LATEX = tuple(entry.latex for entry in activations.ACTIVATIONS.values() if entry.elementwise)
DIFFERENTIABLE = frozenset(function_key(latex) for latex in ACTIVATION_LATEX)
# Whole-layer activations (softmax) are read too, as functions of a vector (vector notation).
VECTOR_LATEX = tuple(entry.latex for entry in activations.ACTIVATIONS.values() if not entry.elementwise)
VECTOR_FUNCTIONS = frozenset(function_key(latex) for latex in VECTOR_LATEX)
FUNCTION_PATTERN = "|".join(_command_pattern(latex)
                            for latex in (*ACTIVATION_LATEX, *VECTOR_LATEX, *MATH_FUNCTIONS))

GREEK = [letter for letter in (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi "
    "pi rho sigma tau upsilon phi varphi chi psi omega ell Omega"
).split() if letter not in DIFFERENTIABLE]  # \sigma is the sigmoid

# \sigma^2 not followed by a function's argument: the variance (\sigma^2(z) is the sigmoid squared).
VARIANCE_PATTERN = (r"\\sigma\s*\^\s*(2|\{\s*2\s*\})(?=\s*($|[-+)}\]=,&*\/|]|"
                    r"\\(cdot|times|right|[bB]igg?[lr]?|[,;:!]|q?quad|epsilon|varepsilon)(?![a-zA-Z])))")

# \hat{y}, \hat{z}, \hat{\delta}, \tilde{z} (also \hat\delta, \widehat, and a bold letter inside).
ACCENT_PATTERN = (r"\\(hat|widehat|tilde|widetilde)\s*"
                  r"(\{\s*([yz]|\\delta|\\(BOLD_NAMES)\s*\{\s*(z|\\delta)\s*\})\s*\}"
                  r"|[yz](?![A-Za-z])|\\delta(?![A-Za-z]))")

GRAMMAR = r"""
start: expr ("=" expr)*

?expr: hterm
     | expr "+" hterm         -> add
     | expr "-" hterm         -> sub
     | "-" hterm              -> neg
     | "+" hterm              -> pos

?hterm: term
      | hterm ODOT term       -> hadamard
      | hterm OSLASH term     -> hdivide
      | hterm OTIMES term     -> outer

?term: factor
     | term factor            -> mul
     | term MULOP factor      -> mulop
     | term "/" factor        -> div
     | term "/" bigop         -> div
     | bigop
     | term bigop             -> mul
     | term MULOP bigop       -> mulop

bigop: SUM "_" sum_sub ("^" bound)? body
?body: term
     | "-" term               -> neg
sum_sub: index                -> sum_var
       | "{" index "}"        -> sum_var
       | "{" index "=" expr "}"
       | "{" index NEQ index "}"                     -> sum_except
       | "{" index "=" expr "," index NEQ index "}"  -> sum_from_except
bound: DIGIT | LETTER | "{" expr "}"

?factor: postfix
postfix: primary script*
bare: bare_primary script*
script: "_" sub_arg           -> subscript
      | "^" sup_arg           -> superscript
      | "^" top_arg           -> transpose
      | PRIME                 -> prime_mark
top_arg: TOP | "{" TOP "}" | "{" expr TOP "}"
sub_arg: index | DIGIT | "{" sub_item+ ("," sub_item+)* "}"
?sub_item: index | NUMBER | shifted
shifted: index shift_term+
shift_term: "+" index   -> plus_letter
          | "-" index   -> minus_letter
          | "+" DIGIT   -> plus_number
          | "-" DIGIT   -> minus_number
sup_arg: DIGIT | LETTER | GREEK | "{" expr "}"
index: LETTER | GREEK

?bare_primary: LETTER         -> letter
             | GREEK          -> letter
             | MATHCAL        -> mathcal
             | HAT            -> hat
             | VARSQ          -> variance
             | SIGMALABEL     -> sigma_label
             | BOLD           -> bold
             | ONES           -> ones
             | NUMBER         -> number
             | frac

?primary: bare_primary
        | "(" expr ")"        -> paren
        | "[" expr "]"        -> bracket
        | "{" expr "}"        -> brace
        | FUNC PRIME? "(" expr ")"   -> func
        | FUNC PRIME? bare           -> func
        | FUNC PRIME? "^" sup_arg "(" expr ")"   -> func_power
        | FUNC PRIME? "^" sup_arg bare           -> func_power
        | cases
        | MAX "(" expr "," expr ")"            -> maximum
        | INDICATOR "[" expr REL expr "]"     -> indicator
        | INDICATOR "_" "{" expr REL expr "}" -> indicator
        | PARTIAL bare "/" PARTIAL bare -> partial
        | NABLA "_" nabla_sub bare   -> nabla
        | DIAG "(" expr ")"          -> diag
        | SQRT "{" expr "}"          -> sqrt
        | SQRT "(" expr ")"          -> sqrt
nabla_sub: bare_primary | "{" bare "}"

frac: FRAC "{" PARTIAL bare "}" "{" PARTIAL bare "}" -> partial
    | FRAC "{" TEXT bare "}" "{" TEXT bare "}"       -> dfrac
    | FRAC frac_arg frac_arg                         -> frac
?frac_arg: DIGIT -> number
         | LETTER -> letter
         | "{" expr "}"

cases: BEGIN_CASES case_row (ROWSEP case_row)* ROWSEP? END_CASES
case_row: expr ","? "&" cond ("," | ".")?
cond: TEXT* relation
    | TEXT+                   -> otherwise
relation: index "=" index     -> eq
        | index NEQ index     -> ne

TOP: /\\top(?![a-zA-Z])|\\intercal(?![a-zA-Z])|\\mathsf\s*(\{\s*T\s*\}|T(?![a-zA-Z]))/
ODOT: /\\odot(?![a-zA-Z])|\\circ(?![a-zA-Z])/
OSLASH: /\\oslash(?![a-zA-Z])/
OTIMES: /\\otimes(?![a-zA-Z])/
NABLA: /\\nabla(?![a-zA-Z])/
DIAG.3: /\\(operatorname|mathrm)\s*\{\s*diag\s*\}|\\diag(?![a-zA-Z])/
ONES: /\\(BOLD_NAMES)\s*(\{\s*1\s*\}|1)/
MAX: /\\max(?![a-zA-Z])/
INDICATOR: /\\(mathbb|mathds)\s*\{\s*1\s*\}/
REL: />=|<=|>|<|\\geq?(?![a-zA-Z])|\\leq?(?![a-zA-Z])|\\gt(?![a-zA-Z])|\\lt(?![a-zA-Z])/
MULOP: /\\cdot(?![a-zA-Z])|\\times(?![a-zA-Z])|\*/
SUM: /\\sum(?![a-zA-Z])/
FRAC: /\\[dt]?frac(?![a-zA-Z])/
PARTIAL: /\\partial(?![a-zA-Z])/
FUNC: /FUNCTION_NAMES/
GREEK: /\\(GREEK_NAMES)(?![a-zA-Z])/
MATHCAL: /\\mathcal\s*(\{\s*[A-Za-z]\s*\}|[A-Za-z])/
HAT: /ACCENT_PATTERN/
SQRT: /\\sqrt(?![a-zA-Z])/
VARSQ.4: /VARIANCE_PATTERN/
SIGMALABEL.4: /\\sigma\s*\^\s*\{\s*[(\[]\s*([0-9]+|[A-Za-z])\s*[)\]]\s*\}/
BOLD: /\\(BOLD_NAMES)\s*(\{\s*([A-Za-z]|\\(GREEK_NAMES))\s*\}|[A-Za-z]|\\(GREEK_NAMES)(?![a-zA-Z]))/
TEXT: /\\(text|textrm|mathrm|textnormal|mbox|textit|mathit)\s*\{[^{}]*\}/
NEQ: /\\neq?(?![a-zA-Z])|\\not\s*=/
BEGIN_CASES: /\\begin\s*\{cases\}/
END_CASES: /\\end\s*\{cases\}/
ROWSEP: /\\\\(\s*\[[^\]]*\])?/
PRIME: "'"
LETTER: /[A-Za-z]/
DIGIT.2: /[0-9]/
NUMBER: /[0-9]+(\.[0-9]+)?|\.[0-9]+/

SPACING: /\\[,;:! ]|~|\\q?quad(?![a-zA-Z])/
SIZING: /\\(left|right|[bB]igg?[lr]?)(?![a-zA-Z])/
STYLE: /\\(displaystyle|textstyle|limits|nolimits|nonumber|notag)(?![a-zA-Z])/
%import common.WS
%ignore WS
%ignore SPACING
%ignore SIZING
%ignore STYLE
"""

_TEXT_RELATION = re.compile(
    r"(?:if|for|when)?\s*\$?\s*([A-Za-z])\s*(=|\\neq?|\\not\s*=)\s*([A-Za-z])\s*\$?"
)
_KNOWN_COMMAND = re.compile(
    r"\\[,;:! \\]|\\(?:cdot|times|sum|d?frac|tfrac|partial|mathcal|hat|widehat|tilde|widetilde|sqrt|max"
    r"|mathbb|mathds|geq?|leq?|gt|lt"
    r"|mathbf|boldsymbol|bm|vec|nabla|top"
    r"|intercal|mathsf|odot|circ|oslash|otimes|diag|operatorname\s*\{\s*diag\s*\}"
    r"|text|textrm|mathrm|textnormal|mbox|textit|mathit|neq?|not|begin|end|q?quad|left|right|[bB]igg?[lr]?|displaystyle"
    r"|textstyle|limits|nolimits|nonumber|notag|" + "|".join(GREEK) + r")(?![a-zA-Z])|" + FUNCTION_PATTERN
)
_COMMAND = re.compile(r"\\operatorname\s*\{[^{}]*\}|\\[a-zA-Z]+|\\.")
_TEXT_COMMAND = r"\\(?:text|textrm|mbox|textit)\s*\{[^{}]*\}"  # a remark, when it ends an equation
_STRIP = re.compile(r"\\(label|tag)\s*\{[^{}]*\}|\\(left|right)\s*\.")


def _is_token(item: object) -> bool:
    """A lark token (a str with a type), whichever lark runtime made it."""
    return isinstance(item, str) and hasattr(item, "type")


def _column(tok: Any) -> int:
    return (tok.column or 1) if _is_token(tok) else 0


def _index(tok: Any) -> Index:
    text = str(tok)
    if text.isdigit():
        return int(text)
    return text.lstrip("\\")


def _is_label(node: Node) -> bool:
    """``(1)``, ``[1]`` or ``(l)`` typed as a superscript: a layer label."""
    if not isinstance(node, Group) or node.bracket not in "([":
        return False
    inner = node.inner
    return (isinstance(inner, Num) and float(inner.value).is_integer()) or (
        isinstance(inner, Name) and not inner.indices and inner.label is None
    )


def _label_value(node: Group) -> int | str:
    """The layer of a label ``_is_label`` accepted: a number, or a letter such as l."""
    inner = node.inner
    if isinstance(inner, Num):
        return int(inner.value)
    assert isinstance(inner, Name)
    return inner.base


def _product(parts, dot: bool = False) -> Node:
    """The flat product of ``parts``; ``dot``: a \\cdot was typed before the last part."""
    factors: list[Node] = []
    dots: list[int] = []
    for n, part in enumerate(parts):
        if dot and n == len(parts) - 1:
            dots.append(len(factors))
        if isinstance(part, Mul):
            dots.extend(len(factors) + d for d in part.dots)
        factors.extend(part.factors if isinstance(part, Mul) else (part,))
    return Mul(tuple(factors), tuple(dots))


def _flat(cls, parts) -> Node:
    items: list[Node] = []
    for part in parts:
        items.extend(part.children() if isinstance(part, cls) else (part,))
    return cls(tuple(items))


class _Build:
    """Parse-tree callbacks, run inline by the LALR parser (so building is not recursive)."""

    def start(self, sides):
        return tuple(sides)

    def add(self, c):
        return _flat(Add, c)

    def sub(self, c):
        return _flat(Add, [c[0], Neg(c[1])])

    def neg(self, c):
        return Neg(c[0])

    def pos(self, c):
        return c[0]

    def mul(self, c):
        return _product(c)

    def mulop(self, c):
        return _product([c[0], c[2]], dot=str(c[1]).startswith("\\cdot"))

    def div(self, c):
        return Div(c[0], c[1])

    def number(self, c):
        return Num(float(c[0]))

    def letter(self, c):
        return Name(str(_index(c[0])), column=_column(c[0]))

    def mathcal(self, c):
        letter = re.sub(r"[^A-Za-z]", "", str(c[0])[len("\\mathcal"):])
        return Name(letter, column=_column(c[0]))

    def maximum(self, c):
        return Max((c[1], c[2]))

    def indicator(self, c):
        relation = {"\\ge": ">=", "\\geq": ">=", "\\le": "<=", "\\leq": "<=", "\\gt": ">", "\\lt": "<"}
        return Indicator(c[1], relation.get(str(c[2]), str(c[2])), c[3])

    def hat(self, c):
        """``\\hat{y}`` (the prediction), ``\\hat{z}``, ``\\hat{\\delta}``, ``\\tilde{z}``: their bases."""
        text = str(c[0])
        bold = re.search(r"\\(mathbf|boldsymbol|bm|vec)", text) is not None  # \hat{\mathbf{z}}: a vector
        if bold:
            text = re.sub(r"\\(mathbf|boldsymbol|bm|vec)\s*\{\s*(\\?[a-z]+)\s*\}", r"\2", text)
        match = re.fullmatch(r"\\(?:wide)?(hat|tilde)\s*\{?\s*\\?([a-z]+)\s*\}?", text)
        assert match is not None  # the HAT terminal matched it
        accent, letter = match.groups()
        if (accent, letter) not in ACCENTED:
            known = ", ".join(SHOWN[base] for base in ACCENTED.values())
            raise LatexError(f"\\{accent}{{{letter}}} is no quantity (known: {known})", _column(c[0]))
        return Name(ACCENTED[(accent, letter)], column=_column(c[0]), bold=bold)

    def variance(self, c):
        return Name(VARIANCE, column=_column(c[0]))

    def sigma_label(self, c):
        label = re.sub(r"[^0-9A-Za-z]", "", str(c[0])[len("\\sigma"):])
        return Name(SIGMA, label=int(label) if label.isdigit() else label, column=_column(c[0]))

    def sqrt(self, c):
        return Pow(Group(c[1], "{"), Num(0.5))

    def bold(self, c):
        inner = re.sub(r"^\\(mathbf|boldsymbol|bm|vec)\s*\{?\s*|\s*\}$", "", str(c[0]))
        return Name(inner.lstrip("\\"), column=_column(c[0]), bold=True)

    def paren(self, c):
        return Group(c[0], "(")

    def bracket(self, c):
        return Group(c[0], "[")

    def brace(self, c):
        return Group(c[0], "{")

    def frac(self, c):
        num, den = c[1], c[2]
        if _is_d(num) and _is_d(den):  # \frac{d L}{d a}: written like a product, means a derivative
            return WrittenPartial(num.factors[1], den.factors[1])
        return Div(num, den)

    def partial(self, c):
        names = [x for x in c if isinstance(x, Node)]
        num, den = names
        if isinstance(den, Transpose) and isinstance(den.arg, Name) and isinstance(num, Name):
            return Transpose(WrittenPartial(num, den.arg))  # by w^T: the gradient laid out as a row
        for name in names:
            if not isinstance(name, Name):
                raise LatexError("a partial derivative must be of one quantity by one quantity")
        return WrittenPartial(num, den)

    def dfrac(self, c):
        tokens = [x for x in c if _is_token(x) and x.type in ("LETTER", "TEXT")]
        if any(re.sub(r".*\{\s*|\s*\}", "", str(t)) != "d" for t in tokens):
            raise LatexError("cannot read this fraction", _column(tokens[0]))
        return self.partial(c)

    def func(self, c):
        name = function_key(str(c[0]))
        prime = len(c) == 3
        if prime and name not in DIFFERENTIABLE:
            raise LatexError(f"derivative mark ' is only understood on an activation "
                             f"({', '.join(ACTIVATION_LATEX)}), not {c[0]}", _column(c[0]))
        return Func(name, c[-1], prime)

    def func_power(self, c):
        """``\\tanh^2 z`` = (tanh z)^2; ``\\sigma^{-1}`` would be an inverse, which is not a power."""
        power, name = c[-2], str(c[0])
        if not (isinstance(power, Num) and power.value >= 0):
            raise LatexError(f"only a power such as ^2 is understood right after {name}; "
                             f"write ({name}(z))^{{...}} otherwise", _column(c[0]))
        return Pow(self.func([*c[:-2], c[-1]]), power)

    def index(self, c):
        return c[0]

    def sub_arg(self, c):
        return tuple(t if isinstance(t, Shifted) else _index(t)
                     for t in c if not (_is_token(t) and t.type == "COMMA"))

    def shifted(self, c):
        first = _index(c[0])
        assert isinstance(first, str)  # the grammar's index: a letter or a Greek command
        terms = [(first, 1)] + [term for term in c[1:] if isinstance(term, tuple)]
        shift = sum(term for term in c[1:] if isinstance(term, int))
        return Shifted(tuple(terms), shift)

    def plus_letter(self, c):
        return (_index(c[0]), 1)

    def minus_letter(self, c):
        return (_index(c[0]), -1)

    def plus_number(self, c):
        return int(str(c[0]))

    def minus_number(self, c):
        return -int(str(c[0]))

    def sup_arg(self, c):
        item = c[0]
        if _is_token(item):
            return Num(float(item)) if item.type == "DIGIT" else self.letter([item])
        return item

    def subscript(self, c):
        return ("sub", c[0])

    def superscript(self, c):
        return ("sup", c[0])

    def postfix(self, c):
        node, scripts = _variance(c[0], list(c[1:])), c[1:]
        if isinstance(node, Name) and node.base == VARIANCE and node is not c[0]:
            scripts = scripts[1:]  # the square was read into the name
        after: list[tuple[str, Node | None]] = []  # powers and transposes, in the order typed
        for kind, arg in _transposes(scripts):
            if kind == "sub" and isinstance(node, Ones) and node.size is None and len(arg) == 1:
                node = Ones(arg[0])
            elif kind == "sub":
                if not isinstance(node, Name) or node.indices:
                    raise LatexError("a subscript must follow a quantity's letter, once", _name_column(node))
                node = replace(node, indices=arg)
            elif kind in ("sup", "label") and _labels(node, arg) and not after:
                node = replace(node, label=_label_value(arg))
            elif kind == "label":
                raise LatexError("write a layer label as ^{(1)}, before the transpose", _name_column(node))
            else:
                after.append((kind, arg))
        if isinstance(node, Name) and node.base == "delta" and len(node.indices) == 2 and node.label is None:
            node = Kronecker(*node.indices)
        for kind, arg in after:
            if kind == "sup":
                assert arg is not None
                node = Pow(node, arg)
            else:
                node = Transpose(node, kind)
        return node

    def transpose(self, c):
        return ("top", c[0])

    def top_arg(self, c):
        labels = [x for x in c if isinstance(x, Node)]
        return labels[0] if labels else None

    def prime_mark(self, c):
        return ("'", None)

    def ones(self, c):
        return Ones()

    def hadamard(self, c):
        return Elementwise("*", c[0], c[2])

    def hdivide(self, c):
        return Elementwise("/", c[0], c[2])

    def outer(self, c):
        return Elementwise("outer", c[0], c[2])

    def diag(self, c):
        return Diag(c[1])

    def nabla_sub(self, c):
        return c[0]

    def nabla(self, c):
        den, num = c[1], c[2]
        if not (isinstance(num, Name) and isinstance(den, Name)):
            raise LatexError(r"write a gradient as \nabla_{\mathbf{w}} \mathcal{L}: of one quantity "
                             "with respect to one quantity", _column(c[0]))
        return WrittenPartial(num, den, nabla=True)

    bare = postfix

    def sum_var(self, c):
        return (c[0], None)

    def sum_sub(self, c):
        return (c[0], c[1])

    def sum_except(self, c):
        return (c[0], None, _index(c[2]))

    def sum_from_except(self, c):
        var, lower, again, _, other = c
        if _index(again) != _index(var):
            raise LatexError(f"write \\sum_{{{var}=..., {var} \\neq {other}}}", _column(again))
        return (var, lower, _index(other))

    def bound(self, c):
        item = c[0]
        if _is_token(item):
            return Num(float(item)) if item.type == "DIGIT" else self.letter([item])
        return item

    def bigop(self, c):
        (var, lower, *exclude), rest = c[1], c[2:]
        upper = rest[0] if len(rest) == 2 else None
        name = _index(var) if _is_token(var) else var
        return Sum(name, lower, upper, rest[-1], _column(c[0]), exclude[0] if exclude else None)

    def eq(self, c):
        return Cond("eq", _index(c[0]), _index(c[-1]))

    def ne(self, c):
        return Cond("ne", _index(c[0]), _index(c[2]))

    def cond(self, c):
        return c[-1]

    def otherwise(self, c):
        text = " ".join(re.sub(r"^\\[a-z]+\s*\{|\}$", "", str(t)) for t in c).strip()
        match = _TEXT_RELATION.fullmatch(text)
        if match:
            return Cond("eq" if match.group(2) == "=" else "ne", match.group(1), match.group(3))
        if re.fullmatch(r"(otherwise|else|(for|if)\s+all\s+others?|sonst)\.?", text, re.IGNORECASE):
            return Cond("otherwise")
        raise LatexError(f"cannot read the condition {text!r}", _column(c[0]))

    def case_row(self, c):
        nodes = [x for x in c if isinstance(x, Node)]
        return (nodes[0], nodes[1])

    def cases(self, c):
        return Cases(tuple(x for x in c if isinstance(x, tuple)))


def _variance(node: Node, scripts: list) -> Node:
    """``(\\sigma^{(1)})^2`` and ``\\sigma^{(1)}`` squared are the variance ``var`` of layer 1; a
    batch norm's per unit: ``(\\sigma^{(1)}_k)^2``."""
    grouped = isinstance(node, Group) and node.bracket in "({"
    inner = node.inner if isinstance(node, Group) and grouped else node
    if (isinstance(inner, Name) and inner.base == SIGMA and (grouped or not inner.indices) and scripts
            and scripts[0] == ("sup", Num(2.0))):
        return Name(VARIANCE, indices=inner.indices, label=inner.label, column=inner.column)
    return node


def _labels(node: Node, arg: Node) -> bool:
    """Whether superscript ``arg`` is the layer label of ``node``: a name with none yet."""
    return isinstance(node, Name) and node.label is None and _is_label(arg)


def _is_transpose_letter(node: Node | None) -> bool:
    """``T`` typed as a superscript (``x^T``, ``x^{T}``) is a transpose, not a power."""
    return (isinstance(node, Name) and node.base == "T" and not node.indices and node.label is None
            and not node.bold)


def _transposes(scripts):
    """Scripts with ``^T`` and ``^{(1)T}`` read as transposes (the latter after its layer label)."""
    for kind, arg in scripts:
        if kind == "sup" and _is_transpose_letter(arg):
            yield "top", None
        elif (kind == "sup" and isinstance(arg, Mul) and len(arg.factors) == 2
              and _is_label(arg.factors[0]) and _is_transpose_letter(arg.factors[1])):
            yield "label", arg.factors[0]
            yield "top", None
        elif kind == "top" and arg is not None:
            yield "label", arg
            yield "top", None
        else:
            yield kind, arg


def _is_letter(node: Node, letter: str) -> bool:
    return isinstance(node, Name) and node.base == letter and not node.indices and node.label is None


def _is_d(node: Node) -> bool:
    """``d X`` inside a fraction: the letter d times one quantity."""
    if isinstance(node, Group):
        node = node.inner
    return (
        isinstance(node, Mul) and len(node.factors) == 2 and _is_letter(node.factors[0], "d")
        and isinstance(node.factors[1], Name)
    )


def _name_column(node: Node) -> int | None:
    return node.column if isinstance(node, Name) else None


def grammar() -> str:
    """``GRAMMAR`` with the Greek letters and the registry's function names filled in."""
    return (GRAMMAR.replace("GREEK_NAMES", "|".join(GREEK))
            .replace("VARIANCE_PATTERN", VARIANCE_PATTERN).replace("ACCENT_PATTERN", ACCENT_PATTERN)
            .replace("FUNCTION_NAMES", FUNCTION_PATTERN)
            .replace("BOLD_NAMES", "mathbf|boldsymbol|bm|vec"))


_OPTIONS: dict[str, Any] = {"parser": "lalr", "lexer": "contextual", "maybe_placeholders": False}


@cache
def _parser() -> tuple[Any, ModuleType]:
    """The parser, and the module holding its exception classes."""
    import lark.exceptions

    return lark.Lark(grammar(), transformer=_Build(), **_OPTIONS), lark.exceptions


# --- entry point --------------------------------------------------------------------------------


def _nesting(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "{([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "})]":
            depth -= 1
    return deepest


def clean(text: str) -> str:
    """Drop what only typesets: ``\\label``, ``\\tag``, invisible delimiters, final punctuation,
    a final row break ``\\\\`` and ``\\text{...}`` remarks after the equation."""
    text = _STRIP.sub(" ", text.strip().strip("$"))
    return re.sub(r"(?:[\s,.;~]|\\q?quad|\\[,;:! ]|\\\\|" + _TEXT_COMMAND + r")+$", "", text.strip())


def _check_commands(text: str) -> None:
    for match in _COMMAND.finditer(text):
        if not _KNOWN_COMMAND.match(text, match.start()):
            kind = "function" if match.group(0).startswith("\\operatorname") else "command"
            command = re.sub(r"\s+", "", match.group(0))
            raise LatexError(f"unknown {kind} {match.group(0)}", match.start() + 1, UNKNOWN.get(command, ""))


# What to write instead of characters people type that are not LaTeX.
INSTEAD = {
    "∂": r"use \partial or d", "−": "write - (a hyphen)", "–": "write - (a hyphen)", "·": r"write \cdot",
    "×": r"write \times", "∑": r"write \sum", "Σ": r"write \sum", "σ": r"write \sigma", "δ": r"write \delta",
    "≠": r"write \neq", "′": "write ' (an apostrophe)", "’": "write ' (an apostrophe)", "∇": r"write \nabla",
    "…": r"write \dots", "⋅": r"write \cdot", "∗": "write *",
}
_CLOSERS = {"(": ")", "[": "]", "{": "}"}
# What to write instead of commands people use for vector notation that we do not read.
UNKNOWN = {
    r"\langle": r"write a dot product as \mathbf{u}^\top \mathbf{v} or \mathbf{u} \cdot \mathbf{v}",
    r"\bullet": r"write \odot for an elementwise product, \cdot for a product",
    r"\ast": r"write \odot for an elementwise product, \cdot for a product",
    r"\operatorname{Diag}": r"write \operatorname{diag}(\mathbf{v})",
    r"\mathsf": r"write a transpose as ^\top",
    r"\prime": r"write ^\top for a transpose, \sigma'(z) for a derivative",
}


def _unclosed(text: str) -> str:
    """Advice for a bracket left open, or ''."""
    for opener, closer in _CLOSERS.items():
        if text.count(opener) > text.count(closer):
            return f"a {opener!r} is never closed (add {closer!r})"
    return ""


def _hint(text: str, position: int) -> str:
    """What to write instead of ``text[position]``, the character the parser could not take."""
    char = text[position]
    if char in INSTEAD:
        return INSTEAD[char]
    before = text[:position].rstrip()
    if before.endswith(("^", "_")) and char in _CLOSERS:
        end = text.find(_CLOSERS[char], position)
        script = text[position:end + 1] if 0 < end < position + 20 else char + "..." + _CLOSERS[char]
        return (f"write {before[-1]}{{{script}}}: a superscript or subscript of more than one character "
                "goes in braces")
    if char == "=" and before.endswith("="):
        return "write a single ="
    if re.search(r"\\nabla\s*$", before):
        return r"write the gradient as \nabla_{\mathbf{w}} \mathcal{L}, the quantity in the subscript"
    if re.search(r"\\nabla\s*_\s*(\{[^{}]*(\{[^{}]*\}[^{}]*)*\}|\\[a-z]+\s*\{[^{}]*\}|[A-Za-z])\s*$", before):
        return r"write what the gradient is of after its subscript: \nabla_{\mathbf{w}} \mathcal{L}"
    if re.search(r"(\\operatorname\s*\{\s*diag\s*\}|\\diag)\s*$", before):
        return r"write \operatorname{diag}(\mathbf{v}), its argument in parentheses"
    if char in "+-" and before.endswith(("+", "-")):
        return "two signs in a row: remove one, or write -(-y)"
    if char == "}" and before.endswith(r"\partial"):
        return r"write the quantity after \partial: \frac{\partial L}{\partial z}"
    if char == ",":
        return "a comma only separates indices or a sum's conditions: put remarks outside the equation"
    if char in ")]}" and text[:position].count(_OPENER[char]) <= text[:position].count(char):
        return f"this {char!r} closes nothing (remove it, or add its {_OPENER[char]!r})"
    if not char.isascii():
        return "write it in LaTeX"
    return ""


_OPENER = {closer: opener for opener, closer in _CLOSERS.items()}


def _describe(exc: Any, text: str, errors: ModuleType) -> LatexError:
    if isinstance(exc, errors.UnexpectedEOF):
        return LatexError("the equation ends too early", len(text) + 1, _unclosed(text))
    if isinstance(exc, errors.UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            return LatexError("the equation ends too early", len(text) + 1, _unclosed(text))
        position = getattr(token, "start_pos", None)
        hint = _hint(text, position) if isinstance(position, int) and 0 <= position < len(text) else ""
        return LatexError(f"unexpected {str(token)!r}", token.column, hint)
    if isinstance(exc, errors.UnexpectedCharacters):
        position = exc.pos_in_stream
        return LatexError(f"unexpected {text[position]!r}", exc.column, _hint(text, position))
    return LatexError("cannot parse", getattr(exc, "column", None))


def parse_equation(text: str) -> WrittenEquation:
    """Parse ``lhs = rhs [= ...]``; raise ``LatexError`` naming the problem and its column."""
    if len(text) > MAX_LENGTH:
        raise LatexError(f"equation too long ({len(text)} characters; the limit is {MAX_LENGTH})")
    source = clean(to_latex(text))
    if not source:
        raise LatexError("empty equation")
    if _nesting(source) > MAX_NESTING:
        raise LatexError(f"brackets nested too deeply (more than {MAX_NESTING} levels)")
    _check_commands(source)
    parser, errors = _parser()
    try:
        sides = parser.parse(source)
    except errors.UnexpectedInput as exc:
        raise _describe(exc, source, errors) from None
    except errors.LarkError as exc:  # a callback raised: lark wraps it
        inner = getattr(exc, "orig_exc", None)
        if isinstance(inner, LatexError):
            raise inner from None
        raise LatexError("cannot parse this equation") from None  # never the parser's internals
    if len(sides) < 2:
        raise LatexError("not an equation: no '=' found")
    return WrittenEquation(sides, source)
