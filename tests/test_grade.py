"""``derive grade``: answers found by their left sides in every kind of file, points by hand,
the gradebook, feedback, the Gradescope and PrairieLearn results validated against checks written
from their documentation, a bad key (exit 2, one line naming file and line), and hostile
submissions reported for that student only."""

import csv
import io
import json
import math
from pathlib import Path

import pytest

from derive.cli import main
from derive.grading import report
from derive.grading.key import load_key
from derive.grading.run import grade_all

# Model a (logistic regression, bce). Worked out by hand: dL/da = -y/a + (1-y)/(1-a),
# dL/dz = a - y, dL/dw_j = (a - y) x_j, dL/db = a - y.
KEY = r"""
model = "a"
timeout = 20

[[question]]
name = "dL/dz"
quantity = '\frac{\partial \mathcal{L}}{\partial z}'
points = 2

[[question]]
name = "dL/dw"
quantity = '\frac{\partial \mathcal{L}}{\partial w_{j}}'
points = 3

[[question.partial]]
answer = '(a - y)'
points = 1
feedback = "missing the factor x_j"

[[question]]
name = "dL/db"
quantity = '\frac{\partial L}{\partial b}'
points = 1

[[question]]
name = "dL/da"
quantity = '\frac{\partial L}{\partial a}'
points = 2
"""

SUBMISSIONS = {
    # everything right, each in another notation: align, \[ \], inline $, bare line
    "right.tex": r"""
\begin{align}
\frac{\partial L}{\partial z} &= a - y \\
\frac{\partial L}{\partial w_i} &= (a - y) x_i
\end{align}
The bias: $\frac{\partial L}{\partial b} = a - y$, and
\frac{\partial L}{\partial a} = \frac{a - y}{a (1 - a)}
""",
    # dL/dz wrong (sign), dL/dw partial credit, dL/db unanswered, dL/da only the y = 1 branch
    "slips.md": r"""
$$\frac{\partial L}{\partial z} = y - a$$

- $\frac{\partial L}{\partial w_j} = a - y$
- \frac{\partial L}{\partial a} = -\frac{y}{a}

$$\frac{\partial L}{\partial \mathbf{x}} = (a - y) \mathbf{w}$$
""",
    # answered twice: the last answer counts (first wrong, then right; first right, then wrong)
    "twice.txt": r"""
\frac{\partial L}{\partial z} = a
\frac{\partial L}{\partial z} = a - y
\frac{\partial L}{\partial b} = a - y
\frac{\partial L}{\partial b} = a + y
""",
    # labelled lines, prose with '=' in it, a code fence that is not an answer
    "labels.md": r"""
Note that x = 3 is an example; the loss L = -y log a is not asked for here.

Answer: \frac{\partial L}{\partial z} = a - y
Q2 (w): $\frac{\partial L}{\partial w_j} = (a - y) x_j$

```
\frac{\partial L}{\partial b} = a - y
```
""",
    # a folder of files: one student
    "carol/part1.tex": r"\[ \frac{\partial L}{\partial z} = a - y \]",
    "carol/part2.md": r"$$\frac{\partial L}{\partial w_j} = (a - y) x_j$$",
    "carol/notes.pdf": "not read",
}
EXPECTED = {  # points by hand: (dL/dz, dL/dw, dL/db, dL/da)
    "right": (2, 3, 1, 2),
    "slips": (0, 1, 0, 0),
    "twice": (2, 0, 0, 0),
    "carol": (2, 3, 0, 0),
    "labels": (2, 3, 0, 0),
}


@pytest.fixture
def setup(tmp_path):
    key = tmp_path / "key.toml"
    key.write_text(KEY)
    subs = tmp_path / "subs"
    for name, text in SUBMISSIONS.items():
        path = subs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    paths = [str(subs / n) for n in ("right.tex", "slips.md", "twice.txt", "carol", "labels.md")]
    return key, paths


