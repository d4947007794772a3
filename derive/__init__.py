"""derive: symbolic chain-rule derivations of neural-network gradients.

``derive.derive(model)`` returns a ``Derivation``; renderers (terminal, LaTeX, NumPy) read it. The
one returned here also displays itself in Jupyter and gives its JSON form (``derive.display``).
Importing this package is cheap: SymPy is loaded only when something is derived. No module of the
package imports this one: it is the entry point, above the engine and the renderers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .version import __version__

if TYPE_CHECKING:
    from .display import ShownDerivation
    from .spec import ModelSpec


def derive(model: str | ModelSpec) -> ShownDerivation:
    """Derive every gradient of ``model``: a built-in name, a path to a spec file, or a spec.
    (A model with conv layers gives a ``derive.conv.ConvDerivation`` that shows itself alike.)"""
    from .conv import ConvDerivation
    from .display import shown
    from .engine import derive_spec
    from .spec import ModelSpec, resolve

    spec = model if isinstance(model, ModelSpec) else resolve(model)
    derivation = derive_spec(spec)
    if isinstance(derivation, ConvDerivation):
        from .display import shown_conv

        return shown_conv(derivation)  # type: ignore[return-value]
    return shown(derivation)


__all__ = ["__version__", "derive"]
