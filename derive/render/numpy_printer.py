"""Printing for generated code: a SymPy NumPy printer and a plain-text equation printer.

``NumPyCodePrinter`` prints batch expressions (``derive.lowering``) as NumPy code in the layout
``ruff format`` produces (spaces around binary operators, ``a**2`` but ``(a - y) ** 2``), with
NumPy as ``np``, ``Heaviside(z, 0)`` as ``np.heaviside(z, 0.0)``, and every helper function it prints a call
to recorded in ``helpers``, so a module defines exactly the helpers it uses (``helper_source``).

``EquationPrinter`` prints the index-notation equations as one-line Unicode text in the sheet's
notation (``δ⁽¹⁾ₖ = a⁽¹⁾ₖ (1 - a⁽¹⁾ₖ) Σᵢ w⁽²⁾ᵢₖ δ⁽²⁾ᵢ``) for comments in generated code.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter

from .. import activations, losses
from ..chain import Partial
from ..errors import DeriveError
from ..lowering import NUMPY_HELPERS, BatchMatMul, Outer, print_template
from ..naming import SUPERSCRIPTS, unicode_name, unicode_sub
from ..ordering import reading_order
from ..special import heaviside_numpy, heaviside_text, kronecker_text

MUL = PRECEDENCE["Mul"]


def helper_sources() -> dict[str, str]:
    """Every helper function a registry's NumPy form may call, name -> its source text.

    The source lives beside the registry entry whose form calls it (``numpy_helpers`` of an
    activation, a loss or a loss's target kind), so a new activation is one registry entry;
    the array nodes' own helpers (``_row_sums``) are ``derive.lowering.NUMPY_HELPERS``.
    """
    tables: list[dict[str, str]] = [
        NUMPY_HELPERS,
        *(entry.numpy_helpers for entry in activations.ACTIVATIONS.values()),
        *(entry.numpy_helpers for entry in losses.LOSSES.values()),
        *(entry.numpy_helpers for entry in losses.TARGETS.values()),
    ]
    return {name: source for table in tables for name, source in table.items()}


def with_callees(names: set[str]) -> list[str]:
    """``names`` and every helper their sources call, in turn (``_normal_cdf`` calls
    ``_two_product``), sorted: the helpers a generated module must define."""
    import re

    sources = helper_sources()
    call = re.compile(r"(?<![\w.])(_[a-z][a-z0-9_]*)\(")
    found, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(c for c in call.findall(helper_source(name)) if c in sources)
    return sorted(found)


def helper_source(name: str) -> str:
    """The source text of helper ``name``; an error naming it when no registry entry defines it."""
    try:
        return helper_sources()[name]
    except KeyError:
        raise DeriveError(f"no registry entry defines the NumPy helper {name!r}") from None


class NumPyCodePrinter(NumPyPrinter):
    """SymPy's NumPy printer, aliased ``np``, laid out as ``ruff format`` lays out code."""

    def __init__(self, settings: dict | None = None):
        super().__init__(settings or {})
        self.helpers: set[str] = set()

    def _module_format(self, fqn: str, register: bool = True) -> str:
        if fqn.startswith("numpy."):
            return "np." + fqn[len("numpy.") :]
        return super()._module_format(fqn, register)

    def _print_Rational(self, expr: sp.Rational) -> str:
        return f"{expr.p} / {expr.q}"

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        return _join_terms(self, expr)

    def _print_Mul(self, expr: sp.Mul) -> str:
        coeff, rest = expr.as_coeff_Mul()
        sign = "-" if coeff < 0 else ""
        numerator: list[sp.Expr] = []
        denominator: list[sp.Expr] = []
        if abs(coeff) != 1:
            numerator.append(sp.Integer(abs(coeff).p) if coeff.is_Rational else abs(coeff))
            if coeff.is_Rational and coeff.q != 1:
                denominator.append(sp.Integer(coeff.q))
        for factor in sp.Mul.make_args(rest):
            if factor.is_Pow and factor.exp.is_Rational and factor.exp.is_negative:
                denominator.append(sp.Pow(factor.base, -factor.exp))
            else:
                numerator.append(factor)
        numerator = [f for f in numerator if f != 1] or [sp.Integer(1)]
        # The first factor may be a product itself (`a.dot(b) / n`); later ones must not be.
        text = " * ".join(
            self.parenthesize(f, MUL, strict=position == 0) for position, f in enumerate(numerator)
        )
        if sign and len(numerator) > 1 or sign and precedence(numerator[0]) < MUL:
            text = f"({text})"
        if denominator:
            below = " * ".join(self.parenthesize(f, MUL, strict=True) for f in denominator)
            text += (
                f" / {below}"
                if len(denominator) == 1 and precedence(denominator[0]) > MUL
                else (f" / ({below})")
            )
        return sign + text

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exponent = expr.args
        if exponent == sp.Rational(1, 2):
            return f"{self._module_format('numpy.sqrt')}({self._print(base)})"
        if exponent.is_Rational and exponent.is_negative:
            return f"1.0 / {self.parenthesize(sp.Pow(base, -exponent), MUL, strict=False)}"
        left = self.parenthesize(base, PRECEDENCE["Atom"], strict=True)
        right = self._print(exponent)
        # ruff format hugs `**` only between simple operands (names, numbers, attributes).
        simple = base.is_Atom and not (base.is_Number and base < 0) and exponent.is_Number
        return f"{left}**{right}" if simple else f"{left} ** {right}"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        arg, at_zero = expr.args
        return heaviside_numpy(self._module_format("numpy.heaviside"), self._print(arg), float(at_zero))

    def _print_Function(self, expr: sp.Function) -> str:
        if isinstance(expr, activations.Applied):
            (arg,) = expr.args
            return print_template(self, expr.entry.numpy, z=arg)
        return super()._print_Function(expr)


def _term_order(term: sp.Expr) -> tuple[int, int, str]:
    """Positive terms first, matrix products before the rest: ``X.dot(W1.T) + b1``, ``a - y``."""
    negative = bool(term.as_coeff_Mul()[0].is_negative)
    return (int(negative), 0 if term.has(BatchMatMul, Outer) else 1, str(sp.default_sort_key(term)))


def _join_terms(printer, expr: sp.Add) -> str:
    """``a + b - c`` with terms in reading order; a term that is itself a sum is bracketed."""
    return " ".join(signed_terms(printer, expr))


def signed_terms(printer, expr: sp.Add) -> list[str]:
    """The printed terms of a sum in reading order, each after its sign: ``["a", "+ b", "- c"]``."""
    parts = []
    for position, term in enumerate(sorted(expr.args, key=_term_order)):
        negative = bool(term.as_coeff_Mul()[0].is_negative)
        text = printer._print(-term if negative else term)
        if precedence(-term if negative else term) <= PRECEDENCE["Add"]:
            text = f"({text})"
        if position == 0:
            parts.append(f"-{text}" if negative else text)
        else:
            parts.append(f"- {text}" if negative else f"+ {text}")
    return parts



# --- comments: index-notation equations as Unicode text -----------------------------------------


class EquationPrinter(StrPrinter):
    """Index notation as the sheet writes it, in Unicode: ``∂L/∂w⁽¹⁾ₖⱼ = δ⁽¹⁾ₖ xⱼ``."""

    printmethod = "_equation_text"  # none of SymPy's own ``_sympystr`` forms: every name is ours

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return unicode_name(expr.name)

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        parts = [str(i).replace(" ", "") for i in expr.indices]
        # A compound index (a recurrent state's t - 1, a convolution's t + r - 1) is set off by
        # commas: h_{t-1,j}, x_{c,t+r-1}.
        letters = ("" if all(isinstance(i, sp.Symbol) for i in expr.indices) else ",").join(parts)
        return unicode_name(expr.base.name) + unicode_sub(letters)

    def _print_IndexedBase(self, expr: sp.IndexedBase) -> str:
        return unicode_name(expr.name)

    def _print_Sum(self, expr: sp.Sum) -> str:
        letters = "".join(str(limit[0]) for limit in expr.limits)
        body = self.parenthesize(expr.function, MUL, strict=True)
        return f"Σ{unicode_sub(letters)} {body}"

    def _print_Mul(self, expr: sp.Mul) -> str:
        coeff, rest = expr.as_coeff_Mul()
        sign = "-" if coeff < 0 else ""
        numerator = []
        denominator = []
        if abs(coeff) != 1:
            if not coeff.is_Rational or abs(coeff.p) != 1:
                numerator.append(
                    self._print(sp.Integer(abs(coeff.p))) if coeff.is_Rational else self._print(abs(coeff))
                )
            if coeff.is_Rational and coeff.q != 1:
                denominator.append(str(coeff.q))
        factors = reading_order(list(sp.Mul.make_args(rest)))
        for factor in factors:
            if factor.is_Pow and factor.exp.is_Rational and factor.exp.is_negative:
                denominator.append(self.parenthesize(sp.Pow(factor.base, -factor.exp), MUL + 1))
            else:
                numerator.append(self.parenthesize(factor, MUL))
        text = " ".join(numerator) or "1"
        if denominator:
            text += "/" + (denominator[0] if len(denominator) == 1 else "(" + " ".join(denominator) + ")")
        return sign + text

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        return _join_terms(self, expr)

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exponent = expr.args
        if exponent.is_Integer and exponent > 0:
            return self.parenthesize(base, PRECEDENCE["Atom"]) + str(exponent).translate(SUPERSCRIPTS)
        return super()._print_Pow(expr, rational)

    def _print_Function(self, expr: sp.Function) -> str:
        head = expr.entry.unicode if isinstance(expr, activations.Applied) else type(expr).__name__
        return f"{head}({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        return heaviside_text(self._print(expr.args[0]))

    def _print_Partial(self, expr: Partial) -> str:
        return f"∂{self._print(expr.num)}/∂{self._print(expr.den)}"

    def _print_Abs(self, expr: sp.Abs) -> str:
        return f"|{self._print(expr.args[0])}|"

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))  # 0.0005, not SymPy's 0.000500000000000000

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        """``1 if z > 0 else 1/100``: the cases of a rule, as a line of text reads them."""
        *cases, (last, _) = expr.args
        text = " else ".join(f"{self._print(value)} if {self._print(cond)}" for value, cond in cases)
        return f"({text} else {self._print(last)})"

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta) -> str:
        i, j = expr.args
        return kronecker_text(f"{i}", f"{j}")


def equation_text(lhs: sp.Expr, rhs: sp.Expr) -> str:
    """``lhs = rhs`` in the sheet's notation, as one line of Unicode text."""
    printer = EquationPrinter({"order": "none"})
    return f"{printer.doprint(lhs)} = {printer.doprint(rhs)}"
