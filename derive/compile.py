"""Compiling a LaTeX document to PDF safely: latexmk (or pdflatex) in a temporary directory.

The engine runs without shell escape, non-interactively, stopping at the first error; its rc
files are not read. Nothing outside the temporary directory changes unless the compile succeeds,
and then only the destination PDF, replaced atomically. ``SOURCE_DATE_EPOCH`` is fixed so the
same document compiles to the same bytes. A failed compile raises ``CompileFailed`` naming the
first LaTeX error; a missing engine raises ``ToolMissing`` saying how to install one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import DeriveError, ToolMissing

INSTALL_HINT = (
    "install a LaTeX engine to get the PDF (Debian/Ubuntu: apt-get install texlive-latex-base "
    "texlive-latex-recommended texlive-pictures latexmk)"
)
TIMEOUT = 180  # seconds; a sheet takes a few
_FLAGS = ("-interaction=nonstopmode", "-halt-on-error", "-file-line-error", "-no-shell-escape")
# The commit date of the reproducible PDF (any constant will do; 2024-01-01).
EPOCH = "1704067200"


class CompileFailed(DeriveError):
    """The LaTeX engine rejected a document."""

    exit_code = 1


def engine() -> list[str] | None:
    """The command that compiles ``doc.tex`` to ``doc.pdf``, or None when there is no engine."""
    if shutil.which("pdflatex") is None:
        return None
    if shutil.which("latexmk"):
        return ["latexmk", "-pdf", "-norc", "-quiet", *_FLAGS]
    return ["pdflatex", *_FLAGS]


def available() -> bool:
    return engine() is not None


def first_error(log: str) -> str:
    """The first error of a LaTeX log, on one line (``file:line: message`` or ``! message``)."""
    for line in log.splitlines():
        if re.match(r"^(\S+:\d+: |! )", line):
            return line.strip()
    return "LaTeX failed (no error message in the log)"


@dataclass(frozen=True)
class Build:
    pdf: bytes
    log: str


def build(tex: str) -> Build:
    """Compile the document ``tex``: the PDF's bytes and the engine's log."""
    command = engine()
    if command is None:
        raise ToolMissing(f"no LaTeX engine (pdflatex) on PATH; {INSTALL_HINT}")
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "FORCE_SOURCE_DATE": "1"}
    with tempfile.TemporaryDirectory(prefix="derive-tex-") as work:
        source = Path(work) / "sheet.tex"
        source.write_text(tex, encoding="utf-8")
        try:
            subprocess.run([*command, source.name], cwd=work, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise CompileFailed(f"LaTeX did not finish within {TIMEOUT} s") from None
        log_path, result = source.with_suffix(".log"), source.with_suffix(".pdf")
        log = log_path.read_text(encoding="latin-1") if log_path.exists() else ""
        error = first_error(log) if log else "LaTeX failed to start"
        if not result.exists() or re.search(r"^(\S+:\d+: |! )", log, re.MULTILINE):
            raise CompileFailed(f"LaTeX failed: {error}")
        return Build(result.read_bytes(), log)
