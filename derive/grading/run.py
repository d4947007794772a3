"""Grading submissions: each one read, its answers found and checked, within limits, in parallel.

A submission is a .tex/.md/.txt file or a folder of them (one student). ``grade_all`` grades
them over ``jobs`` processes (``ProcessPoolExecutor``; in this process for one job). Whatever goes
wrong with one submission (over ``MAX_BYTES``, not text, past the key's time limit, nested too
deeply, even a crashed worker) becomes that submission's ``error`` and never stops or loses
another's grade. Each question scores its points when ``Checker.check`` finds the answer correct,
a partial credit's points when the answer's right side equals that credit's, else 0.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from ..alarm import alarm
from ..check import Checker, Result
from ..equations import first_side
from .answers import Answer, find_answers
from .key import Key, Question, load_key

SUFFIXES = (".tex", ".md", ".markdown", ".txt")
MAX_BYTES = 1_000_000  # per submission, all its files together
MAX_FILES = 200
STALL = 30.0  # seconds past a submission's limit with nothing finished: a worker is stuck
MAX_SHOWN = 300  # characters of an answer repeated in feedback


class SubmissionError(Exception):
    """This submission cannot be graded (the message says why, for the student)."""


class _TimedOut(BaseException):
    """The submission's time is up; a BaseException so that no ``except Exception`` swallows it."""


@dataclass
class Graded:
    """One question of one submission."""

    name: str
    points: float
    max_points: float
    verdict: str  # correct, partial, incorrect, unreadable, not answered, not graded
    message: str
    answer: str = ""
    where: str = ""


@dataclass
class Submission:
    name: str
    path: str
    questions: list[Graded] = field(default_factory=list)
    error: str = ""  # why the whole submission could not be graded
    unmatched: list[str] = field(default_factory=list)  # derivatives written that no question asks for
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(q.points for q in self.questions)


# --- one submission -------------------------------------------------------------------------------


def student(path: str) -> str:
    """A submission's name: its folder's name, or its file's without the suffix."""
    p = Path(path)
    return p.name if p.is_dir() else p.stem


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise SubmissionError(f"no {', '.join(SUFFIXES)} files in the folder")
        if len(files) > MAX_FILES:
            raise SubmissionError(f"{len(files)} files; the limit is {MAX_FILES}")
        return files
    if not path.is_file():
        raise SubmissionError("no such file or folder")
    if path.suffix.lower() not in SUFFIXES:
        raise SubmissionError(f"{path.name} is not a {', '.join(SUFFIXES)} file")
    return [path]


def read_submission(path: Path) -> list[tuple[str, str]]:
    """(file name, text) of each file; ``SubmissionError`` for too large, binary or unreadable."""
    files = _files(path)
    total = 0
    out = []
    for file in files:
        try:
            total += file.stat().st_size
            if total > MAX_BYTES:
                raise SubmissionError(f"too large ({total} bytes; the limit is {MAX_BYTES})")
            data = file.read_bytes()
        except OSError as exc:
            raise SubmissionError(f"cannot read {file.name}: {exc.strerror}") from None
        if b"\x00" in data:
            raise SubmissionError(f"{file.name} is a binary file, not text")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise SubmissionError(f"{file.name} is not UTF-8 text") from None
        name = str(file.relative_to(path)) if path.is_dir() else file.name
        out.append((name, text))
    return out


def _sides(text: str) -> list[str]:
    """The sides of an equation's text, split at top-level ``=``."""
    sides = []
    while True:
        left = first_side(text)
        sides.append(left)
        if len(left) == len(text):
            return sides
        text = text[len(left) + 1:]


