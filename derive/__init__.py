"""derive: symbolic chain-rule derivations of neural-network gradients.

``derive.derive(model)`` returns a ``Derivation``; renderers (terminal, LaTeX, NumPy) read it.
Importing this package is cheap: SymPy is loaded only when something is derived.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .chain import Derivation
    from .spec import ModelSpec


def derive(model: str | ModelSpec) -> Derivation:
    """Derive every gradient of ``model``: a built-in name, a path to a spec file, or a spec."""
    from .chain import derive_spec
    from .spec import ModelSpec, resolve

    spec = model if isinstance(model, ModelSpec) else resolve(model)
    return derive_spec(spec)


__all__ = ["__version__", "derive"]
