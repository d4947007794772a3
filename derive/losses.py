"""Registry of losses: each entry is the loss of one example, the model identities it brings,
and the output layers it accepts.

``expression(a, y, c, size)`` builds the loss from element accessors ``a(c)`` and ``y(c)``; for
a single-unit output ``size`` is ``None`` and ``c`` is unused. ``identities`` are facts the loss
assumes of its target (cross-entropy's one-hot ``sum_k y_k = 1``) which the engine may use when
simplifying, and which renderers state. ``fused`` gives, per output activation, a numerically
stable NumPy form of the per-example loss written through the pre-activation ``{z}`` (log-sigmoid,
log-sum-exp), the output ``{a}``, the target ``{y}`` and the output activation's per-example
log-normaliser ``{log_normaliser}`` (``Activation.log_normaliser``), arrays named by the caller;
``numpy`` is the plain form through the output ``{a}``.

``target`` names the kind of target the loss compares with (``TARGETS``: 0/1 labels, one-hot
rows, real numbers), which decides how generated code documents and accepts ``y`` and how test
targets are drawn (``Loss.sample_targets``). ``numpy_helpers`` (of a loss or a target kind) holds the
source text of the helper functions its NumPy forms call, for a generated module calling them.

``derivative``, when given, is the textbook ``dL/da_k`` a course writes (the SVM's margins) in place
of SymPy's expanded one; tests check it against SymPy's. A hinge's ``max(0, x)`` is
``PositivePart``, whose derivative ``[x > 0]`` is 0 on the kink, as PyTorch takes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

import sympy as sp

from .errors import UsageError
from .registry import lookup

if TYPE_CHECKING:  # NumPy is only needed to draw targets; `derive show` must not pay its import
    import numpy as np

Expr: TypeAlias = sp.Expr
Accessor = Callable[[Expr], Expr]


@dataclass(frozen=True)
class Identity:
    """``sum_{c=1}^{size} y_c = 1`` style facts: ``lhs(y, c, size) = rhs``."""

    lhs: Callable[[Accessor, Expr, Expr], Expr]
    rhs: Expr
    reason: str  # why it holds, in words


@dataclass(frozen=True)
class Target:
    """A kind of target ``y``: what it holds, how to draw one, how generated code accepts it."""

    name: str
    holds: str  # what y holds, for a docstring: "0/1 labels"
    sample: Callable[[np.random.Generator, int, int | None], np.ndarray]  # (rng, n, width) -> y
    # The generated module's door for y: a helper ``accept(y, shape, names, dtype)`` (its source
    # in ``numpy_helpers``) returning y as an array of ``shape`` in ``dtype``, or raising a one-line
    # ValueError naming y, the expected shape ``names`` in size symbols, and what it got.
    numpy_accept: str
    numpy_helpers: dict[str, str]  # helper name -> its source text
    # Whether y may also be given as integer class labels (n,) (for an output wider than one unit).
    labels: bool = False


def _sample_binary(rng: np.random.Generator, n: int, width: int | None) -> np.ndarray:
    import numpy as np

    return rng.integers(0, 2, size=n if width is None else (n, width)).astype(np.float64)


def _sample_one_hot(rng: np.random.Generator, n: int, width: int | None) -> np.ndarray:
    if width is None:
        raise UsageError("one-hot targets need an output of more than one unit")
    import numpy as np

    rows: np.ndarray = np.eye(width)[rng.integers(0, width, size=n)]
    return rows


def _sample_real(rng: np.random.Generator, n: int, width: int | None) -> np.ndarray:
    return rng.normal(size=n if width is None else (n, width))


_BINARY_LABELS = '''def _binary_labels(
    y: ArrayLike,
    shape: tuple[int, ...],
    names: str,
    dtype: np.dtype[Any],
) -> Array:
    """Labels ``y`` as an array of 0s and 1s of ``shape`` in ``dtype``.

    Anything else is a ValueError naming y: another shape, or a value not 0 or 1.
    """
    labels = np.asarray(y)
    if labels.shape != shape:
        raise ValueError(f"y must be {names} = {shape} of 0/1 labels: {labels.shape}")
    if labels.dtype.kind not in "biuf":
        raise ValueError(f"y must hold 0/1 labels, got dtype {labels.dtype}")
    targets: Array = labels.astype(dtype, copy=False)
    if labels.dtype.kind == "i":
        wrong = np.count_nonzero(labels & -2)  # a bit other than the lowest, or a sign
    elif labels.dtype.kind == "u":
        wrong = np.count_nonzero(labels > 1)
    else:
        # 0 exactly for 0 and 1, not for NaN or infinity (a 0-d array, not the number 1:
        # NumPy's arithmetic with a Python number is slower).
        wrong = np.count_nonzero(targets * (np.array(1, dtype) - targets))
    if wrong:
        bad = targets[(targets != 0) & (targets != 1)][0]
        raise ValueError(f"y must hold 0/1 labels, got {bad}")
    return targets
'''

_CLASS_TARGETS = '''def _class_targets(
    y: ArrayLike,
    shape: tuple[int, ...],
    names: str,
    dtype: np.dtype[Any],
) -> Array:
    """Targets ``y`` as rows of class probabilities of ``shape`` (n, C) in ``dtype``.

    ``y`` is (n, C) of one-hot rows (or rows of class probabilities: rows summing to 1),
    or (n,) of integer class labels in [0, C); anything else is a ValueError naming y.
    """
    n, classes = shape
    targets = np.asarray(y)
    if targets.dtype.kind not in "biuf":
        raise ValueError(f"y must hold numbers, got dtype {targets.dtype}")
    if targets.shape == (n,):
        hits = targets[:, None] == np.arange(classes)
        if np.count_nonzero(hits) != n:  # a row with no hit: a label not in 0, ..., C-1
            bad = targets[~hits.any(axis=1)][0]
            if bad != np.floor(bad):
                raise ValueError(f"y must hold integer class labels, got {bad}")
            raise ValueError(f"y must hold class labels in [0, {classes}), got {bad}")
        one_hot: Array = hits.astype(dtype)
        return one_hot
    if targets.shape != shape:
        raise ValueError(
            f"y must be {names} = {shape} of one-hot rows or (n,) = ({n},) of class "
            f"labels, got {targets.shape}"
        )
    rows: Array = targets.astype(dtype, copy=False)
    # Rows summing to 1, within C ulps each (root-mean-square, in one dot product); a
    # 0-d array, not the number 1, as NumPy's arithmetic with a Python number is slower.
    excess = _row_sums(rows)
    excess -= np.array(1, dtype)
    # (the ulps of y's float type where it is the coarser: rows made in float32)
    coarser = targets.dtype.kind == "f" and targets.dtype.itemsize < dtype.itemsize
    ulps = classes * float(np.finfo(targets.dtype if coarser else dtype).eps)
    if not excess.dot(excess) <= n * ulps**2:
        row = int(np.argmax(~(np.abs(excess) <= ulps)))  # NaN too
        raise ValueError(f"y must hold one-hot rows (summing to 1), got row {row}")
    return rows
'''

_REAL_TARGETS = '''def _real_targets(
    y: ArrayLike,
    shape: tuple[int, ...],
    names: str,
    dtype: np.dtype[Any],
) -> Array:
    """Real targets ``y`` of ``shape`` in ``dtype``; a ValueError naming y otherwise."""
    targets = np.asarray(y)
    if targets.shape != shape:
        raise ValueError(f"y must be {names} = {shape} of numbers: {targets.shape}")
    if targets.dtype.kind not in "biuf":
        raise ValueError(f"y must hold real numbers, got dtype {targets.dtype}")
    real: Array = targets.astype(dtype, copy=False)
    return real
'''

TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target(
            "binary",
            "0/1 labels",
            _sample_binary,
            numpy_accept="_binary_labels",
            numpy_helpers={"_binary_labels": _BINARY_LABELS},
        ),
        Target(
            "one-hot",
            "one-hot rows",
            _sample_one_hot,
            numpy_accept="_class_targets",
            numpy_helpers={"_class_targets": _CLASS_TARGETS},
            labels=True,
        ),
        Target(
            "real",
            "real targets",
            _sample_real,
            numpy_accept="_real_targets",
            numpy_helpers={"_real_targets": _REAL_TARGETS},
        ),
    )
}


@dataclass(frozen=True)
class Loss:
    name: str
    title: str
    expression: Callable[[Accessor, Accessor, Expr, Expr | None], Expr]
    numpy: str  # per-example loss through {a} and {y}; arrays of shape (n,) or (n, C)
    accepts: Callable[[object, str], str | None]  # (units, activation) -> problem or None
    target: str  # kind of target y, a key of TARGETS: "binary" | "one-hot" | "real"
    identities: tuple[Identity, ...] = ()
    # The textbook dL/da_k, (a, y, k, c, size) -> expression, where a course writes it otherwise
    # than SymPy's expanded derivative; None: SymPy's derivative is the textbook form.
    derivative: Callable[[Accessor, Accessor, Expr, Expr, Expr | None], Expr] | None = None
    fused: dict[str, str] = field(default_factory=dict)  # activation -> stable per-example form
    numpy_helpers: dict[str, str] = field(default_factory=dict)  # helper name -> its source text
    # For a loss with kinks: each output unit's margin, (a, y) -> one float or None per unit, whose
    # sign picks the branch (hinge: 1 - t a). The grader draws instances on both sides of each,
    # so that an answer missing a branch (a hinge's indicator) cannot pass because of the draw.
    margins: Callable[[list[float], list[float]], list[float | None]] | None = None

    def check_output(self, units: object, activation: str) -> str | None:
        return self.accepts(units, activation)

    @property
    def target_kind(self) -> Target:
        return TARGETS[self.target]

    def sample_targets(self, rng: np.random.Generator, n: int, width: int | None) -> np.ndarray:
        """Random targets this loss accepts for ``n`` examples: (n,), or (n, width) for a wide output."""
        return self.target_kind.sample(rng, n, width)


class PositivePart(sp.Function):
    """``max(0, x)``, the hinge of margin losses, kept whole so that its derivative is the
    indicator ``[x > 0]`` (``Heaviside(x, 0)``): 0 on the kink, as PyTorch takes it. Prints itself
    in every notation (``\\max(0, x)``, ``np.maximum(x, 0.0)``)."""

    nargs = 1

    @classmethod
    def eval(cls, x: Expr) -> Expr | None:
        return sp.Max(0, x) if x.is_number else None

    def fdiff(self, argindex: int = 1) -> Expr:
        return sp.Heaviside(self.args[0], 0)

    def doit(self, **hints) -> Expr:
        (x,) = self.args
        return sp.Max(0, x.doit(**hints) if hints.get("deep", True) else x)

    def _eval_evalf(self, prec: int) -> Expr:
        return self.doit()._eval_evalf(prec)

    # A compiled form for ``lambdify`` (the grader's instances).
    _imp_ = staticmethod(lambda x: max(0.0, x))

    def _latex(self, printer) -> str:
        return rf"\max\left(0, {printer._print(self.args[0])}\right)"

    def _pretty(self, printer):
        return printer._print_Function(sp.Function("max")(0, self.args[0]))

    def _sympystr(self, printer) -> str:
        return f"Max(0, {printer._print(self.args[0])})"

    def _equation_text(self, printer) -> str:
        return f"max(0, {printer._print(self.args[0])})"

    def _numpycode(self, printer) -> str:
        return f"np.maximum({printer._print(self.args[0])}, 0.0)"


def _bce(a: Accessor, y: Accessor, c: Expr, size: Expr | None) -> Expr:
    return -(y(c) * sp.log(a(c)) + (1 - y(c)) * sp.log(1 - a(c)))


def _ce(a: Accessor, y: Accessor, c: Expr, size: Expr | None) -> Expr:
    return -sp.Sum(y(c) * sp.log(a(c)), (c, 1, size))


def _mse(a: Accessor, y: Accessor, c: Expr, size: Expr | None) -> Expr:
    if size is None:
        return sp.Rational(1, 2) * (a(c) - y(c)) ** 2
    return sp.Rational(1, 2) * sp.Sum((a(c) - y(c)) ** 2, (c, 1, size))


def _inner(c: Expr) -> Expr:
    """A second summation letter beside ``c`` (a dummy when ``c`` is one)."""
    if isinstance(c, sp.Dummy):
        return sp.Dummy("d", integer=True, positive=True)
    return sp.Symbol("d", integer=True, positive=True)


def _svm(a: Accessor, y: Accessor, c: Expr, size: Expr | None) -> Expr:
    # sum_{c != label} max(0, a_c - a_label + 1), with a_label = sum_d y_d a_d for one-hot y.
    d = _inner(c)
    labelled = sp.Sum(y(d) * a(d), (d, 1, size))
    return sp.Sum((1 - y(c)) * PositivePart(a(c) - labelled + 1), (c, 1, size))


def _svm_derivative(a: Accessor, y: Accessor, k: Expr, c: Expr, size: Expr | None) -> Expr:
    # [margin_k > 0] for a wrong class k; minus the number of violated margins for the label.
    d = _inner(c)
    labelled = sp.Sum(y(d) * a(d), (d, 1, size))
    violated = lambda i: sp.Heaviside(a(i) - labelled + 1, 0)  # noqa: E731
    return (1 - y(k)) * violated(k) - y(k) * sp.Sum((1 - y(c)) * violated(c), (c, 1, size))


def _hinge(a: Accessor, y: Accessor, c: Expr, size: Expr | None) -> Expr:
    # max(0, 1 - t a) with the sign t = 2y - 1 of a 0/1 label.
    return PositivePart(1 - (2 * y(c) - 1) * a(c))


def _huber_unit(r: Expr) -> Expr:
    """Huber's loss of one residual, delta = 1: quadratic within 1 of the target, linear beyond."""
    return sp.Piecewise((r**2 / 2, sp.Abs(r) <= 1), (sp.Abs(r) - sp.Rational(1, 2), True))


