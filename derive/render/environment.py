"""Jinja environments over ``templates/``: strict, and with TeX-friendly delimiters for .tex.

Templates are found in the checkout's top-level ``templates/`` or, after ``pip install``, in the
``derive.templates`` package the wheel ships them as. A missing variable is an error
(``StrictUndefined``), never a blank.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import jinja2


def template_dir() -> Path:
    checkout = Path(__file__).resolve().parents[2] / "templates"
    if (checkout / "__init__.py").is_file():
        return checkout
    return Path(str(resources.files("derive.templates")))


@cache
def environment(tex: bool = False) -> jinja2.Environment:
    options: dict = {}
    if tex:
        # ((* block *)), ((( variable ))), ((# comment #)): braces stay TeX's.
        options = dict(
            block_start_string="((*",
            block_end_string="*))",
            variable_start_string="(((",
            variable_end_string=")))",
            comment_start_string="((#",
            comment_end_string="#))",
            line_statement_prefix=None,
        )
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        **options,
    )


def render(name: str, /, **context) -> str:
    """Render ``templates/name``; ``.tex`` templates get the TeX delimiters."""
    return environment(tex=name.endswith(".tex.j2")).get_template(name).render(**context)
