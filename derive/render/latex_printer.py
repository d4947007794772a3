"""LaTeX printing of the model's expressions, every name through ``derive.naming``.

A subclass of SymPy's ``LatexPrinter``: quantities print as the sheet writes them
(``W1[k, j] -> w^{(1)}_{kj}``, ``delta2 -> \\delta^{(2)}``, ``L -> \\mathcal{L}``, ``K1 -> K_{1}``),
activations by their registry's ``latex`` field (``\\sigma(z)``), ``Partial`` as a
``\\partial`` fraction, and products in the order a course writes them (error, weight, activation,
input: ``\\delta^{(2)} w^{(2)}_{k} a^{(1)}_{k} (1 - a^{(1)}_{k})``). Helpers print a ``Chain``
(factors in reading order, under its sum) and equation chains ``lhs = r1 = r2``, broken over
``align`` rows when a line would be too wide for the page.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

from ..activations import Applied
from ..chain import Chain, Partial
from ..naming import latex_name, split_name
from ..ordering import reading_order
from ..special import heaviside_latex, kronecker_latex


class DerivePrinter(LatexPrinter):
    """SymPy's LaTeX printer with the sheet's names and conventions."""

    printmethod = "_latex"

    def __init__(self, settings: dict | None = None, layer_labels: dict[int, str] | None = None,
                 inline: bool = False):
        super().__init__(settings or {})
        # layer number -> label, e.g. {3: r"\ell"}: print a representative layer generically.
        self.layer_labels = layer_labels or {}
        self.inline = inline  # in running text: \partial L / \partial z instead of a fraction

    def _add_parens(self, s: str) -> str:
        # Plain parentheses unless the content is tall: \left( \right) around a^{(1)}_{k} is heavy.
        tall = any(cmd in s for cmd in (r"\frac", r"\sum", r"\begin"))
        return rf"\left({s}\right)" if tall else f"({s})"

    # --- names ---------------------------------------------------------------------------------

    def _name(self, name: str) -> str:
        parts = split_name(name)
        if parts and parts[1] and int(parts[1]) in self.layer_labels:
            return latex_name(parts[0]) + f"^{{({self.layer_labels[int(parts[1])]})}}"
        tex = latex_name(name)
        # A multi-letter size symbol (``Hidden``) is one name, not a product of letters.
        return rf"\mathit{{{tex}}}" if tex.isalpha() and len(tex) > 1 else tex

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        return self._name(expr.name)

    _print_Dummy = _print_Symbol

    def _print_IndexedBase(self, expr: sp.IndexedBase) -> str:
        return self._name(expr.label.name)

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        indices = [self._print(i) for i in expr.indices]
        glue = "" if all(len(i) == 1 for i in indices) else ","
        return f"{self._print(expr.base)}_{{{glue.join(indices)}}}"

    # --- functions -----------------------------------------------------------------------------

    def _print_Function(self, expr: sp.Function, exp: str | None = None) -> str:
        if not isinstance(expr, Applied):
            return super()._print_Function(expr, exp)
        act = expr.entry
        tex = act.latex + self._add_parens(self._print(expr.args[0]))  # \sigma(z), no \left-gap
        return tex if exp is None else rf"{tex}^{{{exp}}}"

    def _print_Partial(self, expr: Partial) -> str:
        if self.inline:
            return rf"\partial {self._print(expr.num)} / \partial {self._print(expr.den)}"
        return rf"\frac{{\partial {self._print(expr.num)}}}{{\partial {self._print(expr.den)}}}"

    def _print_log(self, expr: sp.log, exp: str | None = None) -> str:
        arg = expr.args[0]
        inner = self._print(arg)
        # \log a for a single quantity, \log\left(1 - a\right) otherwise: as a course writes it.
        simple = arg.is_Atom or isinstance(arg, sp.Indexed)
        tex = rf"\log {inner}" if simple else rf"\log{self._add_parens(inner)}"
        return tex if exp is None else rf"{self._add_parens(tex)}^{{{exp}}}"

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta, exp: str | None = None) -> str:
        first, second = (self._print(a) for a in expr.args)
        tex = kronecker_latex(first, second)
        return tex if exp is None else rf"{self._add_parens(tex)}^{{{exp}}}"

    def _print_Heaviside(self, expr: sp.Heaviside, exp: str | None = None) -> str:
        # relu's derivative: the indicator of z > 0 (the registry takes relu'(0) = 0).
        if len(expr.args) == 2 and expr.args[1] == 0:
            arg = expr.args[0]
            tex = heaviside_latex(self._print(arg), simple=arg.is_Atom or isinstance(arg, sp.Indexed))
            return tex if exp is None else rf"{self._add_parens(tex)}^{{{exp}}}"
        return super()._print_Heaviside(expr, exp)

    def _helper_print_standard_power(self, expr: sp.Pow, template: str) -> str:
        # a^{(1)}_{k} squared is (a^{(1)}_{k})^{2}, never the double superscript a^{(1)}_{k}^{2}.
        if isinstance(expr.base, sp.Indexed | sp.Symbol):
            base = self.parenthesize_super(self._print(expr.base))
            return template % (base, self._print(expr.exp))
        return super()._helper_print_standard_power(expr, template)

    # --- sums and products ---------------------------------------------------------------------

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        terms = self._as_ordered_terms(expr, order=order)
        # \sum_j w_j x_j + b, not b + \sum_j w_j x_j: the weighted sum is what a course leads with.
        terms = sorted(terms, key=lambda t: 0 if t.has(sp.Sum) else 1)
        tex = ""
        for position, term in enumerate(terms):
            if position and term.could_extract_minus_sign():
                tex += " - "
                term = -term
            elif position:
                tex += " + "
            term_tex = self._print(term)
            if self._needs_add_brackets(term):
                term_tex = self._add_parens(term_tex)
            tex += term_tex
        return tex

    def _product(self, factors: list[sp.Expr]) -> str:
        ordered = reading_order(factors)
        if len(ordered) == 1:  # a lone numerator or denominator needs no brackets
            return self._print(ordered[0])
        parts = []
        for position, factor in enumerate(ordered):
            tex = self._print(factor)
            if self._needs_mul_brackets(factor, first=position == 0, last=position == len(ordered) - 1):
                tex = self._add_parens(tex)
            parts.append(tex)
        return " ".join(parts)

    def _print_Mul(self, expr: sp.Mul) -> str:
        if expr.could_extract_minus_sign():
            return "- " + self._print(-expr)
        numer, denom = sp.fraction(expr, exact=True)
        if denom == 1:
            return self._product(list(sp.Mul.make_args(expr)))
        coeff, rest = expr.as_coeff_Mul()
        if coeff.is_Rational and coeff != 1 and sp.fraction(rest, exact=True)[1] == 1:
            # \frac{1}{2} (a - y)^2 rather than \frac{(a - y)^2}{2}.
            return self._print(coeff) + " " + self._product(list(sp.Mul.make_args(rest)))
        return rf"\frac{{{self._product(list(sp.Mul.make_args(numer)))}}}" \
            rf"{{{self._product(list(sp.Mul.make_args(denom)))}}}"

    def _print_Sum(self, expr: sp.Sum) -> str:
        (var, lo, hi), *rest = expr.limits
        if rest:
            return super()._print_Sum(expr)
        if expr.function.could_extract_minus_sign():
            return "- " + self._print_Sum(sp.Sum(-expr.function, *expr.limits))
        body = self._print(expr.function)
        if isinstance(expr.function, sp.Add):
            body = self._add_parens(body)
        return rf"\sum_{{{self._print(var)}={self._print(lo)}}}^{{{self._print(hi)}}} {body}"


_PRINTER = DerivePrinter()


def latex(expr: sp.Basic, layer_labels: dict[int, str] | None = None, inline: bool = False) -> str:
    """LaTeX of ``expr`` in the sheet's notation (``inline``: for running text)."""
    printer = DerivePrinter(layer_labels=layer_labels, inline=inline) if layer_labels or inline else _PRINTER
    return printer.doprint(expr)


