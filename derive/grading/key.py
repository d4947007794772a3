"""The answer key: a model and questions, each a quantity (its left side), points and optional
partial credit. ``load_key(path)`` validates everything before any submission is read; a bad key
is a ``UsageError`` naming the key file and the line (or key) at fault.

A question's quantity is matched by ``signature``: the model quantities the left side names and
the pattern of its indices (letters renamed in order of appearance), so ``w_{ab}`` answers a
question written with ``w_{kj}``, but ``da_k/dz_k`` does not answer ``da_k/dz_j``. A left side in
vector notation (``\\frac{\\partial L}{\\partial W^{(1)}}``) is read as its element (``checking.vector``),
so it answers the question written in index notation, and the other way round.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..checking.binding import Binder, recurrent_errors
from ..checking.latex_parse import (
    Group,
    LatexError,
    Name,
    Node,
    WrittenEquation,
    WrittenPartial,
    parse_equation,
)
from ..checking.problems import Unreadable, Wrong
from ..checking.quantities import ERRORS, ModelTable
from ..checking.quantities import table as model_table
from ..checking.slips import KINDS
from ..checking.vector import lower
from ..errors import DeriveError, UsageError
from ..spec import ModelSpec, resolve

TOP_KEYS = {"model", "seed", "timeout", "visibility", "question"}
# Gradescope's test visibilities (its autograder specification, "Controlling Test Case Visibility").
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
QUESTION_KEYS = {"name", "quantity", "points", "partial"}
PARTIAL_KEYS = {"answer", "slip", "points", "feedback"}
DEFAULT_TIMEOUT = 30.0  # seconds per submission

Signature = tuple[tuple[str, tuple[object, ...]], ...]


@dataclass(frozen=True)
class Credit:
    """Partial credit: an answer whose right side equals ``answer``, or a wrong answer whose named
    slip is of kind ``slip`` (``derive.checking.slips.KINDS``), earns ``points``."""

    answer: str | None  # a right side, LaTeX
    slip: str | None
    points: float
    feedback: str = ""


@dataclass(frozen=True)
class Question:
    name: str
    quantity: str  # the left side as the key writes it
    points: float
    signature: Signature
    partial: tuple[Credit, ...] = ()


@dataclass(frozen=True)
class Key:
    path: str
    spec: ModelSpec
    questions: tuple[Question, ...]
    seed: int
    timeout: float
    table: ModelTable = field(compare=False, repr=False)
    visibility: str = "visible"  # of the questions' results on Gradescope

    @property
    def total(self) -> float:
        return sum(q.points for q in self.questions)

    def question_for(self, left: Node) -> Question | None:
        """The question whose quantity ``left`` names, or None."""
        try:
            found = signature(self.table, left)
        except (Wrong, Unreadable):
            return None
        return next((q for q in self.questions if q.signature == found), None)


def signature(table: ModelTable, node: Node) -> Signature:
    """What a left side names: (quantity key, index pattern) of the name, or of a partial's
    numerator and denominator (an error term, ``\\delta``, ``\\hat{\\delta}`` or ``g``, names the
    partial of L it stands for); ``Unreadable`` if it names no quantity, ``Wrong`` if it misnames one."""
    node = recurrent_errors(WrittenEquation((node, node), ""), table).sides[0]
    lowered = lower(WrittenEquation((node, node), ""), table)
    if lowered is not None:
        node = lowered.equation.sides[0]
    while isinstance(node, Group):
        node = node.inner
    parts = ([node.num, node.den] if isinstance(node, WrittenPartial)
             else [node] if isinstance(node, Name) else [])
    if not parts:
        raise Unreadable("the left side must name a quantity of the model")
    letters: dict[object, int] = {}
    out: list[tuple[str, tuple[object, ...]]] = []
    for part in parts:
        ref = table.resolve(part)
        if ref.quantity is None:
            raise Unreadable(f"{part.show()} is not a quantity of the model")
        pattern = tuple(letters.setdefault(i, len(letters)) if isinstance(i, str) else ("at", i)
                        for i in ref.indices)
        if ref.quantity.kind in ERRORS and len(parts) == 1:  # delta, delta-hat, g: a dL/d(...)
            of = table.error_of(ref.quantity)
            out.append((table.names.L.name, ()))
            out.append((of.key, pattern))
            continue
        out.append((ref.quantity.key, pattern))
    return tuple(out)


def left_side(text: str) -> Node:
    """The parsed left side of ``text`` (an equation, or a left side alone)."""
    source = text if "=" in text else text + " = 0"
    return parse_equation(source).sides[0]


# --- loading --------------------------------------------------------------------------------------


def _lines(text: str) -> tuple[dict[str, int], list[dict[str, int]]]:
    """Line numbers of the top-level keys and, per ``[[question]]``, of its header ("") and keys.
    Best effort: tomllib reports positions only for syntax errors."""
    top: dict[str, int] = {}
    questions: list[dict[str, int]] = []
    current: dict[str, int] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if re.match(r"\[\[\s*question\s*\]\]", stripped):
            current = {"": number}
            questions.append(current)
        elif stripped.startswith("["):
            if current is not None and re.match(r"\[\[\s*question\.partial\s*\]\]", stripped):
                current.setdefault("partial", number)
            else:
                current = None if not stripped.startswith("[[question") else current
        elif (match := re.match(r"([A-Za-z_][\w-]*)\s*=", stripped)):
            (current if current is not None else top).setdefault(match.group(1), number)
    return top, questions


class _Where:
    def __init__(self, path: str, text: str):
        self.path = path
        self.top, self.questions = _lines(text)

    def error(self, message: str, line: int | None = None) -> UsageError:
        return UsageError(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")

    def question(self, n: int, key: str = "") -> int | None:
        if n >= len(self.questions):
            return None
        return self.questions[n].get(key) or self.questions[n].get("")


def load_key(path: str | Path) -> Key:
    """Read and validate an answer key; ``UsageError`` naming the file and line for a bad one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"cannot read answer key {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: the answer key is not UTF-8 text") from None
    where = _Where(str(path), text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        raise where.error(f"malformed TOML: {message}", int(match.group(1)) if match else None) from None
    for unknown in sorted(set(data) - TOP_KEYS):
        known = ", ".join(sorted(TOP_KEYS))
        raise where.error(f"unknown key {unknown!r} (known: {known})", where.top.get(unknown))
    spec = _model(data, path, where)
    table = model_table(spec)
    seed = data.get("seed", 20240601)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise where.error("'seed' must be an integer", where.top.get("seed"))
    timeout = data.get("timeout", DEFAULT_TIMEOUT)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout < math.inf:
        raise where.error("'timeout' must be a positive number of seconds", where.top.get("timeout"))
    raw = data.get("question")
    if not isinstance(raw, list) or not raw:
        raise where.error("no questions: add [[question]] tables with name, quantity and points")
    questions = [_question(n, entry, table, where) for n, entry in enumerate(raw)]
    seen: dict[object, str] = {}
    for n, q in enumerate(questions):
        if q.signature in seen:
            raise where.error(f"question {q.name!r} asks for the same quantity as {seen[q.signature]!r}",
                              where.question(n, "quantity"))
        if q.name in seen.values():
            raise where.error(f"two questions are named {q.name!r}", where.question(n, "name"))
        seen[q.signature] = q.name
    visibility = data.get("visibility", "visible")
    if visibility not in VISIBILITIES:
        raise where.error(f"'visibility' must be one of {', '.join(VISIBILITIES)}",
                          where.top.get("visibility"))
    return Key(str(path), spec, tuple(questions), seed, float(timeout), table, visibility)


def _model(data: dict, path: Path, where: _Where) -> ModelSpec:
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise where.error("missing key 'model' (a built-in name such as \"b\" or a spec path)",
                          where.top.get("model"))
    relative = path.parent / model
    try:
        return resolve(str(relative) if relative.is_file() else model)
    except DeriveError as exc:
        raise where.error(f"model: {exc}", where.top.get("model")) from None


def _question(n: int, entry: object, table: ModelTable, where: _Where) -> Question:
    label = f"question {n + 1}"
    if not isinstance(entry, dict):
        raise where.error(f"{label} must be a table", where.question(n))
    for unknown in sorted(set(entry) - QUESTION_KEYS):
        raise where.error(f"{label}: unknown key {unknown!r} (known: {', '.join(sorted(QUESTION_KEYS))})",
                          where.question(n, unknown))
    for needed in ("name", "quantity", "points"):
        if needed not in entry:
            raise where.error(f"{label}: missing key {needed!r}", where.question(n))
    name, quantity = entry["name"], entry["quantity"]
    if not isinstance(name, str) or not name.strip():
        raise where.error(f"{label}: 'name' must be a non-empty string", where.question(n, "name"))
    if not isinstance(quantity, str):
        raise where.error(f"{label}: 'quantity' must be a string", where.question(n, "quantity"))
    points = _points(entry["points"], f"{label}: 'points'", where, where.question(n, "points"))
    try:
        found = signature(table, left_side(quantity))
    except (LatexError, Wrong, Unreadable) as exc:
        raise where.error(f"question {name!r}: quantity {quantity!r}: {exc}",
                          where.question(n, "quantity")) from None
    partial = entry.get("partial", [])
    if not isinstance(partial, list):
        raise where.error(f"question {name!r}: 'partial' must be [[question.partial]] tables",
                          where.question(n, "partial"))
    credits = tuple(_partial(p, name, points, quantity, table, where, where.question(n, "partial"))
                    for p in partial)
    return Question(name, quantity, points, found, credits)


def _points(value: object, what: str, where: _Where, line: int | None) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < math.inf:
        raise where.error(f"{what} must be a non-negative number", line)
    return float(value)


def _partial(entry: object, name: str, full: float, quantity: str, table: ModelTable, where: _Where,
             line: int | None) -> Credit:
    label = f"question {name!r}: partial credit"
    if not isinstance(entry, dict):
        raise where.error(f"{label} must be a table", line)
    for unknown in sorted(set(entry) - PARTIAL_KEYS):
        known = ", ".join(sorted(PARTIAL_KEYS))
        raise where.error(f"{label}: unknown key {unknown!r} (known: {known})", line)
    if ("answer" in entry) == ("slip" in entry) or "points" not in entry:
        raise where.error(f"{label} needs 'points' and either 'answer' (a right side) or 'slip' "
                          f"(one of {', '.join(KINDS)})", line)
    points = _points(entry["points"], f"{label}: 'points'", where, line)
    if points > full:
        raise where.error(f"{label}: {points:g} points is more than the question's {full:g}", line)
    feedback = entry.get("feedback", "")
    if not isinstance(feedback, str):
        raise where.error(f"{label}: 'feedback' must be a string", line)
    if "slip" in entry:
        if entry["slip"] not in KINDS:
            raise where.error(f"{label}: unknown slip {entry['slip']!r} (known: {', '.join(KINDS)})", line)
        return Credit(None, entry["slip"], points, feedback)
    if not isinstance(entry["answer"], str):
        raise where.error(f"{label}: 'answer' must be a string (a right side in LaTeX)", line)
    try:  # read and bound like an answer, so that it can ever be matched
        Binder(table).bind(recurrent_errors(parse_equation(f"{quantity} = {entry['answer']}"), table))
    except (LatexError, Wrong, Unreadable) as exc:
        raise where.error(f"{label}: cannot use the answer: {exc}", line) from None
    return Credit(entry["answer"], None, points, feedback)
