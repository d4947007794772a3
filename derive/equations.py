"""Display equations out of a .tex or .md file, each with the line it starts on. Prose is ignored.

``extract(text, markdown)`` finds ``$$...$$``, ``\\[...\\]``, the ``equation``/``align``/``gather``
environments (starred or not) and, in Markdown, fenced ``math`` blocks; code fences and TeX
comments are skipped. A display is split into rows at top-level ``\\\\`` (not inside ``cases``);
alignment ``&`` marks are dropped. A row that starts with ``=`` continues the previous row's chain,
so it is returned with that chain's first side in front: ``&= a - y`` becomes ``dL/dz = a - y``.
``display_spans`` says where the displays are, for a reader of what lies outside them (``derive
grade`` looks for inline math and bare lines there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ENVIRONMENTS = ("equation", "align", "gather", "multline", "flalign", "alignat", "eqnarray", "displaymath")
_ENV = "|".join(ENVIRONMENTS)
_OPEN = re.compile(rf"\$\$|\\\[|\\begin\{{(?P<env>{_ENV})(?P<star>\*?)\}}(?:\{{\d+\}})?")
_INNER = re.compile(r"\\(begin|end)\{(aligned|split|gathered|alignedat)\}(\{\d+\})?")
_ROW_BREAK = re.compile(r"\\\\(\s*\[[^\]]*\])?")
_FENCE = re.compile(r"^\s*(```|~~~)\s*(\w*)")


@dataclass(frozen=True)
class Found:
    """One equation: its text and the (1-based) line it starts on; ``problem`` if unreadable."""

    line: int
    text: str
    problem: str = ""


def _strip_comments(text: str) -> str:
    """Remove TeX comments, keeping line breaks so line numbers stay right."""
    return re.sub(r"(?<!\\)%[^\n]*", "", text)


def _markdown_math(text: str) -> str:
    """Blank out code fences (keeping line count); a ```math fence becomes a $$ display."""
    out, fence = [], None
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(2)
            out.append("$$" if fence == "math" else "")
        elif fence is not None and match and not match.group(2):
            out.append("$$" if fence == "math" else "")
            fence = None
        else:
            out.append(line if fence in (None, "math") else "")
    return "\n".join(out)


def _top_level_split(body: str) -> list[tuple[int, str]]:
    """Split at ``\\\\`` outside braces and ``cases``; (offset, row) pairs."""
    rows, start, depth, env = [], 0, 0, 0
    i = 0
    while i < len(body):
        if body.startswith("\\begin", i):
            env += 1
        elif body.startswith("\\end", i):
            env -= 1
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in "{}":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0 and env == 0 and body.startswith("\\\\", i):
            match = _ROW_BREAK.match(body, i)
            assert match is not None  # body[i:] starts with \\, which the pattern always matches
            rows.append((start, body[start:i]))
            start = i = match.end()
            continue
        i += 2 if ch == "\\" else 1
    rows.append((start, body[start:]))
    return rows


def _drop_alignment(row: str) -> str:
    """Remove ``&`` marks outside ``cases`` (there they separate value and condition)."""
    out, env = [], 0
    for match in re.finditer(r"\\begin\{[^}]*\}|\\end\{[^}]*\}|\\&|&|[^&\\]+|\\", row):
        token = match.group(0)
        env += token.startswith("\\begin") - token.startswith("\\end")
        if token == "&" and env == 0:
            continue
        out.append(token)
    return "".join(out)


def first_side(row: str) -> str:
    """The text before the first top-level ``=``."""
    depth = 0
    for i, ch in enumerate(row):
        depth += ch in "{(["
        depth -= ch in "})]"
        if ch == "=" and depth == 0 and not row[:i].rstrip().endswith("\\not"):
            return row[:i]
    return row


def _rows(body: str, line: int, source: str, offset: int) -> list[Found]:
    found: list[Found] = []
    head = None
    body = _INNER.sub(lambda m: " " * len(m.group(0)), body)  # keep offsets for line numbers
    for start, raw in _top_level_split(body):
        row = _drop_alignment(raw).strip()
        if not row:
            continue
        row_line = line + source.count("\n", offset, offset + start + len(raw) - len(raw.lstrip()))
        if row.startswith("=") and head is not None:
            row = head + " " + row
        else:
            head = first_side(row).strip()
        found.append(Found(row_line, row))
    return found


def _closer(opener: re.Match) -> str:
    if opener.group("env"):
        return f"\\end{{{opener.group('env')}{opener.group('star')}}}"
    return "$$" if opener.group(0) == "$$" else "\\]"


def _displays(text: str):
    """(start, offset, body, closer) of each display (start: its opener's; offset: its body's),
    and (start, start, None, closer) for one left open. Linear time: once
    a closer is missing, no later opener of its kind is searched for again."""
    pos, missing = 0, set()
    while (opener := _OPEN.search(text, pos)) is not None:
        closer = _closer(opener)
        end = -1 if closer in missing else text.find(closer, opener.end())
        if end < 0:
            if closer not in missing:
                missing.add(closer)
                yield opener.start(), opener.start(), None, closer
            pos = opener.end()
            continue
        yield opener.start(), opener.end(), text[opener.end():end], closer
        pos = end + len(closer)


def extract(text: str, markdown: bool = False) -> list[Found]:
    """Every display equation (row) of a document, in order."""
    if markdown:
        text = _markdown_math(text)
    text = _strip_comments(text)
    found: list[Found] = []
    line, counted = 1, 0
    for _, offset, body, closer in _displays(text):
        line += text.count("\n", counted, offset)  # counted incrementally: linear in the file
        counted = offset
        if body is None:
            found.append(Found(line, "", f"this display is never closed (no {closer})"))
        else:
            found.extend(_rows(body, line, text, offset))
    return found


def display_spans(text: str, markdown: bool = False) -> tuple[str, list[tuple[int, int]]]:
    """The text as ``extract`` reads it (comments and code fences blanked, line count kept) and the
    (start, end) of each closed display in it, delimiters included: what is not prose or inline math."""
    if markdown:
        text = _markdown_math(text)
    text = _strip_comments(text)
    spans = []
    for start, offset, body, closer in _displays(text):
        if body is not None:
            spans.append((start, offset + len(body) + len(closer)))
    return text, spans
