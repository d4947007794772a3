"""Terminal (Unicode) printing of the model's expressions, names through ``derive.naming``.

A subclass of SymPy's pretty printer: fractions and sums stay two-dimensional, quantities print
as the course writes them (``w⁽¹⁾ₖⱼ``, ``δ⁽²⁾``, ``σ(z)``), and partial derivatives as ``∂L/∂a``.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.pretty.pretty import PrettyPrinter
from sympy.printing.pretty.stringpict import prettyForm, stringPict

from ..activations import Applied
from ..chain import Chain
from ..naming import unicode_name, unicode_sub
from ..ordering import reading_order
from ..special import IVERSON, heaviside_text, kronecker_text


class UnicodePrinter(PrettyPrinter):
    def __init__(self, **settings):
        super().__init__({"use_unicode": True, "wrap_line": False, **settings})

    def _print_Symbol(self, e, bold_name=False):
        return prettyForm(unicode_name(e.name))

    _print_Dummy = _print_Symbol

    def _print_Float(self, e):
        """The shortest decimal that reads back as the same double (``1e-05``, ``0.001``)."""
        return prettyForm(repr(float(e)))

    def _print_IndexedBase(self, e):
        return prettyForm(unicode_name(e.name))

    def _print_Indexed(self, e):
        parts = [self._index(i) for i in e.indices]
        # A compound index (a recurrent state's t - 1, a convolution's t + r - 1) is written
        # compactly, the indices comma-separated: h_{t-1,j}, x_{c,t+r-1}.
        glue = "" if all(isinstance(i, sp.Symbol) for i in e.indices) else ","
        indices = glue.join(part.replace(" ", "") for part in parts)
        return prettyForm(unicode_name(e.base.name) + unicode_sub(indices))

    def _index(self, i) -> str:
        return unicode_name(i.name) if isinstance(i, sp.Symbol) else str(i).replace(" ", "")

    def _linear(self, e) -> str:
        form = self._print(e)
        return str(form) if form.height() == 1 else sp.sstr(e)

    def _print_Partial(self, e):
        num = prettyForm("∂" + self._linear(e.args[0]))
        den = prettyForm("∂" + self._linear(e.args[1]))
        return num / den

    def _print_Sum(self, e):
        """A compact three-line sum: the upper limit, the sign, ``j=1`` below."""
        body = self._print(e.function)
        if e.function.is_Add:
            body = prettyForm(*body.parens())
        for var, lo, hi in reversed(e.limits):
            sign = stringPict.stack(self._print(hi), prettyForm("∑"),
                                    prettyForm(f"{self._linear(var)}={self._linear(lo)}"))
            sign = prettyForm(*sign)
            sign.baseline = sign.height() // 2
            sign = prettyForm(*stringPict.next(sign, prettyForm(" ")))
            body = prettyForm(*stringPict.next(sign, body))
            body.binding = prettyForm.MUL
        return body

    def _print_Mul(self, product):
        """SymPy's algorithm without its ``sympy.physics.units`` import (0.16 s per process).

        Our expressions hold no physical quantities, so the units-last ordering is moot.
        """
        args = product.args
        if args[0] is sp.S.One or any(isinstance(arg, sp.Number) for arg in args[1:]):
            return super()._print_Mul(product)
        if self.order not in ("old", "none"):
            args = reading_order(list(product.as_ordered_factors()))
        numerator, denominator = [], []
        for item in args:
            if item.is_commutative and item.is_Pow and item.exp.is_Rational and item.exp.is_negative:
                evaluate = item.exp == -1
                denominator.append(sp.Pow(item.base, -item.exp, evaluate=evaluate))
            elif item.is_Rational and item is not sp.S.Infinity:
                if item.p != 1:
                    numerator.append(sp.Rational(item.p))
                if item.q != 1:
                    denominator.append(sp.Rational(item.q))
            else:
                numerator.append(item)
        top = [self._print(item) for item in numerator] or [self._print(sp.S.One)]
        if not denominator:
            return prettyForm.__mul__(*top)
        return prettyForm.__mul__(*top) / prettyForm.__mul__(*[self._print(i) for i in denominator])

    def _print_Max(self, e):
        args = prettyForm(*stringPict.next(*self._join(", ", e.args)))
        return prettyForm(*stringPict.next(prettyForm("max"), prettyForm(*args.parens())))

    def _print_Min(self, e):
        args = prettyForm(*stringPict.next(*self._join(", ", e.args)))
        return prettyForm(*stringPict.next(prettyForm("min"), prettyForm(*args.parens())))

    def _join(self, sep: str, args) -> list:
        pieces = []
        for number, arg in enumerate(args):
            if number:
                pieces.append(prettyForm(sep))
            pieces.append(self._print(arg))
        return pieces

    def _print_Heaviside(self, e):
        # relu's derivative (the registry takes relu'(0) = 0): the Iverson bracket [z > 0].
        inner = self._print(e.args[0])
        if inner.height() == 1:
            return prettyForm(heaviside_text(str(inner)))
        opening, condition, closing = IVERSON
        return prettyForm(*prettyForm(*inner.right(condition)).parens(opening, closing))

    def _print_KroneckerDelta(self, e):
        return prettyForm(kronecker_text(*(self._index(i) for i in e.args)))

    def _print_Function(self, e, sort=False, func_name=None, left="(", right=")"):
        if isinstance(e, Applied):
            act = e.entry
            arg = prettyForm(*self._print(e.args[0]).parens())
            return prettyForm(*stringPict.next(prettyForm(act.unicode), arg))
        return super()._print_Function(e, sort=sort, func_name=func_name, left=left, right=right)


class InlinePrinter(UnicodePrinter):
    """One-line forms for headings: ``∂L/∂wⱼ``."""

    def _print_Partial(self, e):
        return prettyForm(f"∂{self._linear(e.args[0])}/∂{self._linear(e.args[1])}")


_PRINTER = UnicodePrinter()
_INLINE = InlinePrinter()


def inline(expr) -> str:
    return str(_INLINE._print(expr))


_ORDERED = UnicodePrinter(order="none")


def pretty(expr) -> prettyForm:
    return _PRINTER._print(expr)


def chain(c: Chain) -> prettyForm:
    """A chain-rule factorisation with its factors in reading order, under its sum."""
    return _ORDERED._print(c.expr)


def chains(paths: tuple[Chain, ...]) -> prettyForm:
    """Several chain-rule factorisations added, in order: every path an error arrives by."""
    form = chain(paths[0])
    for c in paths[1:]:
        form = prettyForm(*form.right(" + ", chain(c)))
    return form


def equation(*parts) -> str:
    """``p1 = p2 = ...`` as a multi-line string; parts are expressions or ready prettyForms."""
    forms = [p if isinstance(p, stringPict) else pretty(p) for p in parts]
    pieces: list = []
    previous = None
    for form in forms:
        if str(form) == previous:
            continue  # the same printed form twice says nothing: a = b = b
        if pieces:
            pieces.append(prettyForm(" = "))
        pieces.append(form)
        previous = str(form)
    return str(prettyForm(*stringPict.next(*pieces)))
