"""The command line: parses options and calls the library; nothing else.

Domain errors (``DeriveError``) become one line on stderr and their exit code here, in ``main``.
This module imports no SymPy at import time, so ``derive --help`` stays instant.
"""

from __future__ import annotations

import os
import sys

import click

from .errors import DeriveError
from .version import __version__

PDF_HELP = "Compile the PDF (default: when a LaTeX engine is installed)."


def _derivation(model: str):
    from . import derive

    return derive(model)


def _emit(text: str, output: str | None) -> None:
    """Write ``text`` to ``output`` atomically, or to stdout for None or '-'."""
    if output in (None, "-"):
        click.echo(text, nl=not text.endswith("\n"))
        return
    from .files import write_atomic

    write_atomic(output, text)
    click.echo(f"wrote {output}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="derive")
def cli() -> None:
    """Symbolic chain-rule derivations of neural-network gradients.

    Built-in models are the course's Problem 1: a (logistic regression), b (two-layer sigmoid
    network), c (softmax regression), c-mlp (two-layer network with softmax output). Any
    feed-forward network can be given as a .toml spec file instead of a name.
    """


@cli.command("list")
def list_models() -> None:
    """List the built-in models."""
    from .spec import builtin_aliases, builtin_names, builtin_title

    for name in builtin_names():
        aliases = ", ".join(builtin_aliases(name))
        click.echo(f"{name:<7} {builtin_title(name)}" + (f"  (alias: {aliases})" if aliases else ""))


@cli.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print the derivation as JSON.")
@click.option("--latex", "as_latex", is_flag=True, help="Print the derivation as a LaTeX fragment.")
def show(model: str, as_json: bool, as_latex: bool) -> None:
    """Print the step-by-step derivation of MODEL.

    MODEL is a built-in name (see `derive list`) or a path to a .toml spec.
    """
    if as_json and as_latex:
        raise click.UsageError("choose one of --json and --latex")
    derivation = _derivation(model)
    if as_json:
        import json

        click.echo(json.dumps(derivation.to_dict(), indent=2))
    elif as_latex:
        from .render.dispatch import fragment

        click.echo(fragment(derivation))
    else:
        from .render.dispatch import terminal

        click.echo(terminal(derivation), nl=False)


@cli.command()
@click.argument("models", nargs=-1)
@click.option("-o", "--output", default="out/problem1.tex", show_default=True, help="The .tex file to write.")
@click.option("--pdf/--no-pdf", default=None, help=PDF_HELP)
@click.option("--title", default=None, help="The sheet's title.")
def sheet(models: tuple[str, ...], output: str, pdf: bool | None, title: str | None) -> None:
    """Write a LaTeX answer sheet (and its PDF) for MODELS (default: a b c c-mlp).

    Each MODEL is a built-in name or a path to a .toml spec.
    """
    from .render.dispatch import write_sheet

    write_sheet(models, output, pdf=pdf, title=title, echo=lambda line: click.echo(line, err=True))


@cli.command()
@click.option("-o", "--outdir", default="out", show_default=True, help="Directory to write into.")
@click.option("--pdf/--no-pdf", default=None, help=PDF_HELP)
def build(outdir: str, pdf: bool | None) -> None:
    """Write the course's answer sheet (problem1.tex/.pdf) and a NumPy module per built-in model."""
    from .build import build_outputs

    build_outputs(outdir, pdf, echo=lambda line: click.echo(line, err=True))


@cli.command()
@click.argument("model")
@click.option("-o", "--output", default="-", show_default=True, help="File to write, or - for stdout.")
def code(model: str, output: str) -> None:
    """Generate a NumPy module computing MODEL's loss and gradients.

    MODEL is a built-in name (see `derive list`) or a path to a .toml spec.
    """
    from .render.dispatch import module_source

    _emit(module_source(_derivation(model)), output)


@cli.command()
@click.argument("models", nargs=-1)
def verify(models: tuple[str, ...]) -> None:
    """Check MODELS' generated code against central finite differences (default: all built-ins).

    Prints the worst relative error per parameter; exits 1 above tolerance.
    """
    from .errors import VerificationFailed
    from .verify import verify_models

    if not verify_models(models, echo=click.echo):
        raise VerificationFailed("a gradient differs from its finite-difference estimate beyond tolerance")


@cli.command()
@click.argument("model")
@click.argument("equations", nargs=-1)
@click.option("--file", "path", default=None, help="A .tex or .md file whose display equations to check.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable results.")
@click.option("--seed", type=int, default=20240601, show_default=True,
              help="Seed of the random instances; the same seed gives the same counterexamples.")
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds for the whole run; equations left then are reported as not checked.")
def check(model: str, equations: tuple[str, ...], path: str | None, as_json: bool, seed: int,
          timeout: float) -> None:
    """Check hand-written LaTeX EQUATIONS (or those in --file) against MODEL.

    Exit 0 when all are correct, 1 when any is wrong, 2 when one cannot be parsed or checked.
    """
    from .check import run_check

    sys.exit(run_check(model, equations, path, as_json, echo=click.echo, seed=seed, timeout=timeout))


@cli.command()
@click.argument("key")
@click.argument("submissions", nargs=-1)
@click.option("--csv", "csv_path", default=None, help="Write the gradebook (one row per submission) here.")
@click.option("--feedback", "feedback_dir", default=None, help="Write one feedback file per student here.")
@click.option("--format", "fmt", type=click.Choice(["gradescope", "prairielearn"]), default=None,
              help="Write this platform's results.json for one submission.")
@click.option("-o", "--output", default=None, help="Where --format writes (default: stdout).")
@click.option("-j", "--jobs", type=int, default=None, help="Processes to grade with (default: the cores).")
def grade(key: str, submissions: tuple[str, ...], csv_path: str | None, feedback_dir: str | None,
          fmt: str | None, output: str | None, jobs: int | None) -> None:
    """Grade SUBMISSIONS (.tex/.md/.txt files or folders, one per student) against answer KEY (.toml).

    Answers are found by their left sides; see README.md for the key's format.
    """
    from .grade import run_grade

    sys.exit(run_grade(key, submissions, csv_path, feedback_dir, fmt, output, jobs, echo=click.echo,
                       err=lambda line: click.echo(line, err=True)))


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI, mapping domain errors to one line and an exit code."""
    try:
        cli.main(args=argv, prog_name="derive", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("derive: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except DeriveError as exc:
        click.echo(f"derive: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("derive: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug, not a user error: one line, traceback on request
        if os.environ.get("DERIVE_DEBUG"):
            raise
        click.echo(f"derive: internal error: {type(exc).__name__}: {exc} (set DERIVE_DEBUG=1 for details)",
                   err=True)
        sys.exit(70)
    sys.exit(0)
