"""``derive check``: grade hand-written LaTeX equations against a model; orchestration and reporting.

An equation is parsed (``latex_parse``; user text is never evaluated as code), lowered to index
notation if written with vectors and matrices (``checking.vector``: shapes first; an answer right
up to a transpose is named so), its names and indices are bound (``checking.binding``), and both
sides are evaluated at random model-consistent instances (``checking.instances``,
``checking.evaluate``) for every value of the free indices; a wrong equation gets a
counterexample (``checking.compare``). An equation found correct is then proved symbolically if
that succeeds within a time limit (``checking.proof``); otherwise it is reported as checked
numerically. The numeric verdict decides: a proof is only attempted, and only
reported, for an equation that agrees at every point.

Verdicts: ``correct``, ``incorrect`` (with the reason) and ``error`` (unreadable or over a limit).
Work is bounded per equation (``TIME_LIMIT``) and for the whole run (``RUN_TIME_LIMIT``: equations
left when it runs out are reported as not checked). The random instances come from one seed
(``DEFAULT_SEED`` unless given), so a run is reproducible and a counterexample can be recomputed.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import sympy as sp

from .checking import instances as sampling
from .checking import slips, vector
from .checking.binding import Binder, check_limits, recurrent_errors
from .checking.compare import Point, close, diagnose
from .checking.evaluate import Deadline, Evaluator
from .checking.instances import ModelInstance
from .checking.latex_parse import LatexError, Mul, WrittenEquation, clean, parse_equation
from .checking.problems import Undefined, Unreadable, Wrong
from .checking.proof import PROOF_TIME_LIMIT, Proof, Prover
from .checking.quantities import table as model_table
from .checking.slips import Slip
from .errors import DeriveError, UsageError
from .spec import ModelSpec, resolve

TIME_LIMIT = 5.0  # seconds per equation
RUN_TIME_LIMIT = 60.0  # seconds for all the equations of one run (a file may hold MAX_EQUATIONS)
DEFAULT_SEED = 20240601
NOT_CHECKED = "not checked: time budget exhausted"
MAX_FILE_BYTES = 1_000_000
MAX_EQUATIONS = 500
MAX_POINTS = 32  # free-index assignments per instance


@dataclass
class Result:
    where: str
    line: int | None
    text: str
    verdict: str  # correct, incorrect, error
    reason: str = ""
    counterexample: Point | None = None
    checked: int = 0
    instances: int = 0
    proof: Proof | None = field(default=None)  # set when a correct equation was proved symbolically
    slip: Slip | None = None  # for an incorrect answer: the one edit that makes it right, if found

    @property
    def method(self) -> str | None:
        """How a correct equation was established."""
        if self.verdict != "correct":
            return None
        if self.proof is not None:
            return "proved symbolically"
        return f"checked numerically at {self.instances} instances"

    def show(self) -> str:
        if self.verdict == "correct":
            return f"{self.where}: {self.method}: correct: {_short(clean(self.text))}"
        if self.counterexample is not None:
            detail = f"{self.reason}; {self.counterexample.show()}"
        else:
            detail = self.reason
        return f"{self.where}: {self.verdict}: {detail}"

    def to_dict(self) -> dict:
        return {
            "where": self.where, "line": self.line, "equation": self.text, "verdict": self.verdict,
            "reason": self.reason or None, "method": self.method, "points_checked": self.checked,
            "instances": self.instances, "proof": self.proof.to_dict() if self.proof else None,
            "counterexample": self.counterexample.to_dict() if self.counterexample else None,
            "slip": {"kind": self.slip.kind, "message": self.slip.message} if self.slip else None,
        }


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Checker:
    """Checks equations against one model; random instances are shared between equations."""

    def __init__(self, spec: ModelSpec, seed: int = DEFAULT_SEED, time_limit: float = TIME_LIMIT,
                 proof_time_limit: float = PROOF_TIME_LIMIT):
        self.spec = spec
        self.seed = seed
        self.time_limit = time_limit
        self.table = model_table(spec)
        self.rng = random.Random(seed)
        self.prover = Prover(self.table, proof_time_limit)
        self._instances: list[ModelInstance] | None = None

    def instances(self) -> list[ModelInstance]:
        if self._instances is None:
            self._instances = sampling.draw(self.table, self.rng)
        return self._instances

    def check(self, text: str, where: str = "equation", line: int | None = None,
              time_left: float | None = None) -> Result:
        """Check one equation; ``time_left`` is what remains of the run's budget, if less."""
        result = Result(where, line, text, "correct")
        if time_left is not None and time_left < self.time_limit:
            deadline = Deadline(time_left, "the time budget of the run ran out while checking it")
        else:
            deadline = Deadline(self.time_limit)
        equation: WrittenEquation | None = None
        lowered: vector.Lowered | None = None
        try:
            written = recurrent_errors(parse_equation(text), self.table)
            for side in written.sides:
                check_limits(side)
            lowered = vector.lower(written, self.table)
            if lowered is not None and lowered.transposed_answer:
                self._transposed_answer(lowered, deadline, result)
                return result
            equation = written if lowered is None else lowered.equation
            binder = Binder(self.table)
            free = binder.bind(equation)
            self._compare(equation, binder, free, deadline, result)
            if result.verdict == "correct":
                result.proof = self.prover.prove(equation, binder, free, deadline.left())
            else:
                self._name_slip(equation, deadline, result, lowered=lowered)
        except DeriveError:  # about the whole run (a model too large to evaluate): not this equation's
            raise
        except LatexError as exc:
            result.verdict, result.reason = "error", f"cannot parse: {exc}"
        except Unreadable as exc:
            result.verdict, result.reason = "error", str(exc)
        except Wrong as exc:
            result.verdict, result.reason = "incorrect", str(exc)
            if equation is not None:
                self._name_slip(equation, deadline, result, because=str(exc), lowered=lowered)
        except RecursionError:
            result.verdict, result.reason = "error", "expression nested too deeply"
        except Exception as exc:  # a grader run over many files must not die on one equation
            result.verdict = "error"
            result.reason = f"internal error ({type(exc).__name__}: {exc}); please report"
        return result

    def _transposed_answer(self, lowered: vector.Lowered, deadline: Deadline, result: Result) -> None:
        """An answer shaped like the left side's transpose: is it exactly the transpose?"""
        result.verdict, result.reason = "incorrect", lowered.shape_error
        result.instances = len(self.instances())
        free = self._free(lowered.equation)
        if free is not None and self._holds(lowered.equation, free, self._points(free), deadline):
            result.reason = vector.transpose_message(lowered)
            result.slip = Slip("transpose", result.reason)

    def _free(self, equation: WrittenEquation) -> dict[str, sp.Expr] | None:
        """The free indices of the left side of ``equation``, or None if it does not bind."""
        try:
            left = equation.sides[0]
            return Binder(self.table).bind(WrittenEquation((left, left), equation.text))
        except (Wrong, Unreadable):
            return None

    def _name_slip(self, equation: WrittenEquation, deadline: Deadline, result: Result, because: str = "",
                   lowered: vector.Lowered | None = None) -> None:
        """Put the slip in the reason when one small edit of the answer makes it right (for vector
        notation, the edit is said in index notation, as the answer was lowered to it)."""
        if len(equation.sides) != 2:
            return
        free = self._free(equation)
        if free is None:
            return
        points = self._points(free)  # the same for every edit
        for slip, edited in slips.edits(equation, self.table, free):
            if deadline.left() <= 0:
                return
            if self._holds(edited, free, points, deadline):
                message = slip.message if lowered is None else self._vector_slip(slip, edited, lowered)
                result.slip = replace(slip, message=message)
                result.reason = message + (f" ({because})" if because else "")
                return

    @staticmethod
    def _vector_slip(slip: Slip, edited: WrittenEquation, lowered: vector.Lowered) -> str:
        """A slip of an answer in vector notation, in its words when they can be found, else
        said of the answer lowered to index notation."""
        if slip.kind == "sign":
            return slip.message
        answer = edited.sides[-1]
        if slip.kind == "missing-factor" and isinstance(answer, Mul):
            factor = answer.factors[-1]
            if not vector.has_indices(factor):  # a number: the same in every notation
                return slip.message
            words = vector.in_vector_words(factor, lowered)
            if words is not None:
                return f"missing the elementwise factor {words}"
        return f"in index notation, {slip.message}"

    def _points(self, free: dict[str, sp.Expr]) -> list[tuple[ModelInstance, list[dict[str, int]]]]:
        """Each instance with the index assignments an edited answer is checked at."""
        rng = random.Random(f"{self.seed} slip")
        return [(instance, self._assignments(free, instance, rng)) for instance in self.instances()]

    def _holds(self, equation: WrittenEquation, free: dict[str, sp.Expr],
               points: list[tuple[ModelInstance, list[dict[str, int]]]], deadline: Deadline) -> bool:
        """Whether ``equation`` binds with the free indices ``free`` and agrees at every point
        (each instance with its index assignments)."""
        try:
            binder = Binder(self.table)
            if binder.bind(equation) != free:
                return False
            left, right = equation.sides
            for instance, envs in points:
                evaluate = Evaluator(binder, instance, deadline)
                for env in envs:
                    if not close(evaluate(left, env), evaluate(right, env)):
                        return False
        except (Wrong, Unreadable, Undefined, LatexError, RecursionError):
            return False
        return True

    def _assignments(self, free: dict[str, sp.Expr], instance: ModelInstance,
                     rng: random.Random, uses_example: bool = True) -> list[dict[str, int]]:
        letters = sorted(free)
        ranges = [range(1, instance.size(free[k]) + 1) for k in letters]
        if self.table.batch and uses_example:  # every example, for quantities written without it
            letters.append(sampling.EXAMPLE)
            ranges.append(range(1, len(instance.examples) + 1))
        combos = list(itertools.product(*ranges))
        if len(combos) > MAX_POINTS:
            combos = rng.sample(combos, MAX_POINTS)
        return [dict(zip(letters, combo, strict=True)) for combo in combos]

    def _compare(self, equation: WrittenEquation, binder: Binder, free, deadline: Deadline,
                 result: Result) -> None:
        # The same points for the same equation and seed, whatever came before.
        rng = random.Random(f"{self.seed} {equation.text}")
        for number, side in enumerate(equation.sides[1:], start=2):
            pairs, bad = [], None
            for position, instance in enumerate(self.instances(), start=1):
                evaluate = Evaluator(binder, instance, deadline)
                sizes = {str(s): v for s, v in instance.sizes.items()}
                for env in self._assignments(free, instance, rng, binder.uses_example):
                    point = self._point(evaluate, equation.sides[0], side, env, sizes)
                    result.checked += 1
                    if point.left is None or point.right is None:
                        wrong = True
                    else:
                        pairs.append((point.left, point.right))
                        wrong = not close(point.left, point.right)
                    if wrong and bad is None:  # the first one found, with what reproduces it
                        bad = replace(point, seed=self.seed, instance=position, values=instance.inputs())
            result.instances = len(self.instances())
            if not pairs and bad is None:
                raise Unreadable("neither side has a value at any point checked")
            if bad is not None:
                which = "" if len(equation.sides) == 2 else f"side {number} differs from the left side: "
                reason = bad.problem and "one side is undefined" or diagnose(pairs)
                result.verdict, result.reason, result.counterexample = "incorrect", which + reason, bad
                return

    def _point(self, evaluate, left_node, right_node, env, sizes) -> Point:
        values, problems = [], []
        for node in (left_node, right_node):
            try:
                values.append(evaluate(node, env))
            except Undefined as exc:
                values.append(None)
                problems.append(str(exc))
        left, right = values
        if left is None and right is None:
            return Point(sizes, dict(env), 0.0, 0.0)  # neither side defined here: nothing to compare
        return Point(sizes, dict(env), left, right, "; ".join(problems))


