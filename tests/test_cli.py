"""The command line as a user meets it: whole processes, exit codes, one-line errors."""

import json
import os
import subprocess
import sys

import pytest
import sympy as sp
from sympy.parsing.sympy_parser import parse_expr

import derive
from derive.activations import ACTIVATIONS
from derive.chain import Partial

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "derive", *args], capture_output=True, text=True,
                          env=env, cwd=kw.get("cwd", ROOT), timeout=120)


def test_list_does_not_import_sympy():
    code = ("import sys; from derive.cli import main; sys.argv = ['derive', 'list']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nassert 'sympy' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0, out.stderr
    assert "c-mlp" in out.stdout


def test_help_does_not_import_sympy():
    code = "import sys; from derive.cli import cli; assert 'sympy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    out = run("--help")
    assert out.returncode == 0 and "show" in out.stdout


@pytest.mark.parametrize("command", ["list", "show", "sheet", "code", "verify", "check", "build"])
def test_every_command_has_help(command):
    out = run(command, "--help")
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout


def test_version():
    out = run("--version")
    assert out.returncode == 0 and derive.__version__ in out.stdout


def test_list_names_the_course_models():
    out = run("list")
    assert [line.split()[0] for line in out.stdout.splitlines()] == ["a", "b", "c", "c-mlp"]


def test_unknown_model_is_one_line_exit_2():
    out = run("show", "nope")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "unknown model 'nope'" in out.stderr and "a, b, c, c-mlp" in out.stderr


def test_missing_spec_file_is_one_line_exit_2(tmp_path):
    out = run("show", str(tmp_path / "missing.toml"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize("model", ["a", "logistic", "b", "two-layer", "c", "softmax", "c-mlp"])
def test_show_prints_sections(model):
    out = run("show", model)
    assert out.returncode == 0, out.stderr
    assert "Model set-up" in out.stdout and "Chain rule:" in out.stdout and "Result:" in out.stdout


def test_show_a_states_the_textbook_forms():
    text = run("show", "a").stdout
    assert "a⋅(1 - a)" in text  # da/dz in textbook form, from the sigmoid rule
    assert "δ = a - y" in text  # the simplified output error


def _locals(symbols):
    names = {n: sp.IndexedBase(n, real=True) for n in symbols["indexed"]}
    names.update({n: sp.Symbol(n, real=True) for n in symbols["scalars"]})
    names.update({n: sp.Symbol(n, integer=True, positive=True) for n in symbols["integers"]})
    names["Partial"] = Partial
    # An activation's name in JSON stands for the registry's function of that name (unless SymPy
    # knows the function by that name itself, as tanh).
    z = sp.Symbol("z")
    names.update({
        name: act.function()
        for name, act in ACTIVATIONS.items()
        if act.elementwise and type(act.unit(z)).__name__ != name
    })
    return names


@pytest.mark.parametrize("model", ["a", "b", "c", "c-mlp"])
def test_json_round_trips_through_sympy_parser(model):
    data = json.loads(run("show", model, "--json").stdout)
    d = derive.derive(model)
    local = _locals(data["symbols"])
    parse = lambda text: parse_expr(text, local_dict=local)  # noqa: E731 - our own output, trusted
    for eq, entry in zip(d.setup, data["setup"], strict=True):
        assert parse(entry["lhs"]) == eq.lhs and sp.simplify(parse(entry["rhs"]) - eq.rhs) == 0
    for step, entry in zip(d.gradients, data["gradients"], strict=True):
        assert parse(entry["element"]) == step.element
        assert sp.expand(parse(entry["result"]) - step.result) == 0
        assert sp.expand(parse(entry["expanded"]) - step.expanded) == 0
    assert set(data["parameters"]) == {q.name for q in d.names.parameters()}


def test_json_names_follow_the_issue():
    params = {m: json.loads(run("show", m, "--json").stdout)["parameters"] for m in ["a", "b", "c", "c-mlp"]}
    assert params["a"] == {"w": ["M"], "b": []}
    assert params["b"] == {"w2": ["K"], "b2": [], "W1": ["K", "M"], "b1": ["K"]}
    assert params["c"] == {"W": ["C", "M"], "b": ["C"]}
    assert params["c-mlp"] == {"W2": ["C", "K"], "b2": ["C"], "W1": ["K", "M"], "b1": ["K"]}


def test_console_script_entry_point_exists():
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        scripts = tomllib.load(handle)["project"]["scripts"]
    assert scripts["derive"] == "derive.cli:main"


def test_readme_example_is_current():
    """The README shows real output: it must still be what `derive show a` prints."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    example = readme.split("## Example: `derive show a`\n\n```text\n", 1)[1].split("\n...\n```", 1)[0]
    assert run("show", "a").stdout.startswith(example)


def test_show_does_not_import_numpy():
    """`derive show` is timed against a bare SymPy import (bench/bench_cli.py): NumPy (60 ms)
    is for code generation and grading only."""
    code = ("import sys, derive; from derive.render.terminal import render; "
            "render(derive.derive('c-mlp')); assert 'numpy' not in sys.modules, 'numpy imported'")
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, PYTHONPATH=ROOT))
