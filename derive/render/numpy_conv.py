"""ConvDerivation -> a standalone NumPy module, as ``derive.render.numpy`` writes a dense model's.

What it promises: the module has the dense modules' layout and conventions (``templates/
module.py.j2``: the door checking every argument's shape in size symbols, float32 staying
float32, each array deleted after its last use, NaN propagating), with X of shape (n, C, T) or
(n, C, H, W) as PyTorch's. Each conv statement is lowered from the derivation's index-notation
expression by ``einsum_code``, one rule per index form:

- a plain letter is an einsum axis (the batch axis ``n`` first on per-example arrays);
- ``t + r - 1`` (a window) reads the array through ``sliding_window_view`` along that axis;
- ``s - r + 1`` (a full correlation) pads the array by ``R - 1`` on both sides of that axis and
  reads it through a window, the other factors' ``r`` axis flipped (the flipped kernel);

summed letters are summed by ``np.einsum`` (``optimize=True`` for two arrays: BLAS where it
can). Elementwise statements (activation, ``delta = g sigma'(z)``) are lowered by ``derive.lowering`` as the
dense ones are. The dense head (after flatten) is the dense generator's code over the flattened
conv output; the one rule of flatten is that ``sum_i delta_i w_{i,k,t}`` is ``delta.dot(W)``
reshaped to the conv output's shape (C order, as PyTorch's flatten).
"""

from __future__ import annotations

import re
from dataclasses import replace

import sympy as sp

from ..conv import ConvDerivation, ConvLayer, ConvStep
from ..lowering import batch
from ..naming import batch_name
from .numpy import _NAME, BODY, Line, Parameter, _comment, _free_after_last_use, _paragraph, context
from .numpy_door import ARGUMENT_ERROR, inputs_body, shapes_source, unpack
from .numpy_printer import NumPyCodePrinter, equation_text, helper_source, with_callees
from .pysource import LINE_LENGTH, call, tuple_code

PER_EXAMPLE = ("x", "z", "a", "delta", "g")


class ConvPrinter(NumPyCodePrinter):
    """The dense printer, but a step ``H(z)`` with ``H(0) = 0`` as the comparison ``(z > 0)``:
    over a conv layer's large arrays ``np.heaviside`` costs twenty times a comparison (NaN still
    propagates through the error it multiplies)."""

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        arg, at_zero = expr.args
        if at_zero == 0:
            return f"({self._print(arg)} > 0)"
        return super()._print_Heaviside(expr)
WINDOW = "np.lib.stride_tricks.sliding_window_view"


def _code_name(base: sp.IndexedBase) -> str:
    return batch_name(base.name, True)


def _per_example(base: sp.IndexedBase) -> bool:
    return base.name.rstrip("0123456789") in PER_EXAMPLE


def _terms(expr: sp.Expr) -> tuple[list[sp.Expr], sp.Expr]:
    """(the factors of a summed product, its summand) with every Sum opened."""
    while isinstance(expr, sp.Sum):
        expr = expr.function
    return list(sp.Mul.make_args(expr)), expr


