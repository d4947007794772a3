"""``derive verify``: the generated NumPy code checked against central finite differences.

For each model the module is generated, imported from a temporary file, and its gradients are
compared, in float64, with central differences of its own loss at random instances of several
sizes and batches (including one example). Every size symbol takes a value distinct from every
other size of the model, in two different assignments, so that a transposed weight matrix
cannot pass on a square shape; a third instance sets every size symbol to 1 where the loss allows
it. A parameter with more than ``MAX_COORDINATES`` elements is checked at that many coordinates
drawn by a seeded generator (so a spec with 100000 inputs verifies in seconds), and the output
says so. The worst relative error of each parameter is printed; any above ``TOLERANCE`` fails.
"""

from __future__ import annotations

import importlib.util
import itertools
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType

import numpy as np

from . import losses
from .chain import Derivation
from .naming import size

TOLERANCE = 1e-6
# A gradient that vanishes (a hinge loss with every margin met) is compared in absolute terms:
# central differences carry rounding noise of about eps * loss / STEP ~ 1e-11, so below this
# scale a relative error would measure the noise, not the gradient.
FD_FLOOR = 1e-4
# The value verify gives a symbolic hyperparameter (the weight-decay strength): of the order of the
# gradients, so that a wrong decay term shows.
HYPERPARAMETER = 0.37
STEP = 1e-5
FIRST_SIZE = 2  # size symbols take distinct values from 2 up (2, 3, 5, ... avoiding literal widths)
BATCHES = (1, 4)
MAX_COORDINATES = 24  # finite differences at most at this many coordinates of each parameter
SEED = 20240917


def load_module(source: str, name: str = "generated") -> ModuleType:
    """Import generated ``source`` from a temporary file, as a user would import it."""
    with tempfile.TemporaryDirectory(prefix="derive-") as tmp:
        path = Path(tmp) / f"{name}.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def _dense(derivation: Derivation) -> Derivation:
    """The derivation of the dense layers: a conv model's dense head (``derive.conv``)."""
    from .conv import ConvDerivation

    return derivation.head if isinstance(derivation, ConvDerivation) else derivation


def output_width(derivation: Derivation, sizes: dict[str, int]) -> int | None:
    """The output layer's width at ``sizes``; None for a one-unit output (y is (n,))."""
    out = _dense(derivation).names.output
    if out.index is None:
        return None
    return int(out.width.subs({size(k): v for k, v in sizes.items()}))


def input_width(derivation: Derivation, sizes: dict[str, int]) -> int:
    width = derivation.names.input_width
    return int(width.subs({size(k): v for k, v in sizes.items()}))


def input_shape(derivation: Derivation, sizes: dict[str, int]) -> tuple[int, ...]:
    """The shape of one example: (M,), or a conv model's (C, T) / (C, H, W)."""
    if derivation.spec.convolutional:
        values = {size(k): v for k, v in sizes.items()}
        return tuple(int(size(s).subs(values)) for s in derivation.spec.input_shape)
    return (input_width(derivation, sizes),)


def random_targets(
    derivation: Derivation, sizes: dict[str, int], n: int, rng: np.random.Generator
) -> np.ndarray:
    """Targets the loss accepts, drawn by its target kind (0/1 labels, one-hot rows, reals)."""
    return losses.get(derivation.spec.loss).sample_targets(rng, n, output_width(derivation, sizes))


