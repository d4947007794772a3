"""Written names -> the model's quantities: ``ModelTable.resolve(name)`` gives a ``Ref``.

A quantity keeps its Python name from ``derive.naming`` (``W1``, ``a2``, ``delta1``, ``gamma1``), its kind
and layer, and its dimensions (size expressions); its typeset form is ``naming.latex_name``. A
name that is no quantity, has the wrong number of indices or an ambiguous layer raises ``Wrong``.
Error terms (``ERRORS``: ``delta``, ``delta_hat``, ``g``) stand for dL/d of another quantity; a
norm's epsilon and the weight decay's strength (lambda) are named numbers, Omega its term.

In a model whose norm couples the batch's examples (batch norm: ``ModelTable.batch``), every
per-example quantity may carry one more, leading index: the example's, over the batch size ``N``
(``\\hat{z}_{ik}``, ``\\delta_{pk}``). Written without it, it is the example an equation is about
(``Ref.implicit``), which the checker runs over every example of the batch. The statistics
``\\mu_k`` and ``\\sigma^2_k`` of a batch norm are per unit, over the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp

from .. import forward
from ..naming import BATCH_SIZE, ModelNames, RecurrentNames, latex_name, recurrent_names
from ..naming import names as model_names
from ..spec import ModelSpec
from .latex_parse import HAT_Y, SIGMA, Index, Name
from .problems import Wrong

# Per-layer kinds: the dense layer's, a norm's (statistics mu and var, normalised ztilde, scaled
# zhat, parameters gamma and beta, error delta_hat) and g = dL/da, the error of a layer's output.
NORM_KINDS = ("mu", "var", "ztilde", "zhat", "gamma", "beta", "delta_hat")
# A recurrent layer's own: its state h and input weight U (its W, b, z, delta and g as a layer's).
RECURRENT_KINDS = ("h", "u")
LAYER_KINDS = ("z", "a", "w", "b", "delta", *NORM_KINDS, "g", *RECURRENT_KINDS)
# Error terms: the kind -> the kind of the quantity it is dL/d of.
ERRORS = {"delta": "z", "delta_hat": "zhat", "g": "a"}
EPSILON = ("epsilon", "varepsilon")  # how a norm's epsilon is written


@dataclass(frozen=True)
class Quantity:
    """A model quantity: its Python name (``W1``), dimensions (sizes) and typeset name."""

    key: str
    kind: str  # x, y, L, z, a, w, b, delta, a LAYER_KINDS one, epsilon, l2 or Omega
    layer: int | None
    dims: tuple[sp.Expr, ...]
    per_example: bool = False  # one value per example of a batch (z, a, delta, ...), not a parameter
    # 0 outside its range: the state before the first step (h_0 = 0), the error after the last
    # (delta_{T+1} = 0), written ``h_{t-1}``, ``\\delta_{t+1}``; a convolution's error past its
    # edges (the zero padding of a full correlation, ``\\delta_{k,s-r+1}``).
    zero_outside: bool = False

    @property
    def latex(self) -> str:
        return latex_name(self.key)


@dataclass(frozen=True)
class Ref:
    """A resolved name: a quantity element (indices: letters or numbers), a size, or e."""

    quantity: Quantity | None
    indices: tuple[Index, ...] = ()
    size: sp.Symbol | None = None
    # In a model that couples the examples: whether the first index is the example's (written,
    # ``z_{ik}``), or the example is the one the equation is about (``implicit``: ``z_k``).
    example: bool = False
    implicit: bool = False

    @property
    def dims(self) -> tuple[sp.Expr, ...]:
        """What each written index runs over: the batch size N first for an example index."""
        assert self.quantity is not None
        return ((BATCH_SIZE,) if self.example else ()) + self.quantity.dims


E = Ref(None)  # Euler's number


def _dims(*pairs) -> tuple[sp.Expr, ...]:
    return tuple(width for width, idx in pairs if idx is not None)


def table(spec: ModelSpec) -> ModelTable:
    """The quantities of ``spec``: its layers', or a recurrent or conv model's and its dense head's."""
    if spec.convolutional:  # the heads' names, as the derivations number them
        from .. import conv

        convs = conv.conv_layers(spec)
        return ModelTable(conv.head_names(spec, convs[-1]), convs=convs)
    if spec.recurrent is None:
        return ModelTable(model_names(spec))
    from ..recurrent import head_names

    r = recurrent_names(spec)
    return ModelTable(head_names(spec, r), recurrent=r)


