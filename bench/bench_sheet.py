"""Whole-process ``derive sheet --no-pdf`` (all four models) against ``python -c "import sympy"``.

Target (issue 3): at most 3x the baseline. Runs are interleaved (baseline, sheet, repeated) and
the median of each is compared, so machine noise hits both alike. The result replaces this
benchmark's own section of bench/RESULTS.md ("## Answer sheet (issue 3)"); other sections stay.
Usage: python bench/bench_sheet.py [--repeat N] [--no-write]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile

from harness import interleaved, write_section

HEADING = "## Answer sheet (issue 3)"
TARGET = 3.0


def measure(repeat: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as work:
        medians = interleaved({
            "baseline": [sys.executable, "-c", "import sympy"],
            "sheet": [sys.executable, "-m", "derive", "sheet", "--no-pdf", "-o", f"{work}/problem1.tex"],
        }, repeat)
    return medians["baseline"], medians["sheet"]


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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    base, sheet = measure(args.repeat)
    text = section(base, sheet, args.repeat)
    print(text)
    if not args.no_write:
        write_section(HEADING, text)
    return 0 if sheet / base <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
