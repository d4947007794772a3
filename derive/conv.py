"""Convolution layers: names, set-up equations and the backward pass in index notation (SymPy).

What it promises: for a spec with conv layers (``derive.conv_spec``), ``derive_conv(spec)`` returns
a ``ConvDerivation`` holding

- the set-up: each conv layer's ``z_{kt} = sum_c sum_r w_{kcr} a_{c,t+r-1} + b_k`` (2-D: positions
  ``(u, v)``, kernel offsets ``(p, q)``) and ``a_{kt} = sigma(z_{kt})``; the dense layer after
  ``flatten`` reads the conv output with its channel and position indices,
  ``z_i = sum_k sum_t w_{i,k,t} a_{kt} + b_i`` (``w_{i,k,t}`` is the entry ``(i, (k, t))`` of the
  weight matrix, the flattened index in C order: PyTorch's ``nn.Linear`` after ``flatten``);
- the error of each conv layer's output ``g = dL/da`` (from the dense layer: ``sum_i delta_i
  w_{i,k,t}``; from a conv layer above: the full correlation with the flipped kernel,
  ``sum_m sum_r delta_{m,s-r+1} w_{mkr}`` over ``max(1, s - T' + 1) <= r <= min(R, s)``), then
  ``delta = g sigma'(z)`` from the activation registry;
- each conv parameter's gradient as a sum over positions (``sum_t delta_{kt} a_{c,t+r-1}``).

Every factor is SymPy's ``diff`` of its defining equation, Kronecker deltas summed out
(``chain.collapse``), beside the textbook form. Where a sum over positions meets a shifted index
(``KD(t + r - 1, s)``), two local rules of this module take over: ``_sum_out`` sums the delta out
and keeps the condition that its solution is a position that exists (what SymPy's
``deltasummation`` states as a Piecewise, solved directly for an index linear with coefficient
+-1, without SymPy's general solver), and ``ranged`` turns the conditions into the bounds of the
kernel-offset sum (``max(1, s - T' + 1) <= r <= min(R, s)``).
The dense head (the layers after flatten) is derived by the dense engine
(``derive.chain``) on a dense spec whose input is the flattened conv output.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import activations
from .chain import Derivation, Factor, Partial, local_derivative, undummy
from .forward import Equation
from .naming import LayerNames, ModelNames, array, element, index, size
from .naming import names as dense_names
from .spec import Layer, ModelSpec

# Index letters (see the module docstring). Channels: the inputs' c, then one per conv layer.
INPUT_CHANNEL = "c"
CHANNEL_LETTERS = ("k", "m", "e", "o")
POSITIONS = {1: ("t",), 2: ("u", "v")}  # a conv layer's output position
OFFSETS = {1: ("r",), 2: ("p", "q")}  # kernel offsets
LOWER = {1: ("s",), 2: ("h", "s")}  # positions of the layer below, in an input error


@dataclass(frozen=True)
class ConvLayer:
    """Every symbol of one conv layer ``number`` (1-based; conv layers come first)."""

    number: int
    activation: str
    parameters: tuple[tuple[str, float], ...]
    bias: bool
    channels: sp.Expr
    in_channels: sp.Expr
    channel: sp.Symbol
    in_channel: sp.Symbol
    kernel: tuple[sp.Expr, ...]
    offsets: tuple[sp.Symbol, ...]
    in_sizes: tuple[sp.Expr, ...]
    out_sizes: tuple[sp.Expr, ...]
    positions: tuple[sp.Symbol, ...]
    z: sp.IndexedBase
    a: sp.IndexedBase
    w: sp.IndexedBase
    b: sp.IndexedBase
    delta: sp.IndexedBase
    g: sp.IndexedBase
    prev: sp.IndexedBase  # x, or the previous conv layer's a

    @property
    def entry(self) -> activations.Activation:
        return activations.get(self.activation).bind(self.parameters)

    @property
    def params(self) -> tuple[sp.IndexedBase, ...]:
        return (self.w, self.b) if self.bias else (self.w,)

    def el(
        self, q: sp.IndexedBase, channel: sp.Expr | None = None, positions: tuple[sp.Expr, ...] | None = None
    ) -> sp.Expr:
        """``q[channel, positions]`` (default: the layer's own letters)."""
        return q[(channel if channel is not None else self.channel, *(positions or self.positions))]

    def weight(self) -> sp.Expr:
        return self.w[(self.channel, self.in_channel, *self.offsets)]

    def ranges(self, letters: tuple[sp.Symbol, ...] | None = None) -> tuple[tuple, ...]:
        """(channel, 1, K), (t, 1, T'): the ranges of an output element's indices."""
        letters = letters or self.positions
        return (
            (self.channel, 1, self.channels),
            *((p, 1, n) for p, n in zip(letters, self.out_sizes, strict=True)),
        )


@dataclass(frozen=True)
class ConvStep:
    """One step: ``name = dL/d(of) = chain = product = result``, with its index ranges."""

    kind: str  # "error" (g or delta of a conv layer) or "gradient"
    layer: int
    name: sp.Expr  # g1[k, t], delta1[k, t], or the parameter element W1[k, c, r]
    of: sp.Expr  # what L is differentiated by (in the step's letters)
    chain: sp.Expr  # the chain rule, unevaluated: Sum(dL/dz * dz/da, ...)
    factors: tuple[Factor, ...]
    product: sp.Expr  # textbook factors multiplied and summed, before summing out deltas
    result: sp.Expr  # in ``of``'s letters, index ranges as summation bounds
    value: sp.Expr  # the same in the layer's own letters: what ``name`` stands for
    ranges: tuple[tuple[sp.Symbol, sp.Expr, sp.Expr], ...]  # free indices of ``name``
    parameter: sp.IndexedBase | None = None

    @property
    def partial(self) -> Partial:
        return Partial(sp.Symbol("L", real=True), self.of)


@dataclass(frozen=True)
class ConvDerivation:
    """Everything the renderers need for a convolution model; built by ``derive_conv``."""

    spec: ModelSpec
    layers: tuple[ConvLayer, ...]
    head: Derivation  # the dense layers after flatten, by the dense engine
    flatten: Equation  # the first dense layer's z, reading the conv output a_{kt}
    setup: tuple[Equation, ...]
    errors: tuple[ConvStep, ...]  # conv layers' g and delta, from the top conv layer down
    gradients: tuple[ConvStep, ...]  # the first dense layer's weight, then each conv layer's

    @property
    def first(self) -> LayerNames:
        """The first dense layer (after flatten)."""
        return self.head.names.layers[0]

    @property
    def dimensions(self) -> int:
        return len(self.layers[0].positions)


# --- names --------------------------------------------------------------------------------------


def conv_layers(spec: ModelSpec) -> tuple[ConvLayer, ...]:
    shape = [size(s) for s in spec.input_shape]
    dims = len(shape) - 1
    channels, sizes = shape[0], tuple(shape[1:])
    prev, in_channel = array("x"), index(INPUT_CHANNEL)
    out: list[ConvLayer] = []
    for number, lay in enumerate((lay for lay in spec.layers if lay.kind == "conv"), start=1):
        kernel = tuple(size(r) for r in lay.kernel)
        out_sizes = tuple(n - r + 1 for n, r in zip(sizes, kernel, strict=True))
        suffix = str(number)
        layer = ConvLayer(
            number,
            lay.activation,
            lay.parameters,
            lay.bias,
            size(lay.units),
            channels,
            index(CHANNEL_LETTERS[(number - 1) % len(CHANNEL_LETTERS)]),
            in_channel,
            kernel,
            tuple(index(o) for o in OFFSETS[dims]),
            sizes,
            out_sizes,
            tuple(index(p) for p in POSITIONS[dims]),
            array("z" + suffix),
            array("a" + suffix),
            array("W" + suffix),
            array("b" + suffix),
            array("delta" + suffix),
            array("g" + suffix),
            prev,
        )
        out.append(layer)
        prev, in_channel, channels, sizes = layer.a, layer.channel, layer.channels, out_sizes
    return tuple(out)


def flat_width(layer: ConvLayer) -> sp.Expr:
    """The length of the flattened output: channels times positions."""
    return sp.Mul(layer.channels, *layer.out_sizes)


def head_spec(spec: ModelSpec, last: ConvLayer) -> ModelSpec:
    """The dense layers after flatten as a dense model over the flattened conv output."""
    width = flat_width(last)
    inputs: int | str = int(width) if width.is_Integer else "F"
    dense: tuple[Layer, ...] = tuple(lay for lay in spec.layers if lay.kind == "dense")
    return ModelSpec(spec.name, inputs, dense, spec.loss, spec.title)


def head_names(spec: ModelSpec, last: ConvLayer) -> ModelNames:
    """The dense head's symbols: numbered after the conv layers, reading ``a`` of the last."""
    return dense_names(head_spec(spec, last), offset=last.number, inputs=array(last.a.name))


# --- definitions ----------------------------------------------------------------------------------


def _dummy(letter: sp.Symbol) -> sp.Dummy:
    return sp.Dummy(letter.name, integer=True, positive=True)


def pre_activation(
    layer: ConvLayer,
    dummy: bool = False,
    channel: sp.Expr | None = None,
    positions: tuple[sp.Expr, ...] | None = None,
) -> sp.Expr:
    """``sum_c sum_r w_{kcr} a_{c,t+r-1} + b_k`` (summation letters Dummies when ``dummy``)."""
    k = channel if channel is not None else layer.channel
    at = positions or layer.positions
    c = _dummy(layer.in_channel) if dummy else layer.in_channel
    offs = tuple(_dummy(o) if dummy else o for o in layer.offsets)
    term = layer.w[(k, c, *offs)] * layer.prev[(c, *(t + o - 1 for t, o in zip(at, offs, strict=True)))]
    for o, r in reversed(tuple(zip(offs, layer.kernel, strict=True))):
        term = sp.Sum(term, (o, 1, r))
    term = sp.Sum(term, (c, 1, layer.in_channels))
    return term + layer.b[k] if layer.bias else term


def flatten_pre_activation(first: LayerNames, last: ConvLayer, dummy: bool = False) -> sp.Expr:
    """``sum_k sum_t w_{i,k,t} a_{kt} + b_i``: the first dense layer over the conv output."""
    k = _dummy(last.channel) if dummy else last.channel
    at = tuple(_dummy(p) if dummy else p for p in last.positions)
    term = element(first.w, first.index, k, *at) * last.a[(k, *at)]
    for p, n in reversed(tuple(zip(at, last.out_sizes, strict=True))):
        term = sp.Sum(term, (p, 1, n))
    term = sp.Sum(term, (k, 1, last.channels))
    return term + first.el(first.b) if first.bias else term


def activation(layer: ConvLayer) -> tuple[sp.Expr, sp.Expr]:
    """(``sigma(z_{kt})`` by name, written out)."""
    act = layer.entry
    z = layer.el(layer.z)
    explicit = act.unit(z)
    if isinstance(explicit, sp.Function) and type(explicit).__name__ == act.name:
        return explicit, explicit
    return act.function()(z), explicit


def setup(layers: tuple[ConvLayer, ...], flatten: Equation, head: Derivation) -> tuple[Equation, ...]:
    out: list[Equation] = []
    for layer in layers:
        out.append(Equation(layer.el(layer.z), pre_activation(layer)))
        named, explicit = activation(layer)
        out.append(Equation(layer.el(layer.a), named, None if named == explicit else explicit))
    out.append(flatten)
    out += [eq for eq in head.setup if eq.lhs != flatten.lhs]
    return tuple(out)


# --- the local rule: a Kronecker delta summed over a range -> the bounds of the other sum --------


def _sum_out(term: sp.Expr, var: sp.Symbol, hi: sp.Expr) -> tuple[sp.Expr, list[sp.Basic]]:
    """``sum_{var=1}^{hi} term`` for a product ``term`` with a Kronecker delta linear in ``var``
    (``KD(t + r - 1, s)``): the term at the delta's solution, and the conditions that the solution
    lies in ``1..hi`` (what SymPy's ``deltasummation`` states as a Piecewise; solved here directly,
    the index being linear with coefficient 1 or -1, which keeps SymPy's general solver away)."""
    factors = sp.Mul.make_args(term)
    delta = next(f for f in factors if isinstance(f, sp.KroneckerDelta) and f.has(var))
    difference = sp.expand(delta.args[0] - delta.args[1])
    coefficient = difference.coeff(var)
    if coefficient not in (1, -1) or (difference - coefficient * var).has(var):
        raise ValueError(f"no index range for the Kronecker delta {delta}")
    solution = sp.expand(-(difference - coefficient * var) / coefficient)
    rest = sp.Mul(*(f for f in factors if f is not delta)).xreplace({var: solution})
    return rest, [sp.Le(1, solution), sp.Le(solution, hi)]


def ranged(
    term: sp.Expr, limits: list[tuple[sp.Symbol, sp.Expr, sp.Expr]], conditions: list[sp.Basic]
) -> sp.Expr:
    """``sum`` of ``term`` over ``limits``, each narrowed by the linear ``conditions`` on its
    letter: ``r <= s`` and ``R - T <= r - s`` over ``1..R`` give ``max(1, R + s - T)..min(R, s)``."""
    bounds = {var: ([lo], [hi]) for var, lo, hi in limits}
    for cond in conditions:
        if cond == sp.true:
            continue
        expr = cond.lhs - cond.rhs  # a <= b  ->  a - b <= 0 (also for >=, flipped)
        if isinstance(cond, sp.GreaterThan | sp.StrictGreaterThan):
            expr = -expr
        var = next((v for v in bounds if expr.has(v)), None)
        if var is None or not isinstance(cond, sp.LessThan | sp.GreaterThan | sp.Equality):
            raise ValueError(f"no index range for the condition {cond}")
        coefficient = expr.coeff(var)
        rest = sp.expand(expr - coefficient * var)
        bound = sp.expand(-rest / coefficient)
        if isinstance(cond, sp.Equality):  # a range of one position (an output of length 1)
            bounds[var][0].append(bound)
            bounds[var][1].append(bound)
        else:
            (bounds[var][1] if coefficient > 0 else bounds[var][0]).append(bound)
    out = term
    for var, _, _ in reversed(limits):
        lows, highs = bounds[var]
        out = sp.Sum(out, (var, sp.Max(*lows), sp.Min(*highs)))
    return out


# --- the steps ------------------------------------------------------------------------------------


def _activation_factor(layer: ConvLayer) -> Factor:
    z, a = layer.el(layer.z), layer.el(layer.a)
    act = layer.entry
    return Factor(a, z, sp.diff(act.unit(z), z), act.unit_derivative(z, a))


def _unevaluated(*factors: sp.Expr, limits: tuple = ()) -> sp.Expr:
    product = sp.Mul(*factors, evaluate=False)
    return sp.Sum(product, *limits) if limits else product


def _from_dense(last: ConvLayer, first: LayerNames, head: Derivation) -> ConvStep:
    """``g_{kt} = dL/da_{kt} = sum_i delta_i w_{i,k,t}``: the conv output's error from the dense
    layer after flatten."""
    a = last.el(last.a)
    z_i = first.el(first.z)
    raw = local_derivative(flatten_pre_activation(first, last, dummy=True), a)
    link = Factor(z_i, a, raw, raw)
    delta = head.error(first.number).delta
    limits = ((first.index, 1, first.width),) if first.index is not None else ()
    chain = _unevaluated(Partial(sp.Symbol("L", real=True), z_i), link.partial, limits=limits)
    product = sp.Sum(delta * raw, *limits) if limits else delta * raw
    return ConvStep(
        "error", last.number, last.el(last.g), a, chain, (link,), product, product, product, last.ranges()
    )


def _from_conv(lower: ConvLayer, up: ConvLayer) -> ConvStep:
    """``dL/da_{ks} = sum_m sum_r delta_{m,s-r+1} w_{mkr}``: the full correlation of the upper
    layer's error with its flipped kernel, offsets limited to the positions that exist."""
    dims = len(up.positions)
    lower_at = tuple(index(p) for p in LOWER[dims])
    k = lower.channel
    a_of = lower.el(lower.a, k, lower_at)
    z_up = up.el(up.z)
    definition = pre_activation(up, dummy=True)
    # SymPy's derivative: sum over the dummy channel and offsets of w KD(c, k) KD(t + r - 1, s).
    derivative = sp.diff(definition, a_of)
    # The channel's Kronecker delta summed out; then the offsets': SymPy's derivative, written
    # without (raw) and with (textbook: w is zero outside its offsets) the range of each offset.
    inner, offs = _offsets_sum(derivative, up)
    value, conds = inner, []
    for o, r in zip(offs, up.kernel, strict=True):
        value, more = _sum_out(value, o, r)
        conds += more
    raw = value
    conds = [c for c in conds if c != sp.true]
    textbook = sp.Piecewise((undummy(value), sp.And(*conds)), (0, True)) if conds else undummy(value)
    cases = tuple((v, c) for v, c in textbook.args) if isinstance(textbook, sp.Piecewise) else ()
    factor = Factor(z_up, a_of, undummy(raw), textbook, cases)
    m = up.channel
    limits = (*((t, 1, n) for t, n in zip(up.positions, up.out_sizes, strict=True)), (m, 1, up.channels))
    L = sp.Symbol("L", real=True)
    chain = _unevaluated(Partial(L, z_up), factor.partial, limits=limits)
    product = sp.Sum(up.el(up.delta) * textbook, *limits)
    # Sum the upper positions out of each Kronecker delta, keeping SymPy's range conditions.
    term = up.el(up.delta) * inner
    conds = []
    for t, n in zip(up.positions, up.out_sizes, strict=True):
        term, more = _sum_out(term, t, n)
        conds += more
    renamed = {o: index(o.name) for o in offs}
    term = term.xreplace(renamed)
    conds = [c.xreplace(renamed) for c in conds]
    result = sp.Sum(
        ranged(term, [(index(o.name), 1, r) for o, r in zip(offs, up.kernel, strict=True)], conds),
        (m, 1, up.channels),
    )
    value_own = result.xreplace(dict(zip(lower_at, lower.positions, strict=True)))
    return ConvStep(
        "error",
        lower.number,
        lower.el(lower.g),
        a_of,
        chain,
        (factor,),
        product,
        result,
        value_own,
        lower.ranges(),
    )


def _offsets_sum(derivative: sp.Expr, up: ConvLayer) -> tuple[sp.Expr, tuple[sp.Symbol, ...]]:
    """SymPy's derivative ``sum_c sum_r w_{mcr} KD(c, k) KD(t + r - 1, s)`` with the channel's
    Kronecker delta summed out and the offset sums opened: (summand, its offset letters)."""
    inner = derivative
    limits: list = []
    while isinstance(inner, sp.Sum):  # SymPy may merge the nested sums into one
        limits += list(inner.limits)
        inner = inner.function
    ((c, lo, hi),) = [lim for lim in limits if lim[0].name == up.in_channel.name]
    limits = [lim for lim in limits if lim[0].name != up.in_channel.name]
    summand, _ = _sum_out(inner, c, hi)  # the channel k is in range: no condition
    order = {o.name: o for o in up.offsets}
    return summand, tuple(sorted((v for v, _, _ in limits), key=lambda v: list(order).index(v.name)))


def _delta(layer: ConvLayer) -> ConvStep:
    """``delta_{kt} = g_{kt} sigma'(z_{kt})``."""
    factor = _activation_factor(layer)
    L = sp.Symbol("L", real=True)
    chain = _unevaluated(Partial(L, layer.el(layer.a)), factor.partial)
    product = layer.el(layer.g) * factor.textbook
    return ConvStep(
        "error",
        layer.number,
        layer.el(layer.delta),
        layer.el(layer.z),
        chain,
        (factor,),
        product,
        product,
        product,
        layer.ranges(),
    )


def _gradient(layer: ConvLayer, parameter: sp.IndexedBase) -> ConvStep:
    """``dL/dw_{kcr} = sum_t delta_{kt} a_{c,t+r-1}`` (bias: ``sum_t delta_{kt}``): the error at
    every position the parameter is used, times SymPy's derivative there."""
    elem = layer.weight() if parameter is layer.w else layer.b[layer.channel]
    raw = local_derivative(pre_activation(layer, dummy=True), elem)
    z = layer.el(layer.z)
    factor = Factor(z, elem, raw, raw)
    limits = tuple((t, 1, n) for t, n in zip(layer.positions, layer.out_sizes, strict=True))
    L = sp.Symbol("L", real=True)
    chain = _unevaluated(Partial(L, z), factor.partial, limits=limits)
    result = sp.Sum(layer.el(layer.delta) * raw, *limits)
    ranges = [(layer.channel, 1, layer.channels)]
    if parameter is layer.w:
        ranges += [
            (layer.in_channel, 1, layer.in_channels),
            *((o, 1, r) for o, r in zip(layer.offsets, layer.kernel, strict=True)),
        ]
    return ConvStep(
        "gradient",
        layer.number,
        elem,
        elem,
        chain,
        (factor,),
        result,
        result,
        result,
        tuple(ranges),
        parameter,
    )


def _dense_weight(first: LayerNames, last: ConvLayer, head: Derivation) -> ConvStep:
    """``dL/dw_{i,k,t} = delta_i a_{kt}``: the first dense layer's weight, read per channel and position."""
    elem = element(first.w, first.index, last.channel, *last.positions)
    raw = local_derivative(flatten_pre_activation(first, last, dummy=True), elem)
    z = first.el(first.z)
    factor = Factor(z, elem, raw, raw)
    L = sp.Symbol("L", real=True)
    chain = _unevaluated(Partial(L, z), factor.partial)
    delta = head.error(first.number)
    result = delta.delta * raw
    ranges = (((first.index, 1, first.width),) if first.index is not None else ()) + last.ranges()
    return ConvStep(
        "gradient",
        first.number,
        elem,
        elem,
        chain,
        (factor,),
        result,
        result,
        delta.value * raw if delta.output else result,
        ranges,
        first.w,
    )


def derive_conv(spec: ModelSpec) -> ConvDerivation:
    layers = conv_layers(spec)
    last = layers[-1]
    head = derive_spec_head(spec, last)
    first = head.names.layers[0]
    flatten = Equation(first.el(first.z), flatten_pre_activation(first, last))
    errors: list[ConvStep] = [_from_dense(last, first, head)]
    errors.append(_delta(last))
    for lower, up in zip(reversed(layers[:-1]), reversed(layers[1:]), strict=True):
        errors.append(_from_conv(lower, up))
        errors.append(_delta(lower))
    gradients = [_dense_weight(first, last, head)]
    gradients += [_gradient(layer, q) for layer in reversed(layers) for q in layer.params]
    return ConvDerivation(
        spec, layers, head, flatten, setup(layers, flatten, head), tuple(errors), tuple(gradients)
    )


def derive_spec_head(spec: ModelSpec, last: ConvLayer) -> Derivation:
    """The dense head's derivation: numbered after the conv layers, reading ``a`` of the last."""
    from . import chain

    return chain.derive_spec(head_spec(spec, last), head_names(spec, last))


__all__ = ["ConvDerivation", "ConvLayer", "ConvStep", "derive_conv"]
