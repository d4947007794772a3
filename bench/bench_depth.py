"""Depth scaling (issue 5): whole-process ``derive code`` (and ``derive show --json``) on specs of
depth 8, 16 and 32, written into a temporary directory.

Targets: the depth-32 spec takes at most 3 s whole process, and the step from 16 to 32 layers
costs at most 3x the step from 8 to 16 (linear growth gives 2x). Runs are interleaved (every
command at every depth, repeated) and the median is taken, so machine noise hits all alike. The
printed sizes (bytes of code, JSON and terminal text) show the output growing linearly too.

The residual family (issue 9) puts layer norm on every hidden layer and a skip every 2 layers
(layer 3 adds layer 1's output, layer 5 layer 3's, ...). It is skipped, with the reason printed,
while ``derive code`` fails on it or ignores those keys (the engine for them has not landed).

Usage: python bench/bench_depth.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import ROOT, interleaved

DEPTHS = (8, 16, 32)
FAMILIES = {
    "softmax+ce": ("C", "softmax", "ce"),
    "sigmoid+bce": (1, "sigmoid", "bce"),
    "residual+layernorm": ("C", "softmax", "ce"),
}
RESIDUAL = "residual+layernorm"  # hidden layers normalised, a skip every 2 layers
MAX_SECONDS = 3.0
MAX_STEP_RATIO = 3.0


def hidden_layer(number: int, family: str) -> str:
    """A tanh layer of width K; in the residual family, layer-normalised, and from layer 3 on
    every second layer adds the output of the layer two before it."""
    text = '[[layers]]\nunits = "K"\nactivation = "tanh"\n'
    if family == RESIDUAL:
        text += 'norm = "layer"\n' + (f"skip = {number - 2}\n" if number >= 3 and number % 2 else "")
    return text + "\n"


def spec_text(depth: int, family: str) -> str:
    """``depth - 1`` hidden layers of width K, then the family's output layer and loss."""
    units, activation, loss = FAMILIES[family]
    hidden = "".join(hidden_layer(number, family) for number in range(1, depth))
    output = f'[[layers]]\nunits = {units!r}\nactivation = "{activation}"\n'.replace("'", '"')
    return f'name = "deep{depth}"\ninputs = "M"\nloss = "{loss}"\n\n{hidden}{output}'


def commands(spec: Path, out: Path) -> dict[str, list[str]]:
    derive = [sys.executable, "-m", "derive"]
    # -o FILE, not /dev/null: an atomic write renames over its destination.
    return {
        "derive code": [*derive, "code", str(spec), "-o", str(out)],
        "derive show --json": [*derive, "show", str(spec), "--json"],
    }


def output_sizes(spec: Path) -> dict[str, int]:
    """Bytes printed by code, show --json and show for one spec."""
    run = [sys.executable, "-m", "derive"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    sizes = {}
    for label, args in (("code", ["code", str(spec)]), ("json", ["show", str(spec), "--json"]),
                        ("text", ["show", str(spec)])):
        done = subprocess.run([*run, *args], check=True, capture_output=True, env=env)
        sizes[label] = len(done.stdout)
    return sizes


def report(family: str, medians: dict, sizes: dict) -> bool:
    ok = True
    print(f"\n### {family}\n")
    print("| command | depth 8 (s) | depth 16 (s) | depth 32 (s) | step 16->32 / step 8->16 | targets |")
    print("|---|---|---|---|---|---|")
    for name in dict.fromkeys(name for name, _ in medians):
        t8, t16, t32 = (medians[name, d] for d in DEPTHS)
        ratio = (t32 - t16) / (t16 - t8) if t16 > t8 else float("inf")
        passed = t32 <= MAX_SECONDS and ratio <= MAX_STEP_RATIO
        ok &= passed or name != "derive code"  # the target is on `derive code`
        mark = f"<= {MAX_SECONDS:g} s, <= {MAX_STEP_RATIO:g}x {'PASS' if passed else 'FAIL'}"
        print(f"| `{name}` | {t8:.3f} | {t16:.3f} | {t32:.3f} | {ratio:.2f}x | {mark} |")
    print("\n| output bytes | depth 8 | depth 16 | depth 32 | 32 / 16 |\n|---|---|---|---|---|")
    for label in ("code", "json", "text"):
        b8, b16, b32 = (sizes[d][label] for d in DEPTHS)
        print(f"| `{label}` | {b8:,} | {b16:,} | {b32:,} | {b32 / b16:.2f} |")
    return ok


def unsupported(spec: Path, family: str) -> str | None:
    """Why ``derive code`` cannot be timed on ``spec`` yet (None: it can): the residual family
    needs the engine for skip and norm, which fails on them or, before it lands, ignores them."""
    if family != RESIDUAL:
        return None
    done = subprocess.run([sys.executable, "-m", "derive", "code", str(spec)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), check=False)
    if done.returncode != 0:
        return f"`derive code` exits {done.returncode}: {done.stderr.strip()[-300:]}"
    if "gamma1" not in done.stdout:
        return "the generated code has no gamma1: derive ignores norm (and skip) until the engine lands"
    return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for family in FAMILIES:
            runs = {}
            for depth in DEPTHS:
                spec = Path(tmp) / f"deep{depth}-{family.replace('+', '-')}.toml"
                spec.write_text(spec_text(depth, family), encoding="utf-8")
                for name, cmd in commands(spec, Path(tmp) / "out.py").items():
                    runs[name, depth] = cmd
            reason = unsupported(Path(tmp) / f"deep{DEPTHS[-1]}-{family.replace('+', '-')}.toml", family)
            if reason:
                print(f"\n### {family}\n\nSKIPPED: {reason}")
                continue
            medians = interleaved(runs, args.repeat)
            sizes = {d: output_sizes(Path(tmp) / f"deep{d}-{family.replace('+', '-')}.toml") for d in DEPTHS}
            ok &= report(family, medians, sizes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
