"""The answer sheet: compiled by a real LaTeX engine, read back with pdftotext.

Compile tests are marked ``latex``; without an engine they skip on a developer machine and FAIL
in CI (``CI`` set), where the engine is part of the job.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

import derive
from derive import compile as latex_compile
from derive.latex_escape import escape
from derive.render.latex import fragment, sheet, write_sheet
from derive.render.latex_printer import latex

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("a", "b", "c", "c-mlp")
HOSTILE_TITLE = r"\input{/etc/passwd} & $x$ 100% #1 ~_^ {}"

DEEP_SPEC = """\
name = "deep_net"
title = "Deep tanh net \\\\input{/etc/passwd} 50% _x_"
inputs = "M"
loss = "ce"

[[layers]]
units = "K1"
activation = "tanh"

[[layers]]
units = "K2"
activation = "tanh"

[[layers]]
units = 3
activation = "relu"

[[layers]]
units = "K4"
activation = "sigmoid"

[[layers]]
units = "C"
activation = "softmax"
"""


def require(tool: str) -> None:
    """Skip without ``tool``, except in CI, where its absence is a failure."""
    if shutil.which(tool) is None:
        message = f"{tool} is not installed"
        if os.environ.get("CI"):
            pytest.fail(message + " (required in CI)")
        pytest.skip(message)


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """The PDF's text with all whitespace removed (pdftotext spaces math unpredictably)."""
    require("pdftotext")
    path = tmp_path / "sheet.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", "", text)


def assert_clean(log: str) -> None:
    assert not re.search(r"^(! |\S+:\d+: )", log, re.MULTILINE), latex_compile.first_error(log)
    assert "Overfull" not in log, [line for line in log.splitlines() if "Overfull" in line]


