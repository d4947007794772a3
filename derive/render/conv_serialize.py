"""A ConvDerivation as JSON-ready data, in the form ``derive.serialize`` gives a dense model.

What it promises: the same top-level keys (spec, parameters with their shapes in size symbols,
symbols, setup, errors, gradients), expressions as SymPy-parsable strings; the dense head's
steps exactly as ``serialize`` writes them, each conv step with its chain, factors, result and
``ranges`` (its free indices' ``[letter, low, high]``), the input error's offset ranges inside
its sums' bounds.
"""

from __future__ import annotations

import sympy as sp

from ..conv import ConvDerivation, ConvStep
from ..serialize import _factor, _s, to_dict
from ..version import __version__


def _step(step: ConvStep) -> dict:
    return {
        "layer": step.layer,
        "name": _s(step.name),
        "of": _s(step.of),
        "chain": sp.sstr(step.chain, order="none"),
        "factors": [_factor(f) for f in step.factors],
        "result": _s(step.result),
        "value": _s(step.value),
        "ranges": [[_s(v), _s(lo), _s(hi)] for v, lo, hi in step.ranges],
    }


def _layer(layer) -> dict:
    if layer.kind == "conv":
        return {
            "kind": "conv",
            "channels": layer.units,
            "kernel": list(layer.kernel),
            "activation": layer.activation,
            **dict(layer.parameters),
            **({} if layer.bias else {"bias": False}),
        }
    if layer.kind == "flatten":
        return {"kind": "flatten"}
    return {
        "units": layer.units,
        "activation": layer.activation,
        **dict(layer.parameters),
        **({} if layer.bias else {"bias": False}),
    }


def conv_to_dict(d: ConvDerivation) -> dict:
    head = to_dict(d.head)
    parameters: dict[str, list[str]] = {}
    for layer in reversed(d.layers):
        parameters[layer.w.name] = [str(s) for s in (layer.channels, layer.in_channels, *layer.kernel)]
        if layer.bias:
            parameters[layer.b.name] = [str(layer.channels)]
    flat = sp.Mul(d.layers[-1].channels, *d.layers[-1].out_sizes)
    dense = {name: [str(flat) if s == "F" else s for s in dims] for name, dims in head["parameters"].items()}
    first = d.first.w.name
    atoms: set = set()
    for eq in d.setup:
        atoms |= eq.lhs.atoms(sp.Symbol, sp.IndexedBase) | eq.rhs.atoms(sp.Symbol, sp.IndexedBase)
    for step in (*d.errors, *d.gradients):
        atoms |= step.value.atoms(sp.Symbol, sp.IndexedBase) | step.name.atoms(sp.Symbol, sp.IndexedBase)
    indexed = sorted({a.name for a in atoms if isinstance(a, sp.IndexedBase)})
    plain = [a for a in atoms if isinstance(a, sp.Symbol) and a.name not in indexed]
    return {
        "derive_version": __version__,
        "model": d.spec.name,
        "title": d.spec.title,
        "spec": {
            "inputs": list(d.spec.input_shape),
            "layers": [_layer(lay) for lay in d.spec.layers],
            "loss": d.spec.loss,
        },
        "parameters": {**dense, **parameters},  # the course's order: the output layer first
        "symbols": {
            "indexed": indexed,
            "scalars": sorted({a.name for a in plain if not a.is_integer}),
            "integers": sorted({a.name for a in plain if a.is_integer}),
        },
        "setup": [{"lhs": _s(e.lhs), "rhs": _s(e.rhs), "explicit": _s(e.explicit)} for e in d.setup],
        # The head's layers by their number in the whole model (after the conv layers).
        "errors": [{**e, "layer": e["layer"] + len(d.layers)} for e in head["errors"]]
        + [_step(s) for s in d.errors],
        "gradients": [g for g in head["gradients"] if g["parameter"] != first]
        + [_step(s) for s in d.gradients],
        "flatten": {
            "weight": first,
            "reads": d.layers[-1].a.name,
            "note": f"{first}[i, k, t] is entry (i, (k, t)) of the (units, {flat}) weight matrix, "
            "the flattened index in C order",
        },
    }
