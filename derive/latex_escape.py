"""Escaping user text (titles, model names) for LaTeX text mode: it always prints literally.

Every character with a meaning to TeX becomes a command that prints it, so ``\\input{/etc/passwd}``
prints those characters instead of reading the file. The sheet is compiled with pdfLaTeX and the
default OT1 fonts, which cannot show arbitrary Unicode; characters outside printable ASCII and
the Latin-1 letters and common typographic punctuation (dashes, curly quotes, ellipsis) become
``?`` (a clear sign, where a missing glyph would stop the compile).
Control characters and line breaks become spaces.
"""

from __future__ import annotations

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
    # OT1 fonts print these three as other glyphs (¡, ¿, an em dash) in text mode.
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    # Ligatures that would change what the user typed (`` -> “, -- -> –).
    "`": r"{`}",
    "-": r"-{}",
    "'": r"{'}",
}

# Common typographic punctuation, as the text-mode commands that print it in OT1 fonts.
_PUNCTUATION = {
    "\u2013": "--",  # en dash
    "\u2014": "---",  # em dash
    "\u2018": "`",
    "\u2019": "'",
    "\u201c": "``",
    "\u201d": "''",
    "\u2026": r"\ldots{}",
    "\u00a0": "~",
    "\u2022": r"\textbullet{}",
}

# Latin-1 letters whose accents utf8 input and OT1 fonts can compose (not × and ÷).
_LATIN1 = {chr(c) for c in range(0xC0, 0x100)} - {"\u00d7", "\u00f7"}


def escape(text: str) -> str:
    """``text`` as LaTeX that prints it literally in text mode."""
    return "".join(_char(ch) for ch in text)


def _char(ch: str) -> str:
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    if ch in _PUNCTUATION:
        return _PUNCTUATION[ch]
    if ch.isspace() or (ord(ch) < 0x20) or ch == "\x7f":
        return " "
    if ord(ch) < 0x80 or ch in _LATIN1:
        return ch
    return "?"


def plain(text: str) -> str:
    """``text`` reduced to characters that need no escaping anywhere, even inside MathJax's
    ``\\text{}`` (which knows no text-mode commands): letters, digits and light punctuation."""
    kept = "".join(ch if ch.isascii() and (ch.isalnum() or ch in " .,;:()'/+-") else " " for ch in text)
    return " ".join(kept.split())
