"""Registry of activations: each entry is its forward formula beside its derivative rule.

An elementwise entry gives ``forward(z)`` for one unit and ``derivative(z, a)``, the textbook
form of f'(z), written through the unit's output ``a`` where that is how a course writes it
(sigmoid: a(1 - a); tanh: 1 - a^2). A non-elementwise entry (softmax) gives the whole layer via
``vector_forward`` and its Jacobian via ``jacobian``. The chain-rule engine reads these fields and
never names an activation. ``tests/test_registries.py`` checks every rule against SymPy's own
derivative of ``forward``.

An activation applied to a unit stays named in every expression (``Applied``: ``sigma(z)``), its
class carrying the entry, so a rule may name another activation (softplus' = sigma) and no printer
matches a formula back to a name. An entry with ``parameters`` (leaky_relu's and elu's ``alpha``)
is rebuilt for a layer's values by ``bind``. At a kink, a rule takes PyTorch's derivative
(relu'(0) = 0, leaky_relu'(0) = elu'(0) = alpha). Special functions a textbook form names
(Phi, phi) print themselves and compute accurately in generated code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, TypeAlias, TypeVar

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

    # Parameters a layer may set in a spec (``alpha = 0.2``), name -> default; ``build`` makes
    # the entry for given values (exact SymPy numbers), and ``values`` are this entry's own.
    parameters: dict[str, float] = field(default_factory=dict)
    build: Callable[..., Activation] | None = None
    values: tuple[tuple[str, Expr], ...] = ()

    def bind(self, given: Mapping[str, float] | tuple[tuple[str, float], ...] = ()) -> Activation:
        """This activation with the parameter values a layer gives (the defaults for the rest)."""
        given = dict(given)
        if not given:
            return self
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise TypeError(f"activation {self.name!r} has no parameter {unknown[0]!r}")
        values = {key: exact(value) for key, value in {**self.parameters, **given}.items()}
        return _need(self.build, self.name, "build")(**values)

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

    def function(self) -> type[Applied]:
        """The SymPy function that *names* the activation (``sigma(z)``), carrying this entry."""
        return applied(self)


class Applied(sp.Function):
    """An elementwise activation applied to one unit, ``sigma(z)``, kept by name.

    Each activation's class (``applied``) carries its registry entry in ``entry``: printers and
    the vectoriser read the activation from the expression itself, so no formula is ever matched
    back to a name. ``doit`` writes the formula out; ``diff`` follows the entry's derivative rule.
    """

    nargs = 1
    entry: ClassVar[Activation]

    @classmethod
    def eval(cls, z: Expr) -> None:
        return None  # stays named; its formula is one ``doit`` away

    def doit(self, **hints) -> Expr:
        (z,) = self.args
        return self.entry.unit(z.doit(**hints) if hints.get("deep", True) else z)

    def fdiff(self, argindex: int = 1) -> Expr:
        return self.entry.unit_derivative(self.args[0], self)

    def _eval_evalf(self, prec: int) -> Expr:
        return self.doit()._eval_evalf(prec)


_APPLIED: dict[tuple, type[Applied]] = {}


def applied(entry: Activation) -> type[Applied]:
    """The ``Applied`` class of ``entry``: one per activation and parameter values, so equal
    expressions stay equal; named as the activation."""
    key = (entry.name, entry.values)
    if key not in _APPLIED:
        _APPLIED[key] = type(entry.name, (Applied,), {"entry": entry})
    return _APPLIED[key]


def exact(value: float | int) -> sp.Rational:
    """A spec's number as the exact rational it reads as (0.01 -> 1/100)."""
    return sp.Rational(repr(value))


def _code(value: Expr) -> str:
    """A parameter value as a float literal in generated code."""
    return repr(float(value))


F = TypeVar("F")


def _need(rule: F | None, name: str, field_name: str) -> F:
    if rule is None:
        raise TypeError(f"activation {name!r} has no {field_name} rule")
    return rule


def _sigmoid(z: Expr) -> Expr:
    return 1 / (1 + sp.exp(-z))


