"""How the special functions are written: one form per output format, each in one place.

The Heaviside step ``Heaviside(x, 0)`` (relu's derivative, a hinge's subgradient; 0 at the kink as
PyTorch takes it) and the Kronecker delta ``KroneckerDelta(j, k)`` (the softmax Jacobian). Every
printer of a format takes its form from here: LaTeX (the sheet's printer and the checker's echo of
a written answer), Unicode (the terminal's 2-D printer and the one-line text of code comments),
NumPy (generated code). Each function receives its arguments already printed, so the printers keep
their own spelling of names and a change of notation is one edit here. Imports nothing but naming.
"""

from __future__ import annotations

from .naming import unicode_sub

# The Iverson bracket [x > 0] of the Unicode forms: opening, condition after the argument, closing.
IVERSON = ("[", " > 0", "]")


def heaviside_latex(argument: str, simple: bool) -> str:
    """``\\mathbf{1}_{z > 0}``; a compound argument (a hinge's margin) reads better in brackets
    than as a subscript: ``\\mathbf{1}\\left[1 - t z > 0\\right]``."""
    condition = rf"{argument} > 0"
    return rf"\mathbf{{1}}_{{{condition}}}" if simple else rf"\mathbf{{1}}\left[{condition}\right]"


def heaviside_text(argument: str) -> str:
    """``[z > 0]``, on one line (a 2-D argument is laid out from ``IVERSON`` by its printer)."""
    opening, condition, closing = IVERSON
    return f"{opening}{argument}{condition}{closing}"


def heaviside_numpy(function: str, argument: str, at_zero: float) -> str:
    """``np.heaviside(z, 0.0)``, not ``(z > 0)``: a NaN argument gives NaN (the NaN policy), and the
    value at 0 is the registry's (relu'(0) = 0, as PyTorch takes it)."""
    return f"{function}({argument}, {float(at_zero)!r})"


def kronecker_latex(first: str, second: str) -> str:
    """``\\delta_{jk}``, as a course writes the softmax Jacobian; error terms carry one index (or
    none), so two indices always mean the Kronecker delta."""
    return rf"\delta_{{{first}{second}}}"


def kronecker_text(first: str, second: str) -> str:
    """``δⱼₖ``: the same delta in Unicode."""
    return "δ" + unicode_sub(first + second)
