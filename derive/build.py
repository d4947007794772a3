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

    models = builtin_names()
    # The code first: a sheet that cannot be compiled (no LaTeX engine with --pdf) must not
    # cost the user the modules.
    for model in models:
        path = write_atomic(module_path(outdir, model), module_source(derive(model)))
        echo(f"wrote {path}")
    write_sheet(models, str(Path(outdir) / "problem1.tex"), pdf=pdf, title=None, echo=echo)
