"""Whole-process CLI timings against a bare ``python -c "import sympy"`` in the same run.

Targets (issue 2): ``derive show b`` <= 2x the baseline; ``derive --help`` <= 0.6x.
Runs are interleaved (baseline, then each command, repeated) and the median is taken, so
machine noise hits every command alike. Usage: python bench/bench_cli.py [--repeat N]
"""

from __future__ import annotations

import argparse
import sys

from harness import interleaved

COMMANDS = {
    "import sympy (baseline)": [sys.executable, "-c", "import sympy"],
    "derive --help": [sys.executable, "-m", "derive", "--help"],
    "derive show b": [sys.executable, "-m", "derive", "show", "b"],
}
TARGETS = {"derive --help": 0.6, "derive show b": 2.0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    medians = interleaved(COMMANDS, args.repeat)
    base = medians["import sympy (baseline)"]
    ok = True
    print("| command | median (s) | ratio to baseline | target |\n|---|---|---|---|")
    for name, median in medians.items():
        ratio = median / base
        target = TARGETS.get(name)
        passed = target is None or ratio <= target
        ok &= passed
        mark = "" if target is None else f"<= {target}x {'PASS' if passed else 'FAIL'}"
        print(f"| `{name}` | {median:.3f} | {ratio:.2f}x | {mark} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
