"""A recurrent model's Derivation -> a standalone NumPy module, as ``derive.render.numpy`` writes one.

The module keeps the generated modules' conventions (``SHAPES`` and the argument checks at the
door, float32 stays float32, NaN propagates, the output error divided by ``n`` once) and adds the
time loops: ``X`` is ``(n, T, M)`` (PyTorch's ``batch_first``), the states are kept as ``H``,
``(n, T, K)``; the forward pass runs ``for t in range(T)``, backpropagation through time
``for t in reversed(range(T))``, vectorised over the batch. The dense head's lines are the ones
``derive.render.numpy`` prints for it, applied to ``H[:, -1]`` (many-to-one) or to every step's
state at once (many-to-many: ``(n T, K)`` rows, the mean over the ``n`` examples of the loss
summed over the steps).

Every line of mathematics is a statement of the derivation lowered by ``derive.lowering`` (the
per-step quantities stand in as per-example arrays, ``h_{t-1}`` as the previous state) and printed
by the NumPy printer; the loops and the step slices around them are laid out here.
"""

from __future__ import annotations

import re
from typing import Any

import sympy as sp

from ..chain import Derivation
from ..lowering import ArrayActivation, ArraySymbol, N, batch, contract
from ..naming import array
from ..recurrent import Recurrence
from ..vectorise import ArrayStatement, gradient_name
from .environment import render
from .numpy_door import EXAMPLES, _dim, inputs_body, shapes, shapes_source, unpack
from .numpy_printer import NumPyCodePrinter, equation_text, helper_source, with_callees
from .pysource import call

BODY = " " * 4  # a function body, as derive.render.numpy indents it
LOOP = BODY * 2  # the body of a time loop


def _stand_ins(expr: sp.Expr, arrays: dict[tuple[sp.IndexedBase, sp.Expr], str]) -> tuple[sp.Expr, dict]:
    """``expr`` with each element ``q[step, k]`` of ``arrays`` a per-example stand-in ``q901[k]``
    (a name ``derive.lowering`` knows as per-example, numbered past any layer), and the stand-ins'
    array symbols mapped to the code that holds them (``H[:, t]``, ``h_prev``)."""
    names: dict[sp.Expr, sp.Expr] = {}
    swap: dict[sp.Expr, sp.Expr] = {}
    for number, ((base, step), code) in enumerate(arrays.items(), start=901):
        stand_in = f"{base.name}{number}"
        names[ArraySymbol(stand_in, real=True)] = ArraySymbol(code, real=True)
        for element in expr.atoms(sp.Indexed):
            if element.base == base and element.indices[0] == step:
                swap[element] = array(stand_in)[element.indices[1:]]
    return expr.xreplace(swap), names


def _code(expr: sp.Expr, arrays: dict, printer: NumPyCodePrinter) -> str:
    """A per-step index-notation expression lowered over the batch and printed."""
    plain, names = _stand_ins(expr, arrays)
    return printer.doprint(batch(plain).expr.xreplace(names))


def _gradient_code(expr: sp.Expr, order: tuple, arrays: dict, printer: NumPyCodePrinter) -> str:
    """``sum_t sum_n`` of a per-step product: the rows of the (example, step) pairs contracted."""
    plain, names = _stand_ins(expr, arrays)
    total = contract([batch(arg) for arg in sp.Mul.make_args(plain)], N, order)
    return printer.doprint(total.expr.xreplace(names))


def _comment(indent: str, lhs: sp.Expr, rhs: sp.Expr) -> str:
    return f"{indent}# {equation_text(lhs, rhs)}"


ROWS_OF_X = "X.reshape(n * T, -1)"  # X (n, T, M) as its n T rows


