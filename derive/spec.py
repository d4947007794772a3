"""Model specs: plain dataclasses, loaded from TOML and validated. No SymPy here.

A spec describes a feed-forward network: the input size, a list of dense layers (units and
activation) and a loss; its first layer may instead be recurrent (``kind = "recurrent"``: an Elman
layer over ``steps`` time steps, read by the dense layers after it at its last step or at every
step). Everything a spec says is validated before it reaches SymPy, LaTeX or
generated Python: names are safe identifiers, sizes are positive integers or size symbols, and
activation/loss combinations are ones the engine supports.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import NoReturn

from .errors import SpecError, UsageError

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
# A size is one upper-case letter, optionally numbered (M, K, K1, C): SymPy's LaTeX printer would
# rewrite longer names (Kbar -> \bar{K}, Alpha -> A) and a course never uses them.
SIZE_RE = re.compile(r"^[A-Z][0-9]{0,3}$")
# Letters (with or without a number) already naming something on the sheet or in generated code.
RESERVED_SIZES = {
    "A": "activation matrices",
    "L": "the loss",
    "N": "the number of examples",
    "W": "weight matrices",
    "X": "the input matrix",
    "Y": "the target matrix",
    "Z": "pre-activation matrices",
}
SIZE_HINT = "an upper-case letter, optionally followed by digits, such as 'M' or 'K1'"

TOP_KEYS = ("name", "title", "inputs", "loss", "l2", "layers")
# Names a symbolic weight-decay strength may take (l2 = "lambda"): Greek letters the sheet does
# not use for anything else.
L2_SYMBOLS = ("alpha", "beta", "eta", "gamma", "kappa", "lambda", "mu", "nu", "rho", "tau", "theta", "xi")
LAYER_KEYS = ("units", "activation")
OPTIONAL_LAYER_KEYS = ("bias", "skip", "norm", "eps", "kind", "steps", "outputs")
# What a layer is (``kind``): a dense layer, or an Elman recurrent layer over ``steps`` time steps
# (the first layer only; the dense layers after it read its last state or every state).
KINDS = ("dense", "recurrent")
CONV_KINDS = ("conv", "flatten")  # derive.conv_spec's
RECURRENT_OUTPUTS = ("last", "all")  # many-to-one (h_T) or many-to-many (every h_t)
DEFAULT_EPS = 1e-5  # as PyTorch's LayerNorm
REQUIRED_TOP = ("name", "inputs", "loss", "layers")
MAX_LAYERS = 64
MAX_SIZE = 100_000
MAX_TITLE = 200

Size = int | str


@dataclass(frozen=True)
class Layer:
    """One dense layer: ``units`` outputs, each ``activation(sum_j w_kj a_j + b_k)``.

    ``parameters`` are the activation's parameters the spec sets (``alpha = 0.2``), by name.
    """

    units: Size
    activation: str
    parameters: tuple[tuple[str, float], ...] = ()
    bias: bool = True  # False: a dense layer without bias, z_k = sum_j w_kj a_j
    # A residual connection: the layer's output is activation(...) + a^(skip) (0: the inputs).
    skip: int | None = None
    # Normalisation of the pre-activation before the activation ("layer"), and its epsilon.
    norm: str | None = None
    eps: float = DEFAULT_EPS
    # "dense" (the default), or a layer kind of its own module: "recurrent" (an Elman layer,
    # derive.recurrent), "conv" and "flatten" (derive.conv_spec).
    kind: str = "dense"
    # A recurrent layer's number of time steps (a number or size symbol, T) and what the layers
    # after it read: "last" (h_T, many-to-one) or "all" (each h_t, the loss summed over the steps).
    steps: Size | None = None
    outputs: str = "last"
    # A convolution's kernel size per spatial axis ((R,) or (R1, R2)); ``units`` is its channels.
    kernel: tuple[Size, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    """A whole model: inputs -> layers -> loss."""

    name: str
    inputs: Size
    layers: tuple[Layer, ...]
    loss: str
    title: str = ""
    aliases: tuple[str, ...] = ()
    # Weight decay (l2 / 2) * (sum of every weight squared), added once to the batch's mean loss:
    # a non-negative number, or the name of a symbol (``"lambda"``); None: no weight decay.
    l2: float | str | None = None
    # A convolution model's input shape, PyTorch's (C, T) or (C, H, W); ``inputs`` is then C.
    input_shape: tuple[Size, ...] = ()

    @property
    def convolutional(self) -> bool:
        """Whether the model has convolution layers (derived by ``derive.conv``)."""
        return bool(self.input_shape)

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def recurrent(self) -> Layer | None:
        """The model's recurrent layer (always its first), if it has one."""
        return self.layers[0] if self.layers and self.layers[0].kind == "recurrent" else None

    def sizes(self) -> tuple[Size, ...]:
        """Input size followed by each layer's width."""
        return (self.inputs, *(layer.units for layer in self.layers))