def einsum_lines(
    target: str,
    comments: tuple[str, ...],
    expr: sp.Expr,
    out: tuple[sp.Symbol, ...],
    window: dict[sp.Symbol, str],
    batch_out: bool,
    bias: str = "",
) -> list[Line]:
    """``target = `` the NumPy form of a sum of a product of indexed arrays (module docstring),
    as lines that each fit: a padded array and a window view are named first.

    ``out``: the target's letters; ``window``: each kernel offset's size as code (``W1.shape[2]``);
    ``batch_out``: whether the result keeps the batch axis (a gradient sums it); ``bias``: code
    added to the sum.
    """
    factors, _ = _terms(expr)
    flipped: set[sp.Symbol] = set()
    operands: list[tuple[sp.Indexed, list[tuple[int, sp.Symbol, sp.Symbol, bool]]]] = []
    for f in factors:
        if not isinstance(f, sp.Indexed):
            raise ValueError(f"no einsum form for the factor {f}")
        shifted = []
        for axis, i in enumerate(f.indices):
            if isinstance(i, sp.Symbol):
                continue
            plus = [s for s in i.free_symbols if i.coeff(s) == 1]
            minus = [s for s in i.free_symbols if i.coeff(s) == -1]
            if len(plus) == 2 and sp.expand(i - sum(plus) + 1) == 0:  # t + r - 1: a window
                offset = next(s for s in plus if s in window)
                position = next(s for s in plus if s is not offset)
                shifted.append((axis, position, offset, False))
            elif len(plus) == 1 and len(minus) == 1 and sp.expand(i - plus[0] + minus[0] - 1) == 0:
                shifted.append((axis, plus[0], minus[0], True))  # s - r + 1: a full correlation
                flipped.add(minus[0])
            else:
                raise ValueError(f"no einsum form for the index {i}")
        operands.append((f, shifted))
    lines: list[Line] = []
    letters, codes = [], []
    for f, shifted in operands:
        head = 1 if _per_example(f.base) else 0
        subscript = ["n"] * head + [str(i) for i in f.indices]
        code = _code_name(f.base)
        if any(i in flipped for i in f.indices if isinstance(i, sp.Symbol)):
            code += "[" + ", ".join("::-1" if i in flipped else ":" for i in f.indices) + "]"
        if shifted:
            axes = [head + axis for axis, *_ in shifted]
            sizes = [window[offset] for _, _, offset, _ in shifted]
            if any(full for *_, full in shifted):
                widths = ["(0, 0)"] * (head + len(f.indices))
                for axis, size in zip(axes, sizes, strict=True):
                    widths[axis] = f"({size} - 1,) * 2"  # R - 1 zeros on both sides
                padded = f"{code}_padded"
                lines.append(_assign(padded, "np.pad", [code, tuple_code(widths)]))
                code = padded
            for axis, position, _, _ in shifted:
                subscript[head + axis] = str(position)
            subscript += [str(offset) for _, _, offset, _ in shifted]
            size_code = sizes[0] if len(sizes) == 1 else tuple_code(sizes)
            axis_code = str(axes[0]) if len(axes) == 1 else tuple_code([str(a) for a in axes])
            view = f"{_code_name(f.base)}_windows"
            lines.append(_assign(view, WINDOW, [code, size_code, f"axis={axis_code}"]))
            code = view
        letters.append("".join(subscript))
        codes.append(code)
    result = ("n" if batch_out else "") + "".join(str(i) for i in out)
    # A contraction of two arrays is planned (BLAS where it can); a sum of one array is not: the
    # plan would cost more than the sum (15 us against 3 us at 16x4x10x10).
    args = [f'"{",".join(letters)}->{result}"', *codes, *(["optimize=True"] if len(codes) > 1 else [])]
    single = f"{BODY}{target} = np.einsum({', '.join(args)})" + (f" + {bias}" if bias else "")
    if len(single) <= LINE_LENGTH:
        lines.append(Line((), target, single.removeprefix(f"{BODY}{target} = ")))
    else:
        lines.append(_assign(target, "np.einsum", args))
        if bias:
            lines.append(Line((), target, f"{target} + {bias}"))
    lines[0] = replace(lines[0], comments=comments)  # the equation, before the lines computing it
    return lines


def _assign(target: str, function: str, args: list[str]) -> Line:
    """``target = function(args)``, split one argument a line when too long (as ruff formats it)."""
    return Line((), target, call(f"{BODY}{target} = {function}", args).removeprefix(f"{BODY}{target} = "))


def _elementwise(expr: sp.Expr, printer: NumPyCodePrinter) -> str:
    """An elementwise expression of same-indexed arrays, printed by the dense lowering: each
    element ``q[k, t]`` read as a whole array (NumPy broadcasts the rest)."""

    def one(e: sp.Indexed) -> sp.Expr:
        return e.base[e.indices[0]]

    flat = expr.replace(lambda e: isinstance(e, sp.Indexed), one)
    return printer.doprint(batch(flat).expr)


def _bias(layer: ConvLayer) -> str:
    return f"{layer.b.name}[:{', None' * len(layer.positions)}]"


def _windows(layer: ConvLayer) -> dict[sp.Symbol, str]:
    return {o: f"{layer.w.name}.shape[{2 + axis}]" for axis, o in enumerate(layer.offsets)}


def _forward_lines(d: ConvDerivation, printer: NumPyCodePrinter, training: bool) -> list[Line]:
    """Each conv layer's z and a, then the flattening (``loss_and_grad`` keeps the shape)."""
    lines = []
    for layer, (z_eq, a_eq) in zip(d.layers, zip(d.setup[0::2], d.setup[1::2], strict=False), strict=False):
        body = z_eq.rhs - layer.b[layer.channel] if layer.bias else z_eq.rhs
        comment = _comment(equation_text(z_eq.lhs, z_eq.rhs))
        lines += einsum_lines(
            layer.z.name,
            comment,
            body,
            (layer.channel, *layer.positions),
            _windows(layer),
            True,
            _bias(layer) if layer.bias else "",
        )
        comment = _comment(equation_text(a_eq.lhs, a_eq.rhs))
        lines.append(Line(comment, layer.a.name, _elementwise(a_eq.rhs, printer)))
    last = d.layers[-1].a.name
    note = ("flatten, C order (as torch.flatten(start_dim=1)): a_{kt} is column (k, t)",)
    if training:
        lines.append(
            Line(note, f"{last}_shape, {last}", f"{last}.shape, {last}.reshape({last}.shape[0], -1)")
        )
    else:
        lines.append(Line(note, last, f"{last}.reshape({last}.shape[0], -1)"))
    return lines


