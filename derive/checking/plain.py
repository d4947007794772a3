"""Plain-text and Unicode math, as students type it, rewritten into the LaTeX the grammar reads.

``to_latex(text)`` is a pure text-to-text rewrite by regular expressions over tokens; nothing is
evaluated. Unicode symbols are replaced everywhere (``∂`` ``−`` ``·`` ``σ`` ``δ`` ``Σ``, superscript
and subscript digits and letters), so pasted math reads in LaTeX answers too. Text without any
backslash command is plain text, and also gets:

- derivatives ``dL/dw_j``, ``d a / d z``, ``∂L/∂z`` -> ``\\frac{\\partial L}{\\partial w_{j}}``;
- layer labels ``^(1)`` / ``^[1]`` -> ``^{(1)}``, and layer-numbered names ``a1_k``, ``w2``,
  ``delta1_k`` -> ``a^{(1)}_{k}`` (for the model's per-layer letters a, z, w, W, b and delta;
  ``x1`` stays x times 1, as an input has no layer);
- multi-letter subscripts ``w_kj`` -> ``w_{kj}`` (plain text means both indices) and ``_(k=1)``;
- words: ``sigma(z)``, ``sigma'(z)``, ``sigmoid``, ``exp``, ``log``/``ln``, ``tanh``, the
  activations' names, ``sum_k``, and Greek letters (``delta_kj``, ``lambda``) as their commands;
  a norm's ``zhat``, ``ztilde``, ``delta_hat``, ``gamma1_k``, ``mu1``, ``sigma1^2``, ``g1_k`` (layered
  as ``a1_k`` is), ``sqrt(...)`` and ``eps``.

LaTeX text is left as written but for its Unicode symbols and two forms the grammar reads another
way (the indicator ``\\mathbb{1}[k=j]`` as ``\\delta_{kj}``; a ``\\dots`` side of a chain left out):
there ``w_kj`` keeps its LaTeX meaning.
"""

from __future__ import annotations

import re
from functools import cache

from .. import activations

SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾⁺⁻ᵀⁿᵏʲⁱ", "0123456789()+-Tnkji", strict=True))
SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉₍₎ₐₑₒₓₕₖₗₘₙₚₛₜᵢⱼ", "0123456789()aeoxhklmnpstij", strict=True))

SYMBOLS = {
    "−": "-", "–": "-", "—": "-", "＋": "+", "·": r" \cdot ", "⋅": r" \cdot ", "∙": r" \cdot ",
    "×": r" \times ", "∂": r"\partial ", "∑": r"\sum ", "Σ": r"\sum ", "≠": r" \neq ", "′": "'",
    "ℒ": r"\mathcal{L}", "𝓛": r"\mathcal{L}", "∗": "*", "⁄": "/", "∕": "/",
    "α": r"\alpha ", "β": r"\beta ", "γ": r"\gamma ", "δ": r"\delta ", "ε": r"\epsilon ",
    "η": r"\eta ", "θ": r"\theta ", "λ": r"\lambda ", "μ": r"\mu ", "σ": r"\sigma ", "τ": r"\tau ",
    "φ": r"\phi ", "ψ": r"\psi ", "ω": r"\omega ", "ℓ": r"\ell ",
    "⊙": r" \odot ", "∘": r" \circ ", "⊘": r" \oslash ", "⊗": r" \otimes ", "∇": r"\nabla ", "⊤": r"\top ",
}

GREEK_WORDS = frozenset((
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho tau upsilon "
    "phi chi psi omega ell Omega"
).split())

# A normalised layer's quantities as typed in plain text, and the LaTeX the grammar reads for
# them (``delta_hat`` is first written ``deltahat``, so that its underscore is not a subscript).
ACCENTS = {"zhat": r"\hat{z}", "ztilde": r"\tilde{z}", "deltahat": r"\hat{\delta}"}
_DELTA_HAT = re.compile(r"(?<![A-Za-z0-9\\])delta_?hat(?![A-Za-z])")

# Letters that name a per-layer quantity, so that a number right after them is a layer label.
LAYERED = ("delta", "a", "z", "w", "W", "b", "deltahat", "zhat", "ztilde", "mu", "sigma", "gamma", "beta",
           "g")

_SCRIPT = r"(?:_(?:\{[^{}]*\}|\([^()]*\)|[A-Za-z0-9]+)|\^(?:\{[^{}]*\}|\([^()]*\)|\[[^\]]*\]|[A-Za-z0-9]))"
_NAME = rf"(?:\\mathcal\{{[A-Za-z]\}}|[A-Za-z]+[0-9]*){_SCRIPT}*"
_DERIVATIVE = re.compile(
    rf"(?<![A-Za-z0-9\\])(?:d|\\partial)\s*({_NAME})\s*/\s*(?:d|\\partial)\s*({_NAME})(?![A-Za-z0-9])"
)
_COMMAND = re.compile(r"\\[A-Za-z]+")