def test_points_match_the_hand_worked_grades(setup):
    key_path, paths = setup
    key = load_key(key_path)
    graded = grade_all(key, paths, jobs=1)
    assert {s.name: tuple(q.points for q in s.questions) for s in graded} == EXPECTED
    by_name = {s.name: {q.name: q for q in s.questions} for s in graded}
    assert by_name["slips"]["dL/dz"].verdict == "incorrect" and "sign" in by_name["slips"]["dL/dz"].message
    assert by_name["slips"]["dL/dw"].verdict == "partial" and "x_j" in by_name["slips"]["dL/dw"].message
    assert by_name["slips"]["dL/db"].verdict == "not answered"
    assert by_name["twice"]["dL/dz"].answer.endswith("a - y")  # the last of two answers
    assert by_name["twice"]["dL/db"].answer.endswith("a + y")


def test_parallel_grading_gives_the_same_grades(setup):
    key_path, paths = setup
    key = load_key(key_path)
    graded = grade_all(key, paths, jobs=2)
    assert [s.name for s in graded] == ["right", "slips", "twice", "carol", "labels"]
    assert {s.name: tuple(q.points for q in s.questions) for s in graded} == EXPECTED


def test_cli_writes_the_gradebook_and_feedback(setup, tmp_path, capsys):
    key_path, paths = setup
    out, fb = tmp_path / "grades.csv", tmp_path / "feedback"
    with pytest.raises(SystemExit) as exit_:
        main(["grade", str(key_path), *paths, "--csv", str(out), "--feedback", str(fb), "-j", "2"])
    assert exit_.value.code == 0
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0] == ["submission", "dL/dz", "dL/dw", "dL/db", "dL/da", "total", "error"]
    assert rows[1] == ["(max)", "2", "3", "1", "2", "8", ""]
    for row in rows[2:]:
        expected = EXPECTED[row[0]]
        assert [float(v) for v in row[1:5]] == list(expected)
        assert float(row[5]) == sum(expected) and row[6] == ""
    assert sorted(p.stem for p in fb.iterdir()) == sorted(EXPECTED)
    slips = (fb / "slips.txt").read_text()
    assert slips.startswith("slips: 1 / 8 points")
    assert "dL/db: 0 / 1 (not answered)" in slips and "the sign is wrong" in slips
    assert r"no equation has the left side \frac{\partial L}{\partial b}" in slips
    assert "left side is no question's quantity" in slips and r"\partial \mathbf{x}" in slips
    assert "no question's quantity" not in (fb / "right.txt").read_text()


# --- Gradescope and PrairieLearn results, validated against their documentation ----------------

# From Gradescope's autograder specification, "Output format" (gradescope/autograder_samples,
# docs/specs.md): every top-level and per-test key, their types, the visibility values.
GS_TOP = {"score": (int, float), "execution_time": (int, float), "output": str, "visibility": str,
          "stdout_visibility": str, "extra_data": dict, "tests": list, "leaderboard": list}
GS_TEST = {"score": (int, float), "max_score": (int, float), "name": str, "number": str, "output": str,
           "tags": list, "visibility": str, "extra_data": dict}
GS_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def validate_gradescope(data):
    assert set(data) <= set(GS_TOP), set(data) - set(GS_TOP)
    for name, kind in GS_TOP.items():
        if name in data:
            assert isinstance(data[name], kind) and not isinstance(data[name], bool), name
    assert "score" in data or all("score" in t for t in data["tests"])  # "required if not on each test"
    for test in data["tests"]:
        assert set(test) <= set(GS_TEST), set(test) - set(GS_TEST)
        for name, kind in GS_TEST.items():
            if name in test:
                assert isinstance(test[name], kind) and not isinstance(test[name], bool), name
        assert test.get("visibility", "visible") in GS_VISIBILITY
        # the issue asks for these on every test
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
    assert {"score", "execution_time", "output", "tests"} <= set(data)


# From PrairieLearn's "External Grading" documentation, "Grading results"
# (PrairieLearn/PrairieLearn, docs/externalGrading.md): score a float in [0, 1] (needed when
# gradable), gradable a boolean, format_errors a string or list of strings, tests with name,
# description, points, max_points, message, output; the file at most 1 MB.
PL_TEST = {"name": str, "description": str, "points": (int, float), "max_points": (int, float),
           "message": str, "output": str, "images": list}


