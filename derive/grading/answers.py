"""A submission's answers, found by their left sides: no labels needed.

``find_answers(text, suffix, key)`` looks at every display equation (``$$``, ``\\[``, equation
and align environments: ``derive.equations.extract``), every inline ``$...$`` or ``\\(...\\)``,
and every other line of text, in reading order. A candidate whose left side names a question's
quantity (``Key.question_for``) is that question's answer; a question answered twice takes the
last answer. Lines that are prose simply name no quantity and are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..checking.latex_parse import LatexError, WrittenPartial
from ..equations import Found, display_spans, extract, first_side
from .key import Key, left_side

_INLINE = re.compile(r"(?<![\\$])\$(?!\$)(?P<a>[^$\n]+?)(?<!\\)\$(?!\$)|\\\((?P<b>.+?)\\\)")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\(?[0-9a-z]{1,2}[.)]|>)\s+")
_LABEL = re.compile(r"^[A-Za-z][\w ().-]{0,30}:\s+")  # "Answer: ...", "Q1 (b): ..."
MAX_LEFT = 300  # characters of a left side worth trying to parse


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    line: int


def _candidates(text: str, markdown: bool) -> list[Found]:
    """Display rows, inline math and bare lines, each once, in reading order."""
    found = [(f.line, 0, f) for f in extract(text, markdown=markdown)]
    prepared, spans = display_spans(text, markdown=markdown)
    masked = list(prepared)
    for start, end in spans:
        for i in range(start, end):
            if masked[i] != "\n":
                masked[i] = " "
    for number, line in enumerate("".join(masked).split("\n"), start=1):
        rest = line
        for match in _INLINE.finditer(line):
            found.append((number, match.start() + 1, Found(number, match.group("a") or match.group("b"))))
            rest = rest.replace(match.group(0), " ")
        bare = _LABEL.sub("", _BULLET.sub("", rest)).strip()
        if "=" in bare:
            found.append((number, 0, Found(number, bare)))
    found.sort(key=lambda item: (item[0], item[1]))
    return [f for _, _, f in found]


def find_answers(text: str, markdown: bool, key: Key,
                 unmatched: list[Answer] | None = None) -> dict[str, Answer]:
    """Each answered question's last answer, by question name. Equations whose left side is a
    derivative but no question's quantity go to ``unmatched`` (feedback: "answers no question")."""
    answers: dict[str, Answer] = {}
    for candidate in _candidates(text, markdown):
        if candidate.problem or "=" not in candidate.text:
            continue
        left = first_side(candidate.text)
        if len(left) > MAX_LEFT:
            continue
        try:
            node = left_side(left)
        except (LatexError, RecursionError):
            continue
        question = key.question_for(node)
        if question is not None:
            answers[question.name] = Answer(question.name, candidate.text.strip(), candidate.line)
        elif unmatched is not None and isinstance(node, WrittenPartial):
            unmatched.append(Answer("", candidate.text.strip(), candidate.line))
    return answers