# --- the command --------------------------------------------------------------------------------


def _read(path: str) -> str:
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UsageError(f"{path} is too large ({size} bytes; the limit is {MAX_FILE_BYTES})")
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None


Item = tuple[str, int | None, str, str]  # where, line, equation text, problem found before parsing


def _file_equations(path: str) -> list[Item]:
    from .equations import extract

    found = extract(_read(path), markdown=path.lower().endswith((".md", ".markdown")))
    if not found:
        raise UsageError(f"no display equations found in {path}")
    if len(found) > MAX_EQUATIONS:
        raise UsageError(f"{path} has {len(found)} equations; the limit is {MAX_EQUATIONS}")
    return [(f"{path}:{f.line}", f.line, f.text, f.problem) for f in found]


def check_all(model: str | ModelSpec, items: list[Item], seed: int = DEFAULT_SEED,
              timeout: float = RUN_TIME_LIMIT) -> list[Result]:
    """Check (where, line, text, problem) items against ``model`` within ``timeout`` seconds in all.

    Equations left when the time is up are ``error`` results saying they were not checked, so a
    grader sees every equation of the file and the run ends on time.
    """
    spec = model if isinstance(model, ModelSpec) else resolve(model)
    checker = Checker(spec, seed=seed)
    end = time.monotonic() + timeout
    results = []
    for where, line, text, problem in items:
        left = end - time.monotonic()
        if problem:
            results.append(Result(where, line, text, "error", problem))
        elif left <= 0:
            results.append(Result(where, line, text, "error", f"{NOT_CHECKED} ({timeout:g} s for the run)"))
        else:
            results.append(checker.check(text, where, line, time_left=left))
    return results