def _forward_lines(rec: Recurrence, printer: NumPyCodePrinter, keep_z: bool) -> list[str]:
    r = rec.names
    t = r.t
    z_eq, h_eq = rec.setup
    recurrent = sum((term for term in sp.Add.make_args(z_eq.rhs) if term.has(r.h)), sp.Integer(0))
    inputs = z_eq.rhs - recurrent
    prev = {(r.h, t - 1): "h_prev"}
    activation = ArrayActivation(r.entry.function()(ArraySymbol("z", real=True)))
    lines = [
        _comment(BODY, z_eq.lhs, z_eq.rhs),
        # Every step's input term at once: the (n T, M) rows of X as one matrix, as ndarray.dot
        # of a 3-D array has no BLAS path (6x slower than this at n = 64, T = 32).
        f"{BODY}inputs_part = ({_code(inputs, {(r.x, t): ROWS_OF_X}, printer)}).reshape(n, T, K)",
        f"{BODY}H = np.empty((n, T, K), dtype=dtype)",
        *([f"{BODY}Z = np.empty((n, T, K), dtype=dtype)"] if keep_z else []),
        _comment(BODY, *(rec.boundary[0].lhs, rec.boundary[0].rhs)),
        f"{BODY}h_prev = np.zeros((n, K), dtype=dtype)",
        f"{BODY}for t in range(T):",
        f"{LOOP}z = inputs_part[:, t] + {_code(recurrent, prev, printer)}",
        *([f"{LOOP}Z[:, t] = z"] if keep_z else []),
        _comment(LOOP, h_eq.lhs, h_eq.rhs),
        # The state the next step multiplies is the activation's own (contiguous) array, not the
        # strided view H[:, t]: a matrix product of a strided view is ~10% slower at n = 16.
        f"{LOOP}h_prev = {printer.doprint(activation)}",
        f"{LOOP}H[:, t] = h_prev",
        f"{BODY}del inputs_part, h_prev, z",
    ]
    return lines


def _backward_lines(rec: Recurrence, printer: NumPyCodePrinter, keep_z: bool) -> list[str]:
    r = rec.names
    t, k = r.t, r.k
    g_step, delta_step = rec.error("g"), rec.error("delta")
    own, back = (sp.Add.make_args(g_step.value)[0], sp.Add(*sp.Add.make_args(g_step.value)[1:]))
    if own.has(r.delta):
        own, back = back, own
    state = {(r.delta, t + 1): "delta", (r.g, t): "g", (r.h, t): "state", (r.z, t): "Z[:, t]"}
    lines = [
        *([f"{BODY}E = e.reshape(n, T, K)", f"{BODY}del e"] if r.outputs == "all" else []),
        f"{BODY}D = np.empty((n, T, K), dtype=dtype)",
        _comment(BODY, rec.boundary[1].lhs, rec.boundary[1].rhs),
        f"{BODY}delta = np.zeros((n, K), dtype=dtype)",
        f"{BODY}for t in reversed(range(T)):",
    ]
    back_code = _code(back, state, printer)
    reads_state = delta_step.value.has(r.h)  # the textbook form through the output (tanh: 1 - h^2)
    if r.outputs == "all":
        lines += [_comment(LOOP, g_step.lhs, g_step.value), f"{LOOP}g = E[:, t] + {back_code}"]
    else:  # the head's error enters at the last step only
        last = equation_text(r.e[r.head_step, k], sp.Integer(0)).split(" = ")[0]
        lines += [_comment(LOOP, g_step.lhs, back) + f", plus {last} at t = T", f"{LOOP}g = {back_code}",
                  f"{LOOP}if t == T - 1:", f"{LOOP}    g += e"]
    lines += [
        _comment(LOOP, delta_step.lhs, delta_step.value),
        *([f"{LOOP}state = H[:, t]"] if reads_state else []),
        f"{LOOP}delta = D[:, t] = {_code(delta_step.value, state, printer)}",
        f"{BODY}del delta, g" + (", state" if reads_state else "") + (", E" if r.outputs == "all" else ", e"),
    ]
    # Each parameter is shared by the steps: its gradient sums the steps' (h_0 = 0: W's from t = 2).
    rows = {
        (r.delta, t): "D.reshape(-1, K)",
        (r.h, t - 1): "H[:, :-1].reshape(-1, K)",
        (r.x, t): "X.reshape(-1, M)",
    }
    for grad in rec.gradients:
        term = grad.result.function
        order = tuple(grad.element.indices)
        mapping = dict(rows)
        if term.has(r.h):
            mapping[(r.delta, t)] = "D[:, 1:].reshape(-1, K)"
        lines.append(_comment(BODY, _partial(grad), grad.result))
        code = _gradient_code(term, order, mapping, printer)
        lines.append(f"{BODY}{gradient_name(grad.parameter.name)} = {code}")
    return lines