# --- where things are in the file ---------------------------------------------------------------

_KEY = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_KEY_LINE = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?:\.\s*{_KEY}\s*)*=")
_TABLE_LINE = re.compile(rf"^\s*(?P<open>\[\[?)\s*(?P<key>{_KEY})\s*[.\]]")


@dataclass
class _Locator:
    """Line numbers of keys in TOML text: tomllib reports positions only for syntax errors.

    Best effort (a line inside a multi-line string could look like a key); a key it cannot find
    gets no line, and messages then name only the file.
    """

    top: dict[str, int]
    layer_headers: list[int]
    layer_keys: list[dict[str, int]]

    @classmethod
    def scan(cls, text: str) -> _Locator:
        top: dict[str, int] = {}
        headers: list[int] = []
        keys: list[dict[str, int]] = []
        table: str | None = None  # None: the root table
        in_string = False
        for number, line in enumerate(text.splitlines(), start=1):
            quotes = line.count('"""') + line.count("'''")
            if in_string:
                in_string = quotes % 2 == 0
                continue
            in_string = quotes % 2 == 1
            header = _TABLE_LINE.match(line)
            key = None if header else _KEY_LINE.match(line)
            if header:
                table = header.group("key").strip("\"'")
                top.setdefault(table, number)
                if header.group("open") == "[[" and table == "layers":
                    headers.append(number)
                    keys.append({})
            elif key and table is None:
                top.setdefault(key.group("key").strip("\"'"), number)
            elif key and table == "layers" and keys:
                keys[-1].setdefault(key.group("key").strip("\"'"), number)
        return cls(top, headers, keys)

    def key(self, key: str) -> int | None:
        return self.top.get(key)

    def layer(self, index: int, key: str | None = None) -> int | None:
        """Line of ``key`` in the ``index``-th layer table, else of its header, else of ``layers``."""
        if index >= len(self.layer_headers):  # an inline array: only ``layers =`` has a line
            return self.top.get("layers")
        return self.layer_keys[index].get(key or "", self.layer_headers[index])


# --- validation ------------------------------------------------------------------------------------


def _show(value: object) -> str:
    """A value as a message quotes it: one line (repr escapes control characters), bounded."""
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


Fail = Callable[[str], NoReturn]