def exit_code(results: list[Result]) -> int:
    verdicts = {r.verdict for r in results}
    return 2 if "error" in verdicts else 1 if "incorrect" in verdicts else 0


def summary(results: list[Result]) -> dict[str, int]:
    counts = {"equations": len(results)}
    for verdict in ("correct", "incorrect", "error"):
        counts[verdict] = sum(r.verdict == verdict for r in results)
    return counts


def run_check(model: str, equations: tuple[str, ...], path: str | None, as_json: bool,
              echo: Callable[[str], None], seed: int = DEFAULT_SEED, timeout: float = RUN_TIME_LIMIT) -> int:
    """``derive check``: print one line per equation and a summary (or JSON); return the exit code."""
    if not timeout > 0:  # also NaN
        raise UsageError(f"the time budget must be a positive number of seconds, not {timeout:g}")
    if path and equations:
        raise UsageError("give equations on the command line or --file, not both")
    if not path and not equations:
        raise UsageError("nothing to check: give an equation or --file answers.tex")
    if path:
        items = _file_equations(path)
    else:
        if len(equations) > MAX_EQUATIONS:
            raise UsageError(f"too many equations ({len(equations)}); the limit is {MAX_EQUATIONS}")
        items = [(f"equation {n}", None, text, "") for n, text in enumerate(equations, start=1)]
    results = check_all(model, items, seed=seed, timeout=timeout)
    code = exit_code(results)
    counts = summary(results)
    if as_json:
        proved = sum(r.proof is not None for r in results)
        methods = {"proved symbolically": proved, "checked numerically": counts["correct"] - proved}
        echo(json.dumps({"model": model, "seed": seed, "results": [r.to_dict() for r in results],
                         "summary": counts, "methods": methods, "exit_code": code}, indent=2))
        return code
    for result in results:
        echo(result.show())
    parts = [f"{counts[v]} {v if v != 'error' else 'unreadable'}" for v in ("correct", "incorrect", "error")
             if counts[v]]
    echo(f"{counts['equations']} equation{'s' if counts['equations'] != 1 else ''}: {', '.join(parts)}")
    return code