def _softmax(z: sp.IndexedBase, k: Expr, c: Expr, size: Expr) -> Expr:
    return sp.exp(z[k]) / sp.Sum(sp.exp(z[c]), (c, 1, size))


def _leaky_relu(alpha: Expr) -> Activation:
    return Activation(
        name="leaky_relu",
        title="leaky rectified linear unit",
        latex=r"\operatorname{lrelu}",
        unicode="lrelu",
        numpy=f"np.where({{z}} > 0, {{z}}, {_code(alpha)} * {{z}})",
        forward=lambda z: sp.Piecewise((z, z > 0), (alpha * z, True)),
        # lrelu'(0) is taken as alpha, as PyTorch takes it.
        derivative=lambda z, a: sp.Piecewise((1, z > 0), (alpha, True)),
        kinks=(0.0,),
        parameters={"alpha": 0.01},
        build=_leaky_relu,
        values=(("alpha", alpha),),
    )


def _elu(alpha: Expr) -> Activation:
    return Activation(
        name="elu",
        title="exponential linear unit",
        latex=r"\operatorname{elu}",
        unicode="elu",
        # expm1 of min(z, 0): exact near 0, and no overflow in the branch np.where discards.
        numpy=f"np.where({{z}} > 0, {{z}}, {_code(alpha)} * np.expm1(np.minimum({{z}}, 0.0)))",
        forward=lambda z: sp.Piecewise((z, z > 0), (alpha * (sp.exp(z) - 1), True)),
        # elu'(0) is taken as alpha (the left derivative), as PyTorch takes it.
        derivative=lambda z, a: sp.Piecewise((1, z > 0), (a + alpha, True)),
        kinks=(0.0,) if alpha != 1 else (),  # elu' is continuous at 0 only for alpha = 1
        parameters={"alpha": 1.0},
        build=_elu,
        values=(("alpha", alpha),),
    )


def _numeric(x, mpmath_name: str, in_floats: Callable[[float], float]):
    """A named function's value for ``lambdify``: mpmath's at an mpmath number (its precision),
    else in floats (the grader's instances)."""
    import mpmath

    if isinstance(x, mpmath.mpf):
        return getattr(mpmath, mpmath_name)(x)
    return in_floats(x)


class _Named(sp.Function):
    """A special function kept by name in textbook forms (Phi, phi), written out by ``doit``.

    Each prints itself: ``latex_name``/``text`` name it on the sheet and in the terminal, and its
    NumPy form calls the helper ``helper`` (defined in a generated module that calls it).
    """

    nargs = 1
    latex_name: ClassVar[str]
    text: ClassVar[str]
    helper: ClassVar[str]

    @classmethod
    def eval(cls, x: Expr) -> Expr | None:
        return cls.formula(x) if x.is_number else None

    @staticmethod
    def formula(x: Expr) -> Expr:
        raise NotImplementedError

    def doit(self, **hints) -> Expr:
        (x,) = self.args
        return self.formula(x.doit(**hints) if hints.get("deep", True) else x)

    def _eval_evalf(self, prec: int) -> Expr:
        return self.doit()._eval_evalf(prec)

    def _latex(self, printer) -> str:
        return rf"{self.latex_name}\left({printer._print(self.args[0])}\right)"

    def _pretty(self, printer):
        return printer._print_Function(sp.Function(self.text)(self.args[0]))

    def _sympystr(self, printer) -> str:
        return f"{type(self).__name__}({printer._print(self.args[0])})"

    def _equation_text(self, printer) -> str:
        return f"{self.text}({printer._print(self.args[0])})"

    def _numpycode(self, printer) -> str:
        if hasattr(printer, "helpers"):
            printer.helpers.add(self.helper)
        return f"{self.helper}({printer._print(self.args[0])})"


