"""Whole-process CLI timings against a bare ``python -c "import sympy"`` in the same run.

Targets (issue 2): ``derive show b`` <= 2x the baseline; ``derive --help`` <= 0.6x.
Runs are interleaved (baseline, then each command, repeated) and the median is taken, so
machine noise hits every command alike. Usage: python bench/bench_cli.py [--repeat N]
"""

from __future__ import annotations

import argparse
import platform
import sys

from harness import interleaved, ratio_table, write_section

HEADING = "## Command line (issue 2)"

COMMANDS = {
    "import sympy (baseline)": [sys.executable, "-c", "import sympy"],
    "derive --help": [sys.executable, "-m", "derive", "--help"],
    "derive show b": [sys.executable, "-m", "derive", "show", "b"],
}
TARGETS = {"derive --help": 0.6, "derive show b": 2.0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    medians = interleaved(COMMANDS, args.repeat)
    table, ok = ratio_table(medians, "import sympy (baseline)", TARGETS)
    text = NOTES.format(repeat=args.repeat, python=platform.python_version(), table=table)
    print(text)
    if not args.no_write:
        write_section(HEADING, text)
    return 0 if ok else 1


NOTES = f"""{HEADING}

Whole process, median of {{repeat}} interleaved runs (`python bench/bench_cli.py`), Python {{python}}.

{{table}}

`derive --help` imports no SymPy (tested in `tests/test_cli.py`). SymPy's pretty printer imports
`sympy.physics.units` from its `Mul` printer (0.16 s a process); `derive/render/unicode_printer.py`
overrides that method, which took `derive show b` from 1.89x to about 1.5x.
"""


if __name__ == "__main__":
    sys.exit(main())