def _huber(a: Accessor, y: Accessor, c: Expr, size: Expr | None) -> Expr:
    if size is None:
        return _huber_unit(a(c) - y(c))
    return sp.Sum(_huber_unit(a(c) - y(c)), (c, 1, size))


def _identity_output(loss: str, wide: bool | None) -> Callable[[object, str], str | None]:
    """Accepts an identity output layer: of more than one unit (``wide``), of one, or of any."""
    units = {True: " of more than one unit", False: " of 1 unit", None: ""}[wide]

    def accepts(width: object, activation: str) -> str | None:
        if activation != "identity" or wide is True and width == 1 or wide is False and width != 1:
            return f"loss {loss!r} needs an identity output layer{units}"
        return None

    return accepts


def _bce_accepts(units: object, activation: str) -> str | None:
    if units != 1 or activation != "sigmoid":
        return "loss 'bce' needs an output layer of 1 unit with activation 'sigmoid'"
    return None


def _ce_accepts(units: object, activation: str) -> str | None:
    if activation != "softmax":
        return "loss 'ce' needs a softmax output layer (use 'bce' for one sigmoid unit)"
    if units == 1:
        return "loss 'ce' needs more than one output unit"
    return None


def _mse_accepts(units: object, activation: str) -> str | None:
    if activation == "softmax":
        return "loss 'mse' on a softmax output is not supported; use 'ce'"
    return None


