"""Python source layout for generated modules, as ``ruff format`` lays it out.

No line is longer than ``LINE_LENGTH`` (ruff's default, 88 columns; the project's own 110 allow
more), and a call or display too long for one line is split one item a line with a trailing
comma: the "magic" comma that makes ``ruff format`` keep the split at any line length.
"""

from __future__ import annotations

from collections.abc import Sequence

LINE_LENGTH = 88


def call(head: str, args: Sequence[str], tail: str = "") -> str:
    """``head(args)tail`` on one line if it fits; else one argument a line with a trailing comma.

    ``head`` carries the line's indentation; a display is a call with an empty name
    (``call("    got = ", items)`` gives ``    got = (a, b)``).
    """
    line = f"{head}({', '.join(args)}){tail}"
    if len(line) <= LINE_LENGTH:
        return line
    outer = head[: len(head) - len(head.lstrip())]
    return f"{head}(\n" + "".join(f"{outer}    {arg},\n" for arg in args) + f"{outer}){tail}"


def tuple_code(items: Sequence[str]) -> str:
    """A Python tuple display as ``ruff format`` writes it: ``()``, ``(a,)``, ``(a, b)``."""
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
