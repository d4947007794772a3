"""The derivation of any spec: the chain-rule engine (``derive.chain``) for dense layers, with a
recurrent first layer's own rules (``derive.recurrent``, built on that engine) where a spec has one.

Above both, so that the imports flow one way: ``recurrent`` builds on ``chain``, and this module
chooses between them.
"""

from __future__ import annotations

from . import chain, recurrent
from .chain import Derivation
from .spec import ModelSpec


def derive_spec(spec: ModelSpec) -> Derivation:
    """Every gradient of ``spec``, as data the renderers read."""
    if spec.recurrent is not None:
        return recurrent.derive_recurrent(spec)
    return chain.derive_spec(spec)
