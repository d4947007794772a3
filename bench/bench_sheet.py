"""Whole-process ``derive sheet --no-pdf`` (all four models) against ``python -c "import sympy"``.

Target (issue 3): at most 3x the baseline. Runs are interleaved (baseline, sheet, repeated) and
the median of each is compared, so machine noise hits both alike. The result replaces this
benchmark's own section of bench/RESULTS.md ("## Answer sheet (issue 3)"); other sections stay.
Usage: python bench/bench_sheet.py [--repeat N] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Answer sheet (issue 3)"
TARGET = 3.0


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return time.perf_counter() - start


def measure(repeat: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as work:
        commands = {
            "baseline": [sys.executable, "-c", "import sympy"],
            "sheet": [sys.executable, "-m", "derive", "sheet", "--no-pdf", "-o", f"{work}/problem1.tex"],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for cmd in commands.values():  # warm the file cache
            timed(cmd)
        for _ in range(repeat):
            for name, cmd in commands.items():
                samples[name].append(timed(cmd))
    return statistics.median(samples["baseline"]), statistics.median(samples["sheet"])


def section(base: float, sheet: float, repeat: int) -> str:
    ratio = sheet / base
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    return (
        f"{HEADING}\n\n"
        f"Whole process, median of {repeat} interleaved runs (`python bench/bench_sheet.py`), "
        f"Python {platform.python_version()}.\n\n"
        "| command | median (s) | ratio to baseline | target |\n|---|---|---|---|\n"
        f"| `python -c \"import sympy\"` (baseline) | {base:.3f} | 1.00x | |\n"
        f"| `derive sheet --no-pdf` (a, b, c, c-mlp) | {sheet:.3f} | {ratio:.2f}x | "
        f"<= {TARGET:g}x {verdict} |\n"
    )


def write(text: str) -> None:
    """Replace this benchmark's section of RESULTS.md (or append it), keeping the others."""
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(updated, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    base, sheet = measure(args.repeat)
    text = section(base, sheet, args.repeat)
    print(text)
    if not args.no_write:
        write(text)
    return 0 if sheet / base <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
