"""Renderers for any derivation: a dense model's (``chain.Derivation``) or a conv model's
(``conv.ConvDerivation``), each sent to its own renderer.

What it promises: one entry point per output (terminal text, JSON data, LaTeX fragment and sheet,
NumPy module) that the command line, the Jupyter display and ``derive verify`` call; the dense
renderers know nothing of convolution, and the conv renderers build on them (imports flow one way:
dense renderer <- conv renderer <- this module).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..conv import ConvDerivation
from ..engine import AnyDerivation


def terminal(d: AnyDerivation) -> str:
    if isinstance(d, ConvDerivation):
        from .conv_terminal import render as conv_render

        return conv_render(d)
    from .terminal import render

    return render(d)


def to_dict(d: AnyDerivation) -> dict:
    if isinstance(d, ConvDerivation):
        from .conv_serialize import conv_to_dict

        return conv_to_dict(d)
    from ..serialize import to_dict as dense_to_dict

    return dense_to_dict(d)


def module_source(d: AnyDerivation) -> str:
    if isinstance(d, ConvDerivation):
        from .numpy_conv import module_source as conv_module_source

        return conv_module_source(d)
    from .numpy import module_source as dense_module_source

    return dense_module_source(d)


def fragment(d: AnyDerivation, display: bool = False) -> str:
    from .environment import render as render_template
    from .latex import fragment as dense_fragment

    if not isinstance(d, ConvDerivation):
        return dense_fragment(d, display)
    from .conv_latex import conv_display, conv_part

    if display:
        return render_template("display.tex.j2", part=conv_display(d)).strip()
    return render_template("fragment.tex.j2", part=conv_part(d, "A", heading=""))


def part(d: AnyDerivation, letter: str) -> dict:
    """One model's section of the sheet."""
    from .latex import part as dense_part

    if isinstance(d, ConvDerivation):
        from .conv_latex import conv_part

        return conv_part(d, letter)
    return dense_part(d, letter)


def derived(model: str) -> AnyDerivation:
    """A built-in name or a spec path, derived by the engine its layers need."""
    from ..engine import derive_spec
    from ..spec import resolve

    return derive_spec(resolve(model))


def write_sheet(models: Sequence[str | AnyDerivation], output: str, pdf: bool | None = None,
                title: str | None = None, echo: Callable[[str], None] = print) -> Path:
    """``derive.render.latex.write_sheet`` for any models."""
    from .latex import write_sheet as dense_write_sheet

    return dense_write_sheet(models, output, pdf, title, echo,  # type: ignore[arg-type]
                             derived=derived, part_of=part)  # type: ignore[arg-type]