class ModelTable:
    """Every quantity of a model, looked up by what a writer calls it.

    A recurrent model's (``recurrent``): the layer's x_{tm}, h_{tk} (0 at t = 0), z_{tk}, its
    errors delta_{tk} and g_{tk} = dL/dh_{tk} (0 at t = T + 1), W, U and b, all as layer 1's and
    the ones a name without a layer label means; then the dense head from layer 2. With
    ``outputs = "all"`` the head runs at every step, so its per-step quantities (and y) take the
    step as a first index (``z^{(2)}_{ti}``), and L is the sum of the steps' losses.
    """

    def __init__(self, names: ModelNames, recurrent: RecurrentNames | None = None, convs: tuple = ()):
        self.names = names
        self.recurrent = recurrent
        self.convs = convs  # a conv model's conv layers (derive.conv.ConvLayer), before the head
        self.batch = forward.couples_examples(names)  # answers are about one example of a batch
        every_step = recurrent is not None and recurrent.outputs == "all"
        step: tuple[sp.Expr, ...] = (recurrent.steps,) if recurrent is not None and every_step else ()
        out = names.output
        self.quantities: dict[tuple[str, int | None], Quantity] = {}
        if recurrent is not None:
            self._recurrent(recurrent)
        elif convs:
            self._conv(convs)
        else:
            self._add(Quantity(names.x.name, "x", None, _dims((names.input_width, names.input_index)), True))
        self._add(Quantity(names.y.name, "y", None, step + _dims((out.width, out.index)), True))
        self._add(Quantity(names.L.name, "L", None, (), True))
        for layer in names.layers:
            unit, weight = step + layer.unit_dims, layer.weight_dims
            if convs and layer is names.layers[0]:  # after flatten: w_{i,k,t} reads a_{kt}
                weight = layer.unit_dims + (convs[-1].channels, *convs[-1].out_sizes)
            for kind, q, dims in (("z", layer.z, unit), ("a", layer.a, unit), ("w", layer.w, weight),
                                  ("b", layer.b, layer.unit_dims), ("delta", layer.delta, unit)):
                if q in (layer.w, layer.b) and q not in layer.params:
                    continue  # a layer without bias has no b
                self._add(Quantity(q.name, kind, layer.number, dims, kind not in ("w", "b")))
            self._add(Quantity(layer.g.name, "g", layer.number, unit, True))
            if layer.norm:
                over_batch = forward.over_examples(layer)
                for kind in NORM_KINDS:
                    statistic = kind in ("mu", "var")
                    parameter = kind in ("gamma", "beta")
                    dims = unit if over_batch or not statistic else step  # batch norm's: one per unit
                    dims = layer.unit_dims if parameter else dims
                    self._add(Quantity(getattr(layer, kind).name, kind, layer.number, dims,
                                       not parameter and not (statistic and over_batch)))
                self._add(Quantity(layer.eps.name, "epsilon", layer.number, ()))
        if names.l2 is not None:  # the weight-decay strength (lambda) and the term Omega
            self._add(Quantity(self.l2_key, "l2", None, ()))
            self._add(Quantity(names.decay.name, "Omega", None, ()))
        self.sizes = {str(w): w for w in self.size_symbols()}

    def _recurrent(self, r: RecurrentNames) -> None:
        """Layer 1, recurrent: its sequences over the steps and its parameters."""
        state = (r.steps, r.width)
        self._add(Quantity(r.x.name, "x", None, (r.steps, r.inputs), True))
        for kind, q, dims, zero in (("h", r.h, state, True), ("z", r.z, state, False),
                                    ("delta", r.delta, state, True), ("g", r.g, state, True),
                                    ("w", r.w, (r.width, r.width), False),
                                    ("u", r.u, (r.width, r.inputs), False), ("b", r.b, (r.width,), False)):
            if q in (r.w, r.u, r.b) and q not in r.params:
                continue  # no bias
            self._add(Quantity(q.name, kind, 1, dims, q not in r.params, zero))

    def _conv(self, convs: tuple) -> None:
        """The conv layers (1 to n): the input x_{ct}, each layer's z, a, W, b and its errors
        delta and g, which are 0 past the layer's edges (a full correlation's zero padding)."""
        first = convs[0]
        self._add(Quantity(first.prev.name, "x", None, (first.in_channels, *first.in_sizes), True))
        for layer in convs:
            out = (layer.channels, *layer.out_sizes)
            kernel = (layer.channels, layer.in_channels, *layer.kernel)
            for kind, q, dims, zero in (("z", layer.z, out, False), ("a", layer.a, out, False),
                                        ("delta", layer.delta, out, True), ("g", layer.g, out, True),
                                        ("w", layer.w, kernel, False),
                                        ("b", layer.b, (layer.channels,), False)):
                if q is layer.b and not layer.bias:
                    continue
                self._add(Quantity(q.name, kind, layer.number, dims, kind not in ("w", "b"), zero))

    def error_of(self, q: Quantity) -> Quantity:
        """The quantity an error term is dL/d of: delta of z, g of a layer's output (a, or h)."""
        kind = ERRORS[q.kind]
        if kind == "a" and ("h", q.layer) in self.quantities:
            kind = "h"
        return self.quantities[(kind, q.layer)]

    @property
    def layer_count(self) -> int:
        """Layers 1 to this (a recurrent model's layer 1 is the recurrent one)."""
        return self.names.layers[-1].number

    @property
    def l2_key(self) -> str:
        """The weight-decay strength's name: its symbol's (``l2 = "lambda"``), else ``lambda``."""
        l2 = self.names.l2
        return l2.name if isinstance(l2, sp.Symbol) else "lambda"

    def _add(self, q: Quantity) -> None:
        self.quantities[(q.kind, q.layer)] = q

    def size_symbols(self) -> list[sp.Symbol]:
        """The model's size symbols, and the batch size N where examples couple."""
        found = set(self.names.size_symbols()) | ({BATCH_SIZE} if self.batch else set())
        if self.recurrent is not None:
            r = self.recurrent
            found |= {s for s in (r.steps, r.width, r.inputs) if isinstance(s, sp.Symbol)}
        if self.convs:  # the convolutions' sizes; the head's input is their output, not a size
            found.discard(self.names.input_width)
            for layer in self.convs:
                found |= {s for e in (layer.channels, layer.in_channels, *layer.kernel, *layer.in_sizes)
                          for s in e.free_symbols}
        return sorted(found, key=str)

    def examples(self) -> str:
        """Two left sides this model understands, typeset: its last ``z`` and dL/dw of layer 1."""
        last, first = self.names.layers[-1], self.names.layers[0]

        def written(key: str, *indices) -> str:
            letters = "".join(str(i) for i in indices if i is not None)
            return latex_name(key) + (f"_{{{letters}}}" if letters else "")

        weight = written(first.w.name, first.index, first.prev_index)
        return (f"{written(last.z.name, last.index)} or "
                f"\\frac{{\\partial {latex_name(self.names.L.name)}}}{{\\partial {weight}}}")

    def known(self) -> str:
        return ", ".join(q.latex for q in self.quantities.values() if q.kind not in ERRORS)

    def resolve(self, name: Name) -> Ref:
        """The model quantity (or size, or e) a written name stands for; ``Wrong`` if none."""
        base = {"W": "w", "U": "u"}.get(name.base, name.base)
        if base in self.sizes and not name.indices and name.label is None:
            return Ref(None, size=self.sizes[base])
        if base == "e" and not name.indices and name.label is None:
            return E
        if base == HAT_Y:  # \hat{y}: the prediction, the output layer's activation
            out = self.names.output
            return self._element(self.quantities[("a", out.number)], name)
        if base == "a" and name.label == 0:
            base, label = "x", None
        else:
            label = name.label
        if base in EPSILON:
            return self._element(self._epsilon(name), name)
        if base == SIGMA:
            raise Wrong(f"{name.show()}: write a layer's variance as (\\sigma^{{(l)}})^2 "
                        "and its square root as \\sqrt{...}")
        if (base == self.l2_key or base == self.names.decay.name) and ("l2", None) in self.quantities:
            if label is not None:
                raise Wrong(f"{name.show()}: {base} has no layer superscript")
            return self._element(self.quantities[("l2" if base == self.l2_key else "Omega", None)], name)
        if base in ("x", "y", "L"):
            if label is not None:
                raise Wrong(f"{name.show()}: {base} has no layer superscript")
            return self._element(self.quantities[(base, None)], name)
        if base not in LAYER_KINDS or (base in RECURRENT_KINDS and self.recurrent is None):
            raise Wrong(f"{name.show()} is not a quantity of model {self.names.spec.name} "
                        f"(its quantities: {self.known()})")
        return self._element(self._layer_quantity(base, label, name), name)

    def _epsilon(self, name: Name) -> Quantity:
        """A norm's epsilon: the model's one, or that of the labelled layer."""
        found = {n: q for (kind, n), q in self.quantities.items() if kind == "epsilon"}
        if not found:
            raise Wrong(f"{name.show()}: model {self.names.spec.name} has no normalised layer")
        if name.label is not None:
            if name.label not in found:
                raise Wrong(f"{name.show()}: layer {name.label} of model {self.names.spec.name} "
                            "is not normalised")
            return found[name.label]
        if len({q.key for q in found.values()}) > 1:
            raise Wrong(f"{name.show()} is ambiguous: the layers of model {self.names.spec.name} have "
                        "different epsilons; write \\epsilon^{(l)}")
        return next(iter(found.values()))

    def _layer_quantity(self, kind: str, label, name: Name) -> Quantity:
        count = self.layer_count
        if isinstance(label, str):
            raise Wrong(f"{name.show()}: the layer superscript must be a number such as (1)")
        numbers = [n for n in range(1, count + 1) if (kind, n) in self.quantities]
        if not numbers:  # b of a model whose layers have no bias, gamma of one without a norm
            if kind in NORM_KINDS:
                raise Wrong(f"{name.show()}: model {self.names.spec.name} has no normalised layer")
            raise Wrong(f"{name.show()}: no layer of model {self.names.spec.name} has a bias")
        if label is not None:
            if (kind, label) not in self.quantities:
                if label in range(1, count + 1):
                    lacks = ("is not normalised" if kind in NORM_KINDS else "is not recurrent"
                             if kind in RECURRENT_KINDS else "has no bias")
                    raise Wrong(f"{name.show()}: layer {label} of model {self.names.spec.name} {lacks}")
                raise Wrong(f"{name.show()}: model {self.names.spec.name} has layers 1 to {count}")
            return self.quantities[(kind, label)]
        if count == 1:
            return self.quantities[(kind, 1)]
        if self.recurrent is not None and (kind, 1) in self.quantities:
            return self.quantities[(kind, 1)]  # unlabelled: the recurrent layer's, as the sheet writes it
        # Without a superscript, the number of indices often tells the layer (model b: a_k, a).
        fits = [self.quantities[(kind, n)] for n in numbers
                if len(name.indices) in self._index_counts(self.quantities[(kind, n)])]
        if len(fits) != 1:
            options = " or ".join(Name(kind, label=n).show() for n in numbers)
            raise Wrong(f"{name.show()} is ambiguous in model {self.names.spec.name}: write {options}")
        return fits[0]

    def _index_counts(self, q: Quantity) -> tuple[int, ...]:
        """How many indices ``q`` may be written with: its own, and one more for the example."""
        own = len(q.dims)
        return (own, own + 1) if self.batch and q.per_example else (own,)

    def _element(self, q: Quantity, name: Name) -> Ref:
        counts = self._index_counts(q)
        if len(name.indices) not in counts:
            over = " over " + ", ".join(str(d) for d in q.dims) if q.dims else ""
            whole = "" if name.indices else "; for the whole " + _whole(name, q)
            extra = " (and one more before them for the example, over N)" if len(counts) > 1 else ""
            raise Wrong(f"{name.show()} is written with {len(name.indices)} "
                        f"{'index' if len(name.indices) == 1 else 'indices'}, "
                        f"but {q.latex} has {len(q.dims)}{over}{extra}{whole}")
        example = len(name.indices) == len(q.dims) + 1
        return Ref(q, name.indices, example=example,
                   implicit=self.batch and q.per_example and not example)


def _whole(name: Name, q: Quantity) -> str:
    """How to write a whole vector or matrix: vector notation is read only from bold names and a
    capital W (``\\mathbf{w}``, ``\\boldsymbol{\\delta}^{(1)}``, ``W^{(1)}``)."""
    label = f"^{{({name.label})}}" if name.label is not None else ""
    if len(q.dims) == 2:
        return f"matrix write W{label}"
    head = replace(name, label=None, bold=False).show()
    command = "boldsymbol" if head.startswith("\\") else "mathbf"
    return f"vector write \\{command}{{{head}}}{label}"
