"""An Elman recurrent layer: its equations and backpropagation through time, in SymPy.

A model whose first layer has ``kind = "recurrent"`` reads a sequence ``x_1 .. x_T``:

    z_{tk} = sum_j w_{kj} h_{t-1,j} + sum_m u_{km} x_{tm} + b_k,   h_{tk} = act(z_{tk}),   h_0 = 0,

then a dense head (``derive.chain``'s engine, unchanged, with the state as its input) reads
``h_T`` (``outputs = "last"``, many-to-one) or every ``h_t`` (``outputs = "all"``: the head is
applied at each step and the loss is the sum of the steps' losses).

What it promises: ``derive_recurrent(spec)`` returns a ``chain.Derivation`` of the head whose
``recurrence`` holds the recurrent layer's part as data, not unrolled: the error the head sends
back (``e_{tk} = dL/dh_{tk}`` through the head), the recurrence ``g_{tk} = e_{tk} +
sum_i delta_{t+1,i} w_{ik}`` with ``delta_{T+1} = 0``, ``delta_{tk} = g_{tk} act'(z_{tk})`` (the
activation registry's textbook form, through the output), and each parameter's gradient as a sum
over the steps it is shared by, ``dL/dw_{kj} = sum_{t=1}^{T} delta_{tk} h_{t-1,j}``. Every factor
is SymPy's ``diff`` of the defining equation (Kronecker deltas summed out by ``chain.collapse``)
beside its textbook form, as the engine does for dense layers; nothing is a string literal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp

from . import chain, forward
from .chain import Chain, Derivation, Factor, GradientStep, Partial, local_derivative
from .forward import Equation
from .naming import ModelNames, RecurrentNames, recurrent_names, scalar
from .naming import names as model_names
from .spec import ModelSpec

LOSS = scalar("L")


@dataclass(frozen=True)
class BackStep:
    """One error of backpropagation through time: ``lhs = dL/d(of) = value``, by ``chain``."""

    name: str  # "e" (through the head), "g" (dL/dh_t) or "delta" (dL/dz_t)
    lhs: sp.Expr  # e.g. g[t, k]
    of: sp.Expr  # the element it is the error of: h[t, k] or z[t, k]
    chains: tuple[Chain, ...]  # every path the error arrives by
    factors: tuple[Factor, ...]  # the local derivatives, SymPy's beside the textbook form
    value: sp.Expr  # what the error is, in earlier-defined errors
    note: str = ""  # a path that is there at some steps only


@dataclass(frozen=True)
class SharedGradient:
    """``dL/dtheta = sum_{t=1}^{T} delta_{tk} dz_{tk}/dtheta``: a parameter used at every step."""

    parameter: sp.IndexedBase
    element: sp.Expr
    chain: Chain  # sum over t of dL/dz_{tk} dz_{tk}/dtheta
    factor: Factor  # dz_{tk}/dtheta
    result: sp.Expr  # the sum over t


@dataclass(frozen=True)
class Recurrence:
    """The recurrent layer's part of a derivation (``Derivation.recurrence``)."""

    names: RecurrentNames
    setup: tuple[Equation, ...]  # z_{tk}, h_{tk}
    boundary: tuple[Equation, ...]  # h_{0k} = 0, delta_{T+1,k} = 0
    total: Equation | None  # L = sum_t L_t (outputs = "all")
    errors: tuple[BackStep, ...]  # e, g, delta
    gradients: tuple[SharedGradient, ...]  # W, U, b
    # outputs = "all": each head gradient is summed over the steps (its per-step form, its sum).
    head_sums: tuple[tuple[GradientStep, sp.Expr], ...] = ()

    def error(self, name: str) -> BackStep:
        return next(step for step in self.errors if step.name == name)


def pre_activation(r: RecurrentNames, t: sp.Expr, k: sp.Expr, dummy: bool = False) -> sp.Expr:
    """``sum_j w_{kj} h_{t-1,j} + sum_m u_{km} x_{tm} + b_k`` (dummy summation letters on request)."""
    j = sp.Dummy(r.j.name, integer=True, positive=True) if dummy else r.j
    m = sp.Dummy(r.m.name, integer=True, positive=True) if dummy else r.m
    total = (sp.Sum(r.w[k, j] * r.h[t - 1, j], (j, 1, r.width))
             + sp.Sum(r.u[k, m] * r.x[t, m], (m, 1, r.inputs)))
    return total + r.b[k] if r.bias else total


def activation(r: RecurrentNames) -> tuple[sp.Expr, sp.Expr]:
    """(named form ``tanh(z_{tk})``, explicit form) of the state, from the activation registry."""
    z = r.z[r.t, r.k]
    explicit = r.entry.unit(z)
    if isinstance(explicit, sp.Function) and type(explicit).__name__ == r.entry.name:
        return explicit, explicit
    return r.entry.function()(z), explicit