def _size(value: object, what: str, fail: Fail) -> Size:
    """``value`` if it is a valid size; else ``fail`` with the problem."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        fail(f"{what} must be a positive integer or a size symbol ({SIZE_HINT}), got {_show(value)}")
    if isinstance(value, int):
        if value <= 0:
            fail(f"{what} must be a positive integer, got {value}")
        if value > MAX_SIZE:
            fail(f"{what} {value} is too large (at most {MAX_SIZE}); use a size symbol instead")
        return value
    if value.strip().isdigit():
        fail(f"{what} {_show(value)} is a string; write the number without quotes")
    if not SIZE_RE.match(value):
        fail(f"{what} {_show(value)} is not a valid size symbol; use {SIZE_HINT}")
    if value[0] in RESERVED_SIZES:
        fail(
            f"{what} {_show(value)} is reserved ({value[0]} names {RESERVED_SIZES[value[0]]}); "
            "choose another size symbol"
        )
    return value


def _name(value: object, fail: Fail) -> str:
    if not isinstance(value, str):
        fail(f"name must be a string, got {_show(value)}")
    if not NAME_RE.match(value):
        fail(
            f"name {_show(value)} is not a safe identifier; use letters, digits, '-' and '_', "
            "starting with a letter, at most 64 characters"
        )
    return value


def _title(value: object, fail: Fail) -> str:
    """Titles are free text (renderers escape them) but printable, one line and bounded."""
    if not isinstance(value, str):
        fail(f"title must be a string, got {_show(value)}")
    if len(value) > MAX_TITLE:
        fail(f"title is too long ({len(value)} characters; at most {MAX_TITLE})")
    bad = next((ch for ch in value if not ch.isprintable()), None)
    if bad is not None:
        fail(f"title contains a control or non-printing character (U+{ord(bad):04X}); use one line of text")
    return value


def _unknown(key: str, allowed: tuple[str, ...]) -> str:
    return f"unknown key {_show(key)}; allowed keys: {', '.join(allowed)}"


def parse_spec(text: str, source: str = "<spec>") -> ModelSpec:
    """Parse and validate TOML ``text``; raise ``SpecError`` naming ``source`` and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(str(exc), text, source) from None
    return spec_from_dict(data, source, text)


def _toml_error(message: str, text: str, source: str) -> SpecError:
    """tomllib's message, its position moved into SpecError's line (end of document: last line)."""
    line: int | None = None
    column = ""
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)", message)
    if match:
        line, column = int(match.group(1)), f" at column {match.group(2)}"
    elif "(at end of document)" in message:
        line = max(1, len(text.splitlines()))
    message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
    message = message[:1].lower() + message[1:]
    return SpecError(f"malformed TOML{column}: {message}", source, line)


def spec_from_dict(data: dict, source: str = "<spec>", text: str = "") -> ModelSpec:
    """Validate an already-parsed TOML table; ``text`` (the file) lets messages give lines."""
    from .activations import ACTIVATIONS
    from .losses import LOSSES

    where = _Locator.scan(text)

    def at(key: str | None) -> Fail:
        def fail(message: str) -> NoReturn:
            raise SpecError(message, source, where.key(key) if key else None)

        return fail

    for key in data:
        if key not in TOP_KEYS:
            at(key)(_unknown(key, TOP_KEYS))
    for key in REQUIRED_TOP:
        if key not in data:
            _missing(key, data, where, source)

    name = _name(data["name"], at("name"))
    title = _title(data.get("title", ""), at("title"))
    kinds = [raw.get("kind", "dense") for raw in data["layers"] if isinstance(raw, dict)] \
        if isinstance(data["layers"], list) else []
    input_shape: tuple[Size, ...] = ()
    if isinstance(data["inputs"], list) or any(k in ("conv", "flatten") for k in kinds):
        from .conv_spec import input_shape as conv_input_shape

        input_shape = conv_input_shape(data["inputs"], kinds, at("inputs"), _size)
    inputs = input_shape[0] if input_shape else _size(data["inputs"], "inputs", at("inputs"))
    loss = data["loss"]
    if not isinstance(loss, str) or loss not in LOSSES:
        at("loss")(f"unknown loss {_show(loss)}; known losses: {', '.join(sorted(LOSSES))}")

    raw_layers = data["layers"]
    if not isinstance(raw_layers, list) or not all(isinstance(raw, dict) for raw in raw_layers):
        at("layers")("layers must be an array of tables, each starting with [[layers]]")
    if not raw_layers:
        at("layers")("layers is empty; a model needs at least one [[layers]] table")
    if len(raw_layers) > MAX_LAYERS:
        at("layers")(f"too many layers ({len(raw_layers)}; at most {MAX_LAYERS})")
    layers = tuple(
        _layer(raw, index, len(raw_layers), ACTIVATIONS, where, source)
        for index, raw in enumerate(raw_layers)
    )

    if layers[0].kind == "recurrent":
        _check_recurrent_model(layers, data, where, source)
    if input_shape:
        from .conv_spec import check_model

        layers = check_model(input_shape, layers, lambda index, key: at_layer(where, source, index, key))
    for number, layer in enumerate(layers, start=1):
        if layer.skip is not None:
            _check_skip(number, layer, inputs, layers, where, source)
    output = layers[-1]
    problem = LOSSES[loss].check_output(output.units, output.activation)
    if problem:
        at("loss")(
            f"{problem} (output: layer {len(layers)}, units = {_show(output.units)}, "
            f"activation = {_show(output.activation)})"
        )
    if input_shape and "l2" in data:
        at("l2")("l2 (weight decay) is not supported on a model with conv layers")
    l2 = _l2(data["l2"], at("l2")) if "l2" in data else None
    taken = {"gamma", "beta", "mu"} if any(layer.norm for layer in layers) else set()
    if l2 in taken:
        at("l2")(f"l2 {_show(l2)} names a normalisation quantity of this model; use another symbol, "
                 "such as \"lambda\"")
    return ModelSpec(name=name, inputs=inputs, layers=layers, loss=loss, title=title, l2=l2,
                     input_shape=input_shape)


