"""The one naming module: every quantity's SymPy symbol, LaTeX form, terminal form and Python name.

A SymPy symbol's *name* is the quantity's Python/JSON name (``W1``, ``a2``, ``delta1``, ``x``);
``latex_name`` and ``unicode_name`` derive the typeset forms from it, so the answer sheet, the
terminal and the generated code can never disagree. Layer numbers appear (as ``(l)``
superscripts and as name suffixes) only when a model has more than one layer; a layer of width 1
has scalar quantities and no unit index, exactly as a course writes logistic regression.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from functools import cache

import sympy as sp

from . import activations
from .spec import ModelSpec

# Index letters: inputs first, then one per layer. Course notation: x_j, then k (hidden), then i.
INDEX_LETTERS = ("j", "k", "i", "l", "p", "q", "r", "s", "t", "u", "v", "m")
SOFTMAX_DUMMY = "c"  # the summation letter of a softmax denominator, sum_c e^{z_c}
JACOBIAN_LETTERS = ("j", "k", "i")  # the column letter of a non-elementwise Jacobian da_k/dz_j
BATCH = "n"

_QUANTITY = re.compile(
    r"^(?P<base>W|w|b|z|a|delta|x|y|L|g|dW|dw|db|mu|var|ztilde|zhat|gamma|beta|delta_hat|epsilon"
    r"|h|U|dU|e)(?P<layer>\d*)$"
)
_INDEXED_NAME = re.compile(r"^(?P<letter>[a-z])(?P<number>\d*)$")
_SIZE = re.compile(r"^(?P<stem>[A-Z][A-Za-z]*?)(?P<number>\d*)$")

# A normalised layer's quantities (``norm = "layer"``): statistics mu and sigma^2 of its
# pre-activation, the normalised z-tilde, the scaled and shifted z-hat = gamma z-tilde + beta, and
# the error delta-hat = dL/dz-hat. ``g`` is dL/da, the error of a layer's output (skips).
_LATEX_BASE = {"W": "w", "w": "w", "b": "b", "z": "z", "a": "a", "delta": r"\delta",
               "x": "x", "y": "y", "L": r"\mathcal{L}", "g": "g", "mu": r"\mu", "var": r"\sigma",
               "ztilde": r"\tilde{z}", "zhat": r"\hat{z}", "gamma": r"\gamma", "beta": r"\beta",
               "delta_hat": r"\hat{\delta}", "epsilon": r"\epsilon", "h": "h", "U": "u", "e": "e"}
_UNICODE_BASE = {"W": "w", "w": "w", "b": "b", "z": "z", "a": "a", "delta": "δ",
                 "x": "x", "y": "y", "L": "L", "g": "g", "mu": "μ", "var": "σ", "ztilde": "z\u0303",
                 "zhat": "z\u0302", "gamma": "γ", "beta": "β", "delta_hat": "δ\u0302",
                 "epsilon": "ε", "h": "h", "U": "u", "e": "e"}
_LATEX_MATRIX = {"W": "W", "w": r"\mathbf{w}", "b": r"\mathbf{b}", "z": "Z", "a": "A",
                 "delta": r"\boldsymbol{\delta}", "x": "X", "y": "Y", "L": r"\mathcal{L}", "g": "G",
                 "mu": r"\boldsymbol{\mu}", "var": r"\boldsymbol{\sigma}", "ztilde": r"\tilde{Z}",
                 "zhat": r"\hat{Z}", "gamma": r"\boldsymbol{\gamma}", "beta": r"\boldsymbol{\beta}",
                 "delta_hat": r"\hat{\boldsymbol{\delta}}", "h": "H", "U": "U", "e": "E"}
# Quantities written squared: ``var`` is the variance sigma^2.
_SQUARED = ("var",)

# Symbols named by a word: a symbolic weight-decay strength (spec.L2_SYMBOLS) and the weight-decay
# term Omega. name -> (LaTeX, Unicode).
_GREEK = {"alpha": "α", "beta": "β", "eta": "η", "gamma": "γ", "kappa": "κ", "lambda": "λ", "mu": "μ",
          "nu": "ν", "rho": "ρ", "tau": "τ", "theta": "θ", "xi": "ξ"}
_WORDS = {"Omega": (r"\Omega", "Ω"), **{name: ("\\" + name, char) for name, char in _GREEK.items()}}
DECAY = "Omega"  # the weight-decay term's name

SUPERSCRIPTS = str.maketrans("0123456789()+-=", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾⁺⁻⁼")
SUBSCRIPTS = dict(zip("0123456789aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ", strict=True))


@cache
def index(name: str) -> sp.Symbol:
    """An index symbol (a positive integer)."""
    return sp.Symbol(name, integer=True, positive=True)


@cache
def size(value: int | str) -> sp.Expr:
    """A layer width: an Integer, or a positive-integer symbol such as ``M``."""
    if isinstance(value, int):
        return sp.Integer(value)
    return sp.Symbol(value, integer=True, positive=True)


class Constant(sp.Symbol):
    """A named number (a norm's epsilon): typeset by its name (``\\epsilon``), written as its value
    in generated code. Two constants are equal only if name and value are."""

    value: float

    def __new__(cls, name: str, value: float) -> Constant:
        obj = sp.Symbol.__xnew__(cls, name, positive=True)  # uncached: the value is part of it
        obj.value = float(value)
        return obj

    def __getnewargs_ex__(self):
        return (self.name, self.value), {}

    def _hashable_content(self):
        return (*super()._hashable_content(), self.value)

    def _numpycode(self, printer) -> str:
        return repr(self.value)


class Statistic(sp.IndexedBase):
    """A per-unit statistic over a batch (batch norm's mean and variance): one value per unit
    for the whole batch, so it has no example axis once vectorised."""


class BatchNumber(sp.Symbol):
    """A statistic over a batch of a one-unit layer: one number for the whole batch."""


class StepIndex(sp.Symbol):
    """The time step at which a recurrent model's dense head reads the state (``h_{tk}``, or
    ``h_{Tk}`` many-to-one): the head is applied at each step, so once vectorised the step is
    folded into the batch axis (the head's rows are the (example, step) pairs)."""


class StepState(sp.IndexedBase):
    """A recurrent layer's state at one step, as a dense head reads it: ``state[k]`` is
    ``h[step, k]``. Expressions hold the plain two-index elements of ``h``, never this."""

    step: sp.Expr

    def __new__(cls, name: str, step: sp.Expr) -> StepState:
        obj = super().__new__(cls, name, real=True)
        obj.step = step
        return obj

    def _hashable_content(self):
        return (*super()._hashable_content(), self.step)

    def __getitem__(self, indices, **kw_args):
        indices = indices if isinstance(indices, tuple) else (indices,)
        return array(self.name)[(self.step, *indices)]


class ExampleIndex(sp.Symbol):
    """The index of an example in the batch (``z_{nk}``): written only where examples are coupled
    (batch norm); vectorised, it is the batch axis."""


#: The example an error step is about (n) and the batch size (N).
EXAMPLE = ExampleIndex("n", integer=True, positive=True)
BATCH_SIZE = sp.Symbol("N", integer=True, positive=True)
#: Letters for another example of the batch, summed over (the first not naming a unit index).
OTHER_EXAMPLE_LETTERS = ("p", "q", "r", "s", "t", "u", "v")


@cache
def scalar(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


@cache
def array(name: str) -> sp.IndexedBase:
    return sp.IndexedBase(name, real=True)


def quantity(name: str, indexed: bool) -> sp.Symbol | sp.IndexedBase:
    return array(name) if indexed else scalar(name)


def element(q: sp.Symbol | sp.IndexedBase, *indices: sp.Expr) -> sp.Expr:
    """``q[indices]`` for an indexed quantity; the scalar itself otherwise (dropping None)."""
    idx = tuple(i for i in indices if i is not None)
    if isinstance(q, sp.IndexedBase):
        return q[idx]
    return q


def reindex(q: sp.Expr, like: sp.Expr) -> sp.Expr:
    """Element ``q`` at the indices of element ``like`` (``z[j]`` like ``delta[k]`` is ``z[k]``)."""
    if isinstance(q, sp.Indexed) and isinstance(like, sp.Indexed):
        return q.base[like.indices]
    return q


# --- typeset forms, derived from the Python name -----------------------------------------------


def split_name(name: str) -> tuple[str, str] | None:
    """``'W1' -> ('W', '1')``; None for names that are not model quantities."""
    match = _QUANTITY.match(name)
    if not match:
        return None
    return match.group("base"), match.group("layer")


def is_coefficient(name: str) -> bool:
    """Whether ``name`` is a symbolic coefficient (a Greek letter, as ``l2 = "lambda"``)."""
    return name in _GREEK


def python_name(name: str) -> str:
    """A symbol's name in generated code: a Python keyword gets a trailing underscore (lambda_)."""
    return name + "_" if keyword.iskeyword(name) else name


def latex_name(name: str, matrix: bool = False) -> str:
    """LaTeX for a quantity, index or size name, without its indices: ``W1 -> w^{(1)}``."""
    if name in _WORDS:
        return _WORDS[name][0]
    parts = split_name(name)
    if parts:
        base, layer = parts
        head = (_LATEX_MATRIX if matrix else _LATEX_BASE).get(base, base)
        if base in _SQUARED:
            return rf"\left({head}^{{({layer})}}\right)^{{2}}" if layer else f"{head}^{{2}}"
        return head + (f"^{{({layer})}}" if layer else "")
    match = _SIZE.match(name)
    if match and match.group("number"):
        return f"{match.group('stem')}_{{{match.group('number')}}}"
    match = _INDEXED_NAME.match(name)
    if match and match.group("number"):
        return f"{match.group('letter')}_{{{match.group('number')}}}"
    return name


def unicode_sub(text: str) -> str:
    """Subscript ``text`` in Unicode when every character has a subscript form, else ``_text``."""
    if all(ch in SUBSCRIPTS for ch in text):
        return "".join(SUBSCRIPTS[ch] for ch in text)
    return "_" + (text if len(text) == 1 else "{" + text + "}")


def unicode_name(name: str) -> str:
    if name in _WORDS:
        return _WORDS[name][1]
    parts = split_name(name)
    if parts:
        base, layer = parts
        head = _UNICODE_BASE.get(base, base)
        text = head + (f"({layer})".translate(SUPERSCRIPTS) if layer else "")
        return text + "²" if base in _SQUARED else text
    match = _SIZE.match(name)
    if match and match.group("number"):
        return match.group("stem") + unicode_sub(match.group("number"))
    return name


def batch_name(name: str, indexed: bool) -> str:
    """A per-example quantity's name once stacked over a batch, in generated code: input vectors
    ``x`` stack into the matrix ``X`` (as ``latex_name(..., matrix=True)`` writes it); a one-input
    model's ``x`` (a number per example) and every other quantity keep their names.
    """
    return "X" if name == "x" and indexed else name


# --- the model's quantities ---------------------------------------------------------------------


@dataclass(frozen=True)
class LayerNames:
    """Every symbol of one dense layer ``number`` (1-based)."""

    number: int
    activation: str
    width: sp.Expr  # Integer or size symbol
    index: sp.Symbol | None  # None when the layer has one unit
    z: sp.Symbol | sp.IndexedBase
    a: sp.Symbol | sp.IndexedBase
    w: sp.Symbol | sp.IndexedBase
    b: sp.Symbol | sp.IndexedBase
    delta: sp.Symbol | sp.IndexedBase
    prev: sp.Symbol | sp.IndexedBase  # the input of this layer: x or the previous layer's a
    prev_index: sp.Symbol | None
    prev_width: sp.Expr
    parameters: tuple[tuple[str, float], ...] = ()  # the activation's, as the spec sets them
    bias: bool = True  # False: no b, z_k = sum_j w_kj a_j
    skip: int | None = None  # a residual connection adds a^(skip) (0: x) to the output
    skipped: sp.Symbol | sp.IndexedBase | None = None  # that quantity (a^(skip), or x)
    norm: str | None = None  # the normalisation of z before the activation ("layer")
    eps: sp.Expr = sp.Float(0)  # a Constant (epsilon) under a norm
    mu: sp.Symbol = sp.Symbol("mu", real=True)  # the norm's statistics (per example)
    var: sp.Symbol = sp.Symbol("var", real=True)
    ztilde: sp.Symbol | sp.IndexedBase = sp.Symbol("ztilde", real=True)  # (z - mu)/sqrt(var + eps)
    zhat: sp.Symbol | sp.IndexedBase = sp.Symbol("zhat", real=True)  # gamma ztilde + beta
    gamma: sp.Symbol | sp.IndexedBase = sp.Symbol("gamma", real=True)
    beta: sp.Symbol | sp.IndexedBase = sp.Symbol("beta", real=True)
    delta_hat: sp.Symbol | sp.IndexedBase = sp.Symbol("delta_hat", real=True)  # dL/dzhat
    g: sp.Symbol | sp.IndexedBase = sp.Symbol("g", real=True)  # dL/da

    @property
    def params(self) -> tuple[sp.Symbol | sp.IndexedBase, ...]:
        """The layer's parameters: its weight, its bias if it has one, then a norm's gamma and beta."""
        dense = (self.w, self.b) if self.bias else (self.w,)
        return dense + ((self.gamma, self.beta) if self.norm else ())

    @property
    def act_input(self) -> sp.Symbol | sp.IndexedBase:
        """What the activation reads: the normalised ``zhat`` under a norm, else ``z``."""
        return self.zhat if self.norm else self.z

    @property
    def act_error(self) -> sp.Symbol | sp.IndexedBase:
        """The error of the activation's input: ``delta_hat`` under a norm, else ``delta``."""
        return self.delta_hat if self.norm else self.delta

    @property
    def entry(self) -> activations.Activation:
        """The layer's activation, with the parameter values the spec gives it."""
        return activations.get(self.activation).bind(self.parameters)

    @property
    def unit_dims(self) -> tuple[sp.Expr, ...]:
        """Shape of a per-unit quantity (z, a, b, delta): ``(K,)``, or ``()`` for one unit."""
        return (self.width,) if self.index is not None else ()

    @property
    def weight_dims(self) -> tuple[sp.Expr, ...]:
        """Shape of the weight: ``(K, M)``, dropping the side that has one unit."""
        return self.unit_dims + ((self.prev_width,) if self.prev_index is not None else ())

    def el(self, q: sp.Symbol | sp.IndexedBase, idx: sp.Expr | None = None) -> sp.Expr:
        """Element of a per-unit quantity of this layer at ``idx`` (default: the layer's index)."""
        return element(q, idx if idx is not None else self.index)

    def weight(self, row: sp.Expr | None = None, col: sp.Expr | None = None) -> sp.Expr:
        return element(
            self.w,
            row if row is not None else self.index,
            col if col is not None else self.prev_index,
        )


@dataclass(frozen=True)
class ModelNames:
    spec: ModelSpec
    x: sp.Symbol | sp.IndexedBase
    y: sp.Symbol | sp.IndexedBase
    L: sp.Symbol
    input_index: sp.Symbol | None
    input_width: sp.Expr
    layers: tuple[LayerNames, ...]
    softmax_dummy: sp.Symbol
    l2: sp.Expr | None = None  # the weight-decay strength: a Float, or a symbol (lambda)
    decay: sp.Symbol = sp.Symbol(DECAY, real=True)  # the weight-decay term Omega

    @property
    def output(self) -> LayerNames:
        return self.layers[-1]

    def layer(self, number: int) -> LayerNames:
        """Layer ``number`` (1-based; a recurrent model's dense head starts at 2)."""
        return self.layers[number - self.layers[0].number]

    @property
    def widths(self) -> tuple[sp.Expr, ...]:
        """The input width, then each layer's (Integers or size symbols)."""
        return (self.input_width, *(layer.width for layer in self.layers))

    def size_symbols(self) -> list[sp.Symbol]:
        """The model's size symbols (``C``, ``K``, ``M``), sorted by name."""
        return sorted({w for w in self.widths if isinstance(w, sp.Symbol)}, key=str)

    def index_widths(self) -> dict[sp.Symbol, sp.Expr]:
        """Each unit index and the width it runs over (inputs' and every layer's)."""
        pairs = [(self.input_index, self.input_width), *((layer.index, layer.width) for layer in self.layers)]
        return {index_: width for index_, width in pairs if index_ is not None}

    def parameters(self) -> tuple[sp.Symbol | sp.IndexedBase, ...]:
        """Parameters in the course's order: output layer first, weights before biases."""
        return tuple(q for layer in reversed(self.layers) for q in layer.params)

    def other_example(self) -> ExampleIndex:
        """The letter of another example of the batch: one no unit index of the model uses."""
        taken = {i.name for i in self.index_widths()}
        letter = next(ch for ch in OTHER_EXAMPLE_LETTERS if ch not in taken)
        return ExampleIndex(letter, integer=True, positive=True)

    def jacobian_letter(self, layer: LayerNames) -> sp.Symbol:
        letter = next(ch for ch in JACOBIAN_LETTERS if index(ch) != layer.index)
        return index(letter)


def index_letter(position: int) -> str:
    """Letter of the index running over layer ``position`` (0 = inputs)."""
    if position < len(INDEX_LETTERS):
        return INDEX_LETTERS[position]
    return f"k{position}"


def names(spec: ModelSpec, offset: int = 0, inputs: sp.Symbol | sp.IndexedBase | None = None) -> ModelNames:
    """Symbols for every quantity of ``spec``.

    ``offset`` and ``inputs`` name the dense head of a recurrent or conv model (``derive.recurrent``,
    ``derive.conv``): its layers are numbered from ``offset + 1``, with index letters from the
    second position on (the head's first layer runs over ``i``), and it reads ``inputs`` (the
    recurrent state at one step, the conv layers' output) instead of ``x``.
    """
    multi = spec.depth > 1 or offset > 0
    widths = [size(s) for s in spec.sizes()]
    # One epsilon for the model when its norms agree on it, else one per layer (epsilon2).
    distinct = len({layer.eps for layer in spec.layers if layer.norm}) > 1
    shift = 1 if offset else 0
    idx = [None if w == 1 else index(index_letter(p + shift)) for p, w in enumerate(widths)]
    x = inputs if inputs is not None else quantity("x", idx[0] is not None)
    prev, prev_index = x, idx[0]
    layers: list[LayerNames] = []
    for number, layer in enumerate(spec.layers, start=1 + offset):
        suffix = str(number) if multi else ""
        vector = idx[number - offset] is not None
        w_name = ("W" if vector and prev_index is not None else "w") + suffix
        epsilon = "epsilon" + (suffix if distinct else "")
        names_ = LayerNames(
            number=number,
            activation=layer.activation,
            width=widths[number - offset],
            index=idx[number - offset],
            z=quantity("z" + suffix, vector),
            a=quantity("a" + suffix, vector),
            w=quantity(w_name, vector or prev_index is not None),
            b=quantity("b" + suffix, vector),
            delta=quantity("delta" + suffix, vector),
            prev=prev,
            prev_index=prev_index,
            prev_width=widths[number - 1 - offset],
            parameters=layer.parameters,
            bias=layer.bias,
            skip=layer.skip,
            skipped=None if layer.skip is None else x if layer.skip == 0 else layers[layer.skip - 1].a,
            norm=layer.norm,
            eps=Constant(epsilon, layer.eps),
            mu=statistic("mu" + suffix, layer.norm, vector),
            var=statistic("var" + suffix, layer.norm, vector),
            ztilde=quantity("ztilde" + suffix, vector),
            zhat=quantity("zhat" + suffix, vector),
            gamma=quantity("gamma" + suffix, vector),
            beta=quantity("beta" + suffix, vector),
            delta_hat=quantity("delta_hat" + suffix, vector),
            g=quantity("g" + suffix, vector),
        )
        layers.append(names_)
        prev, prev_index = names_.a, names_.index
    y = quantity("y", idx[-1] is not None)
    return ModelNames(
        spec, x, y, scalar("L"), idx[0], widths[0], tuple(layers), index(SOFTMAX_DUMMY), _l2(spec.l2)
    )


def statistic(name: str, norm: str | None, vector: bool) -> sp.Symbol | sp.IndexedBase:
    """A norm's statistic: one number per example (over the units: layer norm), or one per unit
    over the batch (over the examples: batch norm)."""
    from .norms import NORMS

    if norm is not None and NORMS[norm].over == "examples":
        return Statistic(name, real=True) if vector else BatchNumber(name, real=True)
    return scalar(name)


def _l2(value: float | str | None) -> sp.Expr | None:
    """The weight-decay strength as SymPy reads it: a symbol for a name, else the decimal number."""
    if value is None:
        return None
    if isinstance(value, str):
        return sp.Symbol(value, real=True, nonnegative=True)
    return sp.Float(repr(value))


# --- a recurrent layer's quantities (derive.recurrent) -------------------------------------------

#: A recurrent layer's letters: time step t, its units k (j: the previous state's, summed over;
#: i: the next step's, summed over in backpropagation through time) and the input features m.
STEP_LETTER = "t"
RECURRENT_LETTERS = ("k", "j", "i", "m")


@dataclass(frozen=True)
class RecurrentNames:
    """Every symbol of an Elman layer ``h_t = act(W h_{t-1} + U x_t + b)``, course notation: W the
    recurrent weight, U the input weight, h the state, x the input sequence; elements carry the
    step first (``h_{tk}``, ``x_{tm}``)."""

    activation: str
    parameters: tuple[tuple[str, float], ...]
    bias: bool
    outputs: str  # "last" or "all"
    width: sp.Expr  # K, the units
    inputs: sp.Expr  # M, the features per step
    steps: sp.Expr  # T
    t: StepIndex
    k: sp.Symbol
    j: sp.Symbol
    i: sp.Symbol
    m: sp.Symbol
    x: sp.IndexedBase
    h: sp.IndexedBase
    z: sp.IndexedBase
    delta: sp.IndexedBase
    g: sp.IndexedBase  # dL/dh_t
    e: sp.IndexedBase  # dL/dh_t through the dense head at step t (the loss at t)
    w: sp.IndexedBase  # W (K, K)
    u: sp.IndexedBase  # U (K, M)
    b: sp.IndexedBase  # b (K,)
    losses: sp.IndexedBase  # L_t, the loss at step t (outputs = "all")

    @property
    def entry(self) -> activations.Activation:
        return activations.get(self.activation).bind(self.parameters)

    @property
    def head_step(self) -> StepIndex:
        """The step whose state the dense head reads: every t, or the last, T."""
        return self.t if self.outputs == "all" else StepIndex("T", integer=True, positive=True)

    @property
    def state(self) -> StepState:
        """The state as the dense head reads it: ``h_{tk}`` (all) or ``h_{Tk}`` (last)."""
        return StepState(self.h.name, self.head_step)

    @property
    def params(self) -> tuple[sp.IndexedBase, ...]:
        return (self.w, self.u, self.b) if self.bias else (self.w, self.u)


def recurrent_names(spec: ModelSpec) -> RecurrentNames:
    """The symbols of ``spec``'s recurrent layer (its first)."""
    layer = spec.layers[0]
    assert layer.kind == "recurrent" and layer.steps is not None
    k, j, i, m = (index(letter) for letter in RECURRENT_LETTERS)
    return RecurrentNames(
        activation=layer.activation, parameters=layer.parameters, bias=layer.bias, outputs=layer.outputs,
        width=size(layer.units), inputs=size(spec.inputs), steps=size(layer.steps),
        t=StepIndex(STEP_LETTER, integer=True, positive=True), k=k, j=j, i=i, m=m,
        x=array("x"), h=array("h"), z=array("z"), delta=array("delta"), g=array("g"), e=array("e"),
        w=array("W"), u=array("U"), b=array("b"), losses=array("L"),
    )