def equations(r: RecurrentNames) -> tuple[Equation, ...]:
    named, explicit = activation(r)
    return (Equation(r.z[r.t, r.k], pre_activation(r, r.t, r.k)),
            Equation(r.h[r.t, r.k], named, None if named == explicit else explicit))


def _head_error(r: RecurrentNames, derivation: Derivation) -> BackStep:
    """``e_{tk} = dL/dh_{tk}`` through the dense head's first layer: ``sum_i delta_i w_{ik}``."""
    first = derivation.names.layers[0]
    state = r.state[r.k]
    z_next = first.el(first.z)
    raw = local_derivative(forward.pre_activation(first, dummy=True), state)
    link = Factor(z_next, state, raw, raw)
    bounds = (first.index, 1, first.width) if first.index is not None else None
    back = first.el(first.delta) * raw
    value = sp.Sum(back, bounds) if bounds else back
    chain_ = Chain((Partial(derivation.names.L, z_next), link.partial), bounds)
    return BackStep("e", r.e[r.head_step, r.k], state, (chain_,), (link,), value)


def _state_error(r: RecurrentNames, head: BackStep) -> BackStep:
    """``g_{tk} = dL/dh_{tk}``: the head's error at this step plus the next step's, through W."""
    t, k, i = r.t, r.k, r.i
    h_tk, z_next = r.h[t, k], r.z[t + 1, i]
    raw = local_derivative(pre_activation(r, t + 1, i, dummy=True), h_tk)
    link = Factor(z_next, h_tk, raw, raw)
    back = sp.Sum(r.delta[t + 1, i] * raw, (i, 1, r.width))
    through_next = Chain((Partial(LOSS, z_next), link.partial), (i, 1, r.width))
    through_head = head.chains[0]  # the dense layers' path: at every step, or at T only
    note = ""
    if r.outputs == "all":
        own = r.e[t, k]
    else:  # the loss reads the last state only
        own = sp.Piecewise((r.e[r.head_step, k], sp.Eq(t, r.steps)), (0, True))
        note = "the first path (through the dense layers) is there at the last step only"
    return BackStep("g", r.g[t, k], h_tk, (through_head, through_next), (*head.factors, link), own + back,
                    note)


def _activation_error(r: RecurrentNames) -> BackStep:
    """``delta_{tk} = g_{tk} act'(z_{tk})``, the registry's form through the output ``h_{tk}``."""
    z, h = r.z[r.t, r.k], r.h[r.t, r.k]
    factor = Factor(h, z, sp.diff(r.entry.unit(z), z), r.entry.unit_derivative(z, h))
    chain_ = Chain((Partial(LOSS, h), factor.partial))
    return BackStep("delta", r.delta[r.t, r.k], z, (chain_,), (factor,), r.g[r.t, r.k] * factor.textbook)


def _gradients(r: RecurrentNames) -> tuple[SharedGradient, ...]:
    t, k = r.t, r.k
    elements = {r.w: r.w[k, r.j], r.u: r.u[k, r.m], r.b: r.b[k]}
    definition = pre_activation(r, t, k, dummy=True)
    z = r.z[t, k]
    bounds = (t, 1, r.steps)
    out = []
    for parameter in r.params:
        elem = elements[parameter]
        raw = local_derivative(definition, elem)
        factor = Factor(z, elem, raw, raw)
        chain_ = Chain((Partial(LOSS, z), factor.partial), bounds)
        out.append(SharedGradient(parameter, elem, chain_, factor, sp.Sum(r.delta[t, k] * raw, bounds)))
    return tuple(out)


def head_spec(spec: ModelSpec) -> ModelSpec:
    """The dense layers after the recurrent one, as a model whose inputs are the state's units."""
    layer = spec.layers[0]
    return replace(spec, inputs=layer.units, layers=spec.layers[1:], aliases=())


def head_names(spec: ModelSpec, r: RecurrentNames) -> ModelNames:
    """The dense head's symbols: numbered from 2, reading the state at one step."""
    return model_names(head_spec(spec), offset=1, inputs=r.state)


def derive_recurrent(spec: ModelSpec) -> Derivation:
    """The derivation of a model whose first layer is recurrent (see the module docstring)."""
    r = recurrent_names(spec)
    head = chain.derive_names(spec, head_names(spec, r))
    e = _head_error(r, head)
    errors = (e, _state_error(r, e), _activation_error(r))
    boundary = (Equation(r.h[0, r.k], sp.Integer(0)), Equation(r.delta[r.steps + 1, r.k], sp.Integer(0)))
    total = None
    head_sums: tuple[tuple[GradientStep, sp.Expr], ...] = ()
    if r.outputs == "all":
        total = Equation(head.names.L, sp.Sum(r.losses[r.t], (r.t, 1, r.steps)))
        head_sums = tuple((g, sp.Sum(g.result, (r.t, 1, r.steps))) for g in head.gradients)
    recurrence = Recurrence(r, equations(r), boundary, total, errors, _gradients(r), head_sums)
    return replace(head, recurrence=recurrence)
