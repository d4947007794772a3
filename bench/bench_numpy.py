"""Benchmark: generated ``loss_and_grad`` vs a hand-written NumPy implementation of each model.

All run interleaved in one process on the same inputs (rotating which goes first), so machine
noise affects them alike; the reported numbers are ratios of medians. The hand-written versions
meet the same numerical contract (stable at any logit, batch-mean gradients, the sigmoid and
log-sigmoid accurate to an ulp or two) with the usual idioms: the gradient of the mean loss is
scaled by 1/n once, softmax is shifted by its row maximum, the sigmoid is 1 / (1 + e) or
e / (1 + e) with e = exp(-|z|), and binary cross-entropy is log(1 + exp((1 - 2y) z)). Like most
hand-written code they do not check their arguments; the generated modules do, and the cost of
those checks is measured against the same generated module with its door removed (``_inputs``
and the target check replaced by plain look-ups).

    python bench/bench_numpy.py            # full run, prints a Markdown table
    python bench/bench_numpy.py --quick    # fewer repetitions
    python bench/bench_numpy.py --write    # also append the table to bench/RESULTS.md

Beside the built-in models, examples/residual-layernorm.toml (issue 9: two layer-normalised hidden
layers, a skip, softmax, cross-entropy, L2) against ``bench/handwritten.py``; skipped, with the
reason printed, while ``derive`` cannot generate its code.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from handwritten import hand_residual_layernorm, softmax_ce  # noqa: E402
from harness import write_section  # noqa: E402

from derive import __version__, derive  # noqa: E402
from derive.errors import DeriveError  # noqa: E402
from derive.render.numpy import module_source  # noqa: E402
from derive.verify import load_module  # noqa: E402

SIZES = {
    "small": dict(n=32, M=20, K=16, C=10),
    "medium": dict(n=256, M=784, K=128, C=10),
    "large": dict(n=2048, M=784, K=256, C=10),
}
REPEATS = {"small": 3000, "medium": 300, "large": 40}
MODELS = ("a", "b", "c", "c-mlp")
LABELS = "c (labels)"  # model c given integer class labels (n,) instead of one-hot rows (n, C)
RESIDUAL = "residual-layernorm"  # examples/residual-layernorm.toml
RESIDUAL_SPEC = ROOT / "examples" / f"{RESIDUAL}.toml"
CLASSIFIERS = ("c", "c-mlp", RESIDUAL)  # one-hot targets over C classes; the others: 0/1 labels
TARGET = 1.10
SECTION = "## Generated NumPy code (issue 4)"


# --- hand-written references -------------------------------------------------------------------


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    s = np.where(z >= 0, 1.0, e)
    s /= 1.0 + e
    return s


def hand_a(params, X, y):
    w, b = params["w"], params["b"]
    n = X.shape[0]
    z = X @ w + b
    p = _sigmoid(z)
    loss = np.logaddexp(0.0, (1.0 - 2.0 * y) * z).mean()
    g = (p - y) / n
    return float(loss), {"w": X.T @ g, "b": np.asarray(g.sum())}


def hand_b(params, X, y):
    W1, b1, w2, b2 = params["W1"], params["b1"], params["w2"], params["b2"]
    n = X.shape[0]
    h = _sigmoid(X @ W1.T + b1)
    z = h @ w2 + b2
    p = _sigmoid(z)
    loss = np.logaddexp(0.0, (1.0 - 2.0 * y) * z).mean()
    g2 = (p - y) / n
    g1 = g2[:, None] * w2 * h * (1.0 - h)
    return float(loss), {"W1": g1.T @ X, "b1": g1.sum(axis=0), "w2": h.T @ g2, "b2": np.asarray(g2.sum())}


def hand_c(params, X, y):
    W, b = params["W"], params["b"]
    n = X.shape[0]
    p, loss = softmax_ce(X @ W.T + b, y)
    g = (p - y) / n
    return float(loss), {"W": g.T @ X, "b": g.sum(axis=0)}


def hand_c_mlp(params, X, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = X.shape[0]
    h = _sigmoid(X @ W1.T + b1)
    p, loss = softmax_ce(h @ W2.T + b2, y)
    g2 = (p - y) / n
    g1 = (g2 @ W2) * h * (1.0 - h)
    return float(loss), {"W1": g1.T @ X, "b1": g1.sum(axis=0), "W2": g2.T @ h, "b2": g2.sum(axis=0)}


def hand_c_labels(params, X, labels):
    """Model c from integer labels, as CS231n's softmax_loss: the label's logit picked by
    fancy indexing, and 1 subtracted from the label's probability in place."""
    W, b = params["W"], params["b"]
    n = X.shape[0]
    z = X @ W.T + b
    top = z.max(axis=1, keepdims=True)
    e = np.exp(z - top)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = (np.log(s[:, 0]) + top[:, 0] - z[rows, labels]).mean()
    g = e / s
    g[rows, labels] -= 1.0
    g /= n
    return float(loss), {"W": g.T @ X, "b": g.sum(axis=0)}


