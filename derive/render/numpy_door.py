"""The door of a generated NumPy module: the code that checks and converts its arguments.

A generated ``forward`` and ``loss_and_grad`` call ``_inputs(params, X)`` first. It returns the
dtype of the computation (NumPy's promotion of the arguments': float32 stays float32; arrays of
integers only become float64) and ``X`` and the parameters as arrays, after checking every shape
against the module's ``SHAPES``: each argument's shape in the model's size symbols, ``n`` the
number of examples.

The check is two-speed. The fast path, generated per model, is a few tuple comparisons (about
half a microsecond): it binds each size by unpacking a shape and compares the rest. Only when it
fails does the generic ``_argument_error`` run: it gives each size the value most arguments agree
on (a parameter's over ``X``'s on a tie), and raises a one-line ``ValueError`` naming the first
argument that does not fit, its expected shape in size symbols, where the disagreeing sizes came
from, and the shape it got (``: transposed?`` when it is the transpose). Targets ``y`` are accepted by
their loss's target kind (``derive.losses.Target.numpy_accept``).
"""

from __future__ import annotations

import sympy as sp

from ..naming import ModelNames
from .pysource import LINE_LENGTH, call, tuple_code

EXAMPLES = "n"  # the batch size's name in SHAPES and in messages

ARGUMENT_ERROR = '''def _argument_error(params: object, inputs: object) -> NoReturn:
    """Raise a one-line ValueError naming the argument that does not fit SHAPES.

    Each size takes the value most arguments agree on (setting aside an argument that
    disagrees with a clear majority on another size; on a tie, a parameter's value over
    X's, as X changes from call to call), and the first argument in SHAPES order that
    does not fit those sizes is named, with its expected shape and the shape it has.
    """
    needed = ", ".join(name for name in SHAPES if name != "X")
    mapping = params if isinstance(params, Mapping) else {}
    shapes: dict[str, tuple[int, ...]] = {}
    for name, dims in SHAPES.items():
        if name != "X" and name not in mapping:
            kind = type(params).__name__
            raise ValueError(f"params ({kind}) has no {name!r}; it needs {needed}")
        try:
            array = np.asarray(inputs if name == "X" else mapping[name])
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} is not an array of numbers: {error}") from None
        if array.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
        if array.ndim != len(dims):
            raise ValueError(f"{name} must be {_shape_text(dims)}, got {array.shape}")
        shapes[name] = array.shape
    for dim, got in zip(SHAPES["X"], shapes["X"], strict=True):
        if got == 0:  # an empty axis: no examples, steps, channels or inputs
            least = "at least one row (n >= 1)" if dim == "n" else f"{dim} >= 1"
            raise ValueError(f"X must have {least}, got {shapes['X']}")
    votes: dict[str, list[tuple[int, str]]] = {}
    for name, dims in SHAPES.items():
        for dim, got in zip(dims, shapes[name], strict=True):
            if isinstance(dim, str):
                votes.setdefault(dim, []).append((got, name))
    aside: set[str] = set()
    for ballots in votes.values():
        counts = Counter(v for v, _ in ballots).most_common()
        if len(counts) > 1 and counts[0][1] > counts[1][1]:
            aside.update(name for v, name in ballots if v != counts[0][0])
    sizes: dict[str, tuple[int, str]] = {}
    for dim, ballots in votes.items():
        kept = [b for b in ballots if b[1] not in aside] or ballots
        support = Counter(v for v, _ in kept)
        by_params = Counter(v for v, n in kept if n != "X")
        value = max(support, key=lambda v: (by_params[v], support[v]))
        sizes[dim] = (value, ", ".join(n for w, n in kept if w == value))
    for name, dims in SHAPES.items():
        want = tuple(d if isinstance(d, int) else sizes[d][0] for d in dims)
        if shapes[name] != want:
            pairs = zip(dims, shapes[name], want, strict=True)
            named = [d for d, g, w in pairs if g != w and isinstance(d, str)]
            sources = "; ".join(f"{d} from {sizes[d][1]}" for d in named)
            hint = ": transposed?" if shapes[name][::-1] == want else ""
            raise ValueError(
                f"{name} must be {_shape_text(dims)} = {want}"
                + (f" ({sources})" if sources else "")
                + f", got {shapes[name]}{hint}"
            )
    raise ValueError("X and params do not fit the model")


def _shape_text(dims: tuple[str | int, ...]) -> str:
    """A shape in size symbols: (K, M), (K,), ()."""
    return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"
'''


def _dim(width: sp.Expr) -> str | int:
    return int(width) if width.is_Integer else str(width)


def shapes(names: ModelNames) -> list[tuple[str, tuple[str | int, ...]]]:
    """Each argument and its shape in size symbols, in checking order: X, then W1, b1, W2, ..."""
    result: list[tuple[str, tuple[str | int, ...]]] = [("X", (EXAMPLES, _dim(names.input_width)))]
    for layer in names.layers:
        for q in layer.params:  # a layer without bias has no b
            dims = layer.weight_dims if q is layer.w else layer.unit_dims
            result.append((q.name, tuple(_dim(w) for w in dims)))
    return result