def chain(c: Chain, layer_labels: dict[int, str] | None = None) -> str:
    """A chain-rule factorisation in reading order: ``\\sum_{i=1}^{C} \\frac{..}{..} \\frac{..}{..}``."""
    factors = " ".join(latex(f, layer_labels) for f in c.factors)
    if c.sum is None:
        return factors
    var, lo, hi = (latex(x, layer_labels) for x in c.sum)
    return rf"\sum_{{{var}={lo}}}^{{{hi}}} {factors}"


# --- equation chains ----------------------------------------------------------------------------

# Width of one align row that still fits the text block, in the units of ``visual_width``
# (roughly the width of an italic letter at 11pt: about 90 fit across the 16.4 cm text block).
ROW_WIDTH = 78.0

_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}^_&]|\s+|.")
_ZERO_WIDTH = {r"\left", r"\right", r"\mathcal", r"\mathbf", r"\mathit", r"\operatorname", r"\boxed",
               r"\boldsymbol", r"\displaystyle", r"\limits"}
_WIDE = {r"\sum": 2.0, r"\qquad": 3.0, r"\quad": 2.0, r"\log": 2.5, r"\exp": 2.5, r"\tanh": 3.0}


def visual_width(tex: str) -> float:
    """A rough width estimate of display math ``tex``: fractions count their wider part,
    sub- and superscripts count less. Used only to decide where to break a chain of equalities."""
    tokens = [t for t in _TOKEN.findall(tex) if not t.isspace()]
    width, _ = _width(tokens, 0, stop_at_brace=False)
    return width


