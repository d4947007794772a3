"""Spec files: every bad spec in ``tests/data/specs/bad`` gives its exact one-line message (with
file and line where one is known) and exit code 2 through the CLI; good specs and the examples load.
"""

from __future__ import annotations

import string
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import derive
from derive.cli import main
from derive.errors import SpecError, UsageError
from derive.spec import (
    LAYER_KEYS,
    MAX_LAYERS,
    NAME_RE,
    RESERVED_SIZES,
    SIZE_RE,
    TOP_KEYS,
    ModelSpec,
    builtin_names,
    load_builtin,
    load_spec_file,
    parse_spec,
    resolve,
    spec_from_dict,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "specs"
BAD = DATA / "bad"
GOOD = DATA / "good"
EXAMPLES = ROOT / "examples"

SIZE = "an upper-case letter, optionally followed by digits, such as 'M' or 'K1'"
SIZE_TYPE = f"must be a positive integer or a size symbol ({SIZE})"
NAME = (
    "is not a safe identifier; use letters, digits, '-' and '_', starting with a letter, "
    "at most 64 characters"
)
TOP = "allowed keys: name, title, inputs, loss, l2, layers"
ACTS = (
    "known activations: elu, gelu, identity, leaky_relu, relu, sigmoid, silu, softmax, softplus, "
    "softsign, tanh"
)
BCE = "loss 'bce' needs an output layer of 1 unit with activation 'sigmoid'"
CE = "loss 'ce' needs a softmax output layer (use 'bce' for one sigmoid unit)"

# file stem -> (line or None, message). The messages are the contract: written out, not built.
BAD_SPECS = {
    "malformed-unterminated-string": (1, "malformed TOML at column 12: illegal character '\\n'"),
    "malformed-missing-equals": (
        2, "malformed TOML at column 8: expected '=' after a key in a key/value pair"
    ),
    "malformed-duplicate-key": (2, "malformed TOML at column 15: cannot overwrite a value"),
    "missing-loss": (None, "missing key 'loss'; required keys: name, inputs, loss, layers"),
    "missing-layers": (None, "missing key 'layers'; required keys: name, inputs, loss, layers"),
    "missing-units": (9, "layer 2: missing key 'units'; required keys: units, activation"),
    "missing-activation-last": (5, "layer 1: missing key 'activation'; required keys: units, activation"),
    "loss-after-layers": (
        11,
        "key 'loss' is inside layer 2 (keys after a [[layers]] header belong to that layer); "
        "move it above the first [[layers]]",
    ),
    "unknown-key": (4, f"unknown key 'learning_rate'; {TOP}"),
    "unknown-table": (5, f"unknown key 'training'; {TOP}"),
    "unknown-dotted-key": (4, f"unknown key 'optimizer'; {TOP}"),
    "unknown-quoted-key": (4, f"unknown key 'batch size'; {TOP}"),
    "unknown-layer-key": (
        8, "layer 1: unknown key 'dropout'; allowed keys: units, activation, bias, skip, norm, eps, kind, "
        "steps, outputs, alpha"
    ),
    "unknown-activation": (7, f"layer 1: unknown activation 'mish'; {ACTS}"),
    "unknown-loss": (3, "unknown loss 'triplet'; known losses: bce, ce, hinge, huber, mse, svm"),
    "units-zero": (6, "layer 1: units must be a positive integer, got 0"),
    "units-negative": (6, "layer 1: units must be a positive integer, got -3"),
    "units-float": (6, f"layer 1: units {SIZE_TYPE}, got 2.5"),
    "units-bool": (6, f"layer 1: units {SIZE_TYPE}, got true"),
    "units-quoted-number": (6, "layer 1: units '3' is a string; write the number without quotes"),
    "units-lowercase-symbol": (6, f"layer 1: units 'k' is not a valid size symbol; use {SIZE}"),
    "units-long-symbol": (6, f"layer 1: units 'Kbar' is not a valid size symbol; use {SIZE}"),
    "units-reserved-weight": (
        6, "layer 1: units 'W1' is reserved (W names weight matrices); choose another size symbol"
    ),
    "inputs-zero": (2, "inputs must be a positive integer, got 0"),
    "inputs-expression": (2, f"inputs 'M+1' is not a valid size symbol; use {SIZE}"),
    "inputs-reserved": (
        2, "inputs 'N' is reserved (N names the number of examples); choose another size symbol"
    ),
    "softmax-hidden": (7, "layer 1: activation 'softmax' is only allowed on the output layer"),
    "softmax-not-last": (11, "layer 2: activation 'softmax' is only allowed on the output layer"),
    "bce-wide-output": (3, f"{BCE} (output: layer 2, units = 'K', activation = 'sigmoid')"),
    "bce-not-sigmoid": (3, f"{BCE} (output: layer 1, units = 1, activation = 'tanh')"),
    "ce-without-softmax": (3, f"{CE} (output: layer 1, units = 'C', activation = 'sigmoid')"),
    "ce-single-unit": (
        3, "loss 'ce' needs more than one output unit (output: layer 1, units = 1, activation = 'softmax')"
    ),
    "mse-softmax": (
        3,
        "loss 'mse' on a softmax output is not supported; use 'ce' "
        "(output: layer 1, units = 'C', activation = 'softmax')",
    ),
    "name-shell": (1, f"name 'x; rm -rf ~' {NAME}"),
    "name-latex": (1, f"name '\\\\input{{/etc/passwd}}' {NAME}"),
    "name-not-string": (1, "name must be a string, got 42"),
    "title-control": (2, "title contains a control or non-printing character (U+000A); use one line of text"),
    "title-too-long": (2, "title is too long (201 characters; at most 200)"),
    "layers-empty": (4, "layers is empty; a model needs at least one [[layers]] table"),
    "layers-not-tables": (4, "layers must be an array of tables, each starting with [[layers]]"),
    "layers-inline-bad": (4, f"layer 2: unknown activation 'swish'; {ACTS}"),
    "skip-width-mismatch": (
        8, "layer 1: skip = 0 adds the inputs (width 'M') to an output of width 'K'; the widths must match"
    ),
    "skip-on-output": (
        12, "layer 2: skip is not allowed on the output layer (the loss reads its activation); "
        "put it on a hidden layer",
    ),
    "skip-not-earlier": (
        8, "layer 1: skip must be an earlier layer's number (0 for the inputs, at most 0), got 2"
    ),
    "norm-unknown": (8, "layer 1: unknown norm 'group'; known norms: batch, layer"),
    "norm-on-output": (
        8, "layer 1: norm 'layer' is not allowed on the output layer; put it on a hidden layer"
    ),
    "norm-one-unit": (8, "layer 1: norm 'layer' needs more than one unit (one unit normalises to beta)"),
    "eps-without-norm": (8, "layer 1: eps is the epsilon of a norm; this layer has no norm"),
    "eps-negative": (9, "layer 1: eps must be a positive number, got -1"),
    "l2-names-norm-symbol": (
        4, "l2 'gamma' names a normalisation quantity of this model; use another symbol, such as \"lambda\""
    ),
}


def _expected(stem: str) -> tuple[Path, str]:
    path = BAD / f"{stem}.toml"
    line, message = BAD_SPECS[stem]
    where = f"{path}:{line}" if line is not None else str(path)
    return path, f"{where}: {message}"


def test_every_bad_file_has_its_message():
    assert sorted(p.stem for p in BAD.glob("*.toml")) == sorted(BAD_SPECS)


@pytest.mark.parametrize("stem", sorted(BAD_SPECS))
def test_bad_spec_message(stem):
    path, expected = _expected(stem)
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    assert str(info.value) == expected
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("stem", sorted(BAD_SPECS))
def test_bad_spec_through_the_cli(stem, capsys):
    path, expected = _expected(stem)
    with pytest.raises(SystemExit) as info:
        main(["show", str(path)])
    out, err = capsys.readouterr()
    assert info.value.code == 2
    assert (out, err) == ("", f"derive: error: {expected}\n")


@pytest.mark.parametrize("stem", ["malformed-missing-equals", "ce-without-softmax", "name-latex"])
def test_bad_spec_as_a_whole_process(stem):
    path, expected = _expected(stem)
    run = subprocess.run(
        [sys.executable, "-m", "derive", "show", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr == f"derive: error: {expected}\n"


def test_too_many_layers():
    layers = '[[layers]]\nunits = "K"\nactivation = "tanh"\n' * MAX_LAYERS
    output = '[[layers]]\nunits = 1\nactivation = "identity"\n'
    text = f'name = "deep"\ninputs = "M"\nloss = "mse"\n{layers}{output}'
    with pytest.raises(SpecError) as info:
        parse_spec(text, "deep.toml")
    assert str(info.value) == f"deep.toml:4: too many layers ({MAX_LAYERS + 1}; at most {MAX_LAYERS})"


def test_file_problems_are_one_line_errors(tmp_path, capsys):
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('name = "r\xe9seau"\n'.encode("latin-1"))
    with pytest.raises(SpecError, match=r"latin1\.toml: not UTF-8 text$"):
        load_spec_file(latin1)
    missing = r"cannot read spec file '.*missing\.toml': No such file or directory$"
    with pytest.raises(UsageError, match=missing):
        resolve(str(tmp_path / "missing.toml"))
    with pytest.raises(SystemExit) as info:
        main(["show", str(tmp_path)])
    assert info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + (EXAMPLES / "regression-mse.toml").read_bytes())
    assert load_spec_file(path) == load_spec_file(EXAMPLES / "regression-mse.toml")


# --- good specs --------------------------------------------------------------------------------


def test_good_specs_load():
    inline = load_spec_file(GOOD / "inline-layers.toml")
    assert (inline.inputs, [(layer.units, layer.activation) for layer in inline.layers]) == (
        4, [(3, "softplus"), (2, "identity")]
    )
    numbered = load_spec_file(GOOD / "numbered-sizes.toml")
    assert numbered.sizes() == ("M1", "K12", 1)
    assert numbered.title == "Réseau à deux couches — sizes M1, K12"


def test_builtins_are_specs():
    for name in builtin_names():
        spec = load_builtin(name)
        assert spec.name == name
        assert resolve(name) == spec


# Conv examples' steps are checked in tests/test_conv.py.
DENSE_EXAMPLES = [p for p in sorted(EXAMPLES.glob("*.toml")) if not p.stem.startswith("conv")]


@pytest.mark.parametrize("path", DENSE_EXAMPLES + sorted(GOOD.glob("*.toml")), ids=str)
def test_examples_derive(path):
    d = derive.derive(str(path))
    # Every layer's errors, output first (a skip or a norm gives a layer more than one).
    layers = [step.layer for step in d.errors]
    # A recurrent first layer has its own steps (d.recurrence); the engine's are the dense layers'.
    dense = d.spec.layers[1:] if d.recurrence is not None else d.spec.layers
    first = d.spec.depth - len(dense) + 1
    assert layers == sorted(layers, reverse=True) and set(layers) == set(range(first, d.spec.depth + 1))
    per_layer = [(2 if layer.bias else 1) + (2 if layer.norm else 0) for layer in dense]
    assert len(d.gradients) == sum(per_layer)
    if d.recurrence is not None:
        assert len(d.recurrence.gradients) == (3 if d.spec.layers[0].bias else 2)


def test_show_works_on_the_examples(capsys):
    pytest.importorskip("derive.render.terminal", reason="the terminal renderer is another issue")
    for path in sorted(EXAMPLES.glob("*.toml")):
        with pytest.raises(SystemExit) as info:
            main(["show", str(path)])
        out, err = capsys.readouterr()
        assert info.value.code == 0, err
        assert out and not err


# --- nothing unvalidated gets through -------------------------------------------------------------

_VALID = {
    "name": "net",
    "inputs": "M",
    "loss": "ce",
    "layers": [{"units": "K", "activation": "tanh"}, {"units": "C", "activation": "softmax"}],
}
_TEXT = st.text(string.printable + "éλ\u202e\x00\\{}$", max_size=12)
_TOML_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["name", "title", "inputs", "loss", "layers", "units", "activation", "extra"]),
       _TOML_VALUE)
