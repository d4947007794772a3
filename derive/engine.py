"""The derivation of any spec: the chain-rule engine (``derive.chain``) for dense layers, with the
own rules of a recurrent first layer (``derive.recurrent``) or of convolution layers
(``derive.conv``), each built on that engine, where a spec has them.

Above all three, so that the imports flow one way: ``recurrent`` and ``conv`` build on ``chain``,
and this module chooses between them. The renderers choose likewise (``derive.render.dispatch``).
"""

from __future__ import annotations

from . import chain, conv, recurrent
from .chain import Derivation
from .conv import ConvDerivation
from .spec import ModelSpec

AnyDerivation = Derivation | ConvDerivation


def derive_spec(spec: ModelSpec) -> AnyDerivation:
    """Every gradient of ``spec``, as data the renderers read."""
    if spec.convolutional:
        return conv.derive_conv(spec)
    if spec.recurrent is not None:
        return recurrent.derive_recurrent(spec)
    return chain.derive_spec(spec)
