"""Domain errors. The CLI maps each class to one exit code in one place (``cli.main``).

Every message is one line and names the problem; ``SpecError`` also names the file and line.
"""

from __future__ import annotations


class DeriveError(Exception):
    """Base class for every error a user can cause. Exit code 2 unless a subclass says otherwise."""

    exit_code = 2


class UsageError(DeriveError):
    """A command was called with arguments that do not fit (unknown model, bad option value)."""


class SpecError(DeriveError):
    """A model spec file is invalid; ``source`` and ``line`` locate it when known."""

    def __init__(self, message: str, source: str | None = None, line: int | None = None):
        self.message = message
        self.source = source
        self.line = line
        where = source or "<spec>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class ToolMissing(DeriveError):
    """An external program (a LaTeX engine) is needed but not installed."""

    exit_code = 1


class VerificationFailed(DeriveError):
    """Generated code or an answer did not match its reference."""

    exit_code = 1