def validate_prairielearn(data, text):
    assert len(text.encode()) <= 1_000_000
    assert isinstance(data.get("gradable", True), bool)
    if data.get("gradable", True):
        assert isinstance(data["score"], float) and 0.0 <= data["score"] <= 1.0
    else:
        errors = data.get("format_errors")
        listed = isinstance(errors, list) and all(isinstance(e, str) for e in errors)
        assert isinstance(errors, str) or listed, errors
    assert isinstance(data.get("message", ""), str)
    for test in data.get("tests", []):
        assert set(test) <= set(PL_TEST), set(test) - set(PL_TEST)
        for name, kind in PL_TEST.items():
            if name in test:
                assert isinstance(test[name], kind) and not isinstance(test[name], bool), name
        assert {"name", "points", "max_points"} <= set(test)
        assert 0 <= test["points"] <= test["max_points"]


@pytest.mark.parametrize("name", ["right.tex", "slips.md", "twice.txt", "carol"])
def test_gradescope_and_prairielearn_results_follow_their_schemas(setup, tmp_path, name):
    key_path, paths = setup
    path = next(p for p in paths if p.endswith(name))
    expected = EXPECTED[Path(name).stem]
    for fmt in ("gradescope", "prairielearn"):
        out = tmp_path / f"{fmt}.json"
        with pytest.raises(SystemExit) as exit_:
            main(["grade", str(key_path), path, "--format", fmt, "-o", str(out)])
        assert exit_.value.code == 0
        text = out.read_text()
        data = json.loads(text)
        if fmt == "gradescope":
            validate_gradescope(data)
            assert data["score"] == sum(expected) == sum(t["score"] for t in data["tests"])
            assert [t["max_score"] for t in data["tests"]] == [2, 3, 1, 2]
        else:
            validate_prairielearn(data, text)
            assert data["gradable"] is True
            assert math.isclose(data["score"], sum(expected) / 8)
            assert [t["points"] for t in data["tests"]] == list(expected)


def test_the_keys_visibility_reaches_gradescope(setup, tmp_path):
    key_path, paths = setup
    key_file = tmp_path / "hidden.toml"
    key_file.write_text(Path(key_path).read_text().replace("timeout = 20", 'visibility = "after_published"'))
    key = load_key(key_file)
    data = report.gradescope(key, grade_all(key, paths[:1], jobs=1)[0])
    validate_gradescope(data)
    assert {t["visibility"] for t in data["tests"]} == {"after_published"}


def test_the_validators_can_fail():
    good = {"score": 1.0, "execution_time": 0.1, "output": "", "tests": [
        {"name": "q", "score": 1.0, "max_score": 1.0, "output": "", "visibility": "visible"}]}
    validate_gradescope(good)
    for broken in ({**good, "tests": [{**good["tests"][0], "visibility": "always"}]},
                   {**good, "scores": 1.0}, {**good, "score": "1"}):
        with pytest.raises(AssertionError):
            validate_gradescope(broken)
    for broken in ({"score": 1.5}, {"score": 0.5, "gradable": "yes"}, {"gradable": False},
                   {"score": 0.5, "tests": [{"name": "q", "points": 2, "max_points": 1}]}):
        with pytest.raises(AssertionError):
            validate_prairielearn(broken, json.dumps(broken))


def test_the_shipped_example_grades_and_its_run_autograder_is_one_line(tmp_path):
    root = Path(__file__).parent.parent / "examples" / "grade"
    key = load_key(root / "key.toml")
    graded = grade_all(key, sorted(str(p) for p in (root / "submissions").iterdir()), jobs=1)
    assert [s.total for s in graded] == [key.total, 6.0]  # alice all right; bob worked out by hand
    lines = [line for line in (root / "run_autograder").read_text().splitlines() if not line.startswith("#")]
    assert len(lines) == 1 and "derive grade" in lines[0] and "--format gradescope" in lines[0]


# --- a bad key is exit 2 with one line naming the key file and line ------------------------------


