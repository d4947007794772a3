"""Model specs: plain dataclasses, loaded from TOML and validated. No SymPy here.

A spec describes a feed-forward network: the input size, a list of dense layers (units and
activation) and a loss. Everything a spec says is validated before it reaches SymPy, LaTeX or
generated Python: names are safe identifiers, sizes are positive integers or size symbols, and
activation/loss combinations are ones the engine supports.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import SpecError, UsageError

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
SIZE_RE = re.compile(r"^[A-Z][A-Za-z0-9]{0,7}$")
# Size symbols may not shadow the quantities of the model or the batch size.
RESERVED_SIZES = re.compile(r"^(L|N|X|Y|W\d*)$")

TOP_KEYS = ("name", "title", "inputs", "loss", "layers")
LAYER_KEYS = ("units", "activation")
REQUIRED_TOP = ("name", "inputs", "loss", "layers")
MAX_LAYERS = 64

Size = int | str


@dataclass(frozen=True)
class Layer:
    """One dense layer: ``units`` outputs, each ``activation(sum_j w_kj a_j + b_k)``."""

    units: Size
    activation: str


@dataclass(frozen=True)
class ModelSpec:
    """A whole model: inputs -> layers -> loss."""

    name: str
    inputs: Size
    layers: tuple[Layer, ...]
    loss: str
    title: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def depth(self) -> int:
        return len(self.layers)

    def sizes(self) -> tuple[Size, ...]:
        """Input size followed by each layer's width."""
        return (self.inputs, *(layer.units for layer in self.layers))


def _line_of(text: str, pattern: str) -> int | None:
    """Best-effort line number of the first line matching ``pattern`` (for messages)."""
    rx = re.compile(pattern)
    for number, line in enumerate(text.splitlines(), start=1):
        if rx.search(line):
            return number
    return None


def _layer_line(text: str, index: int) -> int | None:
    count = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith("[[layers]]"):
            count += 1
            if count == index + 1:
                return number
    return None


def _check_size(value: object, what: str, err) -> Size:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise err(f"{what} must be a positive integer or a size symbol like \"M\", got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise err(f"{what} must be positive, got {value}")
        if value > 100_000:
            raise err(f"{what} is too large ({value}); use a size symbol instead")
        return value
    if not SIZE_RE.match(value) or RESERVED_SIZES.match(value):
        raise err(
            f"{what} {value!r} is not a valid size symbol (an upper-case letter, then up to 7 "
            "letters or digits; not L, N, X, Y or W)"
        )
    return value


def parse_spec(text: str, source: str = "<spec>") -> ModelSpec:
    """Parse and validate TOML ``text``; raise ``SpecError`` naming ``source`` and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(match.group(1)) if match else None
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        raise SpecError(f"malformed TOML: {message}", source, line) from None
    return spec_from_dict(data, source, text)


def spec_from_dict(data: dict, source: str = "<spec>", text: str = "") -> ModelSpec:
    """Validate an already-parsed TOML table."""
    from .activations import ACTIVATIONS
    from .losses import LOSSES

    def err_at(key_pattern: str | None):
        line = _line_of(text, key_pattern) if key_pattern else None
        return lambda message: SpecError(message, source, line)

    for key in data:
        if key not in TOP_KEYS:
            raise err_at(rf"^\s*{re.escape(key)}\s*=|^\s*\[+{re.escape(key)}\]")(
                f"unknown key {key!r}; allowed keys: {', '.join(TOP_KEYS)}"
            )
    for key in REQUIRED_TOP:
        if key not in data:
            raise SpecError(f"missing key {key!r}; required keys: {', '.join(REQUIRED_TOP)}", source)

    name = data["name"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise err_at(r"^\s*name\s*=")(
            f"name {name!r} is not a safe identifier (letters, digits, '-' and '_', starting with a letter)"
        )
    title = data.get("title", "")
    if not isinstance(title, str) or len(title) > 200:
        raise err_at(r"^\s*title\s*=")("title must be a string of at most 200 characters")
    inputs = _check_size(data["inputs"], "inputs", err_at(r"^\s*inputs\s*="))

    loss = data["loss"]
    loss_err = err_at(r"^\s*loss\s*=")
    if not isinstance(loss, str) or loss not in LOSSES:
        raise loss_err(f"unknown loss {loss!r}; known losses: {', '.join(sorted(LOSSES))}")

    raw_layers = data["layers"]
    if not isinstance(raw_layers, list) or not raw_layers:
        raise err_at(r"layers")("layers must be a non-empty array of tables ([[layers]])")
    if len(raw_layers) > MAX_LAYERS:
        raise err_at(r"layers")(f"too many layers ({len(raw_layers)}); at most {MAX_LAYERS}")
    layers = []
    for index, raw in enumerate(raw_layers):
        line = _layer_line(text, index)

        def layer_err(message: str, _line=line, _i=index) -> SpecError:
            return SpecError(f"layer {_i + 1}: {message}", source, _line)

        if not isinstance(raw, dict):
            raise layer_err("must be a table with keys units and activation")
        for key in raw:
            if key not in LAYER_KEYS:
                raise layer_err(f"unknown key {key!r}; allowed keys: {', '.join(LAYER_KEYS)}")
        for key in LAYER_KEYS:
            if key not in raw:
                raise layer_err(f"missing key {key!r}; required keys: {', '.join(LAYER_KEYS)}")
        units = _check_size(raw["units"], "units", layer_err)
        activation = raw["activation"]
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise layer_err(
                f"unknown activation {activation!r}; known activations: {', '.join(sorted(ACTIVATIONS))}"
            )
        if not ACTIVATIONS[activation].elementwise and index != len(raw_layers) - 1:
            raise layer_err(f"{activation} is only allowed on the output layer")
        layers.append(Layer(units, activation))

    spec = ModelSpec(name=name, inputs=inputs, layers=tuple(layers), loss=loss, title=title)
    problem = LOSSES[loss].check_output(layers[-1].units, layers[-1].activation)
    if problem:
        raise loss_err(problem)
    return spec


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


def load_builtin(name: str) -> ModelSpec:
    """One of the shipped specs in ``derive/models``."""
    canonical = BUILTIN_ALIASES.get(name, name)
    resource = resources.files("derive") / "models" / f"{canonical}.toml"
    spec = parse_spec(resource.read_text(encoding="utf-8"), f"<built-in {canonical}>")
    aliases = tuple(alias for alias, target in BUILTIN_ALIASES.items() if target == canonical)
    return ModelSpec(spec.name, spec.inputs, spec.layers, spec.loss, spec.title, aliases)


def load_spec_file(path: str | Path) -> ModelSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
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