def at_layer(where: _Locator, source: str, index: int, key: str | None) -> Fail:
    """A failure of layer ``index`` (0-based): "layer N: ..." at the line of ``key`` in it."""

    def fail(message: str) -> NoReturn:
        raise SpecError(f"layer {index + 1}: {message}", source, where.layer(index, key))

    return fail


def _l2(value: object, fail: Fail) -> float | str:
    """A weight-decay strength: a finite non-negative number, or a symbol's name."""
    if isinstance(value, str):
        if value not in L2_SYMBOLS:
            fail(f"l2 {_show(value)} is not a known symbol; use a number or one of: {', '.join(L2_SYMBOLS)}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        fail(f"l2 must be a non-negative number or a symbol such as \"lambda\", got {_show(value)}")
    return float(value)


def _missing(key: str, data: dict, where: _Locator, source: str) -> NoReturn:
    """A missing top-level key, or the common slip of writing it after a ``[[layers]]`` header."""
    layers = data.get("layers")
    tables = layers if isinstance(layers, list) else []
    found = next((i for i, raw in enumerate(tables) if isinstance(raw, dict) and key in raw), None)
    if found is not None:
        raise SpecError(
            f"key {_show(key)} is inside layer {found + 1} (keys after a [[layers]] header belong "
            "to that layer); move it above the first [[layers]]",
            source, where.layer(found, key),
        )
    raise SpecError(f"missing key {_show(key)}; required keys: {', '.join(REQUIRED_TOP)}", source)


def _layer(raw: dict, index: int, count: int, known: dict, where: _Locator, source: str) -> Layer:
    """Validate layer ``index`` (0-based) of ``count``; messages start with "layer N:"."""

    def at(key: str | None) -> Fail:
        def fail(message: str) -> NoReturn:
            raise SpecError(f"layer {index + 1}: {message}", source, where.layer(index, key))

        return fail

    kind = raw.get("kind", "dense")
    if kind in CONV_KINDS:
        from .conv_spec import layer as conv_layer

        return Layer(**conv_layer(raw, kind, known, at, _size, _activation))
    # An activation's parameters (``alpha``) are layer keys too, for the activations that take them.
    parameter_keys = tuple(sorted({p for entry in known.values() for p in entry.parameters}))
    allowed = LAYER_KEYS + OPTIONAL_LAYER_KEYS + parameter_keys
    for key in raw:
        if key not in allowed and key != "kind":
            at(key)(_unknown(key, allowed))
    for key in LAYER_KEYS:
        if key not in raw:
            at(None)(f"missing key {_show(key)}; required keys: {', '.join(LAYER_KEYS)}")
    units = _size(raw["units"], "units", at("units"))
    activation, parameters, bias = _activation(raw, known, at)
    if not known[activation].elementwise and index != count - 1:
        at("activation")(f"activation {_show(activation)} is only allowed on the output layer")
    last = index == count - 1
    skip = raw.get("skip")
    if skip is not None:
        if isinstance(skip, bool) or not isinstance(skip, int) or not 0 <= skip <= index:
            at("skip")(
                f"skip must be an earlier layer's number (0 for the inputs, at most {index}), "
                f"got {_show(skip)}"
            )
        if last:
            at("skip")("skip is not allowed on the output layer (the loss reads its activation); "
                       "put it on a hidden layer")
    norm = raw.get("norm")
    if norm is not None:
        from .norms import NORMS  # the registry (SymPy), loaded only for a spec that asks for a norm

        if not isinstance(norm, str) or norm not in NORMS:
            at("norm")(f"unknown norm {_show(norm)}; known norms: {', '.join(sorted(NORMS))}")
        if last:
            at("norm")(f"norm {_show(norm)} is not allowed on the output layer; put it on a hidden layer")
        if units == 1 and NORMS[norm].over == "units":
            at("norm")(f"norm {_show(norm)} needs more than one unit (one unit normalises to beta)")
    eps = DEFAULT_EPS
    if "eps" in raw:
        if norm is None:
            at("eps")("eps is the epsilon of a norm; this layer has no norm")
        value = raw["eps"]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value <= 0:
            at("eps")(f"eps must be a positive number, got {_show(value)}")
        eps = float(value)
    kind, steps, outputs = _kind(raw, index, last, units, known[activation].elementwise, at)
    return Layer(units, activation, parameters, bias, skip, norm, eps, kind, steps, outputs)