def _backward_lines(d: ConvDerivation, printer: NumPyCodePrinter) -> list[Line]:
    """Each conv layer's g and delta, from the top conv layer down, each followed by its gradients."""
    first = d.first
    last = d.layers[-1]
    lines = []
    by_layer = {layer.number: layer for layer in d.layers}
    for step in d.errors:
        layer = by_layer[step.layer]
        comment = _comment(equation_text(step.name, step.value))
        if step.name.base == layer.g and layer is last:
            delta = first.delta.name
            product = (
                f"{delta}.dot({first.w.name})"
                if first.index is not None
                else f"np.multiply.outer({delta}, {first.w.name})"
            )
            lines.append(Line(comment, layer.g.name, f"({product}).reshape({last.a.name}_shape)"))
        elif step.name.base == layer.g:
            up = by_layer[layer.number + 1]
            lines += einsum_lines(
                layer.g.name, comment, step.value, (layer.channel, *layer.positions), _windows(up), True
            )
        else:
            if layer is last and step.value.has(layer.a):
                lines.append(Line((), layer.a.name, f"{layer.a.name}.reshape({last.a.name}_shape)"))
            lines.append(Line(comment, layer.delta.name, _elementwise(step.value, printer)))
            lines += _gradient_lines(d, layer)
    return lines


def _gradient_lines(d: ConvDerivation, layer: ConvLayer) -> list[Line]:
    lines = []
    for step in d.gradients:
        if step.parameter is None or step.parameter not in layer.params:
            continue
        letters = tuple(i for i in step.name.indices)
        comment = _comment(equation_text(step.partial, step.value))
        lines += einsum_lines("d" + step.parameter.name, comment, step.value, letters, _windows(layer), False)
    return lines


def _dim(e: sp.Expr) -> str | int:
    return int(e) if e.is_Integer else str(e)


def conv_shapes(d: ConvDerivation) -> list[tuple[str, tuple[str | int, ...]]]:
    """X and every parameter with its shape in size symbols (the flattened width: F)."""
    result: list[tuple[str, tuple[str | int, ...]]] = [("X", ("n", *(_dim(s) for s in _input_sizes(d))))]
    for layer in d.layers:
        result.append(
            (layer.w.name, (_dim(layer.channels), _dim(layer.in_channels), *map(_dim, layer.kernel)))
        )
        if layer.bias:
            result.append((layer.b.name, (_dim(layer.channels),)))
    from .numpy_door import shapes as dense_shapes

    result += dense_shapes(d.head.names)[1:]
    return result


def _input_sizes(d: ConvDerivation) -> tuple[sp.Expr, ...]:
    first = d.layers[0]
    return (first.in_channels, *first.in_sizes)


def _size_code(e: sp.Expr) -> str:
    if e.is_Integer:
        return str(int(e))
    text = sp.sstr(e.xreplace({s: sp.Symbol(f'sizes["{s}"]') for s in e.free_symbols}))
    # As ruff formats it: 2 * sizes["R"], sizes["R"] ** 2.
    return re.sub(r" +", " ", re.sub(r"\*\*|(?<!\*)\*(?!\*)", lambda m: f" {m.group()} ", text))


def _parameters(d: ConvDerivation, dense: list[Parameter]) -> list[Parameter]:
    result = []
    for layer in d.layers:
        dims = (layer.channels, layer.in_channels, *layer.kernel)
        fan_in = sp.Mul(layer.in_channels, *layer.kernel)
        result.append(
            Parameter(
                layer.w.name,
                "(" + ", ".join(_size_code(e) for e in dims) + ")",
                "(" + ", ".join(str(e) for e in dims) + ")",
                _size_code(fan_in),
            )
        )
        if layer.bias:
            result.append(
                Parameter(layer.b.name, f"({_size_code(layer.channels)},)", f"({layer.channels},)", None)
            )
    flat = sp.Mul(d.layers[-1].channels, *d.layers[-1].out_sizes)
    for p in dense:  # the flattened width F is the conv output's size
        result.append(
            replace(
                p,
                shape=p.shape.replace('sizes["F"]', _size_code(flat)),
                shape_doc=p.shape_doc.replace("F", _product_doc(d.layers[-1])),
                fan_in=None if p.fan_in is None else p.fan_in.replace('sizes["F"]', _size_code(flat)),
            )
        )
    return result


def _product_doc(layer: ConvLayer) -> str:
    """``4*(T - R + 1)``: the flattened width as channels times positions, unexpanded."""
    return "*".join(f"({s})" if s.is_Add else str(s) for s in (layer.channels, *layer.out_sizes))