def random_instance(
    module: ModuleType, derivation: Derivation, sizes: dict[str, int], n: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(params, X, y): parameters of order one (not the small initial ones), inputs, targets."""
    params = {
        name: np.asarray(value + rng.normal(scale=0.8, size=np.shape(value)))
        for name, value in module.init_params(sizes, seed=int(rng.integers(1 << 30))).items()
    }
    dense = _dense(derivation)
    if dense is derivation and dense.recurrence is not None:  # sequences
        return (params, *sequence_instance(derivation, sizes, n, rng))
    X = rng.normal(size=(n, *input_shape(derivation, sizes)))
    return params, X, random_targets(derivation, sizes, n, rng)


STEPS = 3  # a recurrent model's symbolic number of steps, in verify (1 in the all-ones instance)


def sequence_instance(
    derivation: Derivation, sizes: dict[str, int], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of a recurrent model: X is (n, T, M); y one target per sequence, or per step."""
    assert derivation.recurrence is not None
    r = derivation.recurrence.names
    values = {size(k): v for k, v in sizes.items()}
    steps = r.steps.subs(values)
    T = int(steps) if steps.is_Integer else (1 if set(sizes.values()) <= {1, 2} else STEPS)
    X = rng.normal(size=(n, T, int(r.inputs.subs(values))))
    if r.outputs == "last":
        return X, random_targets(derivation, sizes, n, rng)
    y = random_targets(derivation, sizes, n * T, rng)
    return X, y.reshape(n, T, *y.shape[1:])


def _loss(module: ModuleType, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    """The generated module's loss alone, as the function finite differences perturb."""
    return float(module.loss_and_grad(params, X, y, **hyperparameters(module))[0])


def hyperparameters(module: ModuleType) -> dict[str, float]:
    """A value for each keyword a generated ``loss_and_grad`` requires (a symbolic weight decay)."""
    return {name: HYPERPARAMETER for name in getattr(module, "HYPERPARAMETERS", ())}


def central_differences(
    loss: Callable[[dict[str, np.ndarray]], float],
    params: dict[str, np.ndarray],
    step: float = STEP,
    coordinates: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """d loss / d parameter elements by central differences (``params`` are not modified).

    Every element by default; with ``coordinates`` (flat indices per parameter) only those,
    giving per parameter a flat array of the derivatives at those coordinates.
    """
    shifted = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
    result = {}
    for name, value in shifted.items():
        flat = value.reshape(-1)  # a view: shifting it shifts the parameter the loss reads
        chosen = np.arange(flat.size) if coordinates is None else coordinates[name]
        grad = np.zeros(len(chosen))
        for position, idx in enumerate(chosen):
            original = flat[idx]
            flat[idx] = original + step
            plus = loss(shifted)
            flat[idx] = original - step
            grad[position] = (plus - loss(shifted)) / (2 * step)
            flat[idx] = original
        result[name] = grad.reshape(value.shape) if coordinates is None else grad
    return result


def sample_coordinates(
    params: dict[str, np.ndarray], rng: np.random.Generator, limit: int = MAX_COORDINATES
) -> dict[str, np.ndarray]:
    """Flat indices to check per parameter: all of a small one, ``limit`` distinct of a large one."""
    return {
        name: np.arange(np.size(value))
        if np.size(value) <= limit
        else np.sort(rng.choice(np.size(value), size=limit, replace=False))
        for name, value in params.items()
    }


def relative_error(ours: np.ndarray, reference: np.ndarray, floor: float = 1e-8) -> float:
    """Largest elementwise difference, relative to the gradient's largest element (or ``floor``)."""
    largest = max(float(np.max(np.abs(reference), initial=0.0)), float(np.max(np.abs(ours), initial=0.0)))
    scale = max(largest, floor)
    return float(np.max(np.abs(np.asarray(ours) - reference), initial=0.0)) / scale


def _distinct_values(derivation: Derivation, count: int) -> list[int]:
    """``count`` sizes from ``FIRST_SIZE`` up, none equal to a literal width of the model."""
    literal = {int(w) for w in _dense(derivation).names.widths if w.is_Integer}
    return list(itertools.islice((v for v in itertools.count(FIRST_SIZE) if v not in literal), count))


def size_sets(derivation: Derivation, module: ModuleType) -> Iterator[dict[str, int]]:
    """Distinct values per size symbol (by symbol order, then rotated), then all ones if allowed.

    One-hot targets need at least two classes, so the output width of such a loss stays 2 in
    the all-ones instance.
    """
    symbols = list(module.SIZES)
    if derivation.spec.convolutional:
        yield from _conv_size_sets(derivation, symbols)
        return
    values = _distinct_values(derivation, len(symbols))
    seen: list[dict[str, int]] = []
    out = derivation.names.output
    two_classes = losses.get(derivation.spec.loss).target == "one-hot" and out.index is not None
    ones = {name: 2 if two_classes and name == str(out.width) else 1 for name in symbols}
    for sizes in (
        dict(zip(symbols, values, strict=True)),
        dict(zip(symbols, values[1:] + values[:1], strict=True)),
        ones,
    ):
        if sizes not in seen:
            seen.append(sizes)
            yield sizes


def _conv_size_sets(derivation: Derivation, symbols: list[str]) -> Iterator[dict[str, int]]:
    """A conv model's sizes: kernel symbols 1 and 2 (in turn), every other symbol large enough
    for every kernel (the literal kernels' sum plus 2 and up); one-hot outputs keep two classes."""
    kernels = {r for lay in derivation.spec.layers for r in lay.kernel if isinstance(r, str)}
    layers = derivation.spec.layers
    span = sum(max((r for r in lay.kernel if isinstance(r, int)), default=1) for lay in layers)
    others = [s for s in symbols if s not in kernels]
    for shift in (0, 1):
        values = {s: 1 + (i + shift) % 2 for i, s in enumerate(sorted(kernels))}
        values.update({s: span + 2 * len(kernels) + 2 + (i + shift) % max(len(others), 1)
                       for i, s in enumerate(others)})
        yield values


@dataclass(frozen=True)
class Report:
    """Worst relative error per parameter, and the coordinates checked of those sampled."""

    worst: dict[str, float]
    sampled: dict[str, tuple[int, int]]  # parameter -> (coordinates checked, elements) at most

    @property
    def passed(self) -> bool:
        return all(err <= TOLERANCE for err in self.worst.values())


def check_module(derivation: Derivation, module: ModuleType, seed: int = SEED) -> Report:
    """Compare the module's gradients with central differences over the sizes and batches checked."""
    rng = np.random.default_rng(seed)
    worst: dict[str, float] = {}
    sampled: dict[str, tuple[int, int]] = {}
    for sizes in size_sets(derivation, module):
        for n in BATCHES:
            params, X, y = random_instance(module, derivation, sizes, n, rng)
            _, grads = module.loss_and_grad(params, X, y, **hyperparameters(module))
            chosen = sample_coordinates(params, rng)
            reference = central_differences(
                partial(_loss, module, X=X, y=y), params, coordinates=chosen
            )
            for name, value in reference.items():
                ours = np.reshape(grads[name], -1)[chosen[name]]
                worst[name] = max(worst.get(name, 0.0), relative_error(ours, value, FD_FLOOR))
                if len(chosen[name]) < np.size(params[name]):
                    sampled[name] = max(sampled.get(name, (0, 0)), (len(chosen[name]), np.size(params[name])))
    return Report(worst, sampled)


def worst_errors(derivation: Derivation, module: ModuleType, seed: int = SEED) -> dict[str, float]:
    """Worst relative error of each parameter's gradient over the sizes and batches checked."""
    return check_module(derivation, module, seed).worst


def _sampling_note(sampled: dict[str, tuple[int, int]]) -> str:
    if not sampled:
        return ""
    parts = ", ".join(f"{name} {checked} of {total}" for name, (checked, total) in sampled.items())
    return f"  (coordinates sampled: {parts})"


def verify_module(derivation: Derivation, module: ModuleType, echo: Callable[[str], None]) -> bool:
    """Check one generated module and print its line; True when it passes.

    Code that raises at some size (a transposed weight meeting a non-square shape) fails the
    check with the error named, rather than ending the run.
    """
    name = derivation.spec.name
    try:
        report = check_module(derivation, module)
    except (ValueError, IndexError, TypeError, KeyError, FloatingPointError) as error:
        echo(f"{name:<8} FAIL  the generated code raised {type(error).__name__}: {error}")
        return False
    errors = "  ".join(f"{param} {err:.1e}" for param, err in report.worst.items())
    verdict = "ok  " if report.passed else "FAIL"
    echo(f"{name:<8} {verdict}  worst relative error: {errors}" + _sampling_note(report.sampled))
    return report.passed


def verify_models(models: tuple[str, ...] | list[str], echo: Callable[[str], None]) -> bool:
    """Check each model's generated code (default: every built-in); True when all pass."""
    from . import derive
    from .render.dispatch import module_source
    from .spec import builtin_names

    ok = True
    for model in models or builtin_names():
        derivation = derive(model)
        module = load_module(
            module_source(derivation), f"derive_verify_{derivation.spec.name.replace('-', '_')}"
        )
        ok &= verify_module(derivation, module, echo)
    echo(
        f"tolerance {TOLERANCE:.0e}; central differences, step {STEP:.0e}, float64; "
        f"at most {MAX_COORDINATES} random coordinates per parameter"
    )
    return ok