class Grader:
    """Grades submissions against one key; the checker (and its random instances) is shared."""

    def __init__(self, key: Key):
        self.key = key
        self.checker = Checker(key.spec, seed=key.seed)

    def grade(self, path: str) -> Submission:
        started = time.monotonic()
        submission = Submission(student(path), path)
        try:
            with alarm(self.key.timeout, _TimedOut):
                self._grade(submission, started)
        except SubmissionError as exc:
            submission.error = str(exc)
        except _TimedOut:
            submission.error = f"timed out (the limit is {self.key.timeout:g} s per submission)"
        except RecursionError:
            submission.error = "nested too deeply to read"
        except MemoryError:
            submission.error = "too large to read"
        except Exception as exc:  # one submission must never stop the class: report it for this one
            submission.error = f"internal error ({type(exc).__name__}: {exc}); please report"
        if submission.error:
            submission.questions = [Graded(q.name, 0.0, q.points, "not graded", submission.error)
                                    for q in self.key.questions]
        submission.seconds = time.monotonic() - started
        return submission

    def _grade(self, submission: Submission, started: float) -> None:
        answers: dict[str, Answer] = {}
        places: dict[str, str] = {}
        unmatched: list[Answer] = []
        for name, text in read_submission(Path(submission.path)):
            before = len(unmatched)
            found = find_answers(text, name.lower().endswith((".md", ".markdown")), self.key, unmatched)
            submission.unmatched += [f"{name}:{a.line}: {_short(a.text, 120)}" for a in unmatched[before:]]
            answers.update(found)
            places.update({q: f"{name}:{a.line}" for q, a in found.items()})
        for question in self.key.questions:
            answer = answers.get(question.name)
            if answer is None:
                message = f"not answered: no equation has the left side {question.quantity}"
                submission.questions.append(
                    Graded(question.name, 0.0, question.points, "not answered", message))
                continue
            left = self.key.timeout - (time.monotonic() - started)
            graded = self._question(question, answer, left)
            graded.where = places[question.name]
            submission.questions.append(graded)

    def _question(self, question: Question, found: Answer, time_left: float) -> Graded:
        result = self.checker.check(found.text, time_left=max(time_left, 0.01))
        full, answer = question.points, _short(found.text)
        if result.verdict == "correct":
            return Graded(question.name, full, full, "correct", f"correct ({result.method})", answer)
        if result.verdict == "error":
            return Graded(question.name, 0.0, full, "unreadable", f"could not be read: {result.reason}",
                          answer)
        detail = _detail(result)
        for credit in question.partial:
            if credit.slip is not None:
                matched = result.slip is not None and result.slip.kind == credit.slip
            else:
                matched = credit.answer is not None and self._equal(found.text, credit.answer)
            if matched:
                message = f"partly right: {credit.feedback}" if credit.feedback else "partly right"
                return Graded(question.name, credit.points, full, "partial", f"{message} ({detail})",
                              answer)
        return Graded(question.name, 0.0, full, "incorrect", f"incorrect: {detail}", answer)

    def _equal(self, answer: str, right: str) -> bool:
        """Whether the answer's last side equals ``right``: checked as ``Q = Q + (R) - (right)``,
        which holds exactly when they agree at every point (the checker's own comparison)."""
        sides = _sides(answer)
        if len(sides) < 2:
            return False
        left = sides[0].strip()
        text = f"{left} = {left} + \\left({sides[-1].strip()}\\right) - \\left({right}\\right)"
        return self.checker.check(text).verdict == "correct"


def _short(text: str, limit: int = MAX_SHOWN) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _detail(result: Result) -> str:
    if result.counterexample is not None:
        return f"{result.reason}; {result.counterexample.show()}"
    return result.reason


# --- many submissions -----------------------------------------------------------------------------

_GRADER: Grader | None = None


def _start_worker(key_path: str) -> None:
    global _GRADER
    _GRADER = Grader(load_key(key_path))


def _grade_in_worker(path: str) -> Submission:
    assert _GRADER is not None  # set by _start_worker
    return _GRADER.grade(path)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def grade_all(key: Key, paths: list[str], jobs: int | None = None,
              progress: Callable[[Submission], None] | None = None) -> list[Submission]:
    """Grade every submission (in the order given); ``jobs`` processes (default: the cores)."""
    jobs = max(1, min(jobs or default_jobs(), len(paths)))
    if jobs == 1:
        grader = Grader(key)
        results = []
        for path in paths:
            results.append(grader.grade(path))
            if progress:
                progress(results[-1])
        return results
    done: dict[str, Submission] = {}
    pool = ProcessPoolExecutor(jobs, initializer=_start_worker, initargs=(key.path,))
    killed = False
    try:
        futures = {pool.submit(_grade_in_worker, path): path for path in dict.fromkeys(paths)}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=key.timeout + STALL, return_when=FIRST_COMPLETED)
            if not finished:  # no submission finished in longer than one may take: a worker is stuck
                _kill(pool)
                killed = True
                break
            for future in finished:
                path = futures[future]
                try:
                    done[path] = future.result()
                except BrokenProcessPool:  # a worker died: this one and those queued are graded again
                    continue
                except Exception as exc:  # a result that could not come back: this submission only
                    done[path] = _crashed(key, path, f"{type(exc).__name__}: {exc}")
                if progress:
                    progress(done[path])
    finally:
        # After a kill, do not wait on the pool: its dead workers are reaped by its own thread.
        pool.shutdown(wait=not killed, cancel_futures=True)
    for path in futures.values():
        if path not in done:  # each alone, so that only the one that kills or hangs its worker is lost
            done[path] = _isolated(key, path)
    return [done[p] for p in paths]


def _kill(pool: ProcessPoolExecutor) -> None:
    """End a pool's worker processes (ours), so that a stuck one cannot hold up the class."""
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()


def _isolated(key: Key, path: str) -> Submission:
    """Grade one submission in a process of its own; a worker that dies or hangs costs only it."""
    pool = ProcessPoolExecutor(1, initializer=_start_worker, initargs=(key.path,))
    killed = False
    try:
        return pool.submit(_grade_in_worker, path).result(timeout=key.timeout + STALL)
    except TimeoutError:
        _kill(pool)
        killed = True
        return _crashed(key, path, why="", error=f"timed out (the limit is {key.timeout:g} s per submission)")
    except Exception:
        return _crashed(key, path)
    finally:
        pool.shutdown(wait=not killed, cancel_futures=True)


def _crashed(key: Key, path: str, why: str = "the grading process died", error: str = "") -> Submission:
    error = error or f"internal error ({why}); please report"
    questions = [Graded(q.name, 0.0, q.points, "not graded", error) for q in key.questions]
    return Submission(student(path), path, questions, error)