HAND = {
    "a": hand_a,
    "b": hand_b,
    "c": hand_c,
    "c-mlp": hand_c_mlp,
    LABELS: hand_c_labels,
    RESIDUAL: hand_residual_layernorm,
}


# --- timing ------------------------------------------------------------------------------------


def instance(module, model: str, sizes: dict, rng: np.random.Generator):
    params = module.init_params({k: v for k, v in sizes.items() if k != "n"}, seed=1)
    if model == RESIDUAL:  # move gamma, beta and the biases off 1 and 0, so the check sees them
        params = {k: v + rng.normal(scale=0.1, size=np.shape(v)) for k, v in params.items()}
    X = rng.normal(size=(sizes["n"], sizes["M"]))
    classifier = model in CLASSIFIERS
    labels = rng.integers(0, sizes["C"] if classifier or model == LABELS else 2, size=sizes["n"])
    if model == LABELS:
        return params, X, labels
    y = np.eye(sizes["C"])[labels] if classifier else labels.astype(np.float64)
    return params, X, y


def residual_module() -> tuple[types.ModuleType | None, str]:
    """The generated module of examples/residual-layernorm.toml, or None and why not: until the
    engine for skip and norm lands, ``derive`` fails on the spec or ignores those keys."""
    try:
        module = load_module(module_source(derive(str(RESIDUAL_SPEC))), "bench_residual_layernorm")
    except Exception as error:  # whatever an unfinished engine raises: say it and go on
        kind = "" if isinstance(error, DeriveError) else f"{type(error).__name__}: "
        return None, f"`derive code {RESIDUAL_SPEC.relative_to(ROOT)}` failed: {kind}{error}"
    missing = {"gamma1", "beta1", "gamma2", "beta2"} - set(module.SHAPES)
    if missing:
        return None, (f"its generated code has no {', '.join(sorted(missing))}: derive ignores norm "
                      "(and skip) until the engine for them lands")
    return module, ""


def check_agreement(generated, hand, params, X, y) -> None:
    loss, grads = generated(params, X, y)
    ref_loss, ref = hand(params, X, y)
    assert np.isclose(loss, ref_loss), (loss, ref_loss)
    for name in ref:
        assert np.allclose(grads[name], ref[name], rtol=1e-9, atol=1e-12), name


