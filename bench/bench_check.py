"""``derive check`` timings: whole processes against ``python -c "import sympy"`` in the same run,
and the in-process time of checking one equation (after imports and the model's instances), without
and with the symbolic proof attempt (whose first use in a process includes building the model at
proof sizes).

Targets (issue 6): ``derive check c-mlp`` with six equations <= 2.5x the baseline; the slowest
single equation well under a second (reported, median of repeats). Usage:
python bench/bench_check.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from harness import ROOT, interleaved, ratio_table

sys.path.insert(0, str(ROOT))

EQUATIONS = [
    r"\frac{\partial L}{\partial z^{(2)}_i} = a^{(2)}_i - y_i",
    r"\frac{\partial L}{\partial W^{(2)}_{ik}} = (a^{(2)}_i - y_i) a^{(1)}_k",
    r"\frac{\partial L}{\partial W^{(1)}_{kj}} = \sum_{i=1}^{C} (a^{(2)}_i - y_i) W^{(2)}_{ik} a^{(1)}_k"
    r" (1-a^{(1)}_k) x_j",
    r"\frac{\partial L}{\partial W^{(1)}_{kj}} = \sum_{i=1}^{C} \frac{\partial L}{\partial z^{(2)}_i}"
    r"\frac{\partial z^{(2)}_i}{\partial a^{(1)}_k}\frac{\partial a^{(1)}_k}{\partial z^{(1)}_k}"
    r"\frac{\partial z^{(1)}_k}{\partial W^{(1)}_{kj}}",
    r"\frac{\partial a^{(2)}_i}{\partial z^{(2)}_l} = a^{(2)}_i (\delta_{il} - a^{(2)}_l)",
    r"\frac{\partial L}{\partial W^{(1)}_{kj}} = \sum_{i=1}^{C} (a^{(2)}_i - y_i) W^{(2)}_{ik} x_j",
]
COMMANDS = {
    "import sympy (baseline)": [sys.executable, "-c", "import sympy"],
    "derive check c-mlp (6 equations)": [sys.executable, "-m", "derive", "check", "c-mlp", *EQUATIONS],
    "derive check a --file check_a.tex (8)": [sys.executable, "-m", "derive", "check", "a", "--file",
                                              str(ROOT / "tests" / "data" / "check_a.tex")],
}
TARGETS = {"derive check c-mlp (6 equations)": 2.5, "derive check a --file check_a.tex (8)": 2.5}


def per_equation(repeat: int) -> list[tuple[str, float, float, bool]]:
    """(equation, median ms without the proof attempt, median ms with it, proved?) per equation."""
    from derive.check import Checker
    from derive.spec import resolve

    times: dict[tuple[str, float], list[float]] = {}
    proved: dict[str, bool] = {}
    for _ in range(repeat):
        for limit in (0.0, 1.0):
            checker = Checker(resolve("c-mlp"), proof_time_limit=limit)
            checker.instances()
            for text in EQUATIONS:
                start = time.perf_counter()
                result = checker.check(text)
                times.setdefault((text, limit), []).append(time.perf_counter() - start)
                proved[text] = result.proof is not None or proved.get(text, False)
    return [(text, statistics.median(times[(text, 0.0)]), statistics.median(times[(text, 1.0)]), proved[text])
            for text in EQUATIONS]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    # check=False: the last equation is wrong on purpose, so `derive check` exits 1.
    medians = interleaved(COMMANDS, args.repeat, check=False)
    table, ok = ratio_table(medians, "import sympy (baseline)", TARGETS)
    print(table)
    print("\n| c-mlp equation (in process, after instances) | numeric only (ms) | with proof attempt (ms) "
          "| proved |\n|---|---|---|---|")
    for text, numeric, total, proved in per_equation(args.repeat):
        short = text if len(text) <= 60 else text[:57] + "..."
        print(f"| `{short}` | {numeric * 1000:.1f} | {total * 1000:.1f} | {'yes' if proved else 'no'} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
