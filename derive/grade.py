"""``derive grade KEY SUBMISSION...``: orchestration of ``derive.grading`` for the command line.

Validates the options, loads the key (a bad key is exit 2 before any submission is read), grades
every submission and writes what was asked for: ``--csv``, ``--feedback``, and with ``--format
gradescope|prairielearn`` the results.json of one submission. Returns the exit code: 0 whenever
grading ran, even if some submissions got errors (those are the students' results, reported).
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import UsageError
from .files import write_atomic
from .grading import report
from .grading.key import load_key
from .grading.run import grade_all


def run_grade(key_path: str, submissions: tuple[str, ...], csv_path: str | None, feedback_dir: str | None,
              fmt: str | None, output: str | None, jobs: int | None, echo: Callable[[str], None],
              err: Callable[[str], None]) -> int:
    if not submissions:
        raise UsageError("nothing to grade: give one or more submission files or folders")
    if fmt is not None and fmt not in report.FORMATS:
        raise UsageError(f"unknown format {fmt!r}; known: {', '.join(report.FORMATS)}")
    if fmt is not None and len(submissions) != 1:
        raise UsageError(f"--format {fmt} writes the results of one submission; give exactly one")
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    key = load_key(key_path)
    graded = grade_all(key, list(submissions), jobs)
    if csv_path:
        write_atomic(csv_path, report.gradebook(key, graded))
        err(f"wrote {csv_path}")
    if feedback_dir:
        report.write_feedback(key, graded, feedback_dir)
        err(f"wrote {len(graded)} feedback file{'s' if len(graded) != 1 else ''} to {feedback_dir}")
    if fmt is not None:
        text = report.results_json(fmt, key, graded[0])
        if output in (None, "-"):
            echo(text.rstrip("\n"))
        else:
            write_atomic(output, text)
            err(f"wrote {output}")
    elif not csv_path and not feedback_dir:
        echo(report.table(key, graded))
    failed = sum(bool(s.error) for s in graded)
    mean = sum(s.total for s in graded) / len(graded)
    err(f"graded {len(graded)} submission{'s' if len(graded) != 1 else ''}: mean {mean:.3g} / "
        f"{key.total:g} points" + (f"; {failed} could not be graded" if failed else ""))
    return 0