def _partial(grad) -> sp.Expr:
    from ..chain import Partial
    from ..naming import scalar

    return Partial(scalar("L"), grad.element)


def _head_error(rec: Recurrence) -> ArrayStatement:
    """``e = dL/dh`` through the head: its batch form over the head's rows."""
    e = rec.error("e")
    return ArrayStatement("e", batch(e.value).expr, (e.lhs, e.value), "error")


def _recurrence(derivation: Derivation) -> Recurrence:
    assert derivation.recurrence is not None
    return derivation.recurrence


def _shapes(derivation: Derivation) -> list[tuple[str, tuple[str | int, ...]]]:
    r = _recurrence(derivation).names
    K, M, T = _dim(r.width), _dim(r.inputs), _dim(r.steps)
    own = [("W", (K, K)), ("U", (K, M))] + ([("b", (K,))] if r.bias else [])
    return [("X", (EXAMPLES, T, M)), *own, *shapes(derivation.names)[1:]]


def _parameters(derivation: Derivation, head: list, base: Any) -> list:
    r = _recurrence(derivation).names
    size = lambda w: str(int(w)) if w.is_Integer else f'sizes["{w}"]'  # noqa: E731
    doc = lambda *ws: "(" + ", ".join(map(str, ws)) + ("," if len(ws) == 1 else "") + ")"  # noqa: E731
    K, M = size(r.width), size(r.inputs)
    own = [base.Parameter("W", f"({K}, {K})", doc(r.width, r.width), K),
           base.Parameter("U", f"({K}, {M})", doc(r.width, r.inputs), M)]
    if r.bias:
        own.append(base.Parameter("b", f"({K},)", doc(r.width), None))
    return own + head


