"""Registry of activations: each entry is its forward formula beside its derivative rule.

An elementwise entry gives ``forward(z)`` for one unit and ``derivative(z, a)``, the textbook
form of f'(z), written through the unit's output ``a`` where that is how a course writes it
(sigmoid: a(1 - a); tanh: 1 - a^2). A non-elementwise entry (softmax) gives the whole layer via
``vector_forward`` and its Jacobian via ``jacobian``. The chain-rule engine reads these fields and
never names an activation. ``tests/test_registries.py`` checks every rule against SymPy's own
derivative of ``forward``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar

import sympy as sp

from .registry import lookup

Expr: TypeAlias = sp.Expr


@dataclass(frozen=True)
class Activation:
    name: str
    title: str
    latex: str  # LaTeX of the function's name, e.g. r"\sigma"
    unicode: str  # terminal form of the name, e.g. "σ"
    numpy: str  # NumPy expression of the forward pass of a whole array ``{z}``
    forward: Callable[[Expr], Expr] | None = None  # one unit: z -> a
    derivative: Callable[[Expr, Expr], Expr] | None = None  # textbook f'(z), given z and a
    # Non-elementwise (whole layer) activations:
    vector_forward: Callable[[sp.IndexedBase, Expr, Expr, Expr], Expr] | None = None
    jacobian: Callable[[sp.IndexedBase, Expr, Expr], Expr] | None = None
    # Source text of the helper functions the NumPy forms call (name -> source), each defined in
    # a generated module that calls it. Each is the whole-array form and stays finite, without
    # warnings, for logits of any magnitude.
    numpy_helpers: dict[str, str] = field(default_factory=dict)
    # A normalised layer (softmax) may also give its per-example log-normaliser (z, c, size) ->
    # log sum_c e^{z_c}, and a NumPy form returning ``(a, log-normaliser)`` of ``{z}`` from one
    # shifted exp, for a loss whose stable form reads it (``Loss.fused``'s ``{log_normaliser}``).
    log_normaliser: Callable[[sp.IndexedBase, Expr, Expr], Expr] | None = None
    numpy_log_normalised: str | None = None
    # Arguments where the derivative changes form (relu: 0). The checker draws every unit's
    # argument on each side of each of them across its instances, so that an answer missing
    # a branch (relu' taken as 1) cannot pass because of the draw.
    kinks: tuple[float, ...] = ()

    @property
    def elementwise(self) -> bool:
        return self.vector_forward is None

    # Typed access to the optional rules: a missing rule is a bug in the caller, named here.

    def unit(self, z: Expr) -> Expr:
        """One unit's output ``f(z)`` (elementwise activations)."""
        return _need(self.forward, self.name, "forward")(z)

    def unit_derivative(self, z: Expr, a: Expr) -> Expr:
        """The textbook ``f'(z)``, written through ``a = f(z)`` where that is how a course writes it."""
        return _need(self.derivative, self.name, "derivative")(z, a)

    def layer(self, z: sp.IndexedBase, k: Expr, c: Expr, size: Expr) -> Expr:
        """Unit ``k`` of a whole-layer activation, summing over the dummy ``c`` up to ``size``."""
        return _need(self.vector_forward, self.name, "vector_forward")(z, k, c, size)

    def layer_jacobian(self, a: sp.IndexedBase, k: Expr, j: Expr) -> Expr:
        """``da_k/dz_j`` of a whole-layer activation, in textbook form."""
        return _need(self.jacobian, self.name, "jacobian")(a, k, j)

    def function(self) -> type[sp.Function]:
        """The undefined SymPy function used to *name* the activation in set-up equations."""
        return sp.Function(self.name)


F = TypeVar("F")


def _need(rule: F | None, name: str, field_name: str) -> F:
    if rule is None:
        raise TypeError(f"activation {name!r} has no {field_name} rule")
    return rule


def _sigmoid(z: Expr) -> Expr:
    return 1 / (1 + sp.exp(-z))


def _softmax(z: sp.IndexedBase, k: Expr, c: Expr, size: Expr) -> Expr:
    return sp.exp(z[k]) / sp.Sum(sp.exp(z[c]), (c, 1, size))


_ENTRIES = (
    Activation(
        name="identity",
        title="identity",
        latex=r"\operatorname{id}",
        unicode="id",
        numpy="{z}",
        forward=lambda z: z,
        derivative=lambda z, a: sp.Integer(1),
    ),
    Activation(
        name="sigmoid",
        title="logistic sigmoid",
        latex=r"\sigma",
        unicode="σ",
        numpy="_sigmoid({z})",
        numpy_helpers={
            "_sigmoid": '''def _sigmoid(z: Array) -> Array:
    """Logistic sigmoid 1 / (1 + exp(-z)), within 2 ulps over the whole float range.

    With e = exp(-|z|) <= 1 (no overflow): 1 / (1 + e) for z >= 0, e / (1 + e) below,
    so a result near 0 keeps its relative accuracy (down to exp(-745)) instead of
    cancelling in 1 - (...).
    """
    e = np.exp(-np.abs(z))
    s: Array = np.where(z >= 0, 1.0, e)
    s /= 1.0 + e
    return s
''',
        },
        forward=_sigmoid,
        derivative=lambda z, a: a * (1 - a),
    ),
    Activation(
        name="tanh",
        title="hyperbolic tangent",
        latex=r"\tanh",
        unicode="tanh",
        numpy="np.tanh({z})",
        forward=sp.tanh,
        derivative=lambda z, a: 1 - a**2,
    ),
    Activation(
        name="relu",
        title="rectified linear unit",
        latex=r"\operatorname{relu}",
        unicode="relu",
        numpy="np.maximum({z}, 0.0)",
        forward=lambda z: sp.Max(0, z),
        # relu'(0) is taken as 0, the convention of every deep-learning library.
        derivative=lambda z, a: sp.Heaviside(z, 0),
        kinks=(0.0,),
    ),
    Activation(
        name="softplus",
        title="softplus",
        latex=r"\operatorname{softplus}",
        unicode="softplus",
        numpy="np.logaddexp(0.0, {z})",
        forward=lambda z: sp.log(1 + sp.exp(z)),
        derivative=lambda z, a: _sigmoid(z),
    ),
    Activation(
        name="softmax",
        title="softmax",
        latex=r"\operatorname{softmax}",
        unicode="softmax",
        numpy="_softmax({z})",
        numpy_helpers={
            "_softmax": '''def _softmax(z: Array) -> Array:
    """Softmax of each row, shifted by the row maximum so that exp cannot overflow."""
    e: Array = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e
''',
            "_softmax_log_sum_exp": '''def _softmax_log_sum_exp(z: Array) -> tuple[Array, Array]:
    """Softmax of each row and its log-sum-exp log Σ_c exp(z_c), from one shared exp."""
    top = z.max(axis=1, keepdims=True)
    e: Array = np.exp(z - top)
    total = e.sum(axis=1, keepdims=True)
    e /= total
    return e, np.log(total[:, 0]) + top[:, 0]
''',
        },
        vector_forward=_softmax,
        log_normaliser=lambda z, c, size: sp.log(sp.Sum(sp.exp(z[c]), (c, 1, size))),
        numpy_log_normalised="_softmax_log_sum_exp({z})",
        jacobian=lambda a, k, j: a[k] * (sp.KroneckerDelta(k, j) - a[j]),
    ),
)

ACTIVATIONS: dict[str, Activation] = {entry.name: entry for entry in _ENTRIES}


def get(name: str) -> Activation:
    return lookup(ACTIVATIONS, "activation", "activations", name)