def _activation(raw: dict, known: dict, at: Callable[[str | None], Fail]
                ) -> tuple[str, tuple[tuple[str, float], ...], bool]:
    """A layer's ``activation`` (known by the registry ``known``), the activation's parameters the
    layer sets (``alpha``) and its ``bias``, validated: what dense and conv layers share."""
    activation = raw["activation"]
    if not isinstance(activation, str) or activation not in known:
        at("activation")(
            f"unknown activation {_show(activation)}; known activations: {', '.join(sorted(known))}"
        )
    parameter_keys = sorted({p for entry in known.values() for p in entry.parameters})
    parameters = tuple(
        (key, _parameter(raw[key], key, activation, known[activation].parameters, at(key)))
        for key in parameter_keys
        if key in raw
    )
    bias = raw.get("bias", True)
    if not isinstance(bias, bool):
        at("bias")(f"bias must be true or false, got {_show(bias)}")
    return activation, parameters, bias


def _kind(raw: dict, index: int, last: bool, units: Size, elementwise: bool,
          at: Callable[[str | None], Fail]) -> tuple[str, Size | None, str]:
    """A layer's ``kind`` and a recurrent layer's keys (``steps``, ``outputs``), validated."""
    kind = raw.get("kind", "dense")
    if not isinstance(kind, str) or kind not in KINDS:
        at("kind")(f"unknown kind {_show(kind)}; known kinds: {', '.join((*KINDS, *CONV_KINDS))}")
    if kind != "recurrent":
        for key in ("steps", "outputs"):
            if key in raw:
                at(key)(f"{key} is a key of a recurrent layer; this layer is {kind}")
        return kind, None, "last"
    if index != 0:
        at("kind")('kind = "recurrent" must be the first layer (a recurrent layer reads the input '
                   "sequence; one recurrent layer per model)")
    if last:
        at("kind")('kind = "recurrent" needs a dense layer after it (the output layer the loss reads)')
    if "steps" not in raw:
        at(None)("missing key 'steps' (the number of time steps T) for a recurrent layer")
    steps = _size(raw["steps"], "steps", at("steps"))
    outputs = raw.get("outputs", "last")
    if not isinstance(outputs, str) or outputs not in RECURRENT_OUTPUTS:
        at("outputs")(f"outputs must be one of {', '.join(RECURRENT_OUTPUTS)} (many-to-one or "
                      f"many-to-many), got {_show(outputs)}")
    if units == 1:
        at("units")("a recurrent layer needs at least 2 units")
    if not elementwise:
        at("activation")("a recurrent layer's activation must be elementwise, such as \"tanh\"")
    for key in ("skip", "norm"):
        if key in raw:
            at(key)(f"{key} is not supported on a recurrent layer")
    return kind, steps, outputs


