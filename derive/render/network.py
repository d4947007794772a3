"""Layout of the network drawing (TikZ): which nodes and edges to draw, where, with which labels.

Only positions and already-printed labels come out of here; ``templates/network.tex.j2`` draws
them. A layer of a symbolic or large width shows its first two units, a ``\\vdots`` and its last
unit (labelled with the size symbol: ``x_M``); a very deep network shows its first and last
layers around a ``\\cdots`` column. Two edges per layer carry their weight's name, as on the sheet.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .. import norms
from ..naming import ModelNames, element
from .latex_printer import latex

MAX_DRAWN = 4  # a layer this wide or narrower is drawn unit by unit
MAX_COLUMNS = 6  # more columns than this and the middle layers become \cdots
DX, DY = 2.6, 1.15  # column and row spacing (cm)
WIDTH = 14.0  # the drawing's width at most (cm): narrower columns for deep networks


@dataclass(frozen=True)
class Node:
    id: str
    x: float
    y: float
    label: str  # LaTeX math
    style: str  # "unit", "dots", "loss"

    @property
    def at(self) -> str:
        """TikZ coordinate (formatted here: the template's delimiters cannot follow a parenthesis)."""
        return f"({self.x:g},{self.y:g})"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str  # LaTeX math, or "" for none
    style: str = "edge"  # "edge", or a residual connection's dashed arc over the columns

    @property
    def path(self) -> str:
        if self.style != "edge":  # the label rides on the arc
            mark = f" node[above, font=\\footnotesize] {{${self.label}$}}" if self.label else ""
            return f"({self.source}.north) to[out=60, in=120]{mark} ({self.target}.north)"
        return f"({self.source}) -- ({self.target})"


SKIP_STYLE = "->, >=stealth, dashed, blue!60!black, line width=0.5pt"


@dataclass(frozen=True)
class Column:
    number: int  # 0 = inputs, l = layer l
    caption: str  # LaTeX (text mode)
    units: tuple  # drawn unit numbers (sp.Integer or the size symbol); None marks the \vdots


@dataclass(frozen=True)
class Network:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    captions: tuple[tuple[str, str], ...]  # (TikZ coordinate, text) under each column


def _units(width: sp.Expr) -> tuple:
    if width.is_Integer and int(width) <= MAX_DRAWN:
        return tuple(sp.Integer(u) for u in range(1, int(width) + 1))
    return (sp.Integer(1), sp.Integer(2), None, width)


def _columns(names: ModelNames) -> list[Column | None]:
    """Every column to draw, None for the ``\\cdots`` of a very deep network."""
    columns: list[Column | None] = [Column(0, "input", _units(names.input_width))]
    for layer in names.layers:
        act = layer.entry
        role = "output" if layer is names.output else f"layer {layer.number}"
        norm = f"\\\\ {norms.get(layer.norm).short}" if layer.norm else ""  # on a second line
        columns.append(Column(layer.number, f"{role}, ${act.latex}${norm}", _units(layer.width)))
    if len(columns) > MAX_COLUMNS:
        columns = columns[:3] + [None] + columns[-2:]
    return columns


def _label(names: ModelNames, number: int, unit) -> str:
    q = names.x if number == 0 else names.layers[number - 1].a
    return latex(element(q, unit if isinstance(q, sp.IndexedBase) else None))


def _weight(names: ModelNames, number: int, row, col) -> str:
    layer = names.layers[number - 1]
    indexed_row = row if layer.index is not None else None
    indexed_col = col if layer.prev_index is not None else None
    return latex(element(layer.w, indexed_row, indexed_col))


def layout(names: ModelNames) -> Network:
    nodes: list[Node] = []
    edges: list[Edge] = []
    captions = []
    previous: tuple[Column, list[tuple[str, object]]] | None = None
    columns = _columns(names)
    dx = min(DX, WIDTH / len(columns))
    for position, column in enumerate(columns):
        x = round(position * dx, 3)
        if column is None:
            nodes.append(Node(f"n{position}", x, 0.0, r"\cdots", "dots"))
            previous = None
            continue
        drawn = []
        top = (len(column.units) - 1) * DY / 2
        for row, unit in enumerate(column.units):
            node_id = f"n{position}u{row}"
            y = round(top - row * DY, 3)
            if unit is None:
                nodes.append(Node(node_id, x, y, r"\vdots", "dots"))
                continue
            nodes.append(Node(node_id, x, y, _label(names, column.number, unit), "unit"))
            drawn.append((node_id, unit))
        captions.append((x, column.caption))
        if previous is not None:
            edges += _edges(names, column.number, previous[1], drawn)
        previous = (column, drawn)
    edges += _skips(names, columns)
    loss_x = round(len(columns) * dx - 0.6, 3)
    nodes.append(Node("loss", loss_x, 0.0, latex(names.L), "loss"))
    edges += [Edge(node_id, "loss", "") for node_id, _ in (previous[1] if previous else [])]
    # One baseline for every caption, under the tallest column.
    bottom = min(n.y for n in nodes) - 0.9
    return Network(tuple(nodes), tuple(edges), tuple((f"({x:g},{bottom:g})", c) for x, c in captions))


def _edges(names: ModelNames, number: int, sources: list, targets: list) -> list[Edge]:
    """All edges between two drawn columns; the first and last carry their weight's name."""
    labelled = {(0, 0), (len(sources) - 1, len(targets) - 1)}
    out = []
    for t, (target, row) in enumerate(targets):
        for s, (source, col) in enumerate(sources):
            label = _weight(names, number, row, col) if (s, t) in labelled else ""
            out.append(Edge(source, target, label))
    return out


def _skips(names: ModelNames, columns: list[Column | None]) -> list[Edge]:
    """A residual connection's arc, from the top unit of the skipped column to the top unit of the
    layer it is added to (labelled +); a connection into or out of an elided column is not drawn."""
    position = {c.number: p for p, c in enumerate(columns) if c is not None}
    return [
        Edge(f"n{position[layer.skip]}u0", f"n{position[layer.number]}u0", "+", SKIP_STYLE)
        for layer in names.layers
        if layer.skip is not None and layer.skip in position and layer.number in position
    ]
