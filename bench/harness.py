"""Shared benchmark harness: whole-process timings, interleaved, and RESULTS.md sections.

Every benchmark compares medians of runs interleaved with a reference measured in the same run,
so machine noise hits both alike; ratios, not absolute seconds, are what the targets bound.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from collections.abc import Hashable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"


def timed(cmd: list[str], check: bool = True) -> float:
    """Seconds one whole process takes, with the checkout's ``derive`` importable. With ``check``
    a non-zero exit is an error; without, it is expected (a grader reporting a wrong answer)."""
    start = time.perf_counter()
    subprocess.run(cmd, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return time.perf_counter() - start


def interleaved(
    commands: Mapping[Hashable, list[str]], repeat: int, check: bool = True
) -> dict[Hashable, float]:
    """Median seconds of each command, over ``repeat`` rounds that run every command once."""
    for cmd in commands.values():  # warm the file cache
        timed(cmd, check)
    samples: dict[Hashable, list[float]] = {key: [] for key in commands}
    for _ in range(repeat):
        for key, cmd in commands.items():
            samples[key].append(timed(cmd, check))
    return {key: statistics.median(values) for key, values in samples.items()}


def ratio_table(
    medians: Mapping[str, float], baseline: str, targets: Mapping[str, float]
) -> tuple[str, bool]:
    """A Markdown table of medians and their ratios to ``baseline``; and whether every target holds."""
    base = medians[baseline]
    ok = True
    lines = ["| command | median (s) | ratio to baseline | target |", "|---|---|---|---|"]
    for name, median in medians.items():
        ratio = median / base
        target = targets.get(name)
        passed = target is None or ratio <= target
        ok &= passed
        mark = "" if target is None else f"<= {target}x {'PASS' if passed else 'FAIL'}"
        lines.append(f"| `{name}` | {median:.3f} | {ratio:.2f}x | {mark} |")
    return "\n".join(lines), ok


def write_section(heading: str, text: str) -> None:
    """Replace the section under ``heading`` in RESULTS.md (or append it), keeping the others."""
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text.rstrip("\n") + "\n\n", current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(updated, encoding="utf-8")
