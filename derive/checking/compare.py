"""Whether two sides agree at the points checked, and in what way they differ when they do not.

``close`` is the tolerance; ``Point`` one checked point (sizes, index values, both values), shown
as the counterexample of a wrong equation, with what reproduces it (the seed; in JSON also the
instance's inputs, targets and parameters); ``diagnose`` names a simple difference (a sign, a
constant factor or offset, a side that is 0) from all the pairs of values seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RTOL, ATOL = 1e-7, 1e-10
SMALL = 12  # an instance of at most this many numbers is shown with its counterexample


@dataclass
class Point:
    sizes: dict[str, int]
    indices: dict[str, int]
    left: float | None
    right: float | None
    problem: str = ""
    seed: int | None = None  # of the run's random instances
    instance: int | None = None  # which of them (1-based)
    values: dict[str, object] = field(default_factory=dict)  # the instance's inputs and parameters

    def show(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in {**self.sizes, **self.indices}.items())
        left = "undefined" if self.left is None else f"{self.left + 0.0:.6g}"  # + 0.0: no "-0"
        right = "undefined" if self.right is None else f"{self.right + 0.0:.6g}"
        text = f"at {where}: left = {left}, right = {right}" + (f" ({self.problem})" if self.problem else "")
        inputs = self.small_inputs()
        text += f", with {inputs}" if inputs else ""
        return text + (f"; seed {self.seed}" if self.seed is not None else "")

    def small_inputs(self, limit: int = SMALL) -> str:
        """The instance's inputs and parameters, when they are at most ``limit`` numbers in all:
        ``x = [0.5, -1.2], y = 1, w = [0.3, 0.7], b = -0.1``; else empty."""
        if not self.values or _count(self.values) > limit:
            return ""
        return ", ".join(f"{name} = {_numbers(value)}" for name, value in self.values.items())

    def to_dict(self) -> dict:
        return {"sizes": self.sizes, "indices": self.indices, "left": self.left, "right": self.right,
                "problem": self.problem or None, "seed": self.seed, "instance": self.instance,
                "values": self.values}


def _count(value: object) -> int:
    if isinstance(value, dict):
        return sum(_count(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count(v) for v in value)
    return 1


def _numbers(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_numbers(v) for v in value) + "]"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def close(left: float, right: float) -> bool:
    return abs(left - right) <= ATOL + RTOL * max(abs(left), abs(right))


def diagnose(pairs: list[tuple[float, float]]) -> str:
    """Name the kind of difference when it is simple: a sign, a constant factor or offset."""
    scale = max(max(abs(left), abs(right)) for left, right in pairs)
    if all(close(right, 0.0) for _, right in pairs):
        return "the right side is 0 at every point checked"
    if all(close(left, 0.0) for left, _ in pairs):
        return "the left side is 0 at every point checked, the right side is not"
    if all(close(-left, right) for left, right in pairs):
        return "the sign is wrong"
    nonzero = [(left, right) for left, right in pairs if abs(left) > ATOL + RTOL * scale]
    if nonzero and len(nonzero) == len(pairs):
        ratio = nonzero[0][1] / nonzero[0][0]
        if all(close(right, ratio * left) for left, right in pairs):
            return f"off by a factor of {ratio:.6g}"
    offset = pairs[0][1] - pairs[0][0]
    if all(close(right, left + offset) for left, right in pairs):
        return f"off by a constant {offset:.6g}"
    return "the two sides differ"
