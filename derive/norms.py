"""Registry of normalisations a layer applies to its pre-activation (``norm = "layer"``).

Each entry is one local rule, as an activation is: its statistics and forward equations in index
notation, and its Jacobian in textbook form (written through the normalised value, as a course
writes it). The chain-rule engine reads these and never names a normalisation; SymPy's ``diff``
of the written-out definitions is the reference the textbook Jacobian is checked against.

What it promises: ``mean``, ``variance`` and ``normalised`` give the statistics and the normalised
value as SymPy expressions of the elements of ``z`` at the norm's positions (``over``: the units of
one example, or the examples of a batch); ``jacobian`` gives ``d zhat_j / d z_k`` in terms of the
named quantities (``gamma``, ``ztilde``, the variance), with a ``KroneckerDelta`` for the diagonal;
``backward`` is the compact error, written through means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from .registry import lookup

Element = Callable[[sp.Expr], sp.Expr]  # an index -> that element (z_c, gamma_c, ...)


@dataclass(frozen=True)
class Norm:
    """One normalisation over a layer's units."""

    name: str
    over: str  # what the statistics run over: "units" (of one example) or "examples" (per unit)
    title: str  # in words, for the sheet ("layer normalisation")
    short: str  # under a column of the network drawing ("layer norm")
    # (z element, summation letter, width) -> the mean mu of z over the units
    mean: Callable[[Element, sp.Symbol, sp.Expr], sp.Expr]
    # (z element, mu, summation letter, width) -> the (biased) variance sigma^2 over the units
    variance: Callable[[Element, sp.Expr, sp.Symbol, sp.Expr], sp.Expr]
    # (z_k, mu, sigma^2, eps) -> the normalised value ztilde_k
    normalised: Callable[[sp.Expr, sp.Expr, sp.Expr, sp.Expr], sp.Expr]
    # (gamma_j, ztilde_j, ztilde_k, sigma^2, eps, j, k, width) -> d zhat_j / d z_k
    jacobian: Callable[..., sp.Expr]
    # (gamma element, delta-hat element, ztilde element, k, j, sigma^2, eps, width) -> the error
    # delta_k in its compact textbook form (through means over the norm's positions)
    backward: Callable[..., sp.Expr]
    # A sentence on what the statistics couple, for the sheet.
    couples: str


def _mean(z: Element, c: sp.Symbol, width: sp.Expr) -> sp.Expr:
    return sp.Sum(z(c), (c, 1, width)) / width


def _variance(z: Element, mu: sp.Expr, c: sp.Symbol, width: sp.Expr) -> sp.Expr:
    """The biased variance, as PyTorch's norms use in training."""
    return sp.Sum((z(c) - mu) ** 2, (c, 1, width)) / width


def _normalised(z_k: sp.Expr, mu: sp.Expr, var: sp.Expr, eps: sp.Expr) -> sp.Expr:
    return (z_k - mu) / sp.sqrt(var + eps)


def _layer_jacobian(gamma_j, zt_j, zt_k, var, eps, j, k, width) -> sp.Expr:
    """``gamma_j / sqrt(sigma^2 + eps) (delta_jk - (1 + ztilde_j ztilde_k) / K)``; over a batch the
    same with examples for units (``j``, ``k`` examples, ``K`` the batch size N, gamma the unit's)."""
    return gamma_j / sp.sqrt(var + eps) * (sp.KroneckerDelta(j, k) - (1 + zt_j * zt_k) / width)


def _layer_backward(gamma: Element, dhat: Element, zt: Element, k, j, var, eps, width) -> sp.Expr:
    """``(gamma_k dhat_k - mean_j(gamma_j dhat_j) - ztilde_k mean_j(gamma_j dhat_j ztilde_j))
    / sqrt(sigma^2 + eps)``: the compact layer-norm backward, each unit with its own gamma."""
    mean = lambda e: sp.Sum(e, (j, 1, width)) / width  # noqa: E731
    scaled = lambda u: gamma(u) * dhat(u)  # noqa: E731
    inside = sp.Add(scaled(k), -mean(scaled(j)), -zt(k) * mean(scaled(j) * zt(j)), evaluate=False)
    return sp.Mul(1 / sp.sqrt(var + eps), inside, evaluate=False)


def _batch_backward(gamma: Element, dhat: Element, zt: Element, n, p, var, eps, width) -> sp.Expr:
    """``gamma_k / sqrt(sigma_k^2 + eps) (dhat_n - mean_p dhat_p - ztilde_n mean_p(dhat_p ztilde_p))``:
    CS231n's ``batchnorm_backward_alt``, one gamma for the unit, outside."""
    mean = lambda e: sp.Sum(e, (p, 1, width)) / width  # noqa: E731
    inside = sp.Add(dhat(n), -mean(dhat(p)), -zt(n) * mean(dhat(p) * zt(p)), evaluate=False)
    return sp.Mul(gamma(n) / sp.sqrt(var + eps), inside, evaluate=False)


NORMS: dict[str, Norm] = {
    "layer": Norm(
        name="layer",
        over="units",
        title="layer normalisation",
        short="layer norm",
        mean=_mean,
        variance=_variance,
        normalised=_normalised,
        jacobian=_layer_jacobian,
        backward=_layer_backward,
        couples="the mean and variance are taken over the layer's units, so every unit's "
        "normalised value depends on every unit's pre-activation",
    ),
    # The same rule over the batch: one mean and variance per unit, over the N examples (training
    # mode, the biased variance, as PyTorch's BatchNorm1d). Its Jacobian couples the examples.
    "batch": Norm(
        name="batch",
        over="examples",
        title="batch normalisation",
        short="batch norm",
        mean=_mean,
        variance=_variance,
        normalised=_normalised,
        jacobian=_layer_jacobian,
        backward=_batch_backward,
        couples="the mean and variance of each unit are taken over the batch's examples, so every "
        "example's normalised value depends on this example's pre-activation (the error is of the "
        "batch's mean loss, times N: for one example alone it is the usual one)",
    ),
}


def get(name: str) -> Norm:
    return lookup(NORMS, "norm", "norms", name)