_ENTRIES = (
    Loss(
        name="bce",
        title="binary cross-entropy",
        expression=_bce,
        numpy="-({y} * np.log({a}) + (1.0 - {y}) * np.log1p(-{a}))",
        accepts=_bce_accepts,
        target="binary",
        # -log sigmoid((2y - 1) z) = log(1 + exp((1 - 2y) z)) for y in {0, 1} (the door checks
        # y): one logaddexp, accurate to an ulp where softplus(z) - y z would cancel (y = 1, z >> 0).
        fused={"sigmoid": "np.logaddexp(0.0, (1.0 - 2.0 * {y}) * {z})"},
    ),
    Loss(
        name="ce",
        title="cross-entropy",
        expression=_ce,
        numpy="-np.sum({y} * np.log({a}), axis=1)",
        accepts=_ce_accepts,
        target="one-hot",
        identities=(
            Identity(
                lhs=lambda y, c, size: sp.Sum(y(c), (c, 1, size)),
                rhs=sp.Integer(1),
                reason="y is one-hot",
            ),
        ),
        # -sum_c y_c log a_c = log sum_c e^{z_c} - sum_c y_c z_c (sum_c y_c = 1), the log-sum-exp
        # being the softmax's own log-normaliser, computed with it from the same shifted exp.
        fused={"softmax": "{log_normaliser} - _row_sums({y} * {z})"},
    ),
    Loss(
        name="mse",
        title="squared error",
        expression=_mse,
        numpy="0.5 * np.sum(({a} - {y}) ** 2, axis=1)",
        accepts=_mse_accepts,
        target="real",
    ),
    Loss(
        name="svm",
        title="multi-class hinge (SVM)",
        expression=_svm,
        derivative=_svm_derivative,
        numpy=(
            "np.sum((1.0 - {y}) * np.maximum({a} - np.sum({y} * {a}, axis=1, keepdims=True) + 1.0, 0.0), "
            "axis=1)"
        ),
        accepts=_identity_output("svm", True),
        target="one-hot",
        margins=lambda a, y: [
            None if y[j] == 1 else a[j] - sum(ai * yi for ai, yi in zip(a, y, strict=True)) + 1
            for j in range(len(a))
        ],
    ),
    Loss(
        name="hinge",
        title="hinge",
        expression=_hinge,
        numpy="np.maximum(1.0 - (2.0 * {y} - 1.0) * {a}, 0.0)",
        accepts=_identity_output("hinge", False),
        target="binary",
        margins=lambda a, y: [1 - (2 * y[0] - 1) * a[0]],
    ),
    Loss(
        name="huber",
        title="Huber",
        expression=_huber,
        numpy=(
            "np.sum(np.where(np.abs({a} - {y}) <= 1.0, 0.5 * ({a} - {y}) ** 2, np.abs({a} - {y}) - 0.5), "
            "axis=1)"
        ),
        accepts=_identity_output("huber", None),
        target="real",
        margins=lambda a, y: [abs(ai - yi) - 1 for ai, yi in zip(a, y, strict=True)],
    ),
)

LOSSES: dict[str, Loss] = {entry.name: entry for entry in _ENTRIES}


def get(name: str) -> Loss:
    return lookup(LOSSES, "loss", "losses", name)