def test_any_value_is_accepted_safely_or_rejected_with_a_spec_error(key, value):
    data = {k: (list(v) if isinstance(v, list) else v) for k, v in _VALID.items()}
    if key in LAYER_KEYS:
        data["layers"] = [dict(data["layers"][0], **{key: value}), data["layers"][1]]
    else:
        data[key] = value
    try:
        spec = spec_from_dict(data, "fuzz.toml")
    except SpecError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("fuzz.toml: ")
        return
    # Accepted: every string that can reach LaTeX or Python is of the safe shapes.
    assert set(data) <= set(TOP_KEYS)
    assert NAME_RE.match(spec.name)
    assert spec.title.isprintable() and len(spec.title) <= 200
    for size in spec.sizes():
        assert isinstance(size, int) or (SIZE_RE.match(size) and size[0] not in RESERVED_SIZES)


# --- spec text that reaches the renderers ----------------------------------------------------------

HOSTILE_TITLE = r'Evil """; raise SystemExit(3); """ \input{/etc/passwd} $x$ & % # _ ^ ~ { } \\'


def _hostile_spec() -> ModelSpec:
    text = (EXAMPLES / "regression-mse.toml").read_text(encoding="utf-8")
    text = text.replace('title = "', f"title = '{HOSTILE_TITLE}'\n# ", 1)
    spec = parse_spec(text, "hostile.toml")
    assert spec.title == HOSTILE_TITLE
    return spec