def shapes_source(names: ModelNames | None,
                  arrays: list[tuple[str, tuple[str | int, ...]]] | None = None) -> str:
    """The module constant ``SHAPES``, one argument a line (``arrays``: given, not ``shapes(names)``)."""
    items = []
    for name, dims in arrays if arrays is not None else shapes(names):  # type: ignore[arg-type]
        shown = [str(d) if isinstance(d, int) else '"' + d + '"' for d in dims]
        items.append(f'    "{name}": {tuple_code(shown)},\n')
    items_text = "".join(items)
    return "SHAPES: dict[str, tuple[str | int, ...]] = {\n" + items_text + "}"


def unpack(indent: str, targets: list[str], value: str, first: str | None = None) -> str:
    """``a, b = value`` (or ``first, (a, b) = value``), split one target a line when too long,
    as ruff formats it."""
    if first is None:
        line = f"{indent}{', '.join(targets)} = {value}"
        return line if len(line) <= LINE_LENGTH else call(indent, targets, f" = {value}")
    line = f"{indent}{first}, {tuple_code(targets)} = {value}"
    if len(line) <= LINE_LENGTH:
        return line
    lines = [f"{indent}(", f"{indent}    {first},", f"{indent}    ("]
    lines += [f"{indent}        {target}," for target in targets]
    lines += [f"{indent}    ),", f"{indent}) = {value}"]
    return "\n".join(lines)


def inputs_body(names: ModelNames | None, indent: str = "    ",
                arrays: list[tuple[str, tuple[str | int, ...]]] | None = None) -> str:
    """The body of the per-model ``_inputs`` function, indented by ``indent``.

    Each size is bound by unpacking the shape of the first array that has it (which checks that
    array's number of dimensions too); every other shape is compared with a tuple of bound sizes.
    """
    arrays = arrays if arrays is not None else shapes(names)  # type: ignore[arg-type]
    bound: set[str] = set()
    binds: list[str] = []
    got: list[str] = []
    expected: list[str] = []
    # A size of one argument alone needs no comparison: one of X alone (the examples n, a recurrent
    # model's steps T) is bound as unused (_n, _T), X being checked first (0 in X.shape); one of
    # another argument alone (a conv model's flattened width) is not named.
    counts: dict[str | int, int] = {}
    for _, dims in arrays:
        for dim in dims:
            counts[dim] = counts.get(dim, 0) + 1
    for position, (name, dims) in enumerate(arrays):
        targets = []
        for dim in dims:
            fresh = isinstance(dim, str) and dim not in bound
            alone = counts[dim] == 1  # n too: 0 in X.shape checks it
            if fresh and alone:
                targets.append("_" + str(dim) if position == 0 else "_")
            else:
                targets.append(str(dim) if fresh else "_")
            if fresh:
                bound.add(str(dim))
        if any(t != "_" for t in targets):  # (a "_T" binds nothing later lines read)
            bound_here = tuple_code(targets) if len(targets) == 1 else ", ".join(targets)
            binds.append(f"{bound_here} = {name}.shape")
        if any(t == "_" for t in targets) or not targets:
            got.append(f"{name}.shape")
            lone = [isinstance(d, str) and counts[d] == 1 for d in dims]
            expected.append(tuple_code([f"{name}.shape[{i}]" if one else str(d)
                                        for i, (d, one) in enumerate(zip(dims, lone, strict=True))]))
    inner = indent * 2
    reads = ["np.asarray(inputs)", *(f'np.asarray(params["{name}"])' for name, _ in arrays[1:])]
    lines = [
        f"{indent}try:",
        call(f"{inner}arrays: tuple[Array, ...] = ", reads),
        unpack(inner, [name for name, _ in arrays], "arrays"),
        *(f"{inner}{line}" for line in binds),
        f"{inner}dtype = np.result_type(*arrays)",
        f"{indent}except (KeyError, TypeError, ValueError):",
        f"{inner}_argument_error(params, inputs)",
    ]
    condition = 'dtype.kind not in "biuf" or 0 in X.shape'
    if got:
        for name, items in (("got", got), ("expected", expected)):
            single = f"{indent}{name} = {items[0]}"
            lines.append(call(f"{indent}{name} = ", items) if len(items) > 1 else single)
        condition += " or got != expected"
    lines += [
        f"{indent}if {condition}:",
        f"{inner}_argument_error(params, inputs)",
        f'{indent}if dtype.kind != "f":  # integers or booleans only: compute in float64',
        f"{inner}dtype = np.dtype(np.float64)",
        f"{inner}arrays = tuple(array.astype(dtype) for array in arrays)",
        f"{indent}return dtype, arrays",
    ]
    return "\n".join(lines)
