"""Deriving the models of issue 10 (batch normalisation, convolution) against ``derive show b``,
whole process.

Target: ``derive show`` of a model with batch norm or two conv layers takes at most 2x
``derive show b``. Runs are interleaved (every command, repeated) and the median is taken, so
machine noise hits all alike.
Usage: python bench/bench_derive_time.py [--repeat N]
"""

from __future__ import annotations

import argparse
import platform
import sys

from harness import ROOT, interleaved, ratio_table, write_section

HEADING = "## Deriving coupled models (issue 10)"
BASELINE = "derive show b (baseline)"
COMMANDS = {
    BASELINE: [sys.executable, "-m", "derive", "show", "b"],
    "derive show examples/batch-norm.toml": [
        sys.executable, "-m", "derive", "show", str(ROOT / "examples" / "batch-norm.toml")
    ],
    "derive show examples/conv2d.toml": [
        sys.executable, "-m", "derive", "show", str(ROOT / "examples" / "conv2d.toml")
    ],
}
TARGETS = {"derive show examples/batch-norm.toml": 2.0, "derive show examples/conv2d.toml": 2.0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    medians = interleaved(COMMANDS, args.repeat)
    table, ok = ratio_table(medians, BASELINE, TARGETS)
    text = NOTES.format(repeat=args.repeat, python=platform.python_version(), table=table)
    print(text)
    if not args.no_write:
        write_section(HEADING, text)
    return 0 if ok else 1


NOTES = f"""{HEADING}

Whole process, median of {{repeat}} interleaved runs (`python bench/bench_derive_time.py`),
Python {{python}}. `examples/conv2d.toml` has two 2-D convolution layers (then flatten and a
softmax layer). Recurrent layers are not built yet.

{{table}}
"""


if __name__ == "__main__":
    sys.exit(main())
