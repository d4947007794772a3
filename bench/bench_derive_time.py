"""Deriving the models of issue 10 (batch normalisation, a recurrent layer, convolution) against
``derive show b``, whole process.

Target: ``derive show`` of a model with batch norm, a recurrent layer or two conv layers takes at
most 2x ``derive show b``. Runs are interleaved (every command, repeated) and the median is taken,
so machine noise hits all alike.
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
    "derive show examples/rnn-many-to-one.toml": [
        sys.executable, "-m", "derive", "show", str(ROOT / "examples" / "rnn-many-to-one.toml")
    ],
    "derive show examples/rnn-many-to-many.toml": [
        sys.executable, "-m", "derive", "show", str(ROOT / "examples" / "rnn-many-to-many.toml")
    ],
    "derive show examples/conv2d.toml": [
        sys.executable, "-m", "derive", "show", str(ROOT / "examples" / "conv2d.toml")
    ],
}
TARGETS = {command: 2.0 for command in COMMANDS if command != BASELINE}


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
softmax layer).

{{table}}
"""


if __name__ == "__main__":
    sys.exit(main())
