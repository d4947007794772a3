"""The main job: the course's answer sheet and the NumPy modules of every built-in model, in out/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .spec import builtin_names


def module_path(outdir: str | Path, model: str) -> Path:
    """``out/c_mlp.py`` for model ``c-mlp``: an importable module name."""
    return Path(outdir) / f"{model.replace('-', '_')}.py"


def build_outputs(outdir: str | Path, pdf: bool | None, echo: Callable[[str], None]) -> None:
    from . import derive
    from .files import write_atomic
    from .render.latex import write_sheet
    from .render.numpy import module_source

    derivations = [derive(model) for model in builtin_names()]
    # The code first: a sheet that cannot be compiled (no LaTeX engine with --pdf) must not
    # cost the user the modules.
    for d in derivations:
        path = write_atomic(module_path(outdir, d.spec.name), module_source(d))
        echo(f"wrote {path}")
    write_sheet(derivations, str(Path(outdir) / "problem1.tex"), pdf=pdf, title=None, echo=echo)