class NormalCDF(_Named):
    """Phi(x), the standard normal distribution function."""

    latex_name, text, helper = r"\Phi", "Φ", "_normal_cdf"
    _imp_ = staticmethod(lambda x: _numeric(x, "ncdf", lambda v: 0.5 * math.erfc(-v / math.sqrt(2.0))))

    @staticmethod
    def formula(x: Expr) -> Expr:
        return (1 + sp.erf(x / sp.sqrt(2))) / 2

    def fdiff(self, argindex: int = 1) -> Expr:
        return NormalPDF(self.args[0])


class NormalPDF(_Named):
    """phi(x), the standard normal density."""

    latex_name, text, helper = r"\phi", "φ", "_normal_pdf"
    _imp_ = staticmethod(lambda x: _numeric(x, "npdf", lambda v: math.exp(-v * v / 2) / math.tau**0.5))

    @staticmethod
    def formula(x: Expr) -> Expr:
        return sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi)

    def fdiff(self, argindex: int = 1) -> Expr:
        return -self.args[0] * self


_SILU = {
    "_silu": '''def _silu(z: Array) -> Array:
    """z * sigmoid(z), within a few ulps over the whole float range.

    Below z = -700 the result nears the subnormal range, where z times an already
    rounded e^z would lose bits: there it is 2^k (z e^r), z = k ln 2 + r split
    exactly (e^z / (1 + e^z) is e^z in double precision), rounded once.
    """
    e = np.exp(-np.abs(z))
    body = z * np.where(z >= 0, 1.0, e) / (1.0 + e)
    zt = np.clip(np.nan_to_num(z, nan=-700.0), -1100.0, -700.0)
    k = np.round(zt / 0.6931471805599453)
    r = (zt - k * 0.6931467056274414) - k * 4.7493250390316726e-07  # ln 2 = hi + lo
    tail = np.ldexp(zt * np.exp(r), k.astype(np.int64))
    result: Array = np.where((z < -700.0) & (z > -np.inf), tail, body)
    return result
''',
}

# Phi and phi to a few ulps in both tails. Rounding z / sqrt 2 or z^2 alone would cost up to
# hundreds of ulps for |z| near 10 (erfc and exp magnify an argument's rounding error by 2 x^2):
# each argument's rounding error is found exactly (Dekker's product) and corrected for to first order.
_NORMAL = {
    "_two_product": '''def _two_product(a: Array, b: Array | float) -> tuple[Array, Array]:
    """a * b as p + e exactly, for |a|, |b| < 1e150 (Dekker's product, no fused
    multiply-add needed)."""
    p = a * b
    ca = 134217729.0 * a
    a_hi = ca - (ca - a)
    a_lo = a - a_hi
    cb = 134217729.0 * b
    b_hi = cb - (cb - b)
    b_lo = b - b_hi
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return p, e
''',
    "_gelu": '''def _gelu(z: Array) -> Array:
    """z Phi(z), within a few ulps over the whole float range.

    Below z = -37 (where the result nears the subnormal range) it is -phi(z) S(z),
    S = 1 - 1/z^2 + 3/z^4 - ... the asymptotic series of |z| Phi(z) / phi(z), with
    phi's exponent -z^2 / 2 = k ln 2 + r split exactly, so that only the final
    scaling by 2^k rounds into few bits.
    """
    body = z * _normal_cdf(z)
    zt = np.clip(np.nan_to_num(z, nan=-37.0), -39.0, -37.0)  # below -38.6 it is -0.0
    square, error = _two_product(zt, zt)
    k = np.round(-0.5 * square / 0.6931471805599453)
    ln2_hi, ln2_lo = 0.6931467056274414, 4.7493250390316726e-07  # ln 2 = hi + lo
    r = ((-0.5 * square - k * ln2_hi) - k * ln2_lo) - 0.5 * error
    t = 1.0 / square
    series = 1.0 - 11 * t
    for odd in (9, 7, 5, 3):
        series = 1.0 - odd * t * series
    series = 1.0 - t * series
    tail = -np.ldexp(np.exp(r) * 0.3989422804014327 * series, k.astype(np.int64))
    result: Array = np.where(z < -37.0, tail, body)
    return result
''',
    "_normal_cdf": '''def _normal_cdf(z: Array) -> Array:
    """The standard normal distribution function Phi(z) = erfc(-z / sqrt 2) / 2 by the
    C library's erfc, its argument's rounding corrected: a few ulps in either tail."""
    from math import erfc

    zc = np.clip(z, -40.0, 40.0)  # beyond, Phi is 0 or 1 in double precision
    p, e = _two_product(zc, 0.7071067811865476)
    x = -p  # the rounded argument; the exact one is x + dx:
    dx = -(e + zc * -4.833646656726457e-17)  # 1/sqrt 2 - 0.7071067811865476
    # The C library's erfc of each element (a map: twice np.vectorize's speed).
    values = map(erfc, x.ravel().tolist())
    rounded = np.fromiter(values, np.float64, x.size).reshape(np.shape(x))
    # erfc(x + dx) = erfc(x) - dx * 2 / sqrt(pi) * exp(-x^2), to first order in dx
    result: Array = 0.5 * (rounded - dx * 1.1283791670955126 * np.exp(-np.square(x)))
    return result.astype(np.result_type(z, 1.0), copy=False)  # float32 stays float32
''',
    "_normal_pdf": '''def _normal_pdf(z: Array) -> Array:
    """The standard normal density phi(z) = exp(-z^2 / 2) / sqrt(2 pi), z^2's
    rounding corrected: within a few ulps."""
    zc = np.clip(z, -40.0, 40.0)  # beyond, phi underflows to 0
    square, error = _two_product(zc, zc)
    result: Array = np.exp(-0.5 * square) * (1.0 - 0.5 * error) * 0.3989422804014327
    return result
''',
}

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
        derivative=lambda z, a: get("sigmoid").function()(z),
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
    e /= _row_sums(e)[:, None]
    return e
