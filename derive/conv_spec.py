"""Spec rules of convolution models (``kind = "conv"`` and ``kind = "flatten"`` layers). No SymPy.

What it promises: a convolution model's ``inputs`` is a shape ``[channels, length]`` or
``[channels, height, width]`` (PyTorch's (C, T) / (C, H, W)); its layers are one or more conv
layers, one flatten, then dense layers, the last of which the loss reads. A conv layer has
``channels`` (a size), ``kernel`` (a size, or one per spatial axis; a single size is square in
2-D), an elementwise ``activation`` and an optional ``bias``; stride 1, no padding. Every
violation fails through the caller's ``fail`` (one line naming the key and its line); a kernel
larger than its input is caught wherever both sizes are numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, NoReturn

# The spec module's types and checks, passed in by it (this module does not import it: imports
# flow one way, spec -> conv_spec).
Size = int | str
Fail = Callable[[str], NoReturn]
Check = Callable[..., Any]


def _show(value: object) -> str:
    """A value as a message quotes it (as spec's): one line, bounded."""
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

KINDS = ("conv", "flatten")
CONV_KEYS = ("kind", "channels", "kernel", "activation", "bias")
REQUIRED_CONV = ("channels", "kernel", "activation")
SHAPE_HINT = '[channels, length] or [channels, height, width], such as [3, "T"] or [3, 32, 32]'


def input_shape(value: object, kinds: list[object], fail: Fail, _size: Check) -> tuple[Size, ...]:
    """The validated input shape of a model with conv layers (or with a list as ``inputs``)."""
    if "conv" not in kinds:
        if isinstance(value, list):
            fail(
                f"inputs is a shape ({_show(value)}); only a model with conv layers takes one, "
                "give a dense model's inputs as one size"
            )
        fail(f"a model with a flatten layer needs conv layers and inputs = {SHAPE_HINT}")
    if not isinstance(value, list):
        fail(f"a model with conv layers needs inputs = {SHAPE_HINT}, got {_show(value)}")
    if len(value) not in (2, 3):
        fail(f"inputs must be {SHAPE_HINT} (2 or 3 sizes), got {len(value)} sizes")
    what = ("channels", "length") if len(value) == 2 else ("channels", "height", "width")
    return tuple(_size(v, f"inputs ({w})", fail) for v, w in zip(value, what, strict=True))


def layer(raw: dict, kind: str, known: dict, at: Callable[[str | None], Fail], _size: Check,
          _activation: Check) -> dict[str, Any]:
    """A conv or flatten layer table, validated (its kernel not yet fitted to the inputs): the
    fields of its ``spec.Layer``."""
    if kind == "flatten":
        for key in raw:
            if key != "kind":
                at(key)(f"a flatten layer takes no other keys than kind, got {_show(key)}")
        return {"units": 1, "activation": "identity", "kind": "flatten"}
    parameter_keys = tuple(sorted({p for entry in known.values() for p in entry.parameters}))
    allowed = CONV_KEYS + parameter_keys
    for key in raw:
        if key in ("skip", "norm", "eps", "units"):
            hint = "; a conv layer's width is its channels" if key == "units" else ""
            at(key)(f"{key} is not supported on a conv layer{hint}")
        if key not in allowed:
            at(key)(f"unknown key {_show(key)}; allowed keys of a conv layer: {', '.join(allowed)}")
    for key in REQUIRED_CONV:
        if key not in raw:
            at(None)(f"missing key {_show(key)}; a conv layer needs {', '.join(REQUIRED_CONV)}")
    channels = _size(raw["channels"], "channels", at("channels"))
    activation, parameters, bias = _activation(raw, known, at)
    if not known[activation].elementwise:
        at("activation")(
            f"activation {_show(activation)} is not elementwise; a conv layer takes an elementwise activation"
        )
    value = raw["kernel"]
    sizes = value if isinstance(value, list) else [value]
    if not 1 <= len(sizes) <= 2:
        at("kernel")(f"kernel must be a size or a list of one size per spatial axis, got {_show(value)}")
    kernel = tuple(_size(v, "kernel", at("kernel")) for v in sizes)
    return {"units": channels, "activation": activation, "parameters": parameters, "bias": bias,
            "kind": "conv", "kernel": kernel}


def check_model(
    shape: tuple[Size, ...], layers: tuple[Any, ...], at: Callable[[int, str | None], Fail]
) -> tuple[Any, ...]:
    """The layers in order (conv..., flatten, dense...) with kernels fitted to the spatial axes;
    ``at(index, key)`` fails at a layer's key."""
    axes = len(shape) - 1
    spatial: list[int | None] = [v if isinstance(v, int) else None for v in shape[1:]]
    phase = "conv"
    out = []
    for index, lay in enumerate(layers):
        if lay.kind == "conv":
            if phase != "conv":
                at(index, "kind")(
                    f"a conv layer after a {phase} layer; conv layers come first, then "
                    "one flatten, then dense layers"
                )
            kernel = lay.kernel * axes if len(lay.kernel) == 1 else lay.kernel
            if len(kernel) != axes:
                at(index, "kernel")(
                    f"kernel has {len(lay.kernel)} sizes but the inputs have {axes} "
                    "spatial axis" + ("es" if axes > 1 else "")
                )
            for axis, (size, r) in enumerate(zip(spatial, kernel, strict=True)):
                if size is not None and isinstance(r, int):
                    if r > size:
                        what = "input length" if axes == 1 else ("input height", "input width")[axis]
                        at(index, "kernel")(f"kernel {r} is larger than the {what} {size} it slides over")
                    spatial[axis] = size - r + 1
                else:
                    spatial[axis] = None
            lay = replace(lay, kernel=kernel)
        elif lay.kind == "flatten":
            if phase != "conv" or index == 0:
                where = "first" if index == 0 else f"after a {phase} layer"
                at(index, "kind")(f"a flatten layer comes {where}; it belongs after the last conv layer")
            phase = "flatten"
        else:
            for key, value in (("skip", lay.skip), ("norm", lay.norm)):
                if value is not None:
                    at(index, key)(f"{key} is not supported in a model with conv layers")
            if phase == "conv":
                at(index, None)(
                    "a dense layer after a conv layer needs a flatten layer between them "
                    '(add [[layers]] with kind = "flatten")'
                )
            phase = "dense"
        out.append(lay)
    if phase != "dense":
        at(len(layers) - 1, None)(
            "a model with conv layers ends with flatten and a dense layer (the loss reads a dense output)"
        )
    return tuple(out)