@pytest.mark.parametrize("text, words", [
    (KEY.replace(r"w_{j}}'", r"v_{j}}'"), ["key.toml:12:", "v_{j}", "not a quantity"]),
    (KEY.replace("points = 2\n", "points = \n", 1), ["key.toml:8:", "malformed TOML"]),
    (KEY.replace('name = "dL/db"\n', ""), ["key.toml:", "question 3", "missing key 'name'"]),
    (KEY.replace('model = "a"', 'model = "zz"'), ["key.toml:2:", "unknown model"]),
    (KEY.replace('model = "a"', 'model = "a"\nmodle = 1'), ["key.toml:3:", "unknown key 'modle'"]),
    (KEY.replace("points = 1\nfeedback", "points = 9\nfeedback"), ["key.toml:", "more than"]),
    (KEY.replace(r"\partial b}", r"\partial z}"), ["same quantity"]),
    (KEY.replace("answer = '(a - y)'", "answer = '(a - y) x_i'"), ["key.toml:15:", "index i", "not bound"]),
    (KEY.replace("answer = '(a - y)'", "answer = '(a - y'"), ["key.toml:15:", "never closed"]),
    ('model = "a"\n', ["no questions"]),
    (KEY.replace("timeout = 20", 'visibility = "later"'), ["key.toml:3:", "after_published"]),
])
def test_a_bad_key_is_one_line_and_exit_2(tmp_path, capsys, text, words):
    key = tmp_path / "key.toml"
    key.write_text(text)
    sub = tmp_path / "s.tex"
    sub.write_text(r"$$\frac{\partial L}{\partial z} = a - y$$")
    results = tmp_path / "results.json"
    results.write_text("earlier")
    with pytest.raises(SystemExit) as exit_:
        main(["grade", str(key), str(sub), "--format", "gradescope", "-o", str(results)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert all(w in err for w in words), err
    assert results.read_text() == "earlier"  # a failed run leaves outputs untouched


def test_a_spec_path_in_the_key_is_relative_to_the_key(tmp_path):
    (tmp_path / "models").mkdir()
    spec = Path(__file__).parent.parent / "derive" / "models" / "a.toml"
    (tmp_path / "models" / "mine.toml").write_text(spec.read_text().replace('name = "a"', 'name = "mine"'))
    (tmp_path / "key.toml").write_text(KEY.replace('model = "a"', 'model = "models/mine.toml"'))
    assert load_key(tmp_path / "key.toml").spec.name == "mine"


# --- hostile submissions: reported for that student, never losing another's grade ---------------


def test_hostile_submissions_are_reported_per_student(setup, tmp_path):
    key_path, paths = setup
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "binary.tex").write_bytes(b"\x00\x01\x02\xff" * 100)
    (bad / "huge.txt").write_text((r"\frac{\partial L}{\partial z} = a - y" + "\n") * 300_000)  # ~10 MB
    (bad / "nested.tex").write_text(r"$$\frac{\partial L}{\partial z} = " + "{" * 900 + "a" + "}" * 900
                                    + "$$\n" + "(" * 5000 + "\n" + r"\frac{\partial L}{\partial b} = a - y")
    (bad / "latin1.md").write_bytes("$$\\frac{\\partial L}{\\partial z} = a - y$$ caf\xe9".encode("latin-1"))
    (bad / "picture.png").write_bytes(b"\x89PNG")
    (bad / "empty").mkdir()
    hostile = [str(bad / n) for n in ("binary.tex", "huge.txt", "nested.tex", "latin1.md", "picture.png",
                                      "empty", "missing.tex")]
    key = load_key(key_path)
    graded = grade_all(key, [paths[0], *hostile, paths[1]], jobs=2)
    by_name = {s.name: s for s in graded}
    assert by_name["right"].total == 8 and by_name["slips"].total == 1  # the others' grades are kept
    assert "binary" in by_name["binary"].error
    assert "too large" in by_name["huge"].error
    assert "not UTF-8" in by_name["latin1"].error
    assert "not a" in by_name["picture"].error and "no " in by_name["empty"].error
    assert "no such file" in by_name["missing"].error
    nested = {q.name: q for q in by_name["nested"].questions}
    assert not by_name["nested"].error
    assert nested["dL/dz"].verdict == "unreadable" and "nested too deeply" in nested["dL/dz"].message
    assert nested["dL/db"].points == 1  # the rest of that file is still graded
    long = {q.name: q for q in by_name["huge"].questions}
    assert all(len(q.message) < 300 for q in long.values())
    for s in graded:
        for q in s.questions:
            assert "Traceback" not in q.message and "Tree(" not in q.message
    rows = list(csv.reader(io.StringIO(report.gradebook(key, graded))))
    assert len(rows) == 2 + len(graded)


def test_a_submission_over_its_time_is_timed_out_and_the_rest_are_graded(setup, tmp_path, monkeypatch):
    """Reading slow.txt is made to take a minute (workers are forked, so they inherit the patch);
    the key's limit of 4 s ends it there, in its own worker, while the other is graded."""
    import time

    from derive.grading import run

    key_path, paths = setup
    slow = tmp_path / "slow.txt"
    slow.write_text(r"$\frac{\partial L}{\partial w_j} = (a - y) x_j$")
    original = run.find_answers

    def find_answers(text, *args):
        if "w_j" in text and len(text) < 60:
            time.sleep(60)
        return original(text, *args)

    monkeypatch.setattr(run, "find_answers", find_answers)
    key_file = tmp_path / "quick.toml"
    key_file.write_text(Path(key_path).read_text().replace("timeout = 20", "timeout = 4"))
    key = load_key(key_file)
    started = time.monotonic()
    graded = grade_all(key, [str(slow), paths[0]], jobs=2)
    assert time.monotonic() - started < 20  # ended by its own limit, not the pool's watchdog
    assert "timed out" in graded[0].error and graded[0].total == 0
    assert graded[1].total == 8
    data = report.prairielearn(key, graded[0])
    validate_prairielearn(data, json.dumps(data))
    assert data["gradable"] is False and "timed out" in data["format_errors"][0]
    validate_gradescope(report.gradescope(key, graded[0]))


def test_a_submission_that_kills_its_worker_loses_no_other_grade(setup, tmp_path, monkeypatch):
    """Workers are forked, so they inherit this patch: grading crash.tex ends the process."""
    import os

    from derive.grading import run

    key_path, paths = setup
    crash = tmp_path / "crash.tex"
    crash.write_text(r"$$\frac{\partial L}{\partial z} = a - y$$")
    original = run.Grader.grade

    def grade(self, path):
        if path.endswith("crash.tex"):
            os._exit(3)
        return original(self, path)

    monkeypatch.setattr(run.Grader, "grade", grade)
    graded = grade_all(load_key(key_path), [paths[0], str(crash), *paths[1:]], jobs=2)
    assert [s.name for s in graded] == ["right", "crash", "slips", "twice", "carol", "labels"]
    assert {s.name: tuple(q.points for q in s.questions) for s in graded if s.name != "crash"} == EXPECTED
    assert "grading process died" in graded[1].error and graded[1].total == 0


def test_a_worker_stuck_past_every_limit_is_ended_and_loses_no_other_grade(setup, tmp_path, monkeypatch):
    """A worker that ignores its own time limit (patched to sleep) is killed; the rest are graded."""
    import time

    from derive.grading import run

    key_path, paths = setup
    stuck = tmp_path / "stuck.tex"
    stuck.write_text(r"$$\frac{\partial L}{\partial z} = a - y$$")
    original = run.Grader.grade

    def grade(self, path):
        if path.endswith("stuck.tex"):
            time.sleep(600)
        return original(self, path)

    monkeypatch.setattr(run.Grader, "grade", grade)
    monkeypatch.setattr(run, "STALL", 1.0)
    key_file = tmp_path / "quick.toml"
    key_file.write_text(Path(key_path).read_text().replace("timeout = 20", "timeout = 5"))
    started = time.monotonic()
    graded = grade_all(load_key(key_file), [str(stuck), *paths], jobs=2)
    assert time.monotonic() - started < 60
    assert "timed out" in graded[0].error and graded[0].total == 0
    assert {s.name: tuple(q.points for q in s.questions) for s in graded[1:]} == EXPECTED


@pytest.mark.parametrize("args, words", [
    ([], "nothing to grade"),
    (["a.tex", "b.tex", "--format", "gradescope"], "exactly one"),
    (["a.tex", "--jobs", "0"], "--jobs"),
])
def test_bad_options_are_one_line_and_exit_2(setup, capsys, args, words):
    key_path, _ = setup
    with pytest.raises(SystemExit) as exit_:
        main(["grade", str(key_path), *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_the_prairielearn_entrypoint_is_one_line():
    script = Path(__file__).parent.parent / "examples" / "grade" / "prairielearn_run.sh"
    lines = [line for line in script.read_text().splitlines() if not line.startswith("#")]
    assert len(lines) == 1 and "--format prairielearn" in lines[0]
    assert "/grade/results/results.json" in lines[0]


def test_answers_are_found_in_every_kind_of_math(setup):
    from derive.grading.answers import find_answers

    key = load_key(setup[0])
    text = "\n".join([
        r"First \(\frac{\partial L}{\partial z} = a\) then, on second thought,",
        r"\begin{equation*}",
        r"  \frac{\partial L}{\partial z} = a - y \label{eq:dz}",
        r"\end{equation*}",
        r"$$",
        r"\frac{\partial L}{\partial w_k}",
        r"  = (a - y) x_k",
        r"$$",
        r"% \frac{\partial L}{\partial b} = 0 (a TeX comment, not an answer)",
        r"\begin{align*} \frac{\partial L}{\partial a} &= \frac{a - y}{a(1 - a)} \\",
        r"&= -\frac{y}{a} + \frac{1-y}{1-a}",
        r"\end{align*}",
    ])
    found = find_answers(text, False, key)
    assert sorted(found) == ["dL/da", "dL/dw", "dL/dz"]
    assert found["dL/dz"].text.endswith("a - y \\label{eq:dz}") and found["dL/dz"].line == 3
    assert found["dL/dw"].line == 6 and "(a - y) x_k" in found["dL/dw"].text
    assert found["dL/da"].text.endswith(r"-\frac{y}{a} + \frac{1-y}{1-a}")  # the chain's last row


SLIP_KEY = r"""
model = "a"

[[question]]
name = "dL/dz"
quantity = '\frac{\partial L}{\partial z}'
points = 2

[[question.partial]]
slip = "sign"
points = 0.5
feedback = "right up to the sign"

[[question]]
name = "dL/dw"
quantity = '\frac{\partial L}{\partial w_{j}}'
points = 3

[[question.partial]]
slip = "missing-factor"
points = 1
"""


@pytest.mark.parametrize("answers, points, verdicts", [
    ("dL/dz = y - a\ndL/dw_j = a - y", (0.5, 1.0), ("partial", "partial")),  # hand: sign; x_j missing
    ("dL/dz = a - y\ndL/dw_j = (a - y) x_j", (2.0, 3.0), ("correct", "correct")),
    ("dL/dz = 2(a - y)\ndL/dw_j = (y - a) x_j", (0.0, 0.0), ("incorrect", "incorrect")),  # other slips
])
def test_partial_credit_for_a_named_slip(tmp_path, answers, points, verdicts):
    key_path, sub = tmp_path / "key.toml", tmp_path / "s.txt"
    key_path.write_text(SLIP_KEY)
    sub.write_text(answers)
    (graded,) = grade_all(load_key(key_path), [str(sub)], jobs=1)
    assert tuple(q.points for q in graded.questions) == points
    assert tuple(q.verdict for q in graded.questions) == verdicts


def test_a_partial_credit_naming_an_unknown_slip_is_a_bad_key(tmp_path, capsys):
    key_path = tmp_path / "key.toml"
    key_path.write_text(SLIP_KEY.replace('slip = "sign"', 'slip = "typo"'))
    with pytest.raises(SystemExit) as exit_:
        main(["grade", str(key_path), str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "key.toml:9" in err and "unknown slip 'typo'" in err