def time_all(functions, args, repeats: int) -> list[float]:
    """Median seconds per call of each function, interleaved, rotating which runs first."""
    samples: list[list[float]] = [[] for _ in functions]
    for _ in range(max(3, repeats // 20)):  # warm-up: caches, BLAS threads, allocator
        for fn in functions:
            fn(*args)
    clock = time.perf_counter
    order = list(range(len(functions)))
    for rep in range(repeats):
        for i in order[rep % len(order) :] + order[: rep % len(order)]:
            start = clock()
            functions[i](*args)
            samples[i].append(clock() - start)
    return [statistics.median(sample) for sample in samples]


def _unchecked_targets(y, shape, names, dtype):
    """Targets as the computation reads them, with no check: labels (n,) become one-hot rows."""
    if y.shape == shape:
        return y
    return (y[:, None] == np.arange(shape[1])).astype(dtype)


def without_door(module):
    """``module.loss_and_grad`` with its argument checks replaced by plain look-ups."""
    names = [name for name in module.SHAPES if name != "X"]
    plain = types.ModuleType(module.__name__ + "_unchecked")
    plain.__dict__.update(module.__dict__)
    plain._inputs = lambda params, X: (X.dtype, (X, *[params[name] for name in names]))
    for helper in ("_binary_labels", "_class_targets", "_real_targets"):
        plain.__dict__[helper] = _unchecked_targets
    function = types.FunctionType(module.loss_and_grad.__wrapped__.__code__, plain.__dict__)
    return np.errstate(all="ignore")(function)


def optional_frameworks() -> str:
    found = [name for name in ("torch", "jax") if importlib.util.find_spec(name) is not None]
    return ", ".join(found) if found else "none (PyTorch and JAX are not installed, so not compared)"


def environment_note() -> str:
    blas = {
        k: os.environ.get(k, "unset")
        for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS")
    }
    settings = ", ".join(f"{k}={v}" for k, v in blas.items())
    return (
        f"derive {__version__}; Python {platform.python_version()}, NumPy {np.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs; {settings} (left as found); "
        f"other frameworks: {optional_frameworks()}"
    )


def run(quick: bool, which: list[str], models: list[str] | None = None) -> str:
    rng = np.random.default_rng(0)
    chosen = [m for m in MODELS if models is None or m in models]
    modules = {m: load_module(module_source(derive(m)), f"bench_{m.replace('-', '_')}") for m in chosen}
    if "c" in modules and (models is None or LABELS in models):
        modules[LABELS] = modules["c"]
    residual, skipped = residual_module() if models is None or RESIDUAL in models else (None, "not chosen")
    if residual is not None:
        modules[RESIDUAL] = residual
    else:
        print(f"skipping {RESIDUAL}: {skipped}", flush=True)
    rows = []
    for size, sizes in SIZES.items():
        if size not in which:
            continue
        repeats = REPEATS[size] // (10 if quick else 1)
        for model in modules:
            module = modules[model]
            args = instance(module, model, sizes, rng)
            check_agreement(module.loss_and_grad, HAND[model], *args)
            unchecked = without_door(module)
            check_agreement(unchecked, HAND[model], *args)
            ours, bare, theirs = time_all((module.loss_and_grad, unchecked, HAND[model]), args, repeats)
            ratio = ours / theirs
            verdict = "yes" if ratio <= TARGET else "no"
            rows.append(
                f"| {size} | {model} | {sizes['n']}, {sizes['M']}, {sizes['K']}, {sizes['C']} | {repeats} | "
                f"{ours * 1e6:,.1f} | {bare * 1e6:,.1f} | {theirs * 1e6:,.1f} | "
                f"{(ours / bare - 1) * 100:+.1f}% | {ratio:.3f} | {verdict} |"
            )
            print(rows[-1], flush=True)
    header = [
        "| size | model | n, M, K, C | reps | generated µs | without checks µs | hand-written µs "
        "| cost of checks | ratio to hand-written | ≤ 1.10 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    note = f"\n\n{RESIDUAL} (issue 9) not measured: {skipped}" if residual is None else ""
    return "\n".join(header + rows) + note


NOTES = """
Notes (issue 9, residual-layernorm, measured 2026-12-02): `examples/residual-layernorm.toml` against
`bench/handwritten.py` (CS231n's compact layer-norm backward): 0.98x (small), 1.01x (medium) and
0.97x (large), all within the 1.10x target, with the checks on. Before, the large size was 1.23x:
the generated code made no more passes over the (n, K) arrays than the hand-written code but kept
every quantity of the derivation (`z`, `ztilde`, `zhat`, `g`, `delta_hat`, ...) alive until it
returned, so each new 4 MB array was fresh memory from the kernel (with glibc told to keep freed
memory, `MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=4000000000`, the same code gave
1.08x). `loss_and_grad` now deletes each array after its last use (`del`); Problem 1's ratios are
unchanged within noise. Two lowering changes removed one pass each as well: scalars ride on the
per-example vector before it is broadcast, and `sum_j u_nj v_nj w_j` is one matrix-vector product.

Notes (issue 12, measured 2026-12-02 on this 2-CPU machine):
- Problem 1 is within 1.10x of the hand-written code at every size with the checks on (the table).
  On 2026-12-01 the small size was 1.10x (a), 1.05x (b), 1.22x (c) and 1.14x (c-mlp); three
  changes to the generated code, none to the checks' contract, brought it to 0.99-1.06x:
  - matrix products are `ndarray.dot`, not `@` (the same BLAS call, about 0.5 µs less per product
    at 32 x 20 x 10; for 2-D operands only, as `dot` of a 3-D array has no BLAS path);
  - row sums are one matrix-vector product with a vector of ones (`_row_sums`: about 0.8 µs where
    `a.sum(axis=1)` takes 2 µs at (32, 10)), in the softmax, the cross-entropy and the check of
    one-hot rows;
  - the target checks make fewer NumPy calls: integer labels are checked by counting the hits of
    the one-hot comparison the targets need anyway (one `count_nonzero` instead of `min`, `max`
    and `floor`), and arithmetic with 1 uses a 0-d array of the dtype (NumPy's arithmetic with a
    Python number costs about 0.35 µs more a call).
  Timed alone (`timeit`, small size): `_class_targets` of one-hot rows 4.4 -> 2.8 µs, of labels
  5.1 -> 3.4 µs, `_binary_labels` 1.8 -> 1.65 µs, `_inputs` about 0.7-1.0 µs.
  Most of the margin is the computation, not the checks: the hand-written code keeps the usual
  idioms (`@`, `sum(axis=1)`), and without its checks the generated code is now 0.88-0.92x of it
  at the small size (the "without checks" column against the hand-written one).
- The issue's 3% budget for the checks holds at the large size (-1.3% to +3.9% in the table) and
  at the medium size for b, c-mlp and c with labels (1.6-2.4%); not for a and c at the medium
  size (7.9% and 4.8%: the check of y, a few µs on 256 labels, is most of it) and not at the
  small size (6.5-20%). At n = 32 a call takes 13-37 µs, so 3% is 0.4-1.1 µs, and any check of
  the labels' values needs at least one elementwise NumPy operation and one reduction (about
  0.3 µs each at that size, plus the call), on top of `np.asarray` and the shape comparisons of X
  and the parameters (0.7 µs). With integer labels (`c (labels)`) the check is one
  `count_nonzero` more than the conversion every caller needs, and the checks cost 6.5%, most of
  it `_inputs`. Checking less (shapes only) would meet the budget and let `y = -1` or `y = 0.5`
  through; the checks stay.
- Both sides compute the sigmoid accurately (1 / (1 + e) or e / (1 + e), e = exp(-|z|)): about
  2.5 µs more per sigmoid at the small size than (1 + tanh(z / 2)) / 2, which loses all
  accuracy below z = -30. The ratio measures the code generation, not the numerical contract.
- Ratios vary by about 0.02-0.05 between runs at the small size, 0.01-0.03 at the others; the
  machine's speed itself varies by up to 1.5x between runs (compare the µs columns), which the
  interleaved ratios absorb.
"""


def write_results(table: str) -> None:
    """Replace this benchmark's section of bench/RESULTS.md, keeping every other section."""
    section = (
        f"{SECTION}\n\n`python bench/bench_numpy.py --write`: median time per `loss_and_grad` call: "
        "the generated module, the same module without its argument checks, and a hand-written "
        "NumPy implementation of the same model with the same numerical contract, interleaved in "
        "one process.\n\n"
        f"Environment: {environment_note()}.\n\n{table}\n{NOTES}"
    )
    write_section(SECTION, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one tenth of the repetitions")
    parser.add_argument(
        "--sizes", default=",".join(SIZES), help="comma-separated subset of small,medium,large"
    )
    parser.add_argument(
        "--models", default=None,
        help=f"comma-separated subset of {','.join((*MODELS, LABELS, RESIDUAL))} (default: all)",
    )
    parser.add_argument("--write", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    if args.write and args.models:
        parser.error("--write records every model; leave out --models")
    print(environment_note())
    table = run(args.quick, args.sizes.split(","), args.models.split(",") if args.models else None)
    if args.write:
        write_results(table)


if __name__ == "__main__":
    main()
