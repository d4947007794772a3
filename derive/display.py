"""A derivation that shows itself: what ``derive.derive`` returns.

``chain.Derivation`` is data and imports no renderer. This thin subclass adds the two views a user
reaches from the object itself: its display in Jupyter (``_repr_latex_``, the LaTeX fragment) and
its JSON form (``to_dict``). It sits above both the engine and the renderers, so the imports
still flow one way (spec -> expressions -> derivation data -> renderers -> this module).
"""

from __future__ import annotations

from dataclasses import fields

from .chain import Derivation
from .conv import ConvDerivation
from .render.dispatch import fragment, to_dict


class ShownDerivation(Derivation):
    """A ``Derivation`` that displays itself in Jupyter and turns itself into JSON-ready data."""

    def _repr_latex_(self) -> str:
        return fragment(self, display=True)

    def to_dict(self) -> dict:
        return to_dict(self)


def shown(derivation: Derivation) -> ShownDerivation:
    """``derivation``'s own fields, as a derivation that shows itself (nothing is re-derived)."""
    return ShownDerivation(**{f.name: getattr(derivation, f.name) for f in fields(derivation)})


class ShownConvDerivation(ConvDerivation):
    """A ``ConvDerivation`` that displays itself in Jupyter and turns itself into JSON-ready data."""

    def _repr_latex_(self) -> str:
        return fragment(self, display=True)

    def to_dict(self) -> dict:
        return to_dict(self)


def shown_conv(derivation: ConvDerivation) -> ShownConvDerivation:
    return ShownConvDerivation(**{f.name: getattr(derivation, f.name) for f in fields(derivation)})
