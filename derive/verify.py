"""``derive verify``: the generated NumPy code checked against central finite differences.

For each model the module is generated, imported from a temporary file, and its gradients are
compared, in float64, with central differences of its own loss at random instances of several
sizes (including one example and one input). The worst relative error of each parameter is
printed; any above ``TOLERANCE`` fails the check.
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import sympy as sp

from .chain import Derivation

TOLERANCE = 1e-6
STEP = 1e-5
SIZE_VALUES = (1, 3, 5)  # every size symbol takes each value in turn
BATCHES = (1, 4)
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


def output_width(derivation: Derivation, sizes: dict[str, int]) -> int | None:
    """The output layer's width at ``sizes``; None for a one-unit output (y is (n,))."""
    out = derivation.names.output
    if out.index is None:
        return None
    return int(out.width.subs({sp.Symbol(k, integer=True, positive=True): v for k, v in sizes.items()}))


def input_width(derivation: Derivation, sizes: dict[str, int]) -> int:
    width = derivation.names.input_width
    return int(width.subs({sp.Symbol(k, integer=True, positive=True): v for k, v in sizes.items()}))


def random_targets(
    derivation: Derivation, sizes: dict[str, int], n: int, rng: np.random.Generator
) -> np.ndarray:
    """Targets the loss accepts: 0/1 for bce, one-hot rows for ce, reals for mse."""
    width = output_width(derivation, sizes)
    loss = derivation.spec.loss
    if loss == "ce":
        return np.eye(width)[rng.integers(0, width, size=n)]
    if loss == "bce":
        return rng.integers(0, 2, size=n).astype(np.float64)
    return rng.normal(size=(n,) if width is None else (n, width))


def random_instance(
    module: ModuleType, derivation: Derivation, sizes: dict[str, int], n: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(params, X, y): parameters of order one (not the small initial ones), inputs, targets."""
    params = {
        name: np.asarray(value + rng.normal(scale=0.8, size=np.shape(value)))
        for name, value in module.init_params(sizes, seed=int(rng.integers(1 << 30))).items()
    }
    X = rng.normal(size=(n, input_width(derivation, sizes)))
    return params, X, random_targets(derivation, sizes, n, rng)


def central_differences(
    loss: Callable[[dict[str, np.ndarray]], float], params: dict[str, np.ndarray], step: float = STEP
) -> dict[str, np.ndarray]:
    """d loss / d every parameter element by central differences (params are not modified)."""
    result = {}
    for name, value in params.items():
        grad = np.zeros(np.shape(value))
        for idx in np.ndindex(grad.shape):
            shifted = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
            shifted[name][idx] = value[idx] + step
            plus = loss(shifted)
            shifted[name][idx] = value[idx] - step
            grad[idx] = (plus - loss(shifted)) / (2 * step)
        result[name] = grad
    return result


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    """Largest elementwise difference, relative to the gradient's largest element."""
    scale = max(float(np.max(np.abs(reference), initial=0.0)), float(np.max(np.abs(ours), initial=0.0)), 1e-8)
    return float(np.max(np.abs(np.asarray(ours) - reference), initial=0.0)) / scale


def size_sets(module: ModuleType) -> Iterator[dict[str, int]]:
    for value in SIZE_VALUES:
        yield {name: value for name in module.SIZES}


def worst_errors(derivation: Derivation, module: ModuleType, seed: int = SEED) -> dict[str, float]:
    """Worst relative error of each parameter's gradient over the sizes and batches checked."""
    rng = np.random.default_rng(seed)
    worst: dict[str, float] = {}
    for sizes in size_sets(module):
        for n in BATCHES:
            params, X, y = random_instance(module, derivation, sizes, n, rng)
            _, grads = module.loss_and_grad(params, X, y)
            reference = central_differences(lambda p, X=X, y=y: module.loss_and_grad(p, X, y)[0], params)
            for name, value in reference.items():
                worst[name] = max(worst.get(name, 0.0), relative_error(grads[name], value))
    return worst


def verify_models(models: tuple[str, ...] | list[str], echo: Callable[[str], None]) -> bool:
    """Check each model's generated code (default: every built-in); True when all pass."""
    from . import derive
    from .render.numpy import module_source
    from .spec import builtin_names

    ok = True
    for model in models or builtin_names():
        derivation = derive(model)
        module = load_module(
            module_source(derivation), f"derive_verify_{derivation.spec.name.replace('-', '_')}"
        )
        worst = worst_errors(derivation, module)
        passed = all(err <= TOLERANCE for err in worst.values())
        ok &= passed
        errors = "  ".join(f"{name} {err:.1e}" for name, err in worst.items())
        echo(f"{derivation.spec.name:<8} {'ok  ' if passed else 'FAIL'}  worst relative error: {errors}")
    echo(f"tolerance {TOLERANCE:.0e}; central differences, step {STEP:.0e}, float64")
    return ok