def _size_symbols(d: ConvDerivation) -> list[str]:
    found: set[str] = set()
    for layer in d.layers:
        for e in (layer.channels, layer.in_channels, *layer.kernel, *layer.in_sizes):
            found |= {s.name for s in e.free_symbols}
    found |= {s.name for s in d.head.names.size_symbols()} - {"F"}
    return sorted(found)


def _checks(d: ConvDerivation) -> list[str]:
    """The spatial sizes a conv model's X must have (the door checks every shape's symbols; this
    checks what no single symbol says: each kernel fits its input, the flattened width)."""
    dims = len(d.layers[0].positions)
    spans = []
    for axis in range(dims):
        extra = " - ".join(f"{layer.w.name}.shape[{2 + axis}]" for layer in d.layers)
        spans.append(f"X.shape[{2 + axis}] - {extra} + {len(d.layers)}")
    last, first = d.layers[-1], d.first
    sizes_doc = " * ".join(f"({s})" if s.is_Add else str(s) for s in (last.channels, *last.out_sizes))
    width = f"{first.w.name}.shape[-1]"
    return [
        *(call("out = ", spans) if len(spans) > 1 else f"out = ({spans[0]},)").split("\n"),
        "if min(out) < 1:",
        '    raise ValueError(f"X is too small for the kernels: {X.shape}")',
        f"columns = {last.w.name}.shape[0] * int(np.prod(out))  # {sizes_doc}",
        f"if {width} != columns:",
        f'    raise ValueError(f"{first.w.name} must have {{columns}} columns, '
        f'got {{{first.w.name}.shape}}")',
    ]


def _shared_views(blocks: list[list[Line]]) -> list[list[Line]]:
    """``blocks`` without a window view made again (the weight gradient reads the forward pass's
    ``X_windows``): it is kept until its last use instead (a view costs ~30 us to make)."""
    made: dict[str, str] = {}  # view -> its code, while what it views is unchanged
    out: list[list[Line]] = []
    for block in blocks:
        out.append([])
        for line in block:
            if line.target.endswith("_windows") and made.get(line.target) == line.code:
                continue
            for view, code in list(made.items()):  # a view of an array assigned again is stale
                if line.target in _NAME.findall(code.split("(", 1)[1]):
                    del made[view]
            if line.target.endswith("_windows"):
                made[line.target] = line.code
            out[-1].append(line)
    return out


def conv_context(d: ConvDerivation) -> dict:
    head = context(d.head)
    printer = ConvPrinter()
    conv_forward = _forward_lines(d, printer, True)
    conv_backward = _backward_lines(d, printer)
    clear = lambda lines: [replace(line, after="") for line in lines]  # noqa: E731
    head_forward = clear(head["forward"])
    blocks = _shared_views([conv_forward + head_forward, clear(head["loss"]),
                            clear(head["backward"]) + conv_backward])
    returned = {"loss"} | {"d" + name for name, _ in conv_shapes(d)[1:]}
    forward, loss, backward = _free_after_last_use(blocks, returned)
    arrays = conv_shapes(d)
    names = [name for name, _ in arrays]
    parameters = _parameters(d, head["parameters"])
    shape_text = "(n, " + ", ".join(str(s) for s in _input_sizes(d)) + ")"
    inputs_doc = f"X is {shape_text} (PyTorch's layout); " + head["inputs_doc"].split("; ", 1)[1]
    sizes = _size_symbols(d)
    quoted = ", ".join(f'"{s}"' for s in sizes) + ("," if len(sizes) == 1 else "")
    head.update(
        inputs="X",
        parameters=parameters,
        sizes_line=f"SIZES: tuple[str, ...] = ({quoted})",
        module_inputs_doc=_paragraph(f"Inputs: {inputs_doc}"),
        inputs_doc=_paragraph(inputs_doc, BODY),
        forward_doc=f'"""Predictions for a batch: X is {shape_text}."""',
        input_line=None,
        shapes=shapes_source(None, arrays),
        inputs_body=inputs_body(None, arrays=arrays),
        unpack_inputs=unpack(BODY, names, "_inputs(params, X)", "dtype").removeprefix(BODY),
        unpack_forward=unpack(BODY, names, "_inputs(params, X)", "_").removeprefix(BODY),
        predict=_forward_lines(d, printer, False) + head["predict"],
        forward=forward,
        loss=loss,
        backward=backward,
        batch_check=_checks(d),
        forward_sizes=head["forward_sizes"],
        gradients=[(name, f"np.asarray(d{name})" if not dims else "d" + name) for name, dims in arrays[1:]],
        argument_error=ARGUMENT_ERROR,
    )
    head["helpers"] = sorted(set(head["helpers"]) | {helper_source(n) for n in with_callees(printer.helpers)})
    return head


def module_source(d: ConvDerivation) -> str:
    from .environment import render

    return render("module.py.j2", **conv_context(d))


__all__ = ["ConvStep", "conv_context", "einsum_lines", "module_source"]