def recurrent_context(derivation: Derivation, base: Any) -> dict:
    """``derive.render.numpy.context`` of the head, with the recurrent layer's loops around it.

    ``base`` holds what this module reuses of ``derive.render.numpy`` (which imports this one):
    ``context``, ``Parameter``, ``training_lines``, ``paragraph``, ``one_line_docstring``.
    """
    rec = derivation.recurrence
    assert rec is not None
    r = rec.names
    head = base.context(derivation)
    printer = NumPyCodePrinter()
    keep_z = rec.error("delta").factors[0].textbook.has(r.z)
    # The head's backward pass, then the error it sends back to the states (e).
    from ..vectorise import share_log_normaliser, vectorise

    statements = vectorise(derivation)
    training = share_log_normaliser(statements, derivation)
    loss = next(st for st in statements if st.role == "loss")
    backward = [st for st in statements if st.role in ("error", "gradient")] + [_head_error(rec)]
    output_error = derivation.errors[0].delta
    output_error_name = output_error.base.name if isinstance(output_error, sp.Indexed) else output_error.name
    taken = {"X", "H", "Z", "D", "E", "e", "g", "t", "T", "K", "M", "W", "U", "b", "z", "h", "delta",
             "h_prev", "inputs_part", "n", "y", "dtype", "params", "loss"}
    lines = base.training_lines(training, loss, backward, printer, output_error_name, taken)
    head_params = head["parameters"]
    parameters = _parameters(derivation, head_params, base)
    arrays = _shapes(derivation)
    names = [name for name, _ in arrays]
    door = "_inputs(params, X)"
    many = r.outputs == "all"
    out = derivation.names.output
    width = None if out.index is None else out.w.name
    head.update(
        parameters=parameters,
        shapes=shapes_source(derivation.names, arrays),
        inputs_body=inputs_body(derivation.names, arrays=arrays),
        unpack_inputs=unpack(BODY, names, door, "dtype").removeprefix(BODY),
        unpack_forward=unpack(BODY, names, door, "dtype").removeprefix(BODY),
        forward_lines=_forward_lines(rec, printer, keep_z),
        backward_lines=_backward_lines(rec, printer, keep_z),
        head_input="H.reshape(-1, K)" if many else "H[:, -1]",
        targets_line=_targets(derivation, printer, many, width),
        gradients=[(p.name, _returned(p)) for p in parameters],
        many=many,
        sizes_line=_sizes_line(derivation),
        **lines,
    )
    x_doc = f"X is (n, {r.steps}, {r.inputs}), n sequences of {r.steps} steps of {r.inputs} features"
    y_doc = head["inputs_doc"].split("; ", 1)[1] if "; " in head["inputs_doc"] else ""
    if many:
        y_doc = re.sub(r"\(n, (?=\w)", "(n, T, ", y_doc).replace("(n,)", "(n, T)")
    head["module_inputs_doc"] = base.paragraph(f"Inputs: {x_doc}; {y_doc}")
    head["inputs_doc"] = base.paragraph(f"{x_doc}; {y_doc}", BODY)
    what = "summed over the T steps" if many else "at the last step"
    head["module_loss_doc"] = base.paragraph(f"The loss is the mean over the n sequences of the loss {what}.")
    head["forward_doc"] = base.one_line_docstring(
        "Predictions for a batch of sequences: X is (n, T, M); returns the head's outputs"
        + (" at every step (n, T, ...)." if many else " at the last step.")
    )
    helpers = set(printer.helpers) | set(head["helper_names"])
    head["helpers"] = [helper_source(name) for name in with_callees(helpers)]
    return head


def _returned(p: Any) -> str:
    """A 0-d gradient is a NumPy scalar after the batch sum; return arrays, as params are."""
    return gradient_name(p.name) if p.shape != "()" else f"np.asarray({gradient_name(p.name)})"


def _sizes_line(derivation: Derivation) -> str:
    """``SIZES``: the size symbols ``init_params`` needs (the recurrent layer's and the head's)."""
    r = _recurrence(derivation).names
    symbols = {str(w) for w in (r.width, r.inputs) if isinstance(w, sp.Symbol)}
    symbols |= {s.name for s in derivation.names.size_symbols()}
    quoted = [f'"{name}"' for name in sorted(symbols)]
    if len(quoted) == 1:
        return f"SIZES: tuple[str, ...] = ({quoted[0]},)"
    return call("SIZES: tuple[str, ...] = ", quoted)


def _targets(derivation: Derivation, printer: NumPyCodePrinter, many: bool, width: str | None) -> list[str]:
    """The lines converting ``y``; many-to-many targets ``(n, T, ...)`` become one row a step."""
    from .. import losses

    target = losses.get(derivation.spec.loss).target_kind
    printer.helpers.add(target.numpy_accept)
    rows = "n * T" if many else "n"
    shape = f"({rows},)" if width is None else f"({rows}, {width}.shape[0])"
    out = derivation.names.output
    doc = ("(n, T" if many else "(n") + (")" if out.index is None else f", {out.width})")
    lines = []
    if many:
        lines += ["y = np.asarray(y)",
                  "if y.shape[:2] != (n, T):",
                  f'    raise ValueError(f"y must be {doc}, one target a step: {{y.shape}}")',
                  "y = y.reshape(n * T, *y.shape[2:])"]
    accept = call(f"{BODY}y = {target.numpy_accept}", ["y", shape, f'"{doc}"', "dtype"])
    lines.append(accept.removeprefix(BODY))
    return lines


def module_source(derivation: Derivation, base: Any) -> str:
    return render("module_recurrent.py.j2", **recurrent_context(derivation, base))


__all__ = ["module_source", "recurrent_context"]