def run_cli(*args: str, path: str | None = None, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "derive", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def derivations():
    return [derive.derive(m) for m in MODELS]


@pytest.fixture(scope="module")
def course_sheet(derivations):
    return sheet(derivations)


@pytest.fixture(scope="module")
def compiled(course_sheet):
    require("pdflatex")
    return latex_compile.build(course_sheet)


# --- compiled with the real engine ---------------------------------------------------------------


@pytest.mark.latex
def test_sheet_compiles_without_errors_or_overfull_boxes(compiled):
    assert compiled.pdf.startswith(b"%PDF")
    assert_clean(compiled.log)


@pytest.mark.latex
def test_pdf_text_has_every_part_and_the_chain_rule(compiled, tmp_path):
    text = pdf_text(compiled.pdf, tmp_path)
    for letter in "ABCD":
        assert f"Problem1,Part{letter}" in text
    assert text.count("chainrule") >= 4
    for heading in ("Modelset-up", "Outputerror", "Errorofhiddenlayer1", "Gradientwithrespectto"):
        assert heading in text


@pytest.mark.latex
def test_pdf_text_has_key_results(compiled, tmp_path):
    text = pdf_text(compiled.pdf, tmp_path)
    assert "δ=a−y" in text  # logistic regression's output error
    assert "=a(1−a)" in text  # sigmoid's derivative in textbook form
    assert "ifk=j" in text and "ifk̸=j" in text  # the softmax Jacobian's cases


@pytest.mark.latex
def test_deep_spec_with_hostile_title_compiles_and_prints_it_literally(tmp_path):
    require("pdflatex")
    spec = tmp_path / "deep.toml"
    spec.write_text(DEEP_SPEC, encoding="utf-8")
    tex = sheet([derive.derive(str(spec))], title=HOSTILE_TITLE)
    built = latex_compile.build(tex)
    assert_clean(built.log)
    assert "(/etc/passwd" not in built.log  # TeX logs every file it opens as "(path"
    text = pdf_text(built.pdf, tmp_path)
    # pdftotext reads OT1's ~ and ^ as accents and \_ as a rule: compare the rest.
    assert r"\input{/etc/passwd}&$x$100%#1" in text
    assert r"Deeptanhnet\input{/etc/passwd}50%x" in text
    assert "Hiddenlayers:therecursion" in text
    assert "Problem1,PartA" in text


@pytest.mark.latex
def test_display_fragment_is_valid_math(tmp_path):
    """``_repr_latex_``: one $$...$$ display using only what MathJax knows (and LaTeX compiles)."""
    require("pdflatex")
    display = derive.derive("c-mlp")._repr_latex_()
    assert display.startswith("$$") and display.endswith("$$")
    assert not re.search(r"\\(section|label|begin\{(tikzpicture|align\*?)\}|eqref|paragraph)", display)
    doc = "\\documentclass{article}\\usepackage{amsmath,amssymb}\n\\begin{document}\n" \
          f"{display}\n\\end{{document}}\n"
    log = latex_compile.build(doc).log  # raises on any error; width is the notebook's concern
    assert "Undefined control sequence" not in log


@pytest.mark.latex
def test_failed_compile_names_the_first_error_and_leaves_outputs(tmp_path, monkeypatch):
    require("pdflatex")
    tex_path, pdf_path = tmp_path / "sheet.tex", tmp_path / "sheet.pdf"
    tex_path.write_text("old tex")
    pdf_path.write_bytes(b"old pdf")
    monkeypatch.setattr("derive.render.latex.sheet",
                        lambda *_: "\\documentclass{article}\\begin{document}\\undefinedmacro\\end{document}")
    with pytest.raises(latex_compile.CompileFailed, match=r"Undefined control sequence"):
        write_sheet(["a"], str(tex_path), pdf=True, echo=lambda _: None)
    assert tex_path.read_text() == "old tex" and pdf_path.read_bytes() == b"old pdf"


@pytest.mark.latex
def test_cli_writes_tex_and_pdf(tmp_path):
    require("pdflatex")
    result = run_cli("sheet", "a", "-o", "sheet.tex", "--pdf", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "sheet.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "sheet.tex").is_file()


# --- without an engine ---------------------------------------------------------------------------


def test_no_engine_writes_tex_and_says_how_to_get_one(tmp_path):
    result = run_cli("sheet", "a", "c", "-o", "out/sheet.tex", path=str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "sheet.tex").is_file()
    assert not (tmp_path / "out" / "sheet.pdf").exists()
    hint = [line for line in result.stderr.splitlines() if "texlive-latex-base" in line]
    assert len(hint) == 1 and "latexmk" in hint[0]


def test_explicit_pdf_without_engine_fails_but_writes_tex(tmp_path):
    result = run_cli("sheet", "a", "-o", "sheet.tex", "--pdf", path=str(tmp_path), cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "texlive-latex-base" in result.stderr
    assert (tmp_path / "sheet.tex").is_file()


def test_no_pdf_never_compiles(tmp_path):
    result = run_cli("sheet", "b", "-o", "sheet.tex", "--no-pdf", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "sheet.pdf").exists()


# --- the .tex source -----------------------------------------------------------------------------


def test_output_is_deterministic_across_processes(tmp_path):
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed}
        target = tmp_path / f"s{seed}.tex"
        subprocess.run([sys.executable, "-m", "derive", "sheet", "-o", str(target), "--no-pdf"],
                       env=env, check=True, capture_output=True, timeout=120)
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]
    assert not re.search(rb"\\today|20\d\d-\d\d-\d\d", outputs[0])


def test_title_is_escaped(derivations):
    tex = sheet(derivations[:1], title=HOSTILE_TITLE)
    assert "\\input{/etc/passwd}" not in tex
    assert "\\title{\\textbackslash{}input\\{/etc/passwd\\}" in tex


@pytest.mark.parametrize("text", [r"\input{x}", "a & b", "100%", "$x$", "#", "~", "^", "_", "{}", "<|>"])
def test_escape_leaves_no_active_character(text):
    escaped = escape(text)
    stripped = re.sub(r"\\(textbackslash|textasciicircum|textasciitilde|textless|textgreater|textbar)\{\}"
                      r"|\\[{}$&#%_]", "", escaped)
    assert not re.search(r"[\\{}$&#%^_~]", stripped.replace("{}", ""))


def test_escape_replaces_unsupported_unicode():
    assert escape("Ünïcödé ✓") == "Ünïcödé ?"


def test_sections_and_labels_per_part(course_sheet):
    for letter, d in zip("ABCD", MODELS, strict=True):
        assert f"\\section*{{Problem 1, Part {letter}: " in course_sheet
        assert f"\\label{{eq:{letter.lower()}-delta-1}}" in course_sheet, d
    assert "\\begin{cases}" in course_sheet and "\\begin{tikzpicture}" in course_sheet


def test_output_error_matches_sympy_diff_of_the_loss(course_sheet, derivations):
    """The boxed output error of logistic regression is SymPy's own dL/dz of the composed loss."""
    names = derivations[0].names
    z, y, a = names.layers[0].z, names.y, names.layers[0].a
    sigma = 1 / (1 + sp.exp(-z))
    loss = -(y * sp.log(sigma) + (1 - y) * sp.log(1 - sigma))
    reference = sp.simplify(sp.diff(loss, z)).subs(sigma, a)
    reference = sp.simplify(reference.subs(sp.exp(-z), (1 - a) / a))
    assert reference == a - y
    assert f"\\boxed{{{latex(names.layers[0].delta)} = {latex(reference)}}}" in course_sheet


def test_sigmoid_factor_shows_raw_and_textbook_forms(course_sheet):
    assert r"\frac{e^{- z}}{(1 + e^{- z})^{2}} = a (1 - a)" in course_sheet


def test_softmax_step_uses_the_one_hot_identity(course_sheet):
    assert rf"using $\sum_{{k=1}}^{{C}} y_{{k}} = 1$, since {escape('y is one-hot')}" in course_sheet


def test_fragment_is_the_sheet_body(derivations, course_sheet):
    body = fragment(derivations[1])
    assert "\\documentclass" not in body
    setup = body.split("\\subsection*{Model set-up}", 1)[1].split("\\subsection*{Gradients", 1)[0]
    assert setup in course_sheet
