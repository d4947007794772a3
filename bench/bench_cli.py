"""Whole-process CLI timings against a bare ``python -c "import sympy"`` in the same run.

Targets (issue 2): ``derive show b`` <= 2x the baseline; ``derive --help`` <= 0.6x.
Runs are interleaved (baseline, then each command, repeated) and the median is taken, so
machine noise hits every command alike. Usage: python bench/bench_cli.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = {
    "import sympy (baseline)": [sys.executable, "-c", "import sympy"],
    "derive --help": [sys.executable, "-m", "derive", "--help"],
    "derive show b": [sys.executable, "-m", "derive", "show", "b"],
}
TARGETS = {"derive --help": 0.6, "derive show b": 2.0}


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=ROOT))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for cmd in COMMANDS.values():  # warm the file cache
        timed(cmd)
    for _ in range(args.repeat):
        for name, cmd in COMMANDS.items():
            samples[name].append(timed(cmd))
    base = statistics.median(samples["import sympy (baseline)"])
    ok = True
    print("| command | median (s) | ratio to baseline | target |\n|---|---|---|---|")
    for name, values in samples.items():
        ratio = statistics.median(values) / base
        target = TARGETS.get(name)
        passed = target is None or ratio <= target
        ok &= passed
        mark = "" if target is None else f"<= {target}x {'PASS' if passed else 'FAIL'}"
        print(f"| `{name}` | {statistics.median(values):.3f} | {ratio:.2f}x | {mark} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