def test_a_hostile_title_stays_text_in_generated_python():
    numpy = pytest.importorskip("derive.render.numpy", reason="the code generator is another issue")
    source = numpy.module_source(derive.derive(_hostile_spec()))
    namespace: dict = {}
    exec(compile(source, "<generated>", "exec"), namespace)  # would raise SystemExit if injected
    assert HOSTILE_TITLE in " ".join(namespace["__doc__"].split())  # the docstring wraps lines


def test_a_hostile_title_stays_text_in_latex():
    latex = pytest.importorskip("derive.render.latex", reason="the sheet is another issue")
    d = derive.derive(_hostile_spec())
    for tex in (latex.sheet([d]), latex.fragment(d, display=True)):
        assert r"\input{/etc/passwd}" not in tex
        assert "passwd" in tex  # the title is there, escaped


# --- deep specs -------------------------------------------------------------------------------------


def _deep(depth: int) -> ModelSpec:
    hidden = '[[layers]]\nunits = "K"\nactivation = "tanh"\n' * (depth - 1)
    output = '[[layers]]\nunits = "C"\nactivation = "softmax"\n'
    return parse_spec(f'name = "deep"\ninputs = "M"\nloss = "ce"\n{hidden}{output}', "deep.toml")


def _deltas(expr) -> set[str]:
    """Names of the error terms ``expr`` refers to (scalar or indexed)."""
    names = {s.name for s in expr.atoms(sp.Symbol)} | {i.base.name for i in expr.atoms(sp.Indexed)}
    return {name for name in names if name.startswith("delta")}


def test_deep_spec_is_derived_in_backpropagation_form():
    """Each error term is defined once from the next one, so what is printed grows linearly."""
    sizes = {}
    for depth in (8, 16):
        d = derive.derive(_deep(depth))
        assert [s.layer for s in d.errors] == list(range(depth, 0, -1))
        for step in d.errors[1:]:
            assert _deltas(step.value) == {f"delta{step.layer + 1}"}, step.layer
        for grad in d.gradients:
            assert _deltas(grad.result) == {f"delta{grad.layer}"}, grad.element
        sizes[depth] = sum(len(str(s.value)) for s in d.errors) + sum(len(str(g.result)) for g in d.gradients)
    assert 1.8 < sizes[16] / sizes[8] < 2.4, sizes