def _check_recurrent_model(layers: tuple[Layer, ...], data: dict, where: _Locator, source: str) -> None:
    """What the layers after a recurrent layer may not use (yet): skips, batch norm, weight decay."""
    for number, layer in enumerate(layers[1:], start=2):
        for key, bad in (("skip", layer.skip is not None), ("norm", layer.norm == "batch")):
            if bad:
                raise SpecError(f"layer {number}: {key} = {_show(getattr(layer, key))} is not supported "
                                "in a model with a recurrent layer", source, where.layer(number - 1, key))
    if "l2" in data:
        raise SpecError("l2 (weight decay) is not supported in a model with a recurrent layer", source,
                        where.key("l2"))


def _check_skip(number: int, layer: Layer, inputs: Size, layers: tuple[Layer, ...], where: _Locator,
                source: str) -> None:
    """A residual connection adds a^(skip) to the layer's output: their widths must match."""
    assert layer.skip is not None
    added = inputs if layer.skip == 0 else layers[layer.skip - 1].units
    if added != layer.units:
        source_name = "the inputs" if layer.skip == 0 else f"layer {layer.skip}"
        raise SpecError(
            f"layer {number}: skip = {layer.skip} adds {source_name} (width {_show(added)}) to an "
            f"output of width {_show(layer.units)}; the widths must match",
            source, where.layer(number - 1, "skip"),
        )


def _parameter(value: object, key: str, activation: str, takes: dict, fail: Fail) -> float:
    """An activation parameter's value: a finite number, for an activation that takes it."""
    if key not in takes:
        names = ", ".join(sorted(takes)) or "none"
        fail(f"activation {_show(activation)} takes no parameter {_show(key)} (its parameters: {names})")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        fail(f"{key} must be a finite number, got {_show(value)}")
    return float(value)


# --- built-in models -------------------------------------------------------------------------

BUILTIN_ALIASES = {
    "logistic": "a",
    "two-layer": "b",
    "softmax": "c",
    "two-layer-softmax": "c-mlp",
}
BUILTIN_ORDER = ("a", "b", "c", "c-mlp")


def builtin_names() -> tuple[str, ...]:
    return BUILTIN_ORDER


def _builtin_text(canonical: str) -> str:
    return (resources.files("derive") / "models" / f"{canonical}.toml").read_text(encoding="utf-8")


def builtin_aliases(canonical: str) -> tuple[str, ...]:
    return tuple(alias for alias, target in BUILTIN_ALIASES.items() if target == canonical)


def builtin_title(canonical: str) -> str:
    """A built-in model's title without validating its spec: ``derive list`` needs no SymPy.
    (The shipped specs are validated wherever they are used, and by the tests.)"""
    title = tomllib.loads(_builtin_text(canonical)).get("title", "")
    return str(title)


def load_builtin(name: str) -> ModelSpec:
    """One of the shipped specs in ``derive/models``."""
    canonical = BUILTIN_ALIASES.get(name, name)
    spec = parse_spec(_builtin_text(canonical), f"<built-in {canonical}>")
    return ModelSpec(
        spec.name, spec.inputs, spec.layers, spec.loss, spec.title, builtin_aliases(canonical), spec.l2,
        spec.input_shape,
    )


def load_spec_file(path: str | Path) -> ModelSpec:
    """Read and validate a spec file; a file that cannot be read is a usage error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a byte-order mark
    except OSError as exc:
        raise UsageError(f"cannot read spec file {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SpecError("not UTF-8 text", str(path)) from None
    return parse_spec(text, str(path))


def resolve(model: str) -> ModelSpec:
    """A built-in name or alias, or a path to a ``.toml`` spec file."""
    if model in BUILTIN_ORDER or model in BUILTIN_ALIASES:
        return load_builtin(model)
    if model.endswith(".toml") or "/" in model or Path(model).is_file():
        return load_spec_file(model)
    known = ", ".join(BUILTIN_ORDER + tuple(BUILTIN_ALIASES))
    raise UsageError(f"unknown model {model!r}; known models: {known} (or a path to a .toml spec)")
