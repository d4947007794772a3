"""What ``derive grade`` writes: a CSV gradebook, per-student feedback, and the results file of
Gradescope or PrairieLearn. Every file is written atomically (``derive.files.write_atomic``).

The two results formats follow their documentation (cited in ``gradescope`` and
``prairielearn``); ``tests/test_grade.py`` validates them against checks written from it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from ..files import write_atomic
from .key import Key
from .run import Submission

MAX_UNMATCHED = 10


def _points(value: float) -> str:
    return f"{value:g}"


def unique_names(submissions: list[Submission]) -> list[str]:
    """Each submission's name, made unique (``alice``, ``alice-2``) for rows and feedback files."""
    seen: dict[str, int] = {}
    out = []
    for s in submissions:
        seen[s.name] = seen.get(s.name, 0) + 1
        out.append(s.name if seen[s.name] == 1 else f"{s.name}-{seen[s.name]}")
    return out


def gradebook(key: Key, submissions: list[Submission]) -> str:
    """CSV: one row per submission: name, each question's points, total (and any error)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["submission", *(q.name for q in key.questions), "total", "error"])
    writer.writerow(["(max)", *(_points(q.points) for q in key.questions), _points(key.total), ""])
    for name, s in zip(unique_names(submissions), submissions, strict=True):
        writer.writerow([name, *(_points(q.points) for q in s.questions), _points(s.total), s.error])
    return out.getvalue()


def feedback(key: Key, submission: Submission) -> str:
    """A student's feedback: each question's points, verdict and message."""
    lines = [f"{submission.name}: {_points(submission.total)} / {_points(key.total)} points"]
    if submission.error:
        lines.append(f"this submission could not be graded: {submission.error}")
    for q in submission.questions:
        lines.append("")
        lines.append(f"{q.name}: {_points(q.points)} / {_points(q.max_points)} ({q.verdict})")
        if q.answer:
            lines.append(f"  your answer ({q.where}): {q.answer}")
        if q.verdict != "not graded":
            lines.append(f"  {q.message}")
    lines.extend(_unmatched(submission))
    return "\n".join(lines) + "\n"


def _unmatched(submission: Submission) -> list[str]:
    """The derivatives a student wrote that answer no question (another notation, another index)."""
    if not submission.unmatched:
        return []
    shown = submission.unmatched[:MAX_UNMATCHED]
    more = len(submission.unmatched) - len(shown)
    return ["", "equations whose left side is no question's quantity (not graded):",
            *(f"  {line}" for line in shown), *([f"  ... and {more} more"] if more else [])]


def write_feedback(key: Key, submissions: list[Submission], folder: str) -> list[Path]:
    written = []
    for name, s in zip(unique_names(submissions), submissions, strict=True):
        safe = re.sub(r"[^\w.-]+", "_", name).lstrip(".") or "submission"
        written.append(write_atomic(Path(folder) / f"{safe}.txt", feedback(key, s)))
    return written


def gradescope(key: Key, submission: Submission) -> dict:
    """Gradescope's results.json for one submission.

    Schema from Gradescope's autograder specification, "Output format"
    (github.com/gradescope/autograder_samples, docs/specs.md): top level ``score`` (number),
    ``execution_time`` (seconds), ``output`` (text); ``tests`` a list of objects with ``name``,
    ``score``, ``max_score``, ``output`` and ``visibility`` (hidden, after_due_date,
    after_published or visible).
    """
    summary = f"{_points(submission.total)} / {_points(key.total)} points"
    if submission.error:
        summary += f"; this submission could not be graded: {submission.error}"
    summary += "\n".join(_unmatched(submission))
    return {
        "score": submission.total,
        "execution_time": round(submission.seconds, 3),
        "output": summary,
        "tests": [{"name": q.name, "score": q.points, "max_score": q.max_points,
                   "output": _test_output(q.verdict, q.message, q.answer), "visibility": key.visibility}
                  for q in submission.questions],
    }


def prairielearn(key: Key, submission: Submission) -> dict:
    """PrairieLearn's external-grader results.json for one submission.

    Schema from PrairieLearn's documentation, "External Grading", "Grading results"
    (github.com/PrairieLearn/PrairieLearn, docs/externalGrading.md): ``score`` a float in
    [0, 1]; ``gradable`` false for input that could not be graded (no attempt is charged), with
    ``format_errors``; ``message``; ``tests`` a list with ``name``, ``points``, ``max_points``,
    ``message`` and ``output``.
    """
    fraction = submission.total / key.total if key.total else 0.0
    result: dict = {
        "gradable": not submission.error,
        "score": min(max(fraction, 0.0), 1.0),
        "message": f"{_points(submission.total)} / {_points(key.total)} points",
        "tests": [{"name": q.name, "points": q.points, "max_points": q.max_points,
                   "message": q.message, "output": _test_output(q.verdict, q.message, q.answer)}
                  for q in submission.questions],
    }
    if submission.error:
        result["format_errors"] = [submission.error]
        result["message"] = f"this submission could not be graded: {submission.error}"
    return result


def _test_output(verdict: str, message: str, answer: str) -> str:
    return f"{message}\nyour answer: {answer}" if answer else message


FORMATS = {"gradescope": gradescope, "prairielearn": prairielearn}


def results_json(kind: str, key: Key, submission: Submission) -> str:
    return json.dumps(FORMATS[kind](key, submission), indent=2) + "\n"


def table(key: Key, submissions: list[Submission]) -> str:
    """A plain-text summary for the terminal: one line per submission."""
    lines = []
    for name, s in zip(unique_names(submissions), submissions, strict=True):
        marks = ", ".join(f"{q.name} {_points(q.points)}/{_points(q.max_points)}" for q in s.questions)
        lines.append(f"{name}: {_points(s.total)}/{_points(key.total)} ({s.error or marks})")
    return "\n".join(lines)