''',
            "_softmax_log_sum_exp": '''def _softmax_log_sum_exp(z: Array) -> tuple[Array, Array]:
    """Softmax of each row and its log-sum-exp log Σ_c exp(z_c), from one shared exp."""
    top = z.max(axis=1)
    e: Array = np.exp(z - top[:, None])
    total = _row_sums(e)
    e /= total[:, None]
    return e, np.log(total) + top
''',
        },
        vector_forward=_softmax,
        log_normaliser=lambda z, c, size: sp.log(sp.Sum(sp.exp(z[c]), (c, 1, size))),
        numpy_log_normalised="_softmax_log_sum_exp({z})",
        jacobian=lambda a, k, j: a[k] * (sp.KroneckerDelta(k, j) - a[j]),
    ),
    _leaky_relu(exact(0.01)),
    _elu(exact(1)),
    Activation(
        name="silu",
        title="sigmoid linear unit",
        latex=r"\operatorname{silu}",
        unicode="silu",
        numpy="_silu({z})",
        numpy_helpers=_SILU,
        forward=lambda z: z * _sigmoid(z),
        derivative=lambda z, a: a + get("sigmoid").function()(z) * (1 - a),
    ),
    Activation(
        name="gelu",
        title="Gaussian error linear unit",
        latex=r"\operatorname{gelu}",
        unicode="gelu",
        # PyTorch's exact form, z Phi(z) = z (1 + erf(z / sqrt 2)) / 2.
        numpy="_gelu({z})",
        numpy_helpers=_NORMAL,
        forward=lambda z: z * NormalCDF(z),
        # Phi(z) + z phi(z), phi the standard normal density.
        derivative=lambda z, a: NormalCDF(z) + z * NormalPDF(z),
    ),
    Activation(
        name="softsign",
        title="softsign",
        latex=r"\operatorname{softsign}",
        unicode="softsign",
        numpy="{z} / (1.0 + np.abs({z}))",
        forward=lambda z: z / (1 + sp.Abs(z)),
        derivative=lambda z, a: (1 - sp.Abs(a)) ** 2,  # = 1 / (1 + |z|)^2
    ),
)

ACTIVATIONS: dict[str, Activation] = {entry.name: entry for entry in _ENTRIES}


def get(name: str) -> Activation:
    return lookup(ACTIVATIONS, "activation", "activations", name)
