"""``derive grade`` timings (issue 11): a class of 300 submissions of 8 answers each (model b,
``examples/grade/key.toml``), about half the answers right and half with slips, written as .tex,
.md and .txt, graded by one whole ``derive grade`` process on 2 cores; and one submission graded
for Gradescope against one ``derive check`` of one equation, interleaved medians.

Targets: the class <= 90 s; the Gradescope run <= 2x ``derive check``. Usage:
python bench/bench_grade.py [--students N] [--repeat N] [--write]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, interleaved, timed, write_section

KEY = ROOT / "examples" / "grade" / "key.toml"
D2 = r"(a^{(2)} - y)"
H = r"a^{(1)}_k (1 - a^{(1)}_k)"
# Per question: its left side, right answers, and answers with a slip (worked out by hand).
ANSWERS = [
    (r"\frac{\partial L}{\partial a^{(2)}}", [r"-\frac{y}{a^{(2)}} + \frac{1 - y}{1 - a^{(2)}}"],
     [r"-\frac{y}{a^{(2)}}", r"\frac{y}{a^{(2)}} - \frac{1 - y}{1 - a^{(2)}}"]),
    (r"\frac{\partial L}{\partial z^{(2)}}", [r"a^{(2)} - y"], [r"y - a^{(2)}", r"a^{(2)}"]),
    (r"\frac{\partial L}{\partial w^{(2)}_k}", [rf"{D2} a^{{(1)}}_k"], [rf"{D2} x_k", D2]),
    (r"\frac{\partial L}{\partial b^{(2)}}", [r"a^{(2)} - y"], [r"(a^{(2)} - y) a^{(2)}"]),
    (r"\frac{\partial L}{\partial a^{(1)}_k}", [rf"{D2} w^{{(2)}}_k"], [rf"{D2} w^{{(2)}}_k {H}"]),
    (r"\frac{\partial L}{\partial z^{(1)}_k}", [rf"{D2} w^{{(2)}}_k {H}"], [rf"{D2} w^{{(2)}}_k"]),
    (r"\frac{\partial L}{\partial w^{(1)}_{kj}}", [rf"{D2} w^{{(2)}}_k {H} x_j"],
     [rf"{D2} w^{{(2)}}_k x_j", rf"{D2} w^{{(2)}}_k {H} x_k"]),
    (r"\frac{\partial L}{\partial b^{(1)}_k}", [rf"{D2} w^{{(2)}}_k {H}"], [rf"{D2} {H}"]),
]
POINTS = [1, 2, 2, 1, 2, 2, 4, 2]  # the key's
# The key's partial credit: an alternative answer, and a slip of kind "sign" on dL/dz2.
PARTIAL = {(6, rf"{D2} w^{{(2)}}_k x_j"): 2, (1, r"y - a^{(2)}"): 1}
WRAP = {".tex": "\\begin{{equation}}\n{}\n\\end{{equation}}\n", ".md": "$${}$$\n\n", ".txt": "{}\n"}


def write_class(folder: Path, students: int, seed: int = 0) -> tuple[list[str], dict[str, float]]:
    """The submissions, and each one's total worked out from how its answers were chosen."""
    rng = random.Random(seed)
    paths, totals = [], {}
    for n in range(students):
        suffix = (".tex", ".md", ".txt")[n % 3]
        lines, total = ["Problem 1(b), my answers:\n"], 0.0
        for q, (left, right, wrong) in enumerate(ANSWERS):
            correct = rng.random() < 0.5
            answer = rng.choice(right if correct else wrong)
            total += POINTS[q] if correct else PARTIAL.get((q, answer), 0)
            lines.append(WRAP[suffix].format(f"{left} = {answer}"))
        path = folder / f"student{n:03d}{suffix}"
        path.write_text("".join(lines), encoding="utf-8")
        paths.append(str(path))
        totals[path.stem] = total
    return paths, totals


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--write", action="store_true", help="record the results in bench/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths, expected = write_class(folder, args.students)
        start = time.perf_counter()
        timed([sys.executable, "-m", "derive", "grade", str(KEY), *paths, "--csv", str(folder / "grades.csv"),
               "--feedback", str(folder / "feedback"), "--jobs", "2"])
        whole = time.perf_counter() - start
        rows = list(csv.reader((folder / "grades.csv").read_text().splitlines()))[2:]
        assert len(rows) == args.students, "every submission has its row"
        agree = sum(float(row[-2]) == expected[row[0]] for row in rows)
        one = paths[0]
        commands = {
            "derive check b (one equation)": [sys.executable, "-m", "derive", "check", "b",
                                              rf"{ANSWERS[6][0]} = {ANSWERS[6][1][0]}"],
            "derive grade --format gradescope (one submission, 8 answers)": [
                sys.executable, "-m", "derive", "grade", str(KEY), one, "--format", "gradescope",
                "-o", str(folder / "results.json")],
        }
        medians = interleaved(commands, args.repeat)
    base = medians["derive check b (one equation)"]
    single = medians["derive grade --format gradescope (one submission, 8 answers)"]
    class_ok, single_ok = whole <= 90 and agree == args.students, single / base <= 2.0
    text = "\n".join([
        "## Grading a class (issue 11)",
        "",
        f"`python bench/bench_grade.py`: {args.students} generated submissions of 8 answers each (model b,"
        " `examples/grade/key.toml`; about half the answers right, the rest with a slip; .tex, .md and .txt),"
        " graded by one whole `derive grade ... --csv --feedback --jobs 2` process; then one submission"
        f" for Gradescope against one `derive check`, medians of {args.repeat} interleaved runs. Python"
        f" {sys.version.split()[0]}, 2 CPUs shared with other sessions.",
        "",
        "| run | seconds | target |",
        "|---|---|---|",
        f"| `derive grade`, {args.students} submissions x 8 answers, 2 processes | {whole:.1f} |"
        f" <= 90 s {'PASS' if class_ok else 'FAIL'} |",
        f"| totals equal to those worked out from the answers chosen | {agree} / {args.students} | all |",
        f"| `derive check b` (one equation) | {base:.3f} | |",
        f"| `derive grade --format gradescope` (one submission, 8 answers) | {single:.3f} |"
        f" {single / base:.2f}x; <= 2x {'PASS' if single_ok else 'FAIL'} |",
        "",
    ])
    print(text)
    if args.write:
        write_section("## Grading a class (issue 11)", text)
    return 0 if class_ok and single_ok else 1


if __name__ == "__main__":
    sys.exit(main())