@cache
def _functions() -> dict[str, str]:
    """Words that name a function, and the LaTeX the grammar reads for it."""
    words = {"exp": r"\exp", "log": r"\log", "ln": r"\log", "sum": r"\sum", "sigmoid": r"\sigma",
             "max": r"\max", "sqrt": r"\sqrt", "eps": r"\epsilon", **ACCENTS}
    for name, entry in activations.ACTIVATIONS.items():
        if entry.elementwise:
            words[name] = entry.latex
            plain = entry.latex.lstrip("\\")
            if plain.isalpha():
                words[plain] = entry.latex  # sigma, tanh
    return words


def _scripts(text: str) -> str:
    """Runs of superscript or subscript characters as ``^{...}`` / ``_{...}``."""
    for mark, table in (("^", SUPERSCRIPTS), ("_", SUBSCRIPTS)):

        def braced(match: re.Match[str], mark: str = mark, table: dict[str, str] = table) -> str:
            return mark + "{" + "".join(table[c] for c in match[0]) + "}"

        text = re.sub(f"[{''.join(table)}]+", braced, text)
    return text


def _symbols(text: str) -> str:
    return "".join(SYMBOLS.get(ch, ch) for ch in _scripts(text))


def is_plain(text: str) -> bool:
    """Whether ``text`` is plain text (no LaTeX command typed), once its Unicode is replaced."""
    return _COMMAND.search(text) is None


def _plain(text: str) -> str:
    """The plain-text rewrites, in an order where each sees the braces the previous wrote."""
    text = _DELTA_HAT.sub("deltahat", text)
    text = _DERIVATIVE.sub(lambda m: rf"\frac{{\partial {m[1]}}}{{\partial {m[2]}}}", text)
    text = re.sub(r"\^\s*\(([^()]*)\)", r"^{(\1)}", text)
    text = re.sub(r"\^\s*\[([^\[\]]*)\]", r"^{[\1]}", text)
    text = re.sub(r"\^\s*-\s*([A-Za-z][0-9]*(?:_[A-Za-z0-9]+)?|[0-9.]+)", r"^{-\1}", text)  # e^-z
    layered = "|".join(LAYERED)
    text = re.sub(rf"(?<![A-Za-z0-9\\])({layered})([0-9]+)(?![0-9])", r"\1^{(\2)}", text)
    text = re.sub(r"_\s*\(([^()]*)\)", r"_{\1}", text)
    text = re.sub(r"_([A-Za-z0-9]{2,})", r"_{\1}", text)
    words = _functions()

    def word(match: re.Match[str]) -> str:
        w = match[0]
        if w in words:
            return words[w] + " "
        if w in GREEK_WORDS:
            return "\\" + w + " "
        return w

    return re.sub(r"(?<![A-Za-z\\])[A-Za-z]{2,}(?![A-Za-z])", word, text)


_INDICATOR = re.compile(
    r"\\(?:mathbb|mathbf|mathds)\s*\{\s*1\s*\}\s*(?:\[|\\\{|_\{|\()\s*([A-Za-z])\s*=\s*([A-Za-z])\s*(?:\]|\\\}|\}|\))"
)
_ELIDED = re.compile(r"=\s*\\(?:[lc]?dots|dotsb|dotsc)\s*(?=(=|$))")
# The bold one before a subscripted comparison, as the answer sheet prints relu's derivative
# (``\mathbf{1}_{\hat{z}_k > 0}``): the indicator, not the vector of ones (``\mathbf{1}_K``).
_BOLD_ONE = re.compile(r"\\mathbf\s*\{\s*1\s*\}\s*_\s*\{")
_RELATION = re.compile(r">|<|\\[gl]eq?(?![a-zA-Z])|\\[gl]t(?![a-zA-Z])")


def _bold_indicators(text: str) -> str:
    """``\\mathbf{1}_{...}`` with a comparison in its (balanced) subscript as ``\\mathbb{1}_{...}``."""
    out, at = [], 0
    for match in _BOLD_ONE.finditer(text):
        depth, end = 1, match.end()
        while end < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        if match.start() >= at and _RELATION.search(text, match.end(), end):
            out += [text[at:match.start()], "\\mathbb{1}_{"]
            at = match.end()
    return "".join(out) + text[at:]


def _latex_forms(text: str) -> str:
    """Forms of LaTeX the grammar reads another way: the indicator ``\\mathbb{1}[k=j]`` is the
    Kronecker delta; a side that is only ``\\dots`` (a chain ``A = B = \\dots = C``) is left out;
    ``\\mathbf{1}_{z > 0}`` is the indicator ``\\mathbb{1}_{z > 0}``."""
    text = _INDICATOR.sub(r"\\delta_{\1\2}", text)
    return _bold_indicators(_ELIDED.sub("", text))


def to_latex(text: str) -> str:
    """``text`` as the LaTeX the grammar reads: Unicode replaced; plain text rewritten."""
    plain = is_plain(text)
    text = _latex_forms(_symbols(text))
    return _plain(text) if plain else text
