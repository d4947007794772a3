"""Looking names up in a registry (activations, losses): an unknown name lists the known ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from .errors import UsageError

T = TypeVar("T")


def lookup(table: Mapping[str, T], kind: str, plural: str, name: str) -> T:
    """``table[name]``, or a one-line error naming ``kind`` and every known name."""
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table))
        raise UsageError(f"unknown {kind} {name!r}; known {plural}: {known}") from None
