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
from ..errors import UsageError
from ..naming import BATCH_SIZE, ModelNames, StepState, latex_name
from .latex_parse import HAT_Y, SIGMA, Index, Name
from .problems import Wrong

# Per-layer kinds: the dense layer's, a norm's (statistics mu and var, normalised ztilde, scaled
# zhat, parameters gamma and beta, error delta_hat) and g = dL/da, the error of a layer's output.
NORM_KINDS = ("mu", "var", "ztilde", "zhat", "gamma", "beta", "delta_hat")
LAYER_KINDS = ("z", "a", "w", "b", "delta", *NORM_KINDS, "g")
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
    # 0 just outside its first index's range: the state before the first step (h_0 = 0), the
    # error after the last (delta_{T+1} = 0); written ``h_{t-1}``, ``\\delta_{t+1}``.
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


class ModelTable:
    """Every quantity of a model, looked up by what a writer calls it."""

    def __init__(self, names: ModelNames):
        self.names = names
        _not_recurrent(names)
        self.batch = forward.couples_examples(names)  # answers are about one example of a batch
        out = names.output
        self.quantities: dict[tuple[str, int | None], Quantity] = {}
        self._add(Quantity(names.x.name, "x", None, _dims((names.input_width, names.input_index)), True))
        self._add(Quantity(names.y.name, "y", None, _dims((out.width, out.index)), True))
        self._add(Quantity(names.L.name, "L", None, (), True))
        for layer in names.layers:
            unit, weight = layer.unit_dims, layer.weight_dims
            for kind, q, dims in (("z", layer.z, unit), ("a", layer.a, unit), ("w", layer.w, weight),
                                  ("b", layer.b, unit), ("delta", layer.delta, unit)):
                if q in (layer.w, layer.b) and q not in layer.params:
                    continue  # a layer without bias has no b
                self._add(Quantity(q.name, kind, layer.number, dims, kind not in ("w", "b")))
            self._add(Quantity(layer.g.name, "g", layer.number, unit, True))
            if layer.norm:
                over_batch = forward.over_examples(layer)
                for kind in NORM_KINDS:
                    statistic = kind in ("mu", "var")
                    parameter = kind in ("gamma", "beta")
                    dims = unit if over_batch or not statistic else ()  # batch norm's: one per unit
                    self._add(Quantity(getattr(layer, kind).name, kind, layer.number, dims,
                                       not parameter and not (statistic and over_batch)))
                self._add(Quantity(layer.eps.name, "epsilon", layer.number, ()))
        if names.l2 is not None:  # the weight-decay strength (lambda) and the term Omega
            self._add(Quantity(self.l2_key, "l2", None, ()))
            self._add(Quantity(names.decay.name, "Omega", None, ()))
        self.sizes = {str(w): w for w in self.size_symbols()}

    @property
    def l2_key(self) -> str:
        """The weight-decay strength's name: its symbol's (``l2 = "lambda"``), else ``lambda``."""
        l2 = self.names.l2
        return l2.name if isinstance(l2, sp.Symbol) else "lambda"

    def _add(self, q: Quantity) -> None:
        self.quantities[(q.kind, q.layer)] = q

    def size_symbols(self) -> list[sp.Symbol]:
        """The model's size symbols, and the batch size N where examples couple."""
        found = self.names.size_symbols() + ([BATCH_SIZE] if self.batch else [])
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
        base = "w" if name.base == "W" else name.base
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
        if base not in LAYER_KINDS:
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
        layers = self.names.layers
        if isinstance(label, str):
            raise Wrong(f"{name.show()}: the layer superscript must be a number such as (1)")
        numbers = [n for n in range(1, len(layers) + 1) if (kind, n) in self.quantities]
        if not numbers:  # b of a model whose layers have no bias, gamma of one without a norm
            if kind in NORM_KINDS:
                raise Wrong(f"{name.show()}: model {self.names.spec.name} has no normalised layer")
            raise Wrong(f"{name.show()}: no layer of model {self.names.spec.name} has a bias")
        if label is not None:
            if (kind, label) not in self.quantities:
                if label in range(1, len(layers) + 1):
                    lacks = "is not normalised" if kind in NORM_KINDS else "has no bias"
                    raise Wrong(f"{name.show()}: layer {label} of model {self.names.spec.name} {lacks}")
                raise Wrong(f"{name.show()}: model {self.names.spec.name} has layers 1 to {len(layers)}")
            return self.quantities[(kind, label)]
        if len(layers) == 1:
            return self.quantities[(kind, 1)]
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


def _not_recurrent(names: ModelNames) -> None:
    """``UsageError`` for a model with a recurrent layer: its answers (sums over the steps,
    ``h_{t-1}``, ``delta_{t+1}``) are not read yet."""
    if isinstance(names.x, StepState) or names.spec.recurrent is not None:
        raise UsageError(f"model {names.spec.name}: answers about a recurrent layer (sums over t, h_t, "
                         "delta_{t+1}) are not checked yet; derive show, sheet, code and verify handle it")


def _whole(name: Name, q: Quantity) -> str:
    """How to write a whole vector or matrix: vector notation is read only from bold names and a
    capital W (``\\mathbf{w}``, ``\\boldsymbol{\\delta}^{(1)}``, ``W^{(1)}``)."""
    label = f"^{{({name.label})}}" if name.label is not None else ""
    if len(q.dims) == 2:
        return f"matrix write W{label}"
    head = replace(name, label=None, bold=False).show()
    command = "boldsymbol" if head.startswith("\\") else "mathbf"
    return f"vector write \\{command}{{{head}}}{label}"