def _group(tokens: list[str], i: int) -> tuple[float, int]:
    """Width of one argument (a braced group or a single token) starting at ``i``."""
    if i < len(tokens) and tokens[i] == "{":
        return _width(tokens, i + 1, stop_at_brace=True)
    if i < len(tokens):
        return _width(tokens[i:i + 1], 0, stop_at_brace=False)[0], i + 1
    return 0.0, i


def _width(tokens: list[str], i: int, stop_at_brace: bool) -> tuple[float, int]:
    total = 0.0
    while i < len(tokens):
        token = tokens[i]
        if token == "}" and stop_at_brace:
            return total, i + 1
        if token == r"\frac":
            numerator, i = _group(tokens, i + 1)
            denominator, i = _group(tokens, i)
            total += max(numerator, denominator) + 0.5
            continue
        if token in ("^", "_"):
            script, i = _group(tokens, i + 1)
            total += 0.7 * script
            continue
        if token == "{":
            inner, i = _width(tokens, i + 1, stop_at_brace=True)
            total += inner
            continue
        if token in ("+", "-", "=", r"\ne", r"\leq"):
            total += 2.2
        elif token in _ZERO_WIDTH or token in ("&", "}", r"\\", r"\,", r"\;", r"\!"):
            total += 0.0
        elif token.startswith("\\"):
            total += _WIDE.get(token, 1.2)
        else:
            total += 1.0
        i += 1
    return total, i


def equation(lhs: str, *rhs: str) -> str:
    """``lhs = r1 = r2`` on one line (repeated right-hand sides dropped)."""
    return " = ".join(_distinct(lhs, rhs))


def rows(lhs: str, *rhs: str, width: float = ROW_WIDTH) -> list[str]:
    """``lhs = r1 = r2 ...`` as ``align`` rows (``lhs &= r1`` then ``&= r2``), starting a new row
    only where the line would get too wide. Consecutive equal members are written once."""
    members = _distinct(lhs, rhs)
    out = [f"{members[0]} &= {members[1]}"] if len(members) > 1 else [members[0]]
    for member in members[2:]:
        candidate = f"{out[-1]} = {member}"
        if visual_width(candidate) <= width:
            out[-1] = candidate
        else:
            out.append(f"&= {member}")
    return out


def _distinct(lhs: str, rhs: tuple[str, ...]) -> list[str]:
    members = [lhs]
    for member in rhs:
        if member != members[-1]:
            members.append(member)
    return members
